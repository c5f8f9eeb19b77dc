# SPDX-License-Identifier: GPL-2.0-or-later
"""Generate a tree's shim and settle it against the compiler.

The closure is computed from names; the compiler then has the last word.  An
extracted inline helper that does not compile in userland (its body reaches
kernel state the harness lacks) is demoted to a stub made from its own
signature; a stub whose signature does not compile is dropped.  What is left
failing is reported with the compiler's file:line.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import manifest, outside
from .config import HarnessConfig
from .definition import Definition
from .digest import file_digest
from .errors import ShimError
from .generate import SOURCES, Generator, Shim
from .harness import Harness
from .index import HeaderIndex
from .inputs import headers_of
from .prelude import prelude_names
from .toolchain import BASE_CFLAGS, compiler, include_flags, write_generated

SHIM_NAME = "pyvma_shim.h"
MAX_ROUNDS = 40
_ERROR = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?:fatal )?error: (?P<msg>.*)$",
                    re.M)



@dataclass
class ShimResult:
    shim: Shim
    path: Path
    rounds: int
    index: HeaderIndex | None = None


def tu_text(tree: Path, glue_unit: str | None = None) -> str:
    """The main translation unit: shim first (its guard hides the real
    vma_internal.h), the tree's mm/vma*.c, then *glue_unit* (``Harness.first_unit``,
    which reaches their statics)."""
    lines = [f'#include "{SHIM_NAME}"']
    lines += [f'#include "{Path(s).name}"' for s in SOURCES if (tree / s).exists()]
    if glue_unit:
        lines.append(f'#include "{glue_unit}"')
    return "\n".join(lines) + "\n"


def second_tu_text(units: tuple[str, ...]) -> str:
    """The second translation unit: the shim (prototypes only for the global
    functions the first unit defines), then the rest of the glue.  The glue's
    calls of the tree's always-inline helpers (the vma_flags_t ones above all)
    are plain calls here: the same C, a third less compile time; mm/vma*.c in the
    first unit is compiled as the tree has it.  *units*: ``Harness.second_units``
    (they need no vma.c statics)."""
    return ('#define PYVMA_SHIM_PROTOTYPES_ONLY 1\n#include "pyvma_prelude.h"\n'
            '#undef __always_inline\n#define __always_inline inline\n'
            f'#include "{SHIM_NAME}"\n'
            + "".join(f'#include "{name}"\n' for name in units))


def outside_units(tree: Path, parse_cache: Path | None = None) -> dict[str, str]:
    """The translation units of the entry points the tree keeps outside mm/vma*.c
    (vma_internal/outside.py), by file name: none where mm/vma*.c has them all."""
    return {ex.unit: outside.unit_text(tree, ex, SHIM_NAME)
            for ex in outside.extract(tree, parse_cache)}


def _errors(stderr: str) -> list[re.Match]:
    return list(_ERROR.finditer(stderr))


def headers_hash(tree: Path, config: HarnessConfig, harness: Harness) -> str:
    """What the shim's settling depends on apart from mm/vma*.c: the indexed headers,
    the tools headers of the prelude, the harness sources and the config."""
    h = hashlib.sha256(config.key.encode())
    files = [tree / rel for rel in headers_of(tree)] + [tree / "mm" / "mmap.c"]
    files += sorted((tree / "tools" / "include").rglob("*.h"))
    files += sorted((tree / "tools" / "testing" / "shared").glob("**/*.h"))
    files += sorted(Path(__file__).parent.glob("*.py")) + sorted(harness.csrc.rglob("*"))
    for f in files:
        if f.is_file():
            h.update(f"{f}\0{file_digest(f)}\n".encode())
    return h.hexdigest()[:20]


def _read_memo(memo: Path) -> dict | None:
    """A shim memo if it has the shape _write_memo gives it, else None (rebuilt)."""
    try:
        data = json.loads(memo.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("demoted"), dict):
        return None
    for k in ("available", "force", "exclude"):
        if not isinstance(data.get(k), list) or not all(isinstance(x, str) for x in data[k]):
            return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data["demoted"].items()):
        return None
    return data


def build_shim(tree: Path, config: HarnessConfig, gen_dir: Path, harness: Harness,
               memo: Path | None = None, check: bool = True,
               tree_key: str | None = None) -> ShimResult:
    """Write generated/ and the shim into *gen_dir*; compile-check; return it.

    With *memo* (a JSON file), the demotions and the prelude's names found by an
    earlier build of the same headers are reused and the compile check is skipped:
    the real compile that follows checks the result (call again without *memo* if
    it fails).  *tree_key* (the tree's content hash) names the cached wide map."""
    gen_dir.mkdir(parents=True, exist_ok=True)
    write_generated(gen_dir, config)
    data = _read_memo(memo) if memo is not None else None
    have_memo = data is not None
    # the prelude's names come from two preprocessor runs: overlap them with parsing
    pool = None if have_memo else ThreadPoolExecutor(max_workers=1)
    names = pool.submit(prelude_names, tree, gen_dir, harness) if pool else None
    # the scan of every include/linux header for the names the index lacks (a grep)
    # runs while this thread parses the headers the index is built from
    from . import index as index_mod
    scan = ThreadPoolExecutor(max_workers=1)
    entry = harness.wide_cache / f"{tree_key[:24]}.json" \
        if tree_key and harness.wide_cache else None
    wide = scan.submit(index_mod.wide_map, tree, entry)
    scan.shutdown(wait=False)
    index = HeaderIndex.build(tree, [harness.csrc / "override.h"], harness.parse_cache)
    glue = harness.glue_sources()
    index.wide_future = wide
    index.wide_entry = entry
    shim_path = gen_dir / SHIM_NAME
    if data is not None:
        shim = Generator(tree, config, index, set(data["available"]), glue, set(data["force"]),
                         set(data["exclude"])).generate()
        shim.demoted = dict(data["demoted"])
        shim_path.write_text(shim.text)
        return ShimResult(shim, shim_path, 0, index)
    assert names is not None and pool is not None
    available = names.result()
    pool.shutdown()
    if not check:
        # the caller's real compile checks it (and calls again with check=True on errors)
        shim = Generator(tree, config, index, available, glue).generate()
        shim_path.write_text(shim.text)
        if memo is not None:
            _write_memo(memo, available, set(), set(), shim.demoted)
        return ShimResult(shim, shim_path, 0, index)
    force: set[str] = set()
    exclude: set[str] = set()
    demoted: dict[str, str] = {}
    check_unit = gen_dir / "pyvma_check.c"
    check_unit.write_text(tu_text(tree))
    checks = [check_unit]
    for name, text in outside_units(tree, harness.parse_cache).items():
        checks.append(gen_dir / name)
        checks[-1].write_text(text)
    for rounds in range(1, MAX_ROUNDS + 1):
        shim = Generator(tree, config, index, available, glue, force, exclude).generate()
        shim.demoted.update(demoted)
        shim_path.write_text(shim.text)
        for unit in checks:
            proc = subprocess.run([compiler(), "-fsyntax-only", *BASE_CFLAGS,
                                   *include_flags(tree, gen_dir, harness.csrc), str(unit)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                break
        if proc.returncode == 0:
            if memo is not None:
                _write_memo(memo, available, force, exclude, shim.demoted)
            return ShimResult(shim, shim_path, rounds, index)
        changed = False
        for m in _errors(proc.stderr):
            if Path(m["file"]).name != SHIM_NAME:
                continue
            owner = shim.line_owner(int(m["line"]))
            if owner is None:
                continue
            name = owner.name
            if isinstance(owner, Definition) and owner.file.startswith("csrc/"):
                continue
            if name in manifest.NEVER_DEMOTE:
                break
            if isinstance(owner, Definition) and owner.kind == "function" and name not in force:
                force.add(name)
                demoted[name] = f"{owner.where}: {m['msg']}"
                changed = True
            elif (not isinstance(owner, Definition) or owner.kind in ("prototype", "var")) \
                    and name not in exclude:
                exclude.add(name)
                demoted[name] = f"dropped ({m['msg']})"
                changed = True
        if not changed:
            break
    raise ShimError(_describe_failure(proc.stderr, tree, gen_dir, index))


def _write_memo(memo: Path, available: set[str], force: set[str], exclude: set[str],
                demoted: dict[str, str]) -> None:
    """Remember the settled shim's inputs: the next build of the same headers
    generates it in one pass."""
    force = force | {n for n, why in demoted.items() if not why.startswith("dropped")}
    exclude = exclude | {n for n, why in demoted.items() if why.startswith("dropped")}
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"available": sorted(available), "force": sorted(force),
                               "exclude": sorted(exclude), "demoted": demoted}))
    os.replace(tmp, memo)


