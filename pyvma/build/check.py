# SPDX-License-Identifier: GPL-2.0-or-later
"""Checks of a build: the toolchain is there, the library's symbols all resolve, the
hooks the manifest declares are kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vma_internal.harness import Harness
from vma_internal.toolchain import asan_runtime, compiler

from ..errors import BuildError, wrap_shim_errors
from ..tree import KernelTree
from .compile import _compile_root
from .key import tree_key


def _check_toolchain() -> None:
    """A compiler and liburcu's headers, or a message saying how to get them."""
    cc = compiler()
    if shutil.which(cc) is None:
        raise BuildError(f"no C compiler: `{cc}` is not on PATH. Install gcc with "
                         "`apt-get install gcc` (or run `make deps`).")
    probe = subprocess.run([cc, "-E", "-x", "c", "-", "-o", os.devnull],
                           input="#include <urcu.h>\n", capture_output=True, text=True)
    if probe.returncode != 0:
        raise BuildError("liburcu headers not found (<urcu.h>): the maple tree "
                         "support needs them. Install them with `apt-get install liburcu-dev` "
                         "(or run `make deps`).")


def _undefined_symbols(module: Path, san: Sequence[str] = ()) -> list[str]:
    """Symbols the module needs that nothing in the process provides (a shared object
    otherwise fails only at import): dlopen it with RTLD_NOW — in a child process
    under the ASan runtime for an ASan build, in this process otherwise."""
    import ctypes
    if any("address" in f for f in san):
        lib = asan_runtime()
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


def _check_hooks_kept(tree: KernelTree, config, root: Path, hooks: dict[str, list[str]],
                      harness: Harness) -> None:
    """A patched tree keeps every hook its base tree has bound: a hooked function a
    patch renames (or removes) must not silently become a no-op stub."""
    base_root = tree.origin.get("patched_from")
    if not base_root or not Path(base_root).is_dir():
        return
    from vma_internal.generate import hook_bindings as bindings_of
    from vma_internal.shim import build_shim, headers_hash

    from ..tree import resolve
    base = resolve(str(base_root), root)
    work = Path(tempfile.mkdtemp(prefix="base-shim-", dir=root / "tmp"
                                 if (root / "tmp").is_dir() else root))
    try:
        src = _compile_root(base.root, root)
        memo = root / "shimmemo" / f"{headers_hash(src, config, harness)}.json"
        with wrap_shim_errors():
            base_shim = build_shim(src, config, work, harness, memo if memo.exists() else None,
                                   check=False, tree_key=tree_key(base))
        base_hooks = bindings_of(base_shim.shim)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from vma_internal.manifest import HOOK_ROLES
    have = {HOOK_ROLES.get(h, h) for h in hooks}
    lost = {h: names for h, names in base_hooks.items() if HOOK_ROLES.get(h, h) not in have}
    if lost:
        raise BuildError(
            "the patched tree lost harness hooks its base has (a hooked function was "
            "renamed or is no longer called; its replacement would be a no-op stub):\n"
            + "\n".join(f"  {h}: bound in {base.version_str} to {', '.join(n)}; "
                        "bound to nothing here" for h, n in lost.items())
            + "\nAdd the new name to STUB_HOOKS (or a HOOK_SIGNATURES pattern) in "
            "vma_internal/manifest.py.")
