# SPDX-License-Identifier: GPL-2.0-or-later
"""Build a kernel tree's mm/vma.c into a cffi module, cached per (tree, config, sanitizer).

Layout under the cache::

    builds/<key>/            one finished build (renamed into place atomically)
        gen/                 generated shim, tables, autoconf
        _pyvma_<key>.so      the module
        BUILD.json           what went in, and the module's sha256
    objs/<hash>.o            support objects (maple tree, tools/lib), by content
    locks/                   flock files
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .cache import cache_dir, file_lock
from .errors import PyvmaError
from .source import KernelTree

REPO = Path(__file__).resolve().parent.parent
# instrumentation variants of a build ("coverage" is gcov, for `make coverage`)
SANITIZERS = {None: [], "coverage": ["--coverage"],
              "ubsan": ["-fsanitize=undefined", "-fno-sanitize-recover=all"],
              "asan": ["-fsanitize=address", "-fsanitize=undefined"]}
SUPPORT_SOURCES = ("tools/testing/shared/linux.c", "tools/testing/shared/maple-shim.c",
                   "tools/lib/slab.c", "tools/lib/find_bit.c", "tools/lib/bitmap.c",
                   "tools/lib/hweight.c", "tools/lib/vsprintf.c")
MAPLE_DUMP_STACK = '-Ddump_stack()=pyvma_bug(__FILE__, __LINE__, "maple tree dump_stack()")'


class BuildError(PyvmaError):
    """The module could not be built."""


@dataclass
class Build:
    key: str
    dir: Path
    module_name: str
    module_path: Path
    info: dict


def _harness_hash() -> str:
    """Hash of the harness sources that shape a build (csrc/, vma_internal/, this file)."""
    h = hashlib.sha256()
    files = sorted((REPO / "csrc").rglob("*")) + sorted((REPO / "vma_internal").glob("*.py"))
    files.append(Path(__file__))
    for f in files:
        if f.is_file():
            h.update(str(f.relative_to(REPO)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def build_key(tree: KernelTree, config_key: str, sanitizer: str | None,
              patches_hash: str = "") -> str:
    h = hashlib.sha256()
    for part in (tree.content_hash(), config_key, sanitizer or "none", patches_hash,
                 _harness_hash()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cached_ok(bdir: Path) -> Build | None:
    """A finished build whose module still has the recorded content, else None."""
    meta = bdir / "BUILD.json"
    if not meta.exists():
        return None
    try:
        info = json.loads(meta.read_text())
        mod = bdir / info["module_file"]
        if not mod.exists() or _sha256(mod) != info["module_sha256"]:
            return None
    except (ValueError, KeyError, OSError):
        return None
    return Build(info["key"], bdir, info["module_name"], mod, info)


def _compile_object(src: Path, tree: Path, gen: Path, flags: list[str], objs: Path) -> Path:
    """Compile one support source, cached by (source text, flags)."""
    from vma_internal.toolchain import include_flags
    cmd_flags = [*flags, *include_flags(tree, gen)]
    h = hashlib.sha256(src.read_bytes())
    h.update("\0".join(f for f in cmd_flags if not f.startswith(("-I", str(tree)))).encode())
    h.update(_support_hash(tree).encode())
    out = objs / f"{src.stem}-{h.hexdigest()[:16]}.o"
    if out.exists():
        return out
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    proc = subprocess.run([os.environ.get("CC", "gcc"), "-c", *cmd_flags, str(src), "-o", str(tmp)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"compiling {src} failed:\n{_first_errors(proc.stderr)}")
    os.replace(tmp, out)
    return out


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
                    h.update(str(f.relative_to(tree)).encode())
                    h.update(f.read_bytes())
        _support_hashes[tree] = h.hexdigest()
    return _support_hashes[tree]


def _first_errors(stderr: str, limit: int = 15) -> str:
    lines = [l for l in stderr.splitlines() if ": error:" in l or ": fatal error:" in l]
    if not lines:
        lines = stderr.strip().splitlines()[-limit:]
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join("  " + l for l in lines[:limit]) + more


def _check_toolchain() -> None:
    """A compiler and liburcu's headers, or a message saying how to get them."""
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise BuildError(f"no C compiler: `{cc}` is not on PATH. Install gcc with "
                         "`apt-get install gcc` (or run `make deps`).")
    probe = subprocess.run([cc, "-E", "-x", "c", "-", "-o", os.devnull],
                           input="#include <urcu.h>\n", capture_output=True, text=True)
    if probe.returncode != 0:
        raise BuildError("liburcu headers not found (<urcu.h>): the maple tree "
                         "support needs them. Install them with `apt-get install liburcu-dev` "
                         "(or run `make deps`).")


