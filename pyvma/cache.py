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
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vma_internal.digest import _digests, file_digest, remember_digest, sha256_file  # noqa: F401  (re-exported)

from .errors import CacheError

ENV_VAR = "PYVMA_CACHE"

#: the file that marks a directory as pyvma's cache (the Cache Directory Tagging
#: format, so backup tools skip it too); written when pyvma makes the directory
MARKER = "CACHEDIR.TAG"
MARKER_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
               "# This directory is pyvma's cache: pyvma made it and writes everything in it.\n"
               "# `pyvma cache clear` clears only a directory holding this file.\n")
#: held shared by every holder of a ``file_lock`` in the cache (builds, fetches, patched
#: trees, harness builds); ``clear`` takes it exclusive
IN_USE_LOCK = "in-use.lock"

_trusted: set[str] = set()


def _write_marker(path: Path) -> None:
    """Mark *path* as pyvma's cache (never through a link; an existing file is kept)."""
    try:
        fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o644)
    except OSError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(MARKER_TEXT)


def marker_problem(path: Path) -> str | None:
    """Why *path* is not a cache pyvma made (None when it is): its marker must be a
    regular file (not a link) of the current user holding pyvma's text."""
    where = path / MARKER
    try:
        st = os.lstat(where)
    except OSError:
        return f"it holds no {MARKER} of pyvma's (pyvma did not make it)"
    if not stat.S_ISREG(st.st_mode):
        return f"its {MARKER} is not a regular file"
    if st.st_uid != os.geteuid():
        return f"its {MARKER} is owned by uid {st.st_uid}, not by you"
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            text = f.read(4096)
    except OSError as e:
        return f"its {MARKER} cannot be read ({e.strerror})"
    if text != MARKER_TEXT.encode():
        return f"its {MARKER} is not pyvma's"
    return None


def cache_dir(override: Path | str | None = None) -> Path:
    """Return the cache directory (created 0700 if missing), absolute.

    ``override`` wins over ``$PYVMA_CACHE``, which wins over ~/.cache/pyvma.
    Refused (CacheError) like ssh refuses ``~/.ssh``: not a directory, owned by
    another user, or writable by group or others -- its contents are run.
    """
    if override is not None:
        text, where = str(override), "the cache directory"
    elif os.environ.get(ENV_VAR):
        text, where = os.environ[ENV_VAR], f"${ENV_VAR}"
    else:
        text, where = str(Path.home() / ".cache" / "pyvma"), "the cache directory"
    try:
        path = Path(text).expanduser()
    except RuntimeError:        # ~nosuchuser
        path = Path(text)
    if str(path).startswith("~"):
        raise CacheError(f"{where} {shlex.quote(text)}: no such user's home directory; "
                         f"set {ENV_VAR} to an existing directory's path.")
    path = path.absolute()
    key = str(path)
    if key in _trusted:
        return path
    q = shlex.quote(key)
    if os.path.islink(path) and not path.exists():
        raise CacheError(f"{where} {q} is a dangling symbolic link; remove it or set "
                         f"{ENV_VAR} to a directory.")
    if path.exists() and not path.is_dir():
        raise CacheError(f"{where} {q} exists and is not a directory; set {ENV_VAR} to a "
                         "directory (or remove the file).")
    made = False
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                path.mkdir(mode=0o700)
                made = True
        st = path.stat()
    except OSError as e:
        at = f" ({e.filename})" if e.filename and str(e.filename) != key else ""
        raise CacheError(f"cannot create {where} {q}: {e.strerror}{at}; set {ENV_VAR} to a "
                         "writable directory.") from None
    if st.st_uid != os.geteuid():
        raise CacheError(
            f"{where} {q} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}): "
            "refusing it (its owner could plant code pyvma runs); use a directory of your "
            f"own (set {ENV_VAR}) or `chown -R {os.geteuid()} {q}`.")
    if st.st_mode & 0o022:
        raise CacheError(
            f"{where} {q} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o}): "
            f"refusing it (they could plant code pyvma runs); `chmod go-w {q}` or set "
            f"{ENV_VAR} to a directory of your own.")
    if not os.access(path, os.W_OK | os.X_OK):
        raise CacheError(f"{where} {q} is not writable; set {ENV_VAR} to a writable "
                         "directory.")
    # pyvma's own: one it made, an empty one, and the default one (by its name)
    default = override is None and not os.environ.get(ENV_VAR)
    if made or default or not any(True for _ in os.scandir(path)):
        _write_marker(path)
    _trusted.add(key)
    return path


