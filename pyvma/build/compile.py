# SPDX-License-Identifier: GPL-2.0-or-later
"""Compile and link: the support objects (maple tree, tools/lib), the two translation
units of generated shim + mm/vma*.c + glue (and, where a tree keeps entry points in a
file outside mm/vma*.c, a unit of those: vma_internal/outside.py), the shared library."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from vma_internal.manifest import OUTSIDE_ENTRY_POINTS
from vma_internal.outside import unit_name
from vma_internal.toolchain import compiler, include_flags

from ..cache import file_digest
from ..errors import BuildError
from ..paths import CSRC

# instrumentation variants of a build ("coverage" is gcov, for `make coverage`)
SANITIZERS = {None: [], "coverage": ["--coverage", "-DPYVMA_COVERAGE"],
              "ubsan": ["-fsanitize=undefined", "-fno-sanitize-recover=all"],
              "asan": ["-fsanitize=address", "-fsanitize=undefined"]}
MAPLE_SOURCE = "tools/testing/shared/maple-shim.c"
# the small support sources are compiled as one unit (one compiler process, not six)
SMALL_SUPPORT_SOURCES = ("tools/testing/shared/linux.c", "tools/lib/slab.c",
                         "tools/lib/find_bit.c", "tools/lib/bitmap.c", "tools/lib/hweight.c",
                         "tools/lib/vsprintf.c")
SUPPORT_SOURCES = (MAPLE_SOURCE, *SMALL_SUPPORT_SOURCES)
MAPLE_DUMP_STACK = '-Ddump_stack()=pyvma_bug(__FILE__, __LINE__, "maple tree dump_stack()")'

def _compile_object(src: Path, tree: Path, gen: Path, flags: list[str], objs: Path,
                    text: str | None = None) -> Path:
    """Compile one support source (or *text*, a unit including several), cached by
    (source, flags, what the support sources read)."""
    cmd_flags = [*flags, *include_flags(tree, gen, CSRC)]
    h = hashlib.sha256(src.read_bytes() if text is None else text.replace(str(tree), "").encode())
    h.update("\0".join(f for f in cmd_flags if not f.startswith(("-I", str(tree)))).encode())
    h.update(_support_hash(tree).encode())
    # the config the build's generated/autoconf.h gives every source
    h.update((gen / "generated" / "autoconf.h").read_bytes())
    out = objs / f"{src.stem}-{h.hexdigest()[:16]}.o"
    if out.exists():
        return out
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    if text is not None:
        unit = out.with_suffix(f".tmp{os.getpid()}.c")
        unit.write_text(text)
        src = unit
    try:
        proc = subprocess.run([compiler(), "-c", *cmd_flags, str(src), "-o",
                               str(tmp)], capture_output=True, text=True)
    finally:
        if text is not None:
            src.unlink(missing_ok=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"compiling {src} failed:\n{_first_errors(proc.stderr)}")
    os.replace(tmp, out)
    return out


def _support_objects(tree: Path, gen: Path, flags: list[str], objs: Path) -> list[Path]:
    """The small support sources as one unit; separately if a tree's sources clash."""
    text = "".join(f'#include "{tree / rel}"\n' for rel in SMALL_SUPPORT_SOURCES
                   if (tree / rel).exists())
    try:
        return [_compile_object(Path("support-unit.c"), tree, gen, flags, objs, text)]
    except BuildError:
        return [_compile_object(tree / rel, tree, gen, flags, objs)
                for rel in SMALL_SUPPORT_SOURCES]


_SUPPORT_GLOBS = ("tools/include/**/*.h", "tools/lib/*.c", "tools/testing/shared/**/*",
                  "tools/arch/x86/include/**/*.h", "lib/maple_tree.c",
                  "include/linux/maple_tree.h")
_support_hashes: dict[Path, str] = {}


def _support_hash(tree: Path) -> str:
    """Content hash of what the support objects read (not mm/: editing vma.c
    reuses them)."""
    if tree not in _support_hashes:
        h = hashlib.sha256()
        for pattern in _SUPPORT_GLOBS:
            for f in sorted(tree.glob(pattern)):
                if f.is_file():
                    h.update(f"{f.relative_to(tree)}\0{file_digest(f)}\n".encode())
        _support_hashes[tree] = h.hexdigest()
    return _support_hashes[tree]


