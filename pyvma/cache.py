# SPDX-License-Identifier: GPL-2.0-or-later
"""The pyvma cache directory, file locks and atomic directory creation.

Everything pyvma writes (extracted kernels, apt state, build products,
hash caches) lives under ``cache_dir()``: ``$PYVMA_CACHE`` if set, else
``~/.cache/pyvma``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENV_VAR = "PYVMA_CACHE"


def cache_dir(override: Path | str | None = None) -> Path:
    """Return the cache directory (created if missing), absolute.

    ``override`` wins over ``$PYVMA_CACHE``, which wins over ~/.cache/pyvma.
    """
    if override is not None:
        path = Path(override).expanduser()
    elif os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR]).expanduser()
    else:
        path = Path.home() / ".cache" / "pyvma"
    path = path.absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(name: str, cache: Path | str | None = None) -> Path:
    """Return ``cache_dir()/name``, created if missing."""
    path = cache_dir(cache) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def file_lock(path: Path | str, shared: bool = False) -> Iterator[Path]:
    """Hold an ``fcntl.flock`` on ``path`` (created if missing) for the block.

    Blocks until the lock is free.  The lock file itself is left in place;
    it is the lock, not the data.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield path
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)


def _rmtree(path: Path) -> None:
    """Remove a tree even if parts of it were made read-only.

    Never follows a symbolic link: only a real directory (by ``lstat``) is made
    writable again, so a link in the tree cannot turn a chmod on its target.
    """

    def writable_dir(p: str) -> None:
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(p).st_mode):
                os.chmod(p, 0o700)

    def onerror(func: Any, p: str, _exc: Any) -> None:
        writable_dir(os.path.dirname(p) or ".")
        writable_dir(p)
        with contextlib.suppress(OSError):
            func(p)

    if os.path.islink(path):
        os.unlink(path)
        return
    shutil.rmtree(path, onerror=onerror)  # onexc only exists from 3.12


def tmp_prefix(final: Path) -> str:
    """Name prefix of the temporary directories ``atomic_dir(final)`` uses."""
    return f".{final.name}.tmp-"


def remove_stale_tmp(final: Path) -> None:
    """Remove temp dirs a killed ``atomic_dir(final)`` left behind.

    Only call this while holding the lock that guards ``final``.
    """
    parent = final.parent
    if not parent.is_dir():
        return
    prefix = tmp_prefix(final)
    for entry in parent.iterdir():
        if entry.name.startswith(prefix) and entry.is_dir():
            _rmtree(entry)


@contextlib.contextmanager
def atomic_dir(final: Path | str) -> Iterator[Path]:
    """Yield a fresh temp dir next to ``final``; rename it into place on success.

    On any exception (including KeyboardInterrupt) the temp dir is removed
    and ``final`` is left untouched.  ``final`` must not exist when the
    block ends (take a lock around the check-then-create sequence).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix(final), dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        os.rename(tmp, final)
    except BaseException:
        _rmtree(tmp)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temp file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# Per-process file digests, keyed by (path, mtime_ns, size): the build key, the
# shim memo key and the support objects' key read overlapping sets of files;
# each file is read once per process.
_digests: dict[str, tuple[int, int, str]] = {}


def remember_digest(path: str, mtime_ns: int, size: int, digest: str) -> None:
    """Record a digest computed elsewhere (the content hash's on-disk db)."""
    _digests[path] = (mtime_ns, size, digest)


def file_digest(path: Path | str) -> str:
    """sha256 hex digest of *path*'s bytes, memoised for this process."""
    import hashlib
    key = str(path)
    st = os.stat(key)
    old = _digests.get(key)
    if old and old[0] == st.st_mtime_ns and old[1] == st.st_size:
        return old[2]
    with open(key, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    _digests[key] = (st.st_mtime_ns, st.st_size, digest)
    return digest
