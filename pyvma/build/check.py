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

from vma_internal.generate import Shim
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


def _check_hooks_kept(tree: KernelTree, config, root: Path, shim: Shim,
                      harness: Harness) -> None:
    """A patched tree's calls that reached a harness hook in its base tree still reach
    one: a hooked function the patch gives another prototype, or replaces by a
    function the harness does not know, must not silently become a no-op stub.  A
    hooked function the patched tree simply no longer calls is not lost."""
    base_root = tree.origin.get("patched_from")
    if not base_root or not Path(base_root).is_dir():
        return
    from vma_internal.hookdiff import callers, lost_hooks
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
                                   check=False, tree_key=tree_key(base)).shim
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lost = lost_hooks(base_shim, callers(src, base_shim, harness.parse_cache), shim,
                      callers(_compile_root(tree.root, root), shim, harness.parse_cache))
    if lost:
        raise BuildError(
            "the patched tree lost harness hooks its base has (calls that reached a "
            "harness hook now reach a no-op stub, so tests would not see what they do):\n"
            + "\n".join("  " + h.describe(base.version_str) for h in lost)
            + "\npyvma does not emulate the new function or prototype yet: this is a "
            "limit of the harness, not a fault of the series; tests of this tree would "
            "pass without exercising those calls, so it is not built. Test the series' "
            "other patches (--patches), or report the function to pyvma's maintainers.")
