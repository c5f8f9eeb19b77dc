# SPDX-License-Identifier: GPL-2.0-or-later
"""Running tar/dpkg/git, and extracting archives with the refusals of untrusted input."""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import signal
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vma_internal.digest import sha256_file

from ..errors import SourceError
from .kernel_tree import TARBALL_SUBTREES
from .links import MAX_DEPTH, link_problem
from .markers import read_marker

if TYPE_CHECKING:
    from .kernel_tree import KernelTree


_C_ENV = {"LC_ALL": "C", "LANG": "C", "DEBIAN_FRONTEND": "noninteractive"}



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
#: the most bytes of tar stream read, kept or not (a whole linux-source tar is ~1.5 GB;
#: an xz bomb's member pyvma skips was read on for as long as it claimed)
MAX_STREAM_BYTES = 8 << 30


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
    if "\0" in name or "\0" in m.linkname:
        return "has a NUL byte in its name"
    if len(parts) > MAX_DEPTH:
        return f"is {len(parts)} directories deep (a kernel's deepest are about 12)"
    if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
        kind = ("a device node" if m.ischr() or m.isblk() else
                "a fifo" if m.isfifo() else f"of tar type {m.type!r}")
        return f"is {kind}"
    if m.mode & (stat.S_ISUID | stat.S_ISGID):
        return f"is setuid/setgid (mode {m.mode:o})"
    if not m.issym() and m.mode & stat.S_IWOTH:
        return f"is world-writable (mode {m.mode:o})"
    if m.issym():           # one rule with a patch's links (links.link_problem)
        problem = link_problem(rel, m.linkname)
        if problem:
            return f"is {problem}"
    if m.islnk():           # a hard link's name is tree-relative, not link-relative
        norm = posixpath.normpath(m.linkname)
        if m.linkname.startswith("/") or norm == ".." or norm.startswith("../"):
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
        self.total = 0

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

    def _read(self, n: int) -> bytes:
        data = self.src.read(n)
        self.total += len(data)
        if self.total > MAX_STREAM_BYTES:
            raise SourceError(f"{self.what} expands to more than {MAX_STREAM_BYTES >> 30} "
                              "GiB of tar: refused (a whole kernel source tar is about "
                              "1.5 GiB); pass a genuine kernel source archive.")
        return data

    def _exact(self, n: int) -> bytes:
        data = self._read(n)
        while len(data) < n:
            more = self._read(n - len(data))
            if not more:
                break
            data += more
        return data

    def _copy(self, n: int, keep: bool) -> Iterator[bytes]:
        while n > 0:
            chunk = self._read(min(n, 1 << 20))
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
            if len(hdr) < _BLOCK:   # a cut at a member's end looks complete to tarfile
                raise SourceError(
                    f"{self.what} is truncated: it ends after {self.members} members "
                    "without tar's end-of-archive marker: refused; download it again.")
            if hdr == bytes(_BLOCK):
                yield hdr + bytes(2 * _BLOCK)     # the end-of-archive marker
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
    # None: "leave unset" (tarfile's own data filter does the same; typeshed says int)
    unset: dict[str, Any] = {"mode": mode, "uid": None, "gid": None, "uname": None, "gname": None}
    return member.replace(**unset, deep=False)


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
    kinds: dict[str, str] = {}   # what each extracted path is now: file, dir, symlink
    order: list[str] = []
    links: set[str] = set()
    count = total = 0
    try:
        pre: Any = _Prefiltered(fileobj, lambda name: select(name) is not None, what)
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
                    # judged by what it links to: only a regular file this extraction
                    # wrote (a hard link to a symbolic link is that link at a new
                    # place, where its relative target may lead elsewhere)
                    link = select(m.linkname)
                    if link is None or link not in kinds:
                        raise SourceError(f"{what}: hard link {m.name!r} to {m.linkname!r}, "
                                          "which is not an extracted member: refused.")
                    if kinds[link] != "file":
                        raise SourceError(f"{what}: hard link {m.name!r} to {m.linkname!r}, "
                                          f"which is a {kinds[link]}, not a regular file: "
                                          "refused, nothing extracted; pass a genuine "
                                          "kernel source archive.")
                    m = m.replace(name=rel, linkname=link, deep=False)
                else:
                    m = m.replace(name=rel, deep=False)
                if not m.isdir():
                    _unlink_entry(dest, rel, fresh)  # never write through what was there
                if m.issym():
                    links.add(rel)
                tf.extract(m, dest, set_attrs=True, filter=_tamed if fresh else "data")
                kinds[rel] = "dir" if m.isdir() else "symlink" if m.issym() else "file"
                order.append(rel)
        if fresh:
            _check_landed(dest, kinds, what)
    except tarfile.FilterError as e:
        raise SourceError(f"{what}: {e}: refused; pass a genuine kernel source archive.") \
            from None
    except (tarfile.TarError, EOFError) as e:
        raise SourceError(f"{what} is not a readable tar archive ({e}).") from None
    except OSError as e:
        raise SourceError(f"extracting {what} into {dest} failed: {e}") from None
    return order


