# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmark's native loop (bench/native.c), built only when the
benchmark asks: compiled into a small library of its own, linked against a loaded
Kernel's library (the same instance: its state is the one Python drives)."""
from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "bench" / "native.c"
CDEF = "long pyvma_bench_native(void *mm, long rounds, unsigned long flags);"


def native_loop(k) -> Callable[[object, int, int], int]:
    """``loop(mm.ptr, rounds, flags)``: *rounds* times merge_new + munmap in C on
    *k*'s library; returns the operations done (2 a round) or -1."""
    import cffi
    module = Path(k.build.module_path)
    with tempfile.TemporaryDirectory(prefix="pyvma-bench-native-") as tmp:
        out = Path(tmp) / "pyvma_bench_native.so"
        cmd = [os.environ.get("CC", "gcc"), "-shared", "-fPIC", "-O0", "-g",
               "-I", str(REPO / "csrc"), str(SOURCE), str(module),
               f"-Wl,-rpath,{module.parent}", "-o", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"bench: building {SOURCE} failed:\n{proc.stderr}")
        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        lib = ffi.dlopen(str(out), ffi.RTLD_NOW | ffi.RTLD_LOCAL)
    fn = lib.pyvma_bench_native

    def loop(mm, rounds: int, flags: int) -> int:
        return fn(ffi.cast("void *", mm), rounds, flags)
    loop.lib = lib         # type: ignore[attr-defined]  # kept loaded with the callable
    return loop
