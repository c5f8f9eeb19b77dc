# SPDX-License-Identifier: GPL-2.0-or-later
"""sha256 of files, memoised per process by (path, mtime, size)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_digests: dict[str, tuple[int, int, str]] = {}


def remember_digest(path: str, mtime_ns: int, size: int, digest: str) -> None:
    """Record a digest computed elsewhere (the content hash's on-disk db)."""
    _digests[path] = (mtime_ns, size, digest)


def file_digest(path: Path | str) -> str:
    """sha256 hex digest of *path*'s bytes, memoised for this process."""
    key = str(path)
    st = os.stat(key)
    old = _digests.get(key)
    if old and old[0] == st.st_mtime_ns and old[1] == st.st_size:
        return old[2]
    digest = sha256_file(key)
    _digests[key] = (st.st_mtime_ns, st.st_size, digest)
    return digest


def sha256_file(path: Path | str) -> str:
    """sha256 hex digest of *path*'s bytes, read in 1 MiB blocks (not memoised)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
