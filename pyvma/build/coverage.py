# SPDX-License-Identifier: GPL-2.0-or-later
"""gcov data of a coverage build (``sanitizer="coverage"``): where its counters go,
zeroing and writing them out in a running process, and what gcov reads back for
``mm/vma.c`` (and ``mm/vma_init.c``, ``mm/vma_exec.c`` where the tree has them, and
the functions built from ``mm/mmap.c`` where the tree keeps entry points there: 6.12).

A build's objects are compiled in a temporary directory that is then renamed into
place, so the counters' compiled-in path no longer exists: ``gcov_env()`` redirects
them (``GCOV_PREFIX``, read by libgcov when it writes).  Used by ``pyvma diff
--coverage`` and ``scripts/coverage.py``.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import BuildError
from .key import Build

#: the tree's sources whose coverage is read (those the tree has; mm/vma.h's inline
#: functions as the unit compiled them; of a file outside mm/vma*.c, only the
#: functions the build takes from it: vma_internal/outside.py)
SOURCES = ("mm/vma.c", "mm/vma_init.c", "mm/vma_exec.c", "mm/vma.h", "mm/mmap.c")
#: the translation unit that holds mm/vma*.c (see compile.TRANSLATION_UNITS)
UNIT = "pyvma_tu"


def units(build: Build) -> list[str]:
    """The translation units holding the tree's code: mm/vma*.c's, then one per file
    outside them the build took entry points from (BUILD.json "outside")."""
    from vma_internal.outside import unit_name
    return [UNIT] + [unit_name(src)[:-2] for src in build.info.get("outside", {})]

T = TypeVar("T")


@dataclass
class FileCoverage:
    """One source file's gcov counts: lines with code and those run, branches and
    those taken, functions and those never entered (by name, in source order)."""
    file: str
    lines: int
    lines_reached: int
    branches: int
    branches_taken: int
    functions: int
    never_entered: list[str]
    #: the line numbers with code, and those run (inlined code at its own lines)
    code: list[int]
    reached: list[int]

    def as_dict(self) -> dict:
        return asdict(self)


def pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:.1f}%" if total else "-"


def gcov_env(build: Build, dest: Path) -> dict[str, str]:
    """The environment that makes *build*'s library write its counters under *dest*,
    in ``counters_dir(build, dest)``: the compiled-in directory (a temporary one since
    renamed) stripped up to its last two components, ``.tmp-<key>-*/obj``, so that
    every coverage build a process loads writes its units' counters apart (the
    variants of a suite load other configs' builds, with units of the same names)."""
    compiled = Path(build.info.get("compile_obj_dir") or build.dir / "obj")
    return {"GCOV_PREFIX": str(dest), "GCOV_PREFIX_STRIP": str(len(compiled.parts) - 3)}


def counters_dir(build: Build, dest: Path) -> Path:
    """Where *build*'s library writes its counters under ``gcov_env(build, dest)``."""
    compiled = Path(build.info.get("compile_obj_dir") or build.dir / "obj")
    return dest.joinpath(*compiled.parts[-2:])


def read_gcda(gcda: Path, sources: Sequence[str] = SOURCES) -> dict[str, FileCoverage]:
    """gcov's reading of one unit's counters (its .gcno beside it): per file of
    *sources* the unit holds, keyed by that name."""
    if shutil.which("gcov") is None:
        raise BuildError("gcov not found: coverage needs gcc's gcov on PATH "
                         "(Debian: apt-get install gcc)")
    out: dict[str, FileCoverage] = {}
    with tempfile.TemporaryDirectory(prefix="pyvma-gcov-") as tmp:
        proc = subprocess.run(["gcov", "-j", "-b", "-o", str(gcda.parent), str(gcda)],
                              cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
            raise BuildError(f"gcov could not read {gcda}: {first}")
        for gz in sorted(Path(tmp).glob("*.gcov.json.gz")):
            for f in json.loads(gzip.decompress(gz.read_bytes()))["files"]:
                name = next((s for s in sources
                             if f["file"] == s or f["file"].endswith("/" + s)), None)
                if name is None:
                    continue
                lines = f["lines"]
                branches = [br["count"] for ln in lines for br in ln.get("branches", [])]
                funcs = sorted(f["functions"], key=lambda fn: fn["start_line"])
                out[name] = FileCoverage(
                    name, len(lines), sum(ln["count"] > 0 for ln in lines),
                    len(branches), sum(c > 0 for c in branches), len(funcs),
                    [fn["name"] for fn in funcs if fn["execution_count"] == 0],
                    sorted({ln["line_number"] for ln in lines}),
                    sorted({ln["line_number"] for ln in lines if ln["count"] > 0}))
    return {s: out[s] for s in sources if s in out}


def _call(lib: Any, fn: str, build: Build) -> None:
    if getattr(lib, fn)() != 0:
        raise BuildError(f"build {build.key} ({build.info.get('version')}) is not a "
                         "coverage build: load it with sanitizer='coverage'")


def dump(lib: Any, build: Build, dest: Path) -> list[Path]:
    """Write the counters of *lib* (the loaded library of *build*) under *dest*;
    each unit's (``units()``) .gcda there, its .gcno copied beside it."""
    env = gcov_env(build, dest)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)          # libgcov reads them when it writes
    try:
        _call(lib, "pyvma_coverage_dump", build)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = []
    for unit in units(build):
        gcda = counters_dir(build, dest) / f"{unit}.gcda"
        if not gcda.is_file():
            raise BuildError(f"build {build.key}: no coverage data of {unit} written "
                             f"under {dest}")
        gcno = build.dir / "obj" / f"{unit}.gcno"
        if not gcno.is_file():
            raise BuildError(f"build {build.key}: {gcno} missing; rebuild it "
                             "(pyvma cache clear)")
        shutil.copyfile(gcno, gcda.with_suffix(".gcno"))
        out.append(gcda)
    return out


def read_units(gcdas: Sequence[Path]) -> dict[str, FileCoverage]:
    """``read_gcda`` of each unit of a build, one reading: per file, in SOURCES order."""
    got: dict[str, FileCoverage] = {}
    for gcda in gcdas:
        got.update(read_gcda(gcda))
    return {s: got[s] for s in SOURCES if s in got}


def measure(targets: Sequence[tuple[Build, Any]],
            run: Callable[[], T]) -> tuple[T, dict[str, dict[str, FileCoverage]]]:
    """*run*() with the counters of each (build, loaded library) zeroed before and
    written out after, in a private directory (the build's own is never written):
    its result and, per build key (a build given twice counts once), its reading."""
    distinct = {b.key: (b, lib) for b, lib in targets}
    for b, lib in distinct.values():
        _call(lib, "pyvma_coverage_reset", b)
    with tempfile.TemporaryDirectory(prefix="pyvma-coverage-") as tmp:
        try:
            result = run()
        finally:
            # written even if run() fails: dumped, libgcov writes nothing at exit
            # (it would write into the build's vanished temporary directory)
            gcdas = {key: dump(lib, b, Path(tmp) / key) for key, (b, lib) in distinct.items()}
        return result, {key: read_units(g) for key, g in gcdas.items()}
