# SPDX-License-Identifier: GPL-2.0-or-later
"""Content hash of the files of a tree the build reads (cached per file)."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from vma_internal.digest import sha256_file

from ..cache import (
    remember_digest,
    subdir,
    write_json_atomic,
)
from ..log import log


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _collect(root: Path, patterns: Iterable[str]) -> list[str]:
    """Expand ``patterns`` under ``root`` to sorted relative file paths."""
    return _collect_dirs(root, patterns)[0]


def _collect_dirs(root: Path, patterns: Iterable[str]) -> tuple[list[str], set[str] | None]:
    """``_collect``, and the directories whose entries decide its result (None: a
    pattern glob.glob expanded, whose directories are not known)."""
    out: set[str] = set()
    dirs: set[str] | None = set()
    for pat in dict.fromkeys(p.strip("/") for p in patterns):
        if not pat:
            continue
        if not _is_glob(pat):
            if dirs is not None:
                dirs.add(os.path.dirname(pat))
            if (root / pat).is_file():
                out.add(pat)
            continue
        fast = _collect_fast(root, pat)
        if fast is not None:
            out.update(fast[0])
            if dirs is not None and fast[1] is not None:
                dirs.update(fast[1])
            else:
                dirs = None
            continue
        dirs = None
        base = os.path.join(glob.escape(str(root)), "")
        # directories matching a file pattern are dropped by _content_hash
        out.update(p[len(base):] for p in glob.glob(base + pat, recursive=True))
    return sorted(out), dirs


def _collect_fast(root: Path, pat: str) -> tuple[list[str], list[str] | None] | None:
    """``dir/NAME`` and ``dir/**/NAME`` (NAME a glob, dir plain) by scandir/walk, with
    the directories read (None: the top one is missing): a load of a cached build
    expands these on every start.  None for other shapes (glob.glob does those).
    Hidden names are skipped, as glob does."""
    head, _, name = pat.rpartition("/")
    recursive = head.endswith("/**") or head == "**"
    top = head[:-3].rstrip("/") if recursive else head
    if _is_glob(top) or "/" in name or _is_glob(name) is False:
        return None
    start = os.path.join(str(root), top)
    found: list[str] = []
    if not recursive:
        try:
            with os.scandir(start) as it:
                found = [f"{top}/{e.name}" if top else e.name for e in it
                         if not e.name.startswith(".") and fnmatch.fnmatchcase(e.name, name)]
        except OSError:
            return [], None
        return found, [top]
    walked: list[str] = []
    for dirpath, dirnames, filenames in os.walk(start, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = os.path.relpath(dirpath, str(root))
        walked.append(rel)
        found += [f"{rel}/{f}" for f in filenames
                  if not f.startswith(".") and fnmatch.fnmatchcase(f, name)]
    return found, (walked or None)


#: A timestamp this recent may not change with the next edit: a few ticks of the
#: kernel's coarse clock, which stamps files on local filesystems (nanosecond fields)
RACY_NS = 100_000_000
#: the same where the filesystem keeps whole seconds (FAT keeps two)
RACY_COARSE_NS = 2_000_000_000


def _racy(mtime_ns: int, now_ns: int) -> bool:
    """Whether a file modified at *mtime_ns* could be modified again, at *now_ns*,
    without its mtime changing (a whole-second mtime: a coarse filesystem)."""
    window = RACY_COARSE_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS
    return mtime_ns >= now_ns - window


def _stamps(rootstr: str, rels: Iterable[str]) -> tuple[list[str], bool]:
    """Every path's stat identity (mtime, size, inode: what the digest db trusts, and
    the inode for a file replaced by a rename; not the ctime, which a hard link to
    the file changes), and whether any was modified too recently to be trusted."""
    now = time.time_ns()
    parts = []
    racy = False
    for rel in rels:
        st = os.stat(os.path.join(rootstr, rel))
        parts.append(f"{rel}\0{st.st_mtime_ns}\0{st.st_size}\0{st.st_ino}"
                     f"\0{stat.S_ISDIR(st.st_mode)}")
        racy = racy or _racy(st.st_mtime_ns, now)
    return parts, racy


def _signature(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def content_hash(root: Path, patterns: Sequence[str], cache: Path | None) -> str:
    """The content hash of the files *patterns* name under *root*.

    A warm call reads one small memo per (root, patterns): if no directory the
    patterns expand in changed (entries added, removed, renamed) the file list is
    the memo's, and if no file's stat identity changed either, its hash is.
    Otherwise the per-file digest db says which files to re-hash."""
    hdir = subdir("hashes", cache)
    rootstr = str(root.absolute())
    key = hashlib.sha256(rootstr.encode()).hexdigest()[:24]
    pkey = hashlib.sha256("\0".join(patterns).encode()).hexdigest()[:12]
    memo_path = hdir / f"{key}.{pkey}.memo"
    memo = _read_memo(memo_path)
    rels: list[str] | None = None
    if memo is not None and memo["dirs"] is not None:
        try:
            parts, racy = _stamps(rootstr, memo["dirs"])
        except OSError:
            parts, racy = [], True
        if not racy and _signature(parts) == memo["dir_sig"]:
            rels = memo["rels"]
    if rels is not None:
        parts, racy = _stamps(rootstr, rels)
        sig = _signature(parts)
        if not racy and sig == memo["sig"]:     # type: ignore[index]
            return str(memo["total"])           # type: ignore[index]
    # something changed: the file list is collected afresh (never taken from a memo
    # whose files are not exactly as it recorded them)
    rels, found_dirs = _collect_dirs(root, patterns)
    dirs = sorted(found_dirs) if found_dirs is not None else None
    dir_parts, dir_racy = _stamps(rootstr, dirs) if dirs is not None else ([], True)
    dir_sig = "" if dir_racy else _signature(dir_parts)
    parts, racy = _stamps(rootstr, rels)
    sig = _signature(parts)
    total = _content_hash(root, rels, cache)
    if not racy:
        try:
            write_json_atomic(memo_path, {"root": rootstr, "patterns": list(patterns),
                                          "dirs": dirs if dir_sig else None,
                                          "dir_sig": dir_sig, "rels": rels, "sig": sig,
                                          "total": total})
        except OSError as e:  # the cache is an optimisation only
            log("debug", "could not write %s: %s", memo_path, e)
    return total


def _read_memo(path: Path) -> dict[str, Any] | None:
    """A content-hash memo, shape-checked (None: missing or not one pyvma wrote)."""
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    hexd = set("0123456789abcdef")

    def strs(v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(x, str) for x in v)
    if not isinstance(memo, dict) or not strs(memo.get("rels")) \
            or not (memo.get("dirs") is None or strs(memo.get("dirs"))) \
            or not all(isinstance(memo.get(k), str) for k in ("sig", "dir_sig", "total")) \
            or len(memo["total"]) != 64 or not set(memo["total"]) <= hexd:
        return None
    return memo


def _content_hash(root: Path, rels: Sequence[str], cache: Path | None) -> str:
    """The content hash of *rels* (files; directories among them skipped), each file
    re-hashed only if its (mtime, size) differs from the per-root digest db's."""
    hdir = subdir("hashes", cache)
    key = hashlib.sha256(str(root.absolute()).encode()).hexdigest()[:24]
    return _content_hash_db(root, rels, hdir / f"{key}.json")