def _first_errors(stderr: str, limit: int = 15) -> str:
    lines = [l for l in stderr.splitlines() if ": error:" in l or ": fatal error:" in l]
    if not lines:
        lines = stderr.strip().splitlines()[-limit:]
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join("  " + l for l in lines[:limit]) + more


# generated into gen/: the shim + mm/vma*.c + the first glue unit, and the shim + the
# rest of the glue (pyvma.paths.GLUE_FIRST_UNIT, GLUE_SECOND_UNIT)
TRANSLATION_UNITS = ("pyvma_tu.c", "pyvma_glue_tu.c")


def _compile_tu(out: Path, gen: Path, src: Path, flags: list[str], unit: str) -> Path:
    """One generated translation unit (see TRANSLATION_UNITS) into out/obj/."""
    objdir = out / "obj"
    objdir.mkdir(parents=True, exist_ok=True)
    obj = objdir / f"{Path(unit).stem}.o"
    # a unit of entry points taken from a file outside mm/vma*.c names that file
    what = OUTSIDE_UNITS.get(unit, "mm/vma.c")
    _run_cc([compiler(), "-c", *flags, *include_flags(src, gen, CSRC), str(gen / unit),
             "-o", str(obj)], objdir, src, what)
    return obj


#: unit name -> the tree's file it is built from (vma_internal/outside.py)
OUTSIDE_UNITS: dict[str, str] = {unit_name(f): f for f in OUTSIDE_ENTRY_POINTS}


def _link_module(out: Path, tu_objs: list[Path], objects: list[str], san: list[str],
                 key: str, src: Path) -> Path:
    """The library: the translation units and the support objects."""
    import sysconfig

    module = out / f"_pyvma_{key}{sysconfig.get_config_var('SHLIB_SUFFIX') or '.so'}"
    objdir = tu_objs[0].parent
    _run_cc([compiler(), "-shared", *san, *map(str, tu_objs), *objects, "-lurcu",
             "-lpthread", "-o", str(module)], objdir, src)
    if "--coverage" not in san:         # gcov writes its counts next to the objects
        shutil.rmtree(objdir, ignore_errors=True)
    return module


def _run_cc(cmd: list[str], cwd: Path, src: Path, what: str = "mm/vma.c") -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise BuildError(f"building {src}/{what} with the generated shim failed:\n"
                         f"{_first_errors(proc.stderr)}")


_UNSAFE = ('"', "\n", "\\")


def _compile_root(tree: Path, cache: Path) -> Path:
    """The path the compiler is given for *tree*.  GNU as cannot assemble line
    markers of files whose path holds a double quote, so such a tree is reached
    through a symlink in the cache."""
    if not any(c in str(tree) for c in _UNSAFE):
        return tree
    if any(c in str(cache) for c in _UNSAFE):
        raise BuildError(f"the cache path {cache} contains a double quote or backslash, "
                         "which the assembler cannot take in file names; set PYVMA_CACHE "
                         "to another directory")
    link = cache / "trees" / hashlib.sha256(str(tree).encode()).hexdigest()[:16]
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or os.readlink(link) != str(tree):
        tmp = link.with_name(link.name + f".tmp{os.getpid()}")
        tmp.unlink(missing_ok=True)
        os.symlink(tree, tmp)
        os.replace(tmp, link)
    return link


def _use_site(tree: Path, symbol: str) -> str:
    """The first file:line of the tree's mm/ sources that mentions *symbol*."""
    import re
    for rel in ("mm/vma.c", "mm/vma.h", "mm/vma_init.c", "mm/vma_exec.c", "mm/internal.h",
                "include/linux/mm.h"):
        path = tree / rel
        if path.exists():
            for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if re.search(rf"\b{re.escape(symbol)}\b", line):
                    return f"{rel}:{no}"
    return "(use site not found in mm/)"