def _undefined_symbols(module: Path, san: list[str] = ()) -> list[str]:
    """Symbols the module needs that nothing in the process provides (a shared object
    otherwise fails only at import): dlopen it with RTLD_NOW — in a child process
    under the ASan runtime for an ASan build, in this process otherwise."""
    import ctypes
    if any("address" in f for f in san):
        lib = subprocess.run([os.environ.get("CC", "gcc"), "-print-file-name=libasan.so"],
                             capture_output=True, text=True).stdout.strip()
        probe = ("import ctypes, os, sys\n"
                 "try:\n ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_LOCAL | os.RTLD_NOW)\n"
                 "except OSError as e:\n print(e)\n")
        env = dict(os.environ, LD_PRELOAD=lib, ASAN_OPTIONS="detect_leaks=0")
        out = subprocess.run([sys.executable, "-c", probe, str(module)], capture_output=True,
                             text=True, env=env).stdout
        return [line.split("undefined symbol: ")[1].strip() for line in out.splitlines()
                if "undefined symbol: " in line]
    try:
        ctypes.CDLL(str(module), mode=ctypes.RTLD_LOCAL | os.RTLD_NOW)
    except OSError as exc:
        return [str(exc).split("undefined symbol: ")[1].strip()] \
            if "undefined symbol: " in str(exc) else [str(exc)]
    return []


def build(tree: KernelTree, config=None, sanitizer: str | None = None,
          patches_hash: str = "", cache: Path | None = None) -> Build:
    """Build (or reuse) the module for *tree*; safe against concurrent builders."""
    from vma_internal.config import HarnessConfig
    config = config or HarnessConfig.from_overrides()
    if sanitizer not in SANITIZERS:
        raise BuildError(f"unknown sanitizer {sanitizer!r}: use one of ubsan, asan, coverage")
    root = cache_dir(cache)
    key = build_key(tree, config.key, sanitizer, patches_hash)
    bdir = root / "builds" / key
    done = _cached_ok(bdir)
    if done:
        return done
    _check_toolchain()
    with file_lock(root / "locks" / f"build-{key}.lock"):
        done = _cached_ok(bdir)
        if done:
            return done
        if bdir.exists():          # a damaged entry: rebuild it
            shutil.rmtree(bdir)
        bdir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=bdir.parent))
        try:
            info = _build_into(tmp, tree, config, sanitizer, key, root)
            (tmp / "BUILD.json").write_text(json.dumps(info, indent=1))
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)           # mkdtemp made it 0700
            os.rename(tmp, bdir)
        except PyvmaError as exc:
            failed = root / "failed" / key
            shutil.rmtree(failed, ignore_errors=True)
            failed.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(tmp / "gen"), failed) if (tmp / "gen").exists() else None
            shutil.rmtree(tmp, ignore_errors=True)
            exc.args = (f"{exc.args[0]}\n(generated files of this failed build: {failed})",)
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    done = _cached_ok(bdir)
    assert done is not None
    return done


def _build_into(out: Path, tree: KernelTree, config, sanitizer: str | None, key: str,
                root: Path) -> dict:
    from concurrent.futures import ThreadPoolExecutor
    from vma_internal.shim import build_shim, headers_hash, tu_text
    from vma_internal.tables import tables_text
    from vma_internal.toolchain import BASE_CFLAGS, write_generated

    import vma_internal.cparse
    import vma_internal.index
    vma_internal.cparse.parse_cache_dir = root / "parsecache"
    vma_internal.index.wide_cache_dir = root / "widemap"
    src = _compile_root(tree.root, root)
    t0 = time.monotonic()
    gen = out / "gen"
    write_generated(gen, config)
    san = SANITIZERS[sanitizer]
    objs_dir = root / "objs"
    objs_dir.mkdir(parents=True, exist_ok=True)
    flags = [*BASE_CFLAGS, *san]
    # the support objects do not depend on the shim: compile them (both cores)
    # while the shim is generated
    pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    wrapper = pool.submit(_wrapper_object, objs_dir, flags)
    futures = [pool.submit(_compile_object, src / rel, src, gen,
                           [*flags, *([MAPLE_DUMP_STACK] if rel.endswith("maple-shim.c") else [])],
                           objs_dir) for rel in SUPPORT_SOURCES]
    try:
        memo = root / "shimmemo" / f"{headers_hash(src, config)}.json"
        shim = build_shim(src, config, gen, memo, check=False)
        (gen / "pyvma_tables.h").write_text(tables_text(src))
        (gen / "pyvma_tu.c").write_text(tu_text(src, glue=True))
        t_shim = time.monotonic() - t0
        # the translation unit compiles while the last support objects still do
        tu = pool.submit(_compile_tu, out, gen, src, flags, key)
        objects = [str(f.result()) for f in futures]
        wrapper_o = wrapper.result()
        t_objs = time.monotonic() - t0 - t_shim
        try:
            tu_o = tu.result()
        except BuildError:
            if shim.rounds:
                raise
            memo.unlink(missing_ok=True)    # unchecked or a stale memo: settle the shim
            shim = build_shim(src, config, gen, memo, check=True)
            tu_o = _compile_tu(out, gen, src, flags, key)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    module = _link_module(out, tu_o, wrapper_o, objects, san, key, src)
    missing = _undefined_symbols(module, san)
    if missing:
        raise BuildError("the built module has undefined symbols (the tree's code calls "
                         "something neither the tree's headers nor the harness define):\n"
                         + "\n".join(f"  {s}: used by {_use_site(src, s)}" for s in missing))
    t_total = time.monotonic() - t0
    return {
        "key": key, "module_name": MODULE_NAME, "module_file": module.name,
        "module_sha256": _sha256(module), "tree": str(tree.root), "version": tree.version_str,
        "config": dict(config.options), "sanitizer": sanitizer,
        "shim": {"extracted": len(shim.shim.extracted), "stubs": len(shim.shim.stubs),
                 "demoted": shim.shim.demoted, "rounds": shim.rounds},
        # gcov writes counts under the compile-time object dir: see scripts/coverage.py
        "compile_obj_dir": str(out / "obj"),
        "seconds": {"shim": round(t_shim, 3), "support_objects": round(t_objs, 3),
                    "total": round(t_total, 3)},
    }