def _unlink_entry(dest: Path, rel: str, fresh: bool) -> None:
    """Remove what a previous member left at *rel* (a file or a link, never what a
    link points to): the next member is a new file, not a write into an old one.
    Not *fresh* (a directory pyvma did not just make), *rel*'s directory must be
    reached through no link (in a fresh one the links-prefix check says so)."""
    path = os.path.join(dest, rel)
    if not fresh:
        top = os.path.realpath(dest)
        parent = os.path.dirname(os.path.join(top, rel))
        if os.path.realpath(parent) != parent:
            raise SourceError(f"{dest}: {os.path.dirname(rel)!r} is reached through a "
                              "symbolic link: refused, nothing written through it.")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)


def _check_landed(dest: Path, kinds: dict[str, str], what: str) -> None:
    """Where every member ended up (hard links included): a regular file, a
    directory or a symbolic link, in a directory of the tree reached through no
    link, and a symbolic link resolving inside the tree (through other links too)."""
    top = os.path.realpath(dest)
    real_dirs: dict[str, bool] = {}
    for rel, kind in kinds.items():
        path = os.path.join(top, rel)
        parent = os.path.dirname(path)
        if parent not in real_dirs:
            real_dirs[parent] = os.path.realpath(parent) == parent
        st = os.lstat(path)
        fmt = stat.S_IFMT(st.st_mode)
        want = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}[kind]
        if not real_dirs[parent] or fmt != want:
            raise SourceError(f"{what}: member {rel!r} did not land where it was written "
                              f"(a {kind} through a link): refused.")
        if kind == "symlink":
            real = os.path.realpath(path)
            if os.path.commonpath([real, top]) != top:
                raise SourceError(f"{what}: member {rel!r} is a link out of the tree "
                                  f"(through other links, to {real}): refused.")


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


def source_archive(root: Path, cache: Path | None = None) -> Path | None:
    """The archive a cached tree was extracted from, if it still has the sha256 its
    marker recorded (a Debian package's .deb is kept under ``debs/``), else None."""
    marker = read_marker(Path(root), cache)
    if not marker:
        return None
    path, sha = marker.get("deb_path") or marker.get("file"), \
        marker.get("deb_sha256") or marker.get("sha256")
    if not isinstance(path, str) or not isinstance(sha, str) or not os.path.isfile(path):
        return None
    return Path(path) if sha256_file(Path(path)) == sha else None


def package_members(tree: KernelTree, rels: Sequence[str], dest: Path) -> list[str]:
    """Extract the files *rels* (paths in the kernel tree) from the archive *tree* came
    from (``source_archive``: its kept, hash-checked .deb or tarball) into *dest*;
    return those the archive holds.  An archive gone or changed is an error."""
    archive = source_archive(tree.root, tree.cache)
    if archive is None:
        marker = read_marker(tree.root, tree.cache) or {}
        raise SourceError(
            f"{tree.root} holds only the subtrees the build reads, and the archive it "
            f"came from ({marker.get('deb_path') or marker.get('file') or 'unknown'}) is "
            "gone or changed: fetch the tree again after `pyvma cache clear`, or point "
            "--kernel at a full tree")
    return extract_members(archive, list(rels), dest)