def _content_hash_db(root: Path, rels: Sequence[str], db_path: Path) -> str:
    try:
        db = json.loads(db_path.read_text())
        if not isinstance(db, dict) or db.get("root") != str(root.absolute()) \
                or not isinstance(db.get("files"), dict):
            db = {}
    except (OSError, ValueError):
        db = {}
    entries: dict[str, list[Any]] = db.get("files", {})
    # one db per root serves every caller (the build key's file list, the tree's, the
    # upstream harness's): entries of files other callers read are kept, not dropped
    # (dropping them made each caller rewrite the db and re-hash the others' files)
    new_entries: dict[str, list[Any]] = dict(entries)
    changed = False
    # Files touched within this window may still change within the same
    # mtime tick; hash them but don't trust a cached digest for them.
    now = time.time_ns()
    total = hashlib.sha256(b"pyvma-content-hash-v1\n")
    rootstr = str(root)
    for rel in rels:
        path = os.path.join(rootstr, rel)
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            continue
        old = entries.get(rel)
        if isinstance(old, list) and len(old) == 3 and old[0] == st.st_mtime_ns \
                and old[1] == st.st_size and isinstance(old[2], str):
            digest = old[2]
        else:
            digest = sha256_file(path)
            changed = True
        remember_digest(path, st.st_mtime_ns, st.st_size, digest)
        if not _racy(st.st_mtime_ns, now):
            new_entries[rel] = [st.st_mtime_ns, st.st_size, digest]
        elif new_entries.pop(rel, None) is not None:
            changed = True
        total.update(f"{rel}\0{digest}\n".encode())
    if changed:
        try:
            write_json_atomic(
                db_path, {"root": str(root.absolute()), "files": new_entries}
            )
        except OSError as e:  # the cache is an optimisation only
            log("debug", "could not write %s: %s", db_path, e)
    return total.hexdigest()