def subdir(name: str, cache: Path | str | None = None) -> Path:
    """Return ``cache_dir()/name``, created if missing."""
    path = cache_dir(cache) / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CacheError(f"cannot create {shlex.quote(str(path))}: {e.strerror}; check the "
                         f"cache directory (set {ENV_VAR} to a writable one).") from None
    return path


@contextlib.contextmanager
def file_lock(path: Path | str, shared: bool = False) -> Iterator[Path]:
    """Hold an ``fcntl.flock`` on ``path`` (created if missing) for the block.

    Blocks until the lock is free.  The lock file itself is left in place;
    it is the lock, not the data.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    in_use = _hold_in_use(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield path
        finally:
            # Closing the descriptor releases the lock.
            os.close(fd)
    finally:
        if in_use is not None:
            os.close(in_use)


def _hold_in_use(path: Path) -> int | None:
    """A shared lock on the in-use lock of the cache holding *path*, if any (a
    descriptor to close): ``cache clear`` cannot run while it is held."""
    text = os.path.abspath(path)
    roots = [r for r in _trusted if text.startswith(r.rstrip("/") + "/")]
    if not roots:
        return None
    lock = Path(max(roots, key=len)) / LOCK_DIR / IN_USE_LOCK
    try:
        lock.parent.mkdir(exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


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
    for _ in range(2):             # an unreadable directory is listed on the second pass
        try:
            shutil.rmtree(path, onerror=onerror)  # onexc only exists from 3.12
        except RecursionError:     # thousands of directories deep (a sandboxed run's)
            subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)],
                           stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if not os.path.lexists(path):
            return


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


STALE_TMP_SECONDS = 6 * 3600


def _lock_free(lock: Path) -> bool:
    """True if no process holds *lock* (then nobody works on what it guards)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def collect_stale(root: Path) -> list[Path]:
    """Remove what killed runs left: ``builds/.tmp-<key>-*`` and
    ``kernels/.<name>.tmp-*`` whose lock is free, and ``tmp/`` entries older than
    STALE_TMP_SECONDS.  Returns what was removed."""
    gone: list[Path] = []
    locks = root / "locks"
    for sub, pat in (("builds", r"\.tmp-([0-9a-f]+)-.*"), ("kernels", r"\.(.+)\.tmp-.*")):
        d = root / sub
        for e in sorted(d.iterdir()) if d.is_dir() else []:
            m = re.fullmatch(pat, e.name)
            if not m:
                continue
            lock = locks / (f"build-{m.group(1)}.lock" if sub == "builds"
                            else f"{m.group(1)}.lock")
            if locks.is_dir() and _lock_free(lock):
                _rmtree(e)
                gone.append(e)
    tmp = root / "tmp"
    now = time.time()
    for e in sorted(tmp.iterdir()) if tmp.is_dir() else []:
        with contextlib.suppress(OSError):
            if now - e.lstat().st_mtime > STALE_TMP_SECONDS:
                _rmtree(e) if e.is_dir() and not e.is_symlink() else e.unlink()
                gone.append(e)
    return gone


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
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file and ``os.replace`` (mode 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# Per-process file digests, keyed by (path, mtime_ns, size): the build key, the
# shim memo key and the support objects' key read overlapping sets of files;
# each file is read once per process.
# file digests (memoised per process) are vma_internal's: one hasher for both


def disk_usage(path: Path, seen: set[tuple[int, int]]) -> int:
    """Bytes *path* occupies on disk (blocks, not sizes), every inode counted once
    across calls sharing *seen* (hard links); symbolic links are not followed."""
    total = 0
    stack = [str(path)]
    while stack:
        p = stack.pop()
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(p) as it:
                    stack.extend(e.path for e in it)
            except OSError:
                pass
    return total


#: subdirectories listed entry by entry; the others are listed as a whole
_PER_ENTRY = ("kernels", "builds", "debs", "failed")
#: everything pyvma makes at the top of its cache: all ``clear`` may remove
OWN_ENTRIES = frozenset({
    "apt", "benchmarks", "builds", "debs", "failed", "hashes", "hypothesis", "kernels", "members",
    "objs", "parsecache", "pytest-cache", "results", "sandbox", "shimmemo", "tmp",
    "upstream-c", "widemap"})
#: kept by ``clear(keep_kernels=True)``: the trees and the verified .debs
KERNEL_DIRS = ("kernels", "debs")
#: never removed by ``clear``: the lock files other runs may hold right now
LOCK_DIR = "locks"
#: where ``clear`` moves what it removes first (left by a clear that was killed)
TRASH_PREFIX = ".clearing-"


def usage(root: Path) -> list[tuple[str, int]]:
    """``(relative name, bytes on disk)`` of everything in the cache: one row per
    kept kernel, build, .deb and failed build (temporary ones too), one per other
    subdirectory or file; hard links are counted once, at their first row."""
    seen: set[tuple[int, int]] = set()
    rows: list[tuple[str, int]] = []
    for top in sorted(root.iterdir(), key=lambda e: (e.name not in _PER_ENTRY, e.name)):
        if top.name in _PER_ENTRY and top.is_dir() and not top.is_symlink():
            seen.add((top.lstat().st_dev, top.lstat().st_ino))
            for e in sorted(top.iterdir()):
                rows.append((f"{top.name}/{e.name}", disk_usage(e, seen)))
        else:
            rows.append((top.name + ("/" if top.is_dir() and not top.is_symlink() else ""),
                         disk_usage(top, seen)))
    return rows


def clear(root: Path, keep_kernels: bool = False) -> tuple[list[str], list[str]]:
    """Remove pyvma's entries (OWN_ENTRIES) from the cache *root*, but the lock
    files (and, with *keep_kernels*, the kernel trees and their .debs); return the
    names removed and the names left alone (not pyvma's).  Symbolic links are removed,
    never followed.  Refused (CacheError) unless pyvma made *root* (its marker), or
    while a build or fetch holds a lock in it."""
    q = shlex.quote(str(root))
    why = marker_problem(root)
    if why:
        raise CacheError(f"cache clear: refusing to clear {q}: {why}; set {ENV_VAR} to "
                         "pyvma's cache directory (remove anything else by hand)")
    lock = root / LOCK_DIR / IN_USE_LOCK
    try:
        lock.parent.mkdir(exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise CacheError(f"cache clear: cannot open {shlex.quote(str(lock))} "
                         f"({e.strerror}); nothing was removed") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CacheError(f"cache clear: a pyvma run is building or fetching in {q} "
                             f"(it holds {LOCK_DIR}/{IN_USE_LOCK}); nothing was removed: "
                             "clear again when it ends") from None
        gone: list[str] = []
        alien: list[str] = []
        # each entry is first renamed into a trash directory, then removed: a clear
        # killed half-way leaves no half-removed tree or build under its name (a
        # later run would use it), only trash the next clear removes
        trash = Path(tempfile.mkdtemp(prefix=TRASH_PREFIX, dir=root))
        for entry in sorted(root.iterdir()):
            if entry.name in (LOCK_DIR, MARKER) or (keep_kernels and entry.name in KERNEL_DIRS):
                continue
            if entry.name.startswith(TRASH_PREFIX) and entry.is_dir() and \
                    not entry.is_symlink():
                if entry != trash:
                    os.rename(entry, trash / entry.name)
                continue
            if entry.name not in OWN_ENTRIES:
                alien.append(entry.name)
                continue
            if entry.is_dir() and not entry.is_symlink():
                os.rename(entry, trash / entry.name)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
            gone.append(entry.name)
        _rmtree(trash)
    finally:
        os.close(fd)
    _trusted.discard(str(root))
    return gone, alien
