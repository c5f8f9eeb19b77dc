# SPDX-License-Identifier: GPL-2.0-or-later
"""Which kernel functions each test enters: read from a coverage build's gcov counters.

A coverage build (``sanitizer="coverage"``) counts every arc of every function of its
units, the tree's ``mm/vma*.c``, ``mm/vma.h`` and the generated shim's inline helpers
included (instrumented before inlining: an inlined helper keeps its own counters).  A
function was entered iff one of its counters is not zero (the counted arcs are those
off a spanning tree of its flow graph: all zero means no flow at all).

:class:`FuncMapRecorder` (a pytest plugin, ``--pyvma-funcmap FILE``) zeroes the
counters of every loaded library before each test and writes them out after it; the
unit's ``.gcda`` is read here (gcc 12's format: byte lengths, a negative length for a
run of zero counters) and each function named from the ``.gcno`` beside it.  Where the
format is not the one read here (another gcc), ``gcov -j`` reads each test's data.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

TAG_FUNCTION = 0x01000000
TAG_ARCS = 0x01A10000
NOTE_MAGIC = b"oncg"
#: what a test skipped while recording "entered": it runs first on any change
ANY = "*"
#: the tree's sources recorded (the shim's helpers too, as ``shim``)
SOURCES = ("mm/vma.c", "mm/vma_init.c", "mm/vma_exec.c", "mm/vma.h")
DATA_MAGIC = b"adcg"


class FormatError(ValueError):
    """A .gcno/.gcda this reader does not know (another gcc's layout)."""


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<I", buf, pos)
    raw = buf[pos + 4:pos + 4 + n]
    if len(raw) != n:
        raise FormatError("string runs past the end")
    return raw.split(b"\0", 1)[0].decode(errors="replace"), pos + 4 + n


def read_gcno(path: Path) -> dict[int, tuple[str, str, int]]:
    """Each function of a unit by its ident: (source file, name, first line)."""
    buf = path.read_bytes()
    if buf[:4] != NOTE_MAGIC or buf[4:8] < b"*21B":     # gcc >= 12: lengths in bytes
        raise FormatError(f"{path}: not a gcc >= 12 .gcno")
    _, pos = _string(buf, 16)
    pos += 4                                # has_unexecuted_blocks
    out: dict[int, tuple[str, str, int]] = {}
    while pos + 8 <= len(buf):
        tag, length = struct.unpack_from("<Ii", buf, pos)
        pos += 8
        if length < 0 or pos + length > len(buf):
            raise FormatError(f"{path}: record of length {length} at {pos}")
        if tag == TAG_FUNCTION:
            (ident,) = struct.unpack_from("<I", buf, pos)
            name, p = _string(buf, pos + 12)
            src, p = _string(buf, p + 4)
            (line,) = struct.unpack_from("<I", buf, p)
            out[ident] = (src, name, line)
        pos += length
    return out


def entered_idents(path: Path) -> set[int]:
    """The idents of the functions whose counters in a .gcda are not all zero."""
    buf = path.read_bytes()
    if buf[:4] != DATA_MAGIC or buf[4:8] < b"*21B":
        raise FormatError(f"{path}: not a gcc >= 12 .gcda")
    pos, ident, out = 16, None, set()
    while pos + 8 <= len(buf):
        tag, length = struct.unpack_from("<Ii", buf, pos)
        pos += 8
        if tag == TAG_FUNCTION:
            ident = struct.unpack_from("<I", buf, pos)[0] if length >= 4 else None
        elif tag == TAG_ARCS and length > 0 and ident is not None:
            if any(buf[pos:pos + length]):
                out.add(ident)
        if length > 0:
            pos += length
    return out


def entered_by_gcov(gcda: Path) -> set[tuple[str, str]]:
    """(source file, function) entered, as ``gcov -j`` reads a .gcda (any gcc)."""
    with tempfile.TemporaryDirectory(prefix="pyvma-gcov-") as tmp:
        subprocess.run(["gcov", "-j", "-o", str(gcda.parent), str(gcda)], cwd=tmp,
                       capture_output=True, check=False)
        out = set()
        for gz in Path(tmp).glob("*.gcov.json.gz"):
            for f in json.loads(gzip.decompress(gz.read_bytes()))["files"]:
                out |= {(f["file"], fn["name"]) for fn in f["functions"]
                        if fn["execution_count"] > 0}
        return out


def source_name(path: str) -> str | None:
    """A unit's source as the map names it: ``mm/vma.c``, ``shim`` for the generated
    shim; None for the harness's own glue and the tree's other headers.  (By the
    path's end: a cached build of the same content may have been compiled from
    another copy of the tree.)"""
    path = os.path.normpath(path)
    if path.endswith("/gen/pyvma_shim.h"):
        return "shim"
    return next((f for f in SOURCES if path.endswith("/" + f)), None)


class FuncMapRecorder:
    """pytest plugin: per test, the functions of the kernel sources it entered."""

    def __init__(self, out: str, unit: str = "pyvma_tu") -> None:
        self.out = Path(out)
        self.unit = unit
        self.tests: dict[str, list[str]] = {}
        self.skipped: set[str] = set()
        self.kernels: dict[str, str] = {}          # node id -> kernel spec
        self.names: dict[str, dict[int, tuple[str, str, int]] | None] = {}
        self.work = Path(tempfile.mkdtemp(prefix="pyvma-funcmap-"))

    def _loaded(self) -> list[Any]:
        from .api.load import loaded
        return loaded()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        for k in self._loaded():
            k.lib.pyvma_coverage_reset()

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem) -> None:
        got: set[str] = set()
        for k in self._loaded():
            got |= self._read(k)
        self.tests[item.nodeid] = sorted(got)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # a test skipped on the base (a feature its tree lacks: probed from the source,
        # which a change may add) entered nothing yet may run on a changed tree: ANY
        if report.skipped and report.when == "setup":
            self.skipped.add(report.nodeid)
        if report.when == "teardown" and report.nodeid in self.skipped:
            self.tests[report.nodeid] = [ANY]

    def _read(self, k: Any) -> set[str]:
        from .build.coverage import gcov_env
        b = k.build
        dest = self.work / b.key
        env = gcov_env(b, dest)
        saved = {v: os.environ.get(v) for v in env}
        os.environ.update(env)
        try:
            if k.lib.pyvma_coverage_dump() != 0:
                return set()
        finally:
            for v, old in saved.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
        gcda = next(dest.rglob(f"{self.unit}.gcda"), None)
        if gcda is None:
            return set()
        try:
            if b.key not in self.names:
                self.names[b.key] = read_gcno(b.dir / "obj" / f"{self.unit}.gcno")
            names = self.names[b.key]
            assert names is not None
            pairs = [names[i] for i in entered_idents(gcda) if i in names]
            found = {(src, name) for src, name, _ in pairs}
        except (FormatError, OSError, struct.error):
            self.names[b.key] = None
            shutil.copyfile(b.dir / "obj" / f"{self.unit}.gcno", gcda.with_suffix(".gcno"))
            found = entered_by_gcov(gcda)
        for f in dest.rglob("*.gcda"):
            f.unlink()          # libgcov adds to a file it finds: each test starts empty
        return {f"{src}:{name}" for path, name in found
                if (src := source_name(path)) is not None}

    @pytest.hookimpl
    def pytest_sessionfinish(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        self.out.write_text(json.dumps(self.tests, sort_keys=True))
