# SPDX-License-Identifier: GPL-2.0-or-later
"""Validate a kernel tree: its Makefile version, mm/vma.c, and the features it has."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from ..cache import (
    subdir,
    write_json_atomic,
)
from ..errors import SourceError
from ..inputs import printable
from . import features as _features
from .kernel_tree import FEATURES, HASHED_FILES, VMA_C_SINCE, KernelTree

_MK_VAR = re.compile(
    r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)[ \t]*=[ \t]*(.*?)[ \t]*$", re.M
)


def parse_makefile_version(root: Path) -> tuple[tuple[int, int, int], str] | None:
    """Return ``((VERSION, PATCHLEVEL, SUBLEVEL), "V.P.S<EXTRA>")`` or None.

    None means ``root/Makefile`` is missing or has no numeric VERSION and
    PATCHLEVEL (i.e. ``root`` is not the top of a kernel tree).
    """
    try:
        with open(root / "Makefile", encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return None
    values: dict[str, str] = {}
    for m in _MK_VAR.finditer(head):
        values.setdefault(m.group(1), m.group(2))
    sub_text = values.get("SUBLEVEL", "")
    if any(len(values.get(k, "")) > 6 for k in ("VERSION", "PATCHLEVEL")) or \
            len(sub_text) > 6:       # a version number, not thousands of digits
        return None
    try:
        major = int(values["VERSION"])
        minor = int(values["PATCHLEVEL"])
    except (KeyError, ValueError):
        return None
    try:
        sub = int(sub_text) if sub_text else 0
    except ValueError:
        return None
    # printed (fetch, build, reports): no control character reaches a terminal
    extra = printable(values.get("EXTRAVERSION", ""))
    # Same shape as the kernel's KERNELVERSION.
    text = f"{major}.{minor}" + (f".{sub_text}" if sub_text else "") + extra
    return (major, minor, sub), text


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


_probe_memo: dict[tuple, frozenset[str]] = {}


def probe_features(root: Path, cache: Path | None = None) -> frozenset[str]:
    """Cheap text probe of what the tree's mm code looks like.

    See pyvma/tree/features.py for the names.  Nothing is compiled.  Remembered per
    process and under ``cache`` (default $PYVMA_CACHE) by the probed files' sizes
    and mtimes and the probes' revision.
    """
    stamp: list = [str(root), _features.PROBE_REVISION, sorted(_features.NAMES)]
    for rel in _features.PROBED_FILES:
        try:
            st = os.stat(os.path.join(root, rel))
            stamp.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stamp.append(None)
    key = (str(cache), json.dumps(stamp))
    if key in _probe_memo:
        return _probe_memo[key]
    memo = subdir("hashes", cache) / \
        f"probe-{hashlib.sha256(str(root).encode()).hexdigest()[:20]}.json"
    try:
        data = json.loads(memo.read_text())
        if isinstance(data, dict) and data.get("stamp") == json.loads(json.dumps(stamp)) \
                and isinstance(data.get("features"), list) \
                and all(isinstance(f, str) for f in data["features"]):
            _probe_memo[key] = frozenset(data["features"]) & FEATURES
            return _probe_memo[key]
    except (OSError, ValueError):
        pass
    feats = _probe_memo[key] = _features.probe(root)
    try:
        write_json_atomic(memo, {"stamp": stamp, "features": sorted(feats)})
    except OSError:
        pass
    return feats


#: The largest file pyvma reads from a tree: a kernel's largest source files are
#: well under 1 MiB (include/linux/mm.h ~150 KiB); a bigger one is refused, not read.
MAX_TREE_FILE = 16 << 20


def _file_problem(path: str) -> str | None:
    """Why pyvma may not read *path* (None: a regular file of at most
    MAX_TREE_FILE bytes, or nothing there)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
        return None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a fifo" if stat.S_ISFIFO(st.st_mode) else "a socket"
                if stat.S_ISSOCK(st.st_mode) else "a device node")
        return f"is {kind}, not a regular file"
    if st.st_size > MAX_TREE_FILE:
        return f"has {st.st_size} bytes (more than the {MAX_TREE_FILE >> 20} MiB pyvma reads)"
    return None


def _glob_dirs() -> tuple[list[str], list[str]]:
    """The directories the globs of HASHED_FILES read: (one level, recursive)."""
    flat: set[str] = set()
    deep: set[str] = set()
    for pat in HASHED_FILES:
        head, _, name = pat.rpartition("/")
        if not any(c in name for c in "*?["):
            continue
        if head.endswith("/**"):
            deep.add(head[:-3])
        elif not any(c in head for c in "*?["):
            flat.add(head)
    return sorted(flat), sorted(deep)


def check_tree_files(root: Path) -> None:
    """Refuse a tree whose files pyvma reads include one it must not open: a fifo
    (reading it hangs), a device or socket, or an oversized file (read whole).
    The named files are stat()ed; the entries of the directories the build's globs
    read are judged by their directory entry's type (a link by its target), so a
    warm load costs milliseconds.  Nothing is opened."""
    top = str(root)
    names = sorted({"Makefile", *_features.PROBED_FILES,
                    *(p for p in HASHED_FILES if not any(c in p for c in "*?["))})
    problems = [(rel, _file_problem(os.path.join(top, rel))) for rel in names]
    flat, deep = _glob_dirs()
    todo = [(os.path.join(top, d), False) for d in flat] + \
        [(os.path.join(top, d), True) for d in deep]
    while todo:
        path, recurse = todo.pop()
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                if recurse:
                    todo.append((e.path, True))
            elif not e.is_file(follow_symlinks=False):   # a link, fifo, device...
                problems.append((os.path.relpath(e.path, top), _file_problem(e.path)))
    for rel, why in problems:
        if why:
            raise SourceError(f"{root}: {rel} {why}: refused; point --kernel at a "
                              "genuine kernel source tree.")


def _load_tree(
    root: Path, name: str | None, origin: dict[str, Any], cache: Path
) -> KernelTree:
    """Validate ``root`` as a kernel tree with mm/vma.c and describe it."""
    if not root.is_dir():
        raise SourceError(f"kernel tree {root} does not exist or is not a directory.")
    check_tree_files(root)
    parsed = parse_makefile_version(root)
    if parsed is None:
        raise SourceError(
            f"{root} is not a Linux kernel tree: it has no top-level Makefile "
            "with VERSION and PATCHLEVEL. Point --kernel at the top directory "
            "of a kernel source tree (the one holding Makefile, mm/ and include/)."
        )
    version, version_str = parsed
    if not (root / "mm" / "vma.c").is_file():
        since = ".".join(map(str, VMA_C_SINCE))
        if version[:2] < VMA_C_SINCE:
            raise SourceError(
                f"kernel {version_str} at {root} has no mm/vma.c "
                f"(mm/vma.c appeared in {since}); pyvma needs Linux {since} or "
                "newer, e.g. --kernel debian:6.12 or --kernel debian:7.x."
            )
        raise SourceError(
            f"kernel {version_str} at {root} has no mm/vma.c: the tree looks "
            "incomplete. Point --kernel at a full kernel source tree."
        )
    return KernelTree(
        root=root,
        name=name or version_str,
        version=version,
        version_str=version_str,
        origin=origin,
        features=probe_features(root, cache),
        cache=cache,
    )
