# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel source trees as input: resolve a user's spec to a ``KernelTree``.

Accepted specs (see ``resolve``):

* ``/path/to/linux`` -- a checkout, used in place and never written to;
* ``/path/to/linux@REF`` -- a git ref of a checkout, exported with
  ``git archive`` into the cache (the user's repository is not touched);
* ``linux-source-X.Y_*.deb`` / ``*.tar.xz`` / ``*.tar`` -- extracted into the
  cache;
* ``debian:X.Y``, ``debian:linux-source-X.Y``, ``debian:X.x`` -- fetched
  with ``apt-get download`` through a project-local apt configuration
  under ``$PYVMA_CACHE/apt`` and extracted into the cache.

Cache layout (``$PYVMA_CACHE``, default ``~/.cache/pyvma``)::

    kernels/<name>/                 extracted tree + PYVMA_SOURCE.json; <name> is
                                    <package>_<version>-<sha256[:12] of the .deb>,
                                    git-<sha[:12]>, or the tarball's stem (+ sha)
    kernels/.<name>.tmp-XXXX/       in-progress extraction (renamed into place)
    debs/                           .debs trees were extracted from (sha256 checked
                                    against Debian's lists; see source_archive)
    locks/<name>.lock               flock per cached tree; apt.lock for apt
    apt/                            sources.list, lists/, cache/, status, stamp
    hashes/<key>.json               content_hash per-file cache for one root
    tmp/                            downloads in progress
"""

from __future__ import annotations

import contextlib
import functools
import fnmatch
import glob
import hashlib
import json
import logging
import os
import posixpath
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import (
    _rmtree,
    atomic_dir,
    remember_digest,
    cache_dir,
    file_lock,
    remove_stale_tmp,
    subdir,
    write_json_atomic,
)
from . import features as _features
from .errors import SourceError

log = logging.getLogger("pyvma.source")

#: Marker file written into every tree pyvma extracts; its presence means
#: the extraction finished.
MARKER = "PYVMA_SOURCE.json"
MARKER_FORMAT = 1

#: Subtrees extracted from tarballs / .debs (relative to the kernel top dir).
TARBALL_SUBTREES: tuple[str, ...] = (
    "mm",
    "include",
    "lib",
    "tools",
    "arch/x86/include",
    "scripts",
    "Makefile",
)

#: Paths exported from a git ref with ``git archive``.
GIT_SUBTREES: tuple[str, ...] = (
    "mm",
    "include",
    "lib",
    "tools",
    "arch/x86",
    "scripts",
    "Makefile",
)

#: The files the build reads, as glob patterns relative to the tree root.
#: ``KernelTree.content_hash`` hashes exactly these (plus extras).
HASHED_FILES: tuple[str, ...] = (
    "Makefile",
    "mm/vma.c",
    "mm/vma.h",
    "mm/vma_init.c",
    "mm/vma_exec.c",
    "mm/vma_internal.h",
    "mm/internal.h",
    "include/linux/*.h",
    "include/linux/sched/*.h",
    "include/uapi/linux/mman*.h",
    "lib/maple_tree.c",
    "tools/include/**/*.h",
    "tools/lib/*.c",
    "tools/testing/shared/*.[ch]",
    "tools/arch/x86/include/**/*.h",
)

#: First kernel release that has mm/vma.c.
VMA_C_SINCE = (6, 11)

#: All feature names ``probe_features`` can report (the registry: pyvma/features.py).
FEATURES: frozenset[str] = _features.NAMES

DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
DEBIAN_SOURCES: tuple[str, ...] = (
    f"deb [signed-by={DEBIAN_KEYRING}] {DEBIAN_MIRROR} trixie main",
    f"deb [signed-by={DEBIAN_KEYRING}] {DEBIAN_MIRROR} trixie-backports main",
    f"deb [signed-by={DEBIAN_KEYRING}] {DEBIAN_SECURITY} trixie-security main",
    f"deb [signed-by={DEBIAN_KEYRING}] {DEBIAN_MIRROR} sid main",
)
APT_UPDATE_MAX_AGE = 3600.0  # seconds

_SPEC_HELP = (
    "A kernel spec is one of: a kernel source directory (/path/to/linux), "
    "DIR@REF (a git ref of a checkout), a linux-source-*.deb or "
    "linux-source-*.tar.xz/.tar file, or debian:X.Y / debian:X.x "
    "(e.g. debian:6.12, debian:7.x)."
)
_OFFLINE_HELP = (
    "If you are offline, point pyvma at a local kernel tree instead, "
    "e.g. --kernel /path/to/linux (a checkout of 6.11 or newer), or at a "
    "downloaded linux-source-*.deb / *.tar.xz file."
)

_C_ENV = {"LC_ALL": "C", "LANG": "C", "DEBIAN_FRONTEND": "noninteractive"}


# --------------------------------------------------------------------------
# KernelTree


@dataclass(frozen=True)
class KernelTree:
    """A resolved kernel source tree (read-only input to the build)."""

    root: Path
    name: str
    version: tuple[int, int, int]
    version_str: str
    origin: dict[str, Any] = field(default_factory=dict, compare=False)
    features: frozenset[str] = frozenset()
    cache: Path | None = field(default=None, repr=False, compare=False)

    def has(self, feature: str) -> bool:
        """Return True if the capability probe found ``feature``."""
        _features.check(feature)
        return feature in self.features

    def hashed_files(self, extra_files: Iterable[str] = ()) -> list[str]:
        """Return the sorted relative paths ``content_hash`` covers."""
        return _collect(self.root, (*HASHED_FILES, *extra_files))

    def content_hash(self, extra_files: Iterable[str] = ()) -> str:
        """Return a sha256 hex digest over the files the build reads.

        ``extra_files`` are more paths or glob patterns relative to ``root``.
        Per-file digests are cached under ``$PYVMA_CACHE/hashes`` keyed by
        (path, mtime_ns, size), so a warm call only stats the files.
        """
        return _content_hash(self.root, self.hashed_files(extra_files), self.cache)


# --------------------------------------------------------------------------
# Parsing and probing


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
    try:
        major = int(values["VERSION"])
        minor = int(values["PATCHLEVEL"])
    except (KeyError, ValueError):
        return None
    sub_text = values.get("SUBLEVEL", "")
    try:
        sub = int(sub_text) if sub_text else 0
    except ValueError:
        return None
    extra = values.get("EXTRAVERSION", "")
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

    See pyvma/features.py for the names.  Nothing is compiled.  Remembered per
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


def _load_tree(
    root: Path, name: str | None, origin: dict[str, Any], cache: Path
) -> KernelTree:
    """Validate ``root`` as a kernel tree with mm/vma.c and describe it."""
    if not root.is_dir():
        raise SourceError(f"kernel tree {root} does not exist or is not a directory.")
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


# --------------------------------------------------------------------------
# Content hash


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


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(functools.partial(f.read, 1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    new_entries: dict[str, list[Any]] = {}
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
            digest = _file_sha256(path)
            changed = True
        remember_digest(path, st.st_mtime_ns, st.st_size, digest)
        if st.st_mtime_ns < racy_before:
            new_entries[rel] = [st.st_mtime_ns, st.st_size, digest]
        total.update(f"{rel}\0{digest}\n".encode())
    if changed or len(new_entries) != len(entries):
        try:
            write_json_atomic(
                db_path, {"root": str(root.absolute()), "files": new_entries}
            )
        except OSError as e:  # the cache is an optimisation only
            log.debug("could not write %s: %s", db_path, e)
    return total.hexdigest()


# --------------------------------------------------------------------------
# Subprocess helpers


def _run(
    argv: Sequence[str], *, cwd: Path | None = None, check_msg: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (no shell) with C locale, capturing text output.

    With ``check_msg``, a non-zero exit raises SourceError(check_msg + stderr).
    """
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env={**os.environ, **_C_ENV},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
        )
    except FileNotFoundError as e:
        raise SourceError(
            f"{argv[0]} is not installed ({e}); install it (e.g. "
            "`make deps` or apt-get install git xz-utils) and retry."
        ) from None
    if check_msg is not None and proc.returncode != 0:
        raise SourceError(f"{check_msg}: {_tail(proc.stderr or proc.stdout)}")
    return proc


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"


#: Limits of one extraction: a kernel's subtrees are ~30k files and ~400 MB; a
#: whole linux-source tarball ~95k members.  Beyond them an archive is refused.
MAX_EXTRACT_BYTES = 3 << 30
MAX_MEMBERS = 400_000


def _first(text: str) -> str:
    """The first line of a tool's stderr that says something (the cause)."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line
    return "(no output)"


def _member_problem(m: tarfile.TarInfo, rel: str) -> str | None:
    """Why the member may not be extracted (None: it may)."""
    name = m.name
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        return "has an absolute or '..' path"
    if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
        kind = ("a device node" if m.ischr() or m.isblk() else
                "a fifo" if m.isfifo() else f"of tar type {m.type!r}")
        return f"is {kind}"
    if m.mode & (stat.S_ISUID | stat.S_ISGID):
        return f"is setuid/setgid (mode {m.mode:o})"
    if not m.issym() and m.mode & stat.S_IWOTH:
        return f"is world-writable (mode {m.mode:o})"
    if m.issym() or m.islnk():
        target = m.linkname
        if m.issym():
            target = posixpath.join(posixpath.dirname(rel), target)
        norm = posixpath.normpath(target)
        if target.startswith("/") or m.linkname.startswith("/") or norm == ".." \
                or norm.startswith("../"):
            return f"is a link out of the tree (to {m.linkname!r})"
    return None


_BLOCK = 512
_EXT_HEADERS = (b"x", b"L", b"K", b"g")   # pax, GNU long name/link, pax global
_GNU_TYPES = (b"L", b"K", b"S", b"M", b"V", b"N", b"D")


class _Prefiltered:
    """The tar stream *src* with the members *keep* rejects (by name) dropped, read
    by ``_extract_stream`` instead of *src*: tarfile parses every header it is given
    at ~70 us each, and a kernel tarball has ~95000 of which the build reads ~20000.
    Only a pre-filter: what it passes is checked member by member all the same."""

    def __init__(self, src: Any, keep: Callable[[str], bool], what: str) -> None:
        self.src, self.keep, self.what = src, keep, what
        self.out = self._blocks()
        self.buf = b""
        self.pos = 0
        self.members = 0

    def read(self, n: int = -1) -> bytes:
        """Up to *n* bytes (fewer at a chunk's end: tarfile reads on until it has
        what it asked for)."""
        if self.pos >= len(self.buf):
            self.buf, self.pos = next(self.out, b""), 0
        if n < 0:
            n = len(self.buf)
        data = self.buf[self.pos:self.pos + n]
        self.pos += len(data)
        return data

    def _exact(self, n: int) -> bytes:
        data = self.src.read(n)
        while len(data) < n:
            more = self.src.read(n - len(data))
            if not more:
                break
            data += more
        return data

    def _copy(self, n: int, keep: bool) -> Iterator[bytes]:
        while n > 0:
            chunk = self.src.read(min(n, 1 << 20))
            if not chunk:
                return
            n -= len(chunk)
            if keep:
                yield chunk

    @staticmethod
    def _size(hdr: bytes) -> int:
        field = hdr[124:136]
        if field[0] & 0x80:                   # base-256
            return int.from_bytes(field[1:], "big")
        text = field.split(b"\0", 1)[0].strip()
        return int(text, 8) if text else 0

    def _blocks(self) -> Iterator[bytes]:
        pending: list[bytes] = []
        path: str | None = None
        size: int | None = None
        while True:
            hdr = self._exact(_BLOCK)
            if len(hdr) < _BLOCK or hdr == bytes(_BLOCK):
                yield hdr + bytes(2 * _BLOCK)     # the end (or a truncated stream)
                return
            typ = hdr[156:157]
            try:
                n = self._size(hdr)
            except ValueError:
                yield hdr                          # tarfile says what is wrong with it
                yield from self._copy(1 << 62, True)
                return
            padded = -(-n // _BLOCK) * _BLOCK
            if typ in _EXT_HEADERS:
                if n > 1 << 20:
                    raise SourceError(f"{self.what}: an extended tar header of {n} bytes: "
                                      "refused; pass a genuine kernel source archive.")
                data = self._exact(padded)
                if typ == b"g":
                    continue                       # global pax defaults: not used
                pending.append(hdr + data)
                body = data[:n]
                if typ == b"L":
                    path = body.split(b"\0", 1)[0].decode("utf-8", "replace")
                elif typ == b"x":
                    for m in re.finditer(rb"(?:^|\n)\d+ (path|size)=([^\n]*)", body):
                        if m.group(1) == b"path":
                            path = m.group(2).decode("utf-8", "replace")
                        elif m.group(2).isdigit():
                            size = int(m.group(2))
                continue
            self.members += 1
            if self.members > MAX_MEMBERS:
                raise SourceError(
                    f"{self.what} has more than {MAX_MEMBERS} members: refused (a kernel "
                    "source archive has about 100000); pass a linux-source archive.")
            if typ == b"S":
                raise SourceError(f"{self.what}: a GNU sparse member: refused; pass a "
                                  "genuine kernel source archive.")
            if size is not None:
                n, padded = size, -(-size // _BLOCK) * _BLOCK
            if path is None:
                path = hdr[0:100].split(b"\0", 1)[0].decode("utf-8", "replace")
                prefix = hdr[345:500].split(b"\0", 1)[0].decode("utf-8", "replace")
                if prefix and typ not in _GNU_TYPES:
                    path = f"{prefix}/{path}"
            if path.startswith("/") or "/../" in f"/{path}/":
                raise SourceError(f"{self.what}: member {path!r} has an absolute or '..' "
                                  "path: refused, nothing extracted; pass a genuine kernel "
                                  "source archive.")
            keep = self.keep(path)
            if keep:
                yield from pending
                yield hdr
            yield from self._copy(padded, keep)
            pending, path, size = [], None, None


def _tamed(member: tarfile.TarInfo, _dest: str) -> tarfile.TarInfo:
    """tarfile's ``data`` filter's attributes (no owner; files rw for the owner, no
    group/other write, no exec bit unless the owner's; default modes for
    directories and links) without its realpath per member: _extract_stream's
    checks cover paths in a fresh directory."""
    mode: int | None = None
    if member.isreg() or member.islnk():
        mode = (member.mode & 0o755) | 0o600
        if not mode & 0o100:
            mode &= ~0o111
    return member.replace(mode=mode, uid=None, gid=None, uname=None, gname=None, deep=False)


def _extract_stream(fileobj: Any, dest: Path, what: str,
                    select: Callable[[str], str | None], fresh: bool = True) -> list[str]:
    """Extract the members of the tar stream *fileobj* that *select* maps to a
    path relative to *dest*; refuse the archive on any unsafe member.

    Only regular files, directories and links staying in the tree; no device,
    fifo, setuid/setgid or world-writable member, no absolute or '..' path, no
    member written through a link; at most MAX_MEMBERS members and
    MAX_EXTRACT_BYTES bytes.  Modes are those of tarfile's ``data`` filter, owners
    are not restored.  *fresh*: *dest* is a new empty directory (then every link
    in it is one this extraction made; otherwise tarfile's ``data`` filter checks
    each member's real path).  Returns what was written.
    """
    done: set[str] = set()
    order: list[str] = []
    links: set[str] = set()
    count = total = 0
    try:
        pre = _Prefiltered(fileobj, lambda name: select(name) is not None, what)
        with tarfile.open(fileobj=pre, mode="r|", bufsize=1 << 16) as tf:
            for m in tf:
                count += 1
                if count > MAX_MEMBERS:
                    raise SourceError(
                        f"{what} has more than {MAX_MEMBERS} members: refused (a kernel "
                        "source archive has about 100000); pass a linux-source archive.")
                rel = select(m.name)
                why = _member_problem(m, rel if rel is not None else m.name)
                if not why and rel is not None and links and (
                        rel in links or any(rel[:i] in links for i, c in enumerate(rel)
                                            if c == "/")):
                    why = "is written through a symbolic link"
                if why:
                    raise SourceError(f"{what}: member {m.name!r} {why}: refused, nothing "
                                      "extracted; pass a genuine kernel source archive.")
                if rel is None:
                    continue
                total += m.size if m.isreg() else 0
                if total > MAX_EXTRACT_BYTES:
                    raise SourceError(
                        f"{what} expands to more than {MAX_EXTRACT_BYTES >> 20} MiB in the "
                        "subtrees pyvma reads: refused (a kernel's are about 400 MiB).")
                if m.islnk():
                    link = select(m.linkname)
                    if link is None or link not in done:
                        raise SourceError(f"{what}: hard link {m.name!r} to {m.linkname!r}, "
                                          "which is not an extracted member: refused.")
                    m = m.replace(name=rel, linkname=link, deep=False)
                else:
                    m = m.replace(name=rel, deep=False)
                if m.issym():
                    links.add(rel)
                tf.extract(m, dest, set_attrs=True, filter=_tamed if fresh else "data")
                done.add(rel)
                order.append(rel)
        if fresh:      # links to links: each must still resolve inside the tree
            top = os.path.realpath(dest)
            for rel in links:
                real = os.path.realpath(os.path.join(top, rel))
                if os.path.commonpath([real, top]) != top:
                    raise SourceError(f"{what}: member {rel!r} is a link out of the tree "
                                      f"(through other links, to {real}): refused.")
    except tarfile.FilterError as e:
        raise SourceError(f"{what}: {e}: refused; pass a genuine kernel source archive.") \
            from None
    except (tarfile.TarError, EOFError) as e:
        raise SourceError(f"{what} is not a readable tar archive ({e}).") from None
    except OSError as e:
        raise SourceError(f"extracting {what} into {dest} failed: {e}") from None
    return order


def _select_prefixes(subtrees: Sequence[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    return frozenset(subtrees), tuple(s + "/" for s in subtrees)


def _subtree_select(names: Sequence[str] | None = None, strip: int = 1,
                    subtrees: Sequence[str] = TARBALL_SUBTREES) -> Callable[[str], str | None]:
    """Member name -> path in the tree: the top *strip* components dropped, kept
    if under one of *subtrees* (or exactly one of *names*)."""
    exact, prefixes = _select_prefixes(subtrees)
    wanted = frozenset(names) if names is not None else None

    def select(name: str) -> str | None:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if len(parts) <= strip:
            return None
        rel = "/".join(parts[strip:])
        if wanted is not None:
            return rel if rel in wanted else None
        return rel if rel in exact or rel.startswith(prefixes) else None
    return select


@contextlib.contextmanager
def _stream(cmds: Sequence[Sequence[str]], what: str) -> Iterator[Any]:
    """Yield the stdout of the pipeline *cmds* (no shell).  A command that failed
    (other than by SIGPIPE after the reader stopped) raises SourceError with the
    first line of its stderr: the cause, not the tail of the consequences."""
    procs: list[subprocess.Popen[bytes]] = []
    errs = [tempfile.TemporaryFile() for _ in cmds]
    try:
        prev = None
        for i, argv in enumerate(cmds):
            try:
                p = subprocess.Popen(list(argv), stdin=prev if prev is not None
                                     else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=errs[i], env={**os.environ, **_C_ENV})
            except FileNotFoundError as e:
                raise SourceError(
                    f"{argv[0]} is not installed ({e}); install it (e.g. "
                    "apt-get install xz-utils tar dpkg) and retry.") from None
            if prev is not None:
                prev.close()  # the child holds its own copy
            prev = p.stdout
            procs.append(p)
        assert prev is not None
        body: BaseException | None = None
        try:
            yield prev
            while prev.read(1 << 20):   # the rest (padding): let every command finish
                pass
        except Exception as e:
            body = e
        prev.close()
        for argv, p, err in zip(cmds, procs, errs):
            rc = p.wait()
            if rc in (0, -signal.SIGPIPE):
                continue
            err.seek(0)
            raise SourceError(f"reading {what} failed: {Path(argv[0]).name} exit {rc}: "
                              f"{_first(err.read().decode(errors='replace'))}") from None
        if body is not None:
            raise body
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for err in errs:
            err.close()


def _archive_cmds(archive: Path) -> list[list[str]] | None:
    """The pipeline writing the kernel source tar of *archive* (a linux-source
    .deb or a tarball) uncompressed; None for a plain .tar (read directly)."""
    name = archive.name
    if name.endswith(".deb"):
        return [["dpkg-deb", "--fsys-tarfile", str(archive)],
                ["tar", "-xO", "-f", "-", "--wildcards", "*usr/src/linux-source-*.tar.xz"],
                ["xz", "-dc", "-T2"]]
    if name.endswith((".tar.xz", ".txz")):
        return [["xz", "-dc", "-T2", "--", str(archive)]]
    if name.endswith((".tar.gz", ".tgz")):
        return [["gzip", "-dc", "--", str(archive)]]
    return None


def _extract_archive(archive: Path, dest: Path, select: Callable[[str], str | None],
                     fresh: bool = True) -> list[str]:
    what = str(archive)
    cmds = _archive_cmds(archive)
    if cmds is None:
        try:
            f = open(archive, "rb")
        except OSError as e:
            raise SourceError(f"cannot read {archive}: {e}") from None
        with f:
            return _extract_stream(f, dest, what, select, fresh)
    with _stream(cmds, what) as out:
        return _extract_stream(out, dest, what, select, fresh)


def extract_deb(deb: Path, dest: Path) -> None:
    """Extract the kernel subtrees of a linux-source .deb into ``dest`` (safely,
    see ``_extract_stream``)."""
    if not _extract_archive(deb, dest, _subtree_select()):
        raise SourceError(f"{deb} holds no kernel source subtrees; is it a linux-source "
                          "package?")


def extract_tarball(tarball: Path, dest: Path) -> None:
    """Extract the kernel subtrees of a .tar/.tar.xz/.tar.gz into ``dest``."""
    _extract_archive(tarball, dest, _subtree_select())


def extract_members(archive: Path, members: list[str], dest: Path) -> list[str]:
    """Extract single files (paths relative to the kernel top, e.g.
    ``arch/arm64/mm/mmap.c``) of a linux-source .deb or kernel tarball into
    *dest*, with the same safety rules as a whole extraction; return the
    members found (a subset of *members*).  See ``source_archive`` for a tree's."""
    wanted = {posixpath.normpath(m.strip("/")) for m in members}
    bad = [m for m in wanted if m.startswith("..") or m == "."]
    if bad:
        raise SourceError(f"cannot extract {bad[0]!r}: not a path inside a kernel tree.")
    return _extract_archive(Path(archive), Path(dest), _subtree_select(sorted(wanted)),
                            fresh=False)


def source_archive(root: Path) -> Path | None:
    """The archive a cached tree was extracted from, if it still has the sha256 its
    marker recorded (a Debian package's .deb is kept under ``debs/``), else None."""
    marker = _read_marker(Path(root))
    if not marker:
        return None
    path, sha = marker.get("deb_path") or marker.get("file"), \
        marker.get("deb_sha256") or marker.get("sha256")
    if not isinstance(path, str) or not isinstance(sha, str) or not os.path.isfile(path):
        return None
    return Path(path) if _file_sha256(Path(path)) == sha else None


def package_members(tree: KernelTree, rels: Sequence[str], dest: Path) -> list[str]:
    """Extract the files *rels* (paths in the kernel tree) from the archive *tree* came
    from (``source_archive``: its kept, hash-checked .deb or tarball) into *dest*;
    return those the archive holds.  An archive gone or changed is an error."""
    archive = source_archive(tree.root)
    if archive is None:
        marker = _read_marker(tree.root) or {}
        raise SourceError(
            f"{tree.root} holds only the subtrees the build reads, and the archive it "
            f"came from ({marker.get('deb_path') or marker.get('file') or 'unknown'}) is "
            "gone or changed: fetch the tree again after `pyvma cache clear`, or point "
            "--kernel at a full tree")
    return extract_members(archive, list(rels), dest)


# --------------------------------------------------------------------------
# Cached trees


def _read_marker(tree: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((tree / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        return None
    return data


def _cached_tree(
    cache: Path,
    key: str,
    produce: Callable[[Path], dict[str, Any]],
    valid: Callable[[dict[str, Any]], bool] = lambda m: True,
) -> tuple[Path, dict[str, Any]]:
    """Return ``kernels/<key>`` and its marker, producing it once if needed.

    ``produce(tmpdir)`` fills a temp dir and returns marker data; the tree
    is validated, the marker written and the dir renamed into place under
    ``locks/<key>.lock``.  Failures leave nothing in ``kernels/``.
    """
    final = subdir("kernels", cache) / key
    marker = _read_marker(final)
    if marker is not None and valid(marker):
        return final, marker
    with file_lock(subdir("locks", cache) / f"{key}.lock"):
        marker = _read_marker(final)
        if marker is not None and valid(marker):
            return final, marker
        remove_stale_tmp(final)
        if final.exists():  # no/old marker: an interrupted or foreign dir
            log.warning("removing incomplete cached tree %s", final)
            _rmtree(final)
        start = time.monotonic()
        with atomic_dir(final) as tmp:
            data = produce(tmp)
            _load_tree(tmp, None, {}, cache)  # validate before it goes live
            data = {
                "format": MARKER_FORMAT,
                "key": key,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "seconds": round(time.monotonic() - start, 2),
                **data,
            }
            write_json_atomic(tmp / MARKER, data)
        log.info("extracted %s in %.1f s", final, data["seconds"])
        return final, data


def _safe_key(text: str) -> str:
    """Make ``text`` usable as one path component."""
    return re.sub(r"[^A-Za-z0-9._+~-]", "_", text).lstrip(".") or "_"


# --------------------------------------------------------------------------
# Spec kinds


def _resolve_dir(path: Path, spec: str, cache: Path) -> KernelTree:
    root = path.absolute()
    origin: dict[str, Any] = {"spec": spec, "kind": "dir", "path": str(root)}
    name = root.name or str(root)
    if root.parent == cache / "kernels":     # a patched tree pyvma made: its identity
        from .patches import recorded_identity
        ident = recorded_identity(root)
        if ident is not None:
            origin.update(label=ident["label"], base_spec=ident["base"].get("spec"),
                          patched_from=ident["base"].get("root"),
                          replay_args=["--kernel", str(ident["base"].get("spec")),
                                       *map(str, ident["args"])],
                          patches=[p.get("name") for p in ident.get("patches", [])
                                   if isinstance(p, dict)])
            name = str(ident.get("short") or name)
    return _load_tree(root, name, origin, cache)


def _resolve_git(repo: Path, ref: str, spec: str, cache: Path) -> KernelTree:
    repo = repo.absolute()
    if not ref or ref.startswith("-"):
        raise SourceError(f"bad git ref {ref!r} in {spec!r}. {_SPEC_HELP}")
    proc = _run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"])
    sha = proc.stdout.strip()
    if proc.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}", sha):
        inside = _run(["git", "-C", str(repo), "rev-parse", "--git-dir"])
        if inside.returncode != 0:
            raise SourceError(
                f"{repo} is not a git repository, so {spec!r} cannot name a git "
                f"ref ({_tail(inside.stderr)}). Use the directory itself, or "
                "DIR@REF with DIR a git checkout."
            )
        raise SourceError(
            f"git ref {ref!r} not found in {repo}; check "
            f"`{shlex.join(['git', '-C', str(repo), 'log', '-1', ref, '--'])}` "
            "(fetch it first if it is a remote tag or branch)."
        )
    key = f"git-{sha[:12]}"

    def produce(tmp: Path) -> dict[str, Any]:
        listed = _run(
            ["git", "-C", str(repo), "ls-tree", "--name-only", sha, "--", *GIT_SUBTREES],
            check_msg=f"git ls-tree {sha} in {repo} failed",
        )
        paths = [p for p in listed.stdout.splitlines() if p]
        if not paths:
            raise SourceError(
                f"{spec!r}: commit {sha[:12]} has none of "
                f"{', '.join(GIT_SUBTREES)}; it is not a Linux kernel tree."
            )
        what = f"git archive of {spec!r}"
        with _stream([["git", "-C", str(repo), "archive", "--format=tar", sha, "--",
                       *paths]], what) as out:
            _extract_stream(out, tmp, what, _subtree_select(strip=0, names=None,
                                                            subtrees=GIT_SUBTREES))
        return {"kind": "git", "repo": str(repo), "ref": ref, "sha": sha}

    root, marker = _cached_tree(cache, key, produce, lambda m: m.get("sha") == sha)
    origin = {
        "spec": spec,
        "kind": "git",
        "repo": str(repo),
        "ref": ref,
        "sha": sha,
        "cache_dir": str(root),
    }
    tree = _load_tree(root, None, origin, cache)
    return _renamed(tree, f"{tree.version_str}-g{sha[:12]}")


def _renamed(tree: KernelTree, name: str) -> KernelTree:
    return KernelTree(
        root=tree.root,
        name=name,
        version=tree.version,
        version_str=tree.version_str,
        origin=tree.origin,
        features=tree.features,
        cache=tree.cache,
    )


def _deb_fields(deb: Path) -> tuple[str, str]:
    proc = _run(
        ["dpkg-deb", "-f", "--", str(deb), "Package", "Version"],
        check_msg=f"{deb} is not a readable .deb package",
    )
    fields = dict(
        line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line
    )
    pkg = fields.get("Package", "").strip()
    ver = fields.get("Version", "").strip()
    if not pkg or not ver:
        raise SourceError(f"{deb} has no Package/Version control fields.")
    return pkg, ver


def _resolve_deb(deb: Path, spec: str, cache: Path) -> KernelTree:
    """Extract (once) and load a linux-source .deb."""
    deb = deb.absolute()
    pkg, ver = _deb_fields(deb)
    if not pkg.startswith("linux-source"):
        raise SourceError(
            f"{deb} is package {pkg!r}, not linux-source-X.Y; pass a "
            "linux-source-*.deb (Debian's kernel source package)."
        )
    # keyed by content: a rebuilt .deb of the same version is another tree, and a
    # file never serves a debian: spec (kind "deb", not "debian")
    sha = _file_sha256(deb)
    key = _safe_key(f"{pkg}_{ver}-{sha[:12]}")

    def produce(tmp: Path) -> dict[str, Any]:
        kept = _keep_deb(deb, sha, cache)  # extracted from the verified copy
        extract_deb(kept, tmp)
        return {"kind": "deb", "package": pkg, "debian_version": ver, "file": str(deb),
                "deb_path": str(kept), "deb_sha256": sha}

    root, marker = _cached_tree(cache, key, produce,
                                lambda m: m.get("kind") == "deb" and m.get("deb_sha256") == sha)
    origin = {
        "spec": spec,
        "kind": "deb",
        "file": str(deb),
        "sha256": sha,
        "package": pkg,
        "debian_version": ver,
        "cache_dir": str(root),
    }
    return _load_tree(root, None, origin, cache)


def _tarball_stem(name: str) -> str:
    for suffix in (".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _resolve_tarball(tarball: Path, spec: str, cache: Path) -> KernelTree:
    tarball = tarball.absolute()
    st = tarball.stat()
    stem = _safe_key(_tarball_stem(tarball.name))
    ident = {"file": str(tarball), "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    # Fast path: same file (path, size, mtime) as recorded in the marker.
    marker = _read_marker(subdir("kernels", cache) / stem)
    if marker and marker.get("sha256") and all(marker.get(k) == v for k, v in ident.items()):
        key = stem
        sha = marker["sha256"]
    else:
        sha = _file_sha256(tarball)
        key = stem if marker is None or marker.get("sha256") == sha else f"{stem}-{sha[:12]}"

    def produce(tmp: Path) -> dict[str, Any]:
        extract_tarball(tarball, tmp)
        return {"kind": "tarball", "sha256": sha, **ident}

    root, marker = _cached_tree(cache, key, produce, lambda m: m.get("sha256") == sha)
    origin = {
        "spec": spec,
        "kind": "tarball",
        "file": str(tarball),
        "sha256": sha,
        "cache_dir": str(root),
    }
    return _load_tree(root, None, origin, cache)


# --------------------------------------------------------------------------
# Debian (apt-get download through a project-local apt configuration)


class DebianApt:
    """apt-get/apt-cache with a private configuration under ``cache/apt``."""

    def __init__(self, cache: Path) -> None:
        self.dir = cache / "apt"
        self.sources = self.dir / "sources.list"
        self.lists = self.dir / "lists"
        self.cachedir = self.dir / "cache"
        self.status = self.dir / "status"
        self.stamp = self.dir / "update.stamp"
        self.lock = cache / "locks" / "apt.lock"
        for d in (
            self.lists / "partial",
            self.cachedir / "archives" / "partial",
            self.dir / "preferences.d",
        ):
            d.mkdir(parents=True, exist_ok=True)
        text = "".join(line + "\n" for line in DEBIAN_SOURCES)
        if _read_text(self.sources) != text:
            self.sources.write_text(text)
        if not self.status.exists():
            self.status.touch()

    def options(self) -> list[str]:
        """The ``-o`` options that make apt use only this configuration."""
        opts = {
            "Dir::Etc::SourceList": str(self.sources),
            "Dir::Etc::SourceParts": "/nonexistent",
            # No pinning from the host: an absent file and an empty dir.
            "Dir::Etc::Preferences": str(self.dir / "preferences"),
            "Dir::Etc::PreferencesParts": str(self.dir / "preferences.d"),
            "Dir::State::Lists": str(self.lists),
            "Dir::Cache": str(self.cachedir),
            # Keep the binary cache (hosts like Docker images blank it):
            # it makes apt-cache queries take 10 ms instead of 1.2 s.
            "Dir::Cache::pkgcache": "pkgcache.bin",
            "Dir::Cache::srcpkgcache": "",
            "Dir::State::status": str(self.status),
            "APT::Architecture": "amd64",
            "APT::Architectures": "amd64",
            "Acquire::Languages": "none",
            "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled": "false",
            "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled": "false",
            "Acquire::Retries": "2",
            "Acquire::http::Timeout": "30",
        }
        if os.geteuid() == 0:
            # Our dirs live in root's home, which the _apt user cannot enter.
            opts["APT::Sandbox::User"] = "root"
        out: list[str] = []
        for k, v in opts.items():
            out += ["-o", f"{k}={v}"]
        return out

    def has_lists(self) -> bool:
        """True if a previous ``apt-get update`` left package lists."""
        return any("_Packages" in p.name for p in self.lists.iterdir())

    def update(self, max_age: float = APT_UPDATE_MAX_AGE) -> None:
        """Run ``apt-get update`` unless one ran less than ``max_age`` s ago.

        Raises SourceError only if it fails and no older lists exist.
        """
        want = hashlib.sha256(self.sources.read_bytes()).hexdigest()
        with file_lock(self.lock):
            try:
                fresh = (
                    time.time() - self.stamp.stat().st_mtime < max_age
                    and self.stamp.read_text().strip() == want
                )
            except OSError:
                fresh = False
            if fresh and self.has_lists():
                return
            log.info("apt-get update (pyvma-local lists in %s)", self.lists)
            proc = _run(["apt-get", *self.options(), "-q", "update"])
            failed = proc.returncode != 0 or re.search(
                r"^(E:|W: Failed to fetch)", proc.stdout + proc.stderr, re.M
            )
            if not failed:
                self.stamp.write_text(want + "\n")
                return
            msg = _tail(proc.stderr or proc.stdout)
            if self.has_lists():
                log.warning("apt-get update failed, using older package lists: %s", msg)
                return
            raise SourceError(
                f"cannot fetch the Debian package lists (apt-get update into "
                f"{self.lists} failed: {msg}). {_OFFLINE_HELP}"
            )

    def _memo(self, question: str, ask):
        """apt-cache's answer to *question*, remembered until the lists change."""
        memo_path = self.dir / "answers.json"
        try:
            lists = max((p.stat().st_mtime_ns for p in self.lists.iterdir()), default=0)
        except OSError:
            lists = 0
        try:
            memo = json.loads(memo_path.read_text())
            if not isinstance(memo, dict) or memo.get("lists") != lists \
                    or not isinstance(memo.get("answers"), dict):
                memo = {"lists": lists, "answers": {}}
        except (OSError, ValueError):
            memo = {"lists": lists, "answers": {}}
        if question not in memo["answers"]:
            memo["answers"][question] = ask()
            try:
                write_json_atomic(memo_path, memo)
            except OSError:
                pass
        return memo["answers"][question]

    def source_packages(self) -> list[tuple[int, int]]:
        """Return the (major, minor) of every linux-source-X.Y Debian offers."""
        return [tuple(x) for x in self._memo("source_packages", self._source_packages)]

    def candidate(self, package: str) -> str | None:
        """Return apt's candidate version of ``package``, or None."""
        return self._memo(f"candidate {package}", lambda: self._candidate(package))

    def sha256(self, package: str, version: str) -> str | None:
        """The SHA256 Debian's (signature-checked) package lists give pkg=version."""
        return self._memo(f"sha256 {package}={version}",
                          lambda: self._sha256(package, version))

    def _sha256(self, package: str, version: str) -> str | None:
        proc = _run(["apt-cache", *self.options(), "show", "--no-all-versions", "--",
                     f"{package}={version}"])
        m = re.search(r"^SHA256:\s*([0-9a-f]{64})\s*$", proc.stdout, re.M)
        return m.group(1) if proc.returncode == 0 and m else None

    def _source_packages(self) -> list[tuple[int, int]]:
        proc = _run(
            ["apt-cache", *self.options(), "search", "--names-only", "^linux-source-"],
            check_msg="apt-cache search failed",
        )
        found = set()
        for line in proc.stdout.splitlines():
            m = re.match(r"^linux-source-(\d+)\.(\d+)\s", line)
            if m:
                found.add((int(m.group(1)), int(m.group(2))))
        return sorted(found, reverse=True)

    def _candidate(self, package: str) -> str | None:
        proc = _run(["apt-cache", *self.options(), "policy", "--", package])
        m = re.search(r"^\s*Candidate:\s*(\S+)", proc.stdout, re.M)
        if proc.returncode != 0 or not m or m.group(1) == "(none)":
            return None
        return m.group(1)

    def download(self, package: str, version: str, dest: Path) -> Path:
        """``apt-get download package=version`` into ``dest``; return the .deb."""
        proc = _run(
            ["apt-get", *self.options(), "-q", "download", f"{package}={version}"],
            cwd=dest,
        )
        debs = sorted(dest.glob("*.deb"))
        if proc.returncode != 0 or len(debs) != 1:
            raise SourceError(
                f"apt-get download {package}={version} failed: "
                f"{_tail(proc.stderr or proc.stdout)}. {_OFFLINE_HELP}"
            )
        return debs[0]


_DEBIAN_SPEC = re.compile(r"^debian:(?:linux-source-)?(\d+)(?:\.(\d+|x))?$")


def _dpkg_version_gt(a: str, b: str) -> bool:
    try:
        return subprocess.run(
            ["dpkg", "--compare-versions", a, "gt", b], capture_output=True
        ).returncode == 0
    except FileNotFoundError:
        return a > b


def _cached_debian_trees(cache: Path, major: int, minor: int | None) -> list[Path]:
    """Cached trees of linux-source-major[.minor], best (newest) first."""
    kdir = cache / "kernels"
    found: list[tuple[tuple[int, int], str, Path]] = []
    if not kdir.is_dir():
        return []
    for d in kdir.iterdir():
        m = _read_marker(d)
        # only a tree extracted from a .deb whose sha256 matched Debian's lists
        if not m or m.get("kind") != "debian" or \
                not re.fullmatch(r"[0-9a-f]{64}", str(m.get("deb_sha256", ""))) or \
                not isinstance(m.get("debian_version"), str):
            continue
        pm = re.fullmatch(r"linux-source-(\d+)\.(\d+)", str(m.get("package", "")))
        if not pm or int(pm.group(1)) != major:
            continue
        if minor is not None and int(pm.group(2)) != minor:
            continue
        found.append(((int(pm.group(1)), int(pm.group(2))), m["debian_version"], d))

    def cmp(a: tuple[tuple[int, int], str, Path], b: tuple[tuple[int, int], str, Path]) -> int:
        if a[0] != b[0]:
            return -1 if a[0] > b[0] else 1
        if a[1] == b[1]:
            return 0
        return -1 if _dpkg_version_gt(a[1], b[1]) else 1

    best = sorted(found, key=functools.cmp_to_key(cmp))
    return [d for _, _, d in best]


def _keep_deb(src: Path, sha: str, cache: Path) -> Path:
    """Move or copy *src* (sha256 *sha*) to ``debs/``; return its path there."""
    debs = subdir("debs", cache)
    dest = debs / _safe_key(f"{src.stem}-{sha[:12]}.deb")
    if dest.is_file() and _file_sha256(dest) == sha:
        return dest
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=debs)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        if _file_sha256(Path(tmp)) != sha:
            raise SourceError(f"{src} changed while pyvma copied it into {debs}; retry.")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest


def _debian_deb(apt: "DebianApt", pkg: str, ver: str, sha: str, cache: Path) -> Path:
    """Debian's .deb of pkg=ver, kept under ``debs/``: downloaded unless a kept
    copy has the SHA256 of Debian's package lists; refused if it has not."""
    kept = subdir("debs", cache) / _safe_key(f"{pkg}_{ver}_all-{sha[:12]}.deb")
    if kept.is_file() and _file_sha256(kept) == sha:
        return kept
    dl = Path(tempfile.mkdtemp(prefix="download-", dir=subdir("tmp", cache)))
    try:
        log.info("apt-get download %s=%s", pkg, ver)
        deb = apt.download(pkg, ver, dl)
        got = _file_sha256(deb)
        if got != sha:
            raise SourceError(
                f"the downloaded {deb.name} has sha256 {got}, Debian's package lists say "
                f"{sha}: refused (a broken mirror or proxy?); retry later.")
        got_pkg, got_ver = _deb_fields(deb)
        if (got_pkg, got_ver) != (pkg, ver):
            raise SourceError(f"apt-get download {pkg}={ver} produced {got_pkg} {got_ver}.")
        os.chmod(deb, 0o644)
        os.replace(deb, kept)
    finally:
        _rmtree(dl)
    return kept


def _resolve_debian(spec: str, cache: Path) -> KernelTree:
    m = _DEBIAN_SPEC.match(spec.strip())
    if not m:
        raise SourceError(
            f"cannot parse Debian spec {spec!r}: use debian:X.Y (e.g. "
            "debian:6.12), debian:linux-source-X.Y, or debian:X.x for the "
            "newest linux-source-X.* Debian offers (e.g. debian:7.x)."
        )
    major = int(m.group(1))
    minor = None if m.group(2) in (None, "x") else int(m.group(2))
    since = ".".join(map(str, VMA_C_SINCE))
    if (major, minor if minor is not None else 999) < VMA_C_SINCE:
        raise SourceError(
            f"{spec} asks for Linux {major}.{minor if minor is not None else 'x'}, "
            f"which has no mm/vma.c (mm/vma.c appeared in {since}); ask for "
            "debian:6.12 or newer, e.g. debian:7.x."
        )
    wanted = f"linux-source-{major}.{minor}" if minor is not None else f"linux-source-{major}.*"

    def offline_fallback(err: SourceError) -> KernelTree:
        cached = _cached_debian_trees(cache, major, minor)
        if not cached:
            raise err
        log.warning("%s; using the cached %s", err, cached[0].name)
        marker = _read_marker(cached[0]) or {}
        return _debian_tree(cached[0], marker, spec, cache, fetched=False)

    apt = DebianApt(cache)
    try:
        apt.update()
    except SourceError as e:
        return offline_fallback(e)

    if minor is None:
        minors = [mi for (ma, mi) in apt.source_packages() if ma == major]
    else:
        minors = [minor]
    package = version = None
    for mi in minors:
        cand = apt.candidate(f"linux-source-{major}.{mi}")
        if cand:
            package, version = f"linux-source-{major}.{mi}", cand
            break
    if package is None or version is None:
        return offline_fallback(
            SourceError(
                f"Debian (trixie, trixie-backports, trixie-security, sid) offers "
                f"no {wanted} package. Pick another version (e.g. debian:6.12 or "
                f"debian:7.x) or point at a local tree, e.g. --kernel /path/to/linux."
            )
        )

    sha = apt.sha256(package, version)
    if sha is None:
        return offline_fallback(SourceError(
            f"Debian's package lists name no SHA256 for {package} {version}: refusing "
            f"to use it; run `pyvma fetch {shlex.quote(spec)}` again later."))
    key = _safe_key(f"{package}_{version}-{sha[:12]}")
    final = cache / "kernels" / key

    def valid(m: dict[str, Any]) -> bool:
        return m.get("kind") == "debian" and m.get("deb_sha256") == sha

    marker = _read_marker(final)
    if marker is not None and valid(marker):
        return _debian_tree(final, marker, spec, cache, fetched=False)

    pkg, ver = package, version

    def produce(tmp: Path) -> dict[str, Any]:
        t0 = time.monotonic()
        deb = _debian_deb(apt, pkg, ver, sha, cache)
        t1 = time.monotonic()
        log.info("extracting %s", deb.name)
        extract_deb(deb, tmp)
        t2 = time.monotonic()
        return {
            "kind": "debian",
            "package": pkg,
            "debian_version": ver,
            "deb": deb.name,
            "deb_path": str(deb),
            "deb_sha256": sha,
            "download_seconds": round(t1 - t0, 2),
            "extract_seconds": round(t2 - t1, 2),
        }

    try:
        root, marker = _cached_tree(cache, key, produce, valid)
    except SourceError as e:
        if "apt-get download" in str(e):
            return offline_fallback(e)
        raise
    return _debian_tree(root, marker, spec, cache, fetched=True)


def _debian_tree(
    root: Path, marker: dict[str, Any], spec: str, cache: Path, fetched: bool
) -> KernelTree:
    origin = {
        "spec": spec,
        "kind": "debian",
        "package": marker.get("package"),
        "debian_version": marker.get("debian_version"),
        "cache_dir": str(root),
        "fetched_now": fetched,
    }
    return _load_tree(root, None, origin, cache)


# --------------------------------------------------------------------------
# Entry point


def _expanduser(text: str) -> Path:
    """``~`` and ``~user`` expanded; SourceError for a user without a home."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        raise SourceError(f"{text!r}: no such user's home directory (for the ~ in it). "
                          f"{_SPEC_HELP}") from None


def resolve(spec: str, cache: Path | None = None) -> KernelTree:
    """Resolve a kernel spec to a ``KernelTree`` (fetching/extracting if needed).

    ``spec`` is a directory, ``DIR@REF``, a linux-source ``.deb``, a
    ``.tar.xz``/``.tar`` file, or ``debian:X.Y`` / ``debian:X.x``.
    ``cache`` overrides ``$PYVMA_CACHE``.  Raises ``SourceError`` with a
    message saying what to do when the spec cannot be used.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SourceError(f"empty kernel spec {spec!r}. {_SPEC_HELP}")
    cdir = cache_dir(cache)
    if spec.startswith("debian:"):
        return _resolve_debian(spec, cdir)

    path = _expanduser(spec)
    if path.is_dir():
        return _resolve_dir(path, spec, cdir)
    if path.is_file():
        name = path.name
        if name.endswith(".deb"):
            return _resolve_deb(path, spec, cdir)
        if name.endswith((".tar.xz", ".txz", ".tar", ".tar.gz", ".tgz")):
            return _resolve_tarball(path, spec, cdir)
        raise SourceError(
            f"{path} is a file but neither a .deb nor a .tar.xz/.tar kernel "
            f"source archive. {_SPEC_HELP}"
        )
    if path.exists():
        raise SourceError(f"{path} is neither a directory nor a regular file. {_SPEC_HELP}")

    if "@" in spec:
        repo_text, _, ref = spec.rpartition("@")
        repo = _expanduser(repo_text)
        if repo_text and ref and repo.is_dir():
            return _resolve_git(repo, ref, spec, cdir)
        if repo_text and ref:
            raise SourceError(
                f"{spec!r} looks like DIR@REF but directory {repo} does not "
                f"exist. {_SPEC_HELP}"
            )
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", spec) and "/" not in spec.split(":", 1)[0]:
        raise SourceError(f"unknown kind of kernel spec {spec!r}. {_SPEC_HELP}")
    raise SourceError(
        f"kernel tree {path} does not exist. Pass an existing kernel source "
        f"directory (--kernel /path/to/linux). {_SPEC_HELP}"
    )
