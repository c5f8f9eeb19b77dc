# SPDX-License-Identifier: GPL-2.0-or-later
"""Build a kernel tree into a library (or reuse the cached build): the pipeline
shim -> compile -> link -> check, safe against concurrent builders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from vma_internal.digest import sha256_file

from .. import paths
from ..cache import _rmtree, cache_dir, collect_stale, file_lock
from ..errors import BuildError, PyvmaError, wrap_shim_errors
from ..tree import KernelTree
from .abi import _abi_module
from .check import _check_hooks_kept, _check_toolchain, _undefined_symbols
from .compile import (
    MAPLE_DUMP_STACK,
    MAPLE_SOURCE,
    SANITIZERS,
    TRANSLATION_UNITS,
    _compile_object,
    _compile_root,
    _compile_tu,
    _link_module,
    _support_objects,
    _use_site,
)
from .key import ABI_FILE, MODULE_NAME, _cached_ok, cached_build

if TYPE_CHECKING:
    from .key import Build


def build(tree: KernelTree, config=None, sanitizer: str | None = None,
          patches_hash: str = "", cache: Path | None = None) -> Build:
    """Build (or reuse) the module for *tree*; safe against concurrent builders."""
    from vma_internal.config import HarnessConfig
    config = config or HarnessConfig.from_overrides()
    if sanitizer not in SANITIZERS:
        raise BuildError(f"unknown sanitizer {sanitizer!r}: use one of ubsan, asan, coverage")
    root = cache_dir(cache)
    done, key, tree_hash = cached_build(tree, config.key, sanitizer, patches_hash, cache)
    if done:
        return done
    bdir = root / "builds" / key
    with file_lock(root / "locks" / f"build-{key}.lock"):
        done = _cached_ok(bdir)
        if done:
            return done
        collect_stale(root)        # temp dirs of killed builds
        if bdir.exists() or bdir.is_symlink():   # a damaged entry: rebuild it
            _rmtree(bdir)
        bdir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=bdir.parent))
        try:
            info = _build_into(tmp, tree, config, sanitizer, key, root, tree_hash)
            (tmp / "BUILD.json").write_text(json.dumps(info, indent=1))
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)           # mkdtemp made it 0700
            os.rename(tmp, bdir)
        except Exception as exc:
            # checked only now (a probe costs a compiler run): a missing compiler
            # or liburcu is said as such, not as the compile error it caused
            try:
                _check_toolchain()
            except BuildError:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            if not isinstance(exc, PyvmaError):
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            _keep_failed(exc, tmp, root / "failed" / key)
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    done = _cached_ok(bdir)
    assert done is not None
    return done


def _keep_failed(exc: PyvmaError, tmp: Path, failed: Path) -> None:
    """Keep a failed build's generated files for inspection; name them in *exc*."""
    shutil.rmtree(failed, ignore_errors=True)
    failed.parent.mkdir(parents=True, exist_ok=True)
    if (tmp / "gen").exists():
        shutil.move(str(tmp / "gen"), failed)
    shutil.rmtree(tmp, ignore_errors=True)
    exc.args = (f"{exc.args[0]}\n(generated files of this failed build: {failed})",)


def _build_into(out: Path, tree: KernelTree, config, sanitizer: str | None, key: str,
                root: Path, tree_hash: str) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from vma_internal.generate import hook_bindings, unmatched_entries
    from vma_internal.outside import extract
    from vma_internal.shim import (
        build_shim,
        headers_hash,
        outside_units,
        second_tu_text,
        tu_text,
    )
    from vma_internal.tables import tables_text
    from vma_internal.toolchain import BASE_CFLAGS, write_generated
    harness = paths.harness(root)
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
    maple = pool.submit(_compile_object, src / MAPLE_SOURCE, src, gen, [*flags, MAPLE_DUMP_STACK],
                        objs_dir)
    small = pool.submit(_support_objects, src, gen, flags, objs_dir)
    try:
        memo = root / "shimmemo" / f"{headers_hash(src, config, harness)}.json"
        with wrap_shim_errors():
            shim = build_shim(src, config, gen, harness, memo, check=False, tree_key=tree_hash)
        hooks = hook_bindings(shim.shim)
        _check_hooks_kept(tree, config, root, shim.shim, harness)
        (gen / "pyvma_tables.h").write_text(tables_text(src, harness.parse_cache))
        (gen / "pyvma_tu.c").write_text(tu_text(src, harness.first_unit))
        (gen / "pyvma_glue_tu.c").write_text(second_tu_text(harness.second_units))
        # the entry points the tree keeps outside mm/vma*.c (6.12: mm/mmap.c), a unit each
        outside = outside_units(src, harness.parse_cache)
        for name, text in outside.items():
            (gen / name).write_text(text)
        all_units = (*TRANSLATION_UNITS, *outside)
        t_shim = time.monotonic() - t0
        # the two translation units compile side by side (and with the last
        # support objects, if any are still compiling)
        units = [pool.submit(_compile_tu, out, gen, src, flags, unit)
                 for unit in all_units]
        # Python work kept off the shim generation's path: done while gcc runs
        if shim.index is not None:
            shim.index.save_wide()
        shutil.copyfile(_abi_module(objs_dir), out / ABI_FILE)
        objects = [str(maple.result())] + [str(o) for o in small.result()]
        t_objs = time.monotonic() - t0 - t_shim
        try:
            tu_objs = [u.result() for u in units]
        except BuildError:
            if shim.rounds:
                raise
            memo.unlink(missing_ok=True)    # unchecked or a stale memo: settle the shim
            with wrap_shim_errors():
                shim = build_shim(src, config, gen, harness, memo, check=True)
            tu_objs = [_compile_tu(out, gen, src, flags, unit) for unit in all_units]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    module = _link_module(out, tu_objs, objects, san, key, src)
    missing = _undefined_symbols(module, san)
    if missing:
        raise BuildError("the built module has undefined symbols (the tree's code calls "
                         "something neither the tree's headers nor the harness define):\n"
                         + "\n".join(f"  {s}: used by {_use_site(src, s)}" for s in missing))
    t_total = time.monotonic() - t0
    return {
        "key": key, "module_name": MODULE_NAME, "module_file": module.name,
        "module_sha256": sha256_file(module), "tree": str(tree.root), "version": tree.version_str,
        "config": dict(config.options), "sanitizer": sanitizer,
        "shim": {"extracted": len(shim.shim.extracted), "stubs": len(shim.shim.stubs),
                 "demoted": shim.shim.demoted, "rounds": shim.rounds},
        "hooks": hooks, "manifest_unmatched": unmatched_entries(shim.shim),
        # entry points built from files outside mm/vma*.c: {file: [function, ...]}
        "outside": {ex.source: ex.entry_names for ex in extract(src, harness.parse_cache)},
        # gcov writes counts under the compile-time object dir: see scripts/coverage.py
        "compile_obj_dir": str(out / "obj"),
        "seconds": {"shim": round(t_shim, 3), "support_objects": round(t_objs, 3),
                    "total": round(t_total, 3)},
    }