MODULE_NAME = "_pyvma"    # every build's cffi module has this name; each loads from its own file


def _wrapper_object(objs_dir: Path, flags: list[str]) -> Path:
    """cffi's Python wrappers for csrc/pyvma_api.h: the same for every tree, so
    compiled once (per API, cffi version and flags) and cached."""
    import cffi
    import sysconfig
    from vma_internal.toolchain import CSRC, compiler
    api = (CSRC / "pyvma_api.h").read_text()
    h = hashlib.sha256(api.encode())
    h.update(f"{cffi.__version__}\0{flags}\0{sysconfig.get_paths()['include']}".encode())
    out = objs_dir / f"cffi-wrapper-{h.hexdigest()[:16]}.o"
    if out.exists():
        return out
    ffi = cffi.FFI()
    ffi.cdef(api)
    ffi.set_source(MODULE_NAME, '#include "pyvma_api.h"\n')
    tmpdir = Path(tempfile.mkdtemp(prefix="cffi-", dir=objs_dir))
    try:
        c_file = tmpdir / f"{MODULE_NAME}.c"
        with contextlib.redirect_stdout(io.StringIO()):     # cffi says "generating ..."
            ffi.emit_c_code(str(c_file))
        tmp_o = tmpdir / "wrapper.o"
        proc = subprocess.run([compiler(), "-c", *flags, f"-I{CSRC}",
                               f"-I{sysconfig.get_paths()['include']}", str(c_file),
                               "-o", str(tmp_o)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"compiling cffi's wrappers failed:\n{_first_errors(proc.stderr)}")
        os.replace(tmp_o, out)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return out


def _compile_tu(out: Path, gen: Path, src: Path, flags: list[str], key: str) -> Path:
    """The translation unit: the shim, the tree's mm/vma*.c and our glue."""
    from vma_internal.toolchain import compiler, include_flags
    objdir = out / "obj"
    objdir.mkdir(parents=True, exist_ok=True)
    obj = objdir / f"_pyvma_{key}.o"
    _run_cc([compiler(), "-c", *flags, *include_flags(src, gen), str(gen / "pyvma_tu.c"),
             "-o", str(obj)], objdir, src)
    return obj


def _link_module(out: Path, tu_o: Path, wrapper: Path, objects: list[str], san: list[str],
                 key: str, src: Path) -> Path:
    """The module: the translation unit, cffi's wrappers and the support objects."""
    import sysconfig
    from vma_internal.toolchain import compiler
    module = out / f"_pyvma_{key}{sysconfig.get_config_var('EXT_SUFFIX')}"
    _run_cc([compiler(), "-shared", *san, str(tu_o), str(wrapper), *objects, "-lurcu",
             "-lpthread", "-o", str(module)], tu_o.parent, src)
    if "--coverage" not in san:         # gcov writes its counts next to the objects
        shutil.rmtree(tu_o.parent, ignore_errors=True)
    return module


def _run_cc(cmd: list[str], cwd: Path, src: Path) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise BuildError(f"building {src}/mm/vma.c with the generated shim failed:\n"
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