def _describe_failure(stderr: str, tree: Path, gen_dir: Path,
                      index: HeaderIndex | None = None) -> str:
    errs = _errors(stderr)
    lines = ["the kernel code does not compile against the generated shim:"]
    for m in errs[:15]:
        lines.append(f"  {m['file']}:{m['line']}:{m['col']}: error: {m['msg']}")
    if len(errs) > 15:
        lines.append(f"  ... and {len(errs) - 15} more errors")
    missing = sorted({name for m in errs for pair in re.findall(
        r"(?:implicit declaration of function|unknown type name) ‘(\w+)’|‘(\w+)’ undeclared",
        m["msg"]) for name in pair if name})
    if missing and index is not None:
        headers = [f for f in index.files if not f.startswith("csrc/")]
        lines.append(f"no definition of {', '.join(missing)} was found: looked in the "
                     f"{len(headers)} headers indexed from mm/vma_internal.h and the manifest "
                     f"({', '.join(headers[:6])}"
                     f"{', …' if len(headers) > 6 else ''}), in every include/linux header "
                     "(macros and inline functions), and in csrc/override.h.")
    lines.append("If the error is in the tree's mm/ code, fix the tree; if a kernel definition"
                 " is missing from the shim, see `pyvma shim --report`.")
    return "\n".join(lines)
