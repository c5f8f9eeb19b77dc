# SPDX-License-Identifier: GPL-2.0-or-later
"""Content hash of the files of a tree the build reads (cached per file)."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import logging
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

log = logging.getLogger("pyvma.tree")





def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _collect(root: Path, patterns: Iterable[str]) -> list[str]:
    """Expand ``patterns`` under ``root`` to sorted relative file paths."""
    out: set[str] = set()
    for pat in dict.fromkeys(p.strip("/") for p in patterns):
        if not pat:
            continue
        if not _is_glob(pat):
            if (root / pat).is_file():
                out.add(pat)
            continue
        fast = _collect_fast(root, pat)
        if fast is not None:
            out.update(fast)
            continue
        base = os.path.join(glob.escape(str(root)), "")
        # directories matching a file pattern are dropped by _content_hash
        out.update(p[len(base):] for p in glob.glob(base + pat, recursive=True))
    return sorted(out)


def _collect_fast(root: Path, pat: str) -> list[str] | None:
    """``dir/NAME`` and ``dir/**/NAME`` (NAME a glob, dir plain) by scandir/walk:
    a load of a cached build expands these on every start.  None for other
    shapes (glob.glob does those).  Hidden names are skipped, as glob does."""
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
            return []
        return found
    for dirpath, dirnames, filenames in os.walk(start, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = os.path.relpath(dirpath, str(root))
        found += [f"{rel}/{f}" for f in filenames
                  if not f.startswith(".") and fnmatch.fnmatchcase(f, name)]
    return found


def _content_hash(root: Path, rels: Sequence[str], cache: Path | None) -> str:
    hdir = subdir("hashes", cache)
    key = hashlib.sha256(str(root.absolute()).encode()).hexdigest()[:24]
    db_path = hdir / f"{key}.json"
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
    racy_before = time.time_ns() - 2_000_000_000
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
        if st.st_mtime_ns < racy_before:
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
            log.debug("could not write %s: %s", db_path, e)
    return total.hexdigest()
