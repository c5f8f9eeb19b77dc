# SPDX-License-Identifier: GPL-2.0-or-later
"""Include paths, flags and generated config headers for compiling against a tree."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .config import HarnessConfig

BASE_CFLAGS = ["-D_LGPL_SOURCE", "-DNUM_MM_FLAG_BITS=64",
               "-UNDEBUG", "-fno-wrapv", "-fno-strict-aliasing", "-g", "-O0",
               "-fvisibility=hidden", "-fPIC", "-Wno-unused-function", "-Wno-unused-variable",
               "-Wno-unused-but-set-variable", "-Wno-address", "-Wno-format",
               "-Wno-pointer-arith", "-Wno-unused-value",
               "-Werror=implicit-function-declaration", "-Werror=implicit-int"]


def include_dirs(tree: Path, gen_dir: Path, csrc: Path) -> list[Path]:
    """Our generated and override dirs first: a stale generated/ dir in a user's tree
    must never shadow ours.  *csrc*: the harness's C sources (``Harness.csrc``)."""
    return [gen_dir, gen_dir / "generated", csrc / "include", csrc,
            tree / "tools" / "testing" / "shared", tree / "tools" / "include",
            tree / "tools" / "arch" / "x86" / "include"]


def include_flags(tree: Path, gen_dir: Path, csrc: Path) -> list[str]:
    return [f"-I{p}" for p in include_dirs(tree, gen_dir, csrc)] + ["-iquote", str(tree / "mm")]


def write_generated(gen_dir: Path, config: HarnessConfig) -> None:
    """generated/{autoconf,bit-length,map-shift}.h for the tools headers."""
    g = gen_dir / "generated"
    g.mkdir(parents=True, exist_ok=True)
    (g / "autoconf.h").write_text(config.autoconf())
    (g / "bit-length.h").write_text("#define CONFIG_64BIT 1\n#define CONFIG_PHYS_ADDR_T_64BIT 1\n")
    (g / "map-shift.h").write_text("#define XA_CHUNK_SHIFT 6\n")


def compiler() -> str:
    """The C compiler: $CC, else gcc (the one lookup of it: the build links with it too)."""
    import os
    return os.environ.get("CC", "gcc")


def asan_runtime() -> str:
    """The compiler's libasan.so: an absolute path, or the bare name if it has none."""
    return subprocess.run([compiler(), "-print-file-name=libasan.so"],
                          capture_output=True, text=True).stdout.strip()


def preprocess(source: Path, tree: Path, gen_dir: Path, csrc: Path,
               extra: list[str] | None = None) -> str:
    """Run the preprocessor; returns its output.  ShimError, with the compiler's
    first error (file:line), if the tree's headers do not preprocess."""
    cmd = [compiler(), "-E", *BASE_CFLAGS, *include_flags(tree, gen_dir, csrc), *(extra or []),
           str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        from .errors import ShimError
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        first = next((ln for ln in lines if "error" in ln), lines[0] if lines else
                     f"exit status {proc.returncode}")
        raise ShimError(f"preprocessing {source.name} against {tree} failed: "
                        f"{first.strip()} (is it a whole kernel tree? pyvma reads "
                        "tools/include and tools/testing/shared too)")
    return proc.stdout
