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

    kernels/<name>/                 extracted tree + PYVMA_SOURCE.json
    kernels/.<name>.tmp-XXXX/       in-progress extraction (renamed into place)
    locks/<name>.lock               flock per cached tree; apt.lock for apt
    apt/                            sources.list, lists/, cache/, status, stamp
    hashes/<key>.json               content_hash per-file cache for one root
    tmp/                            downloads in progress
"""

from __future__ import annotations

import functools
import fnmatch
import glob
import hashlib
import json
import logging
import os
import stat
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import (
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
        if data.get("stamp") == json.loads(json.dumps(stamp)):
            _probe_memo[key] = frozenset(data["features"])
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
        if db.get("root") != str(root.absolute()):
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
        if old and old[0] == st.st_mtime_ns and old[1] == st.st_size:
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


def _pipeline(cmds: Sequence[Sequence[str]]) -> list[tuple[int, str]]:
    """Run ``cmds`` as a pipeline (no shell); return (rc, stderr) per command."""
    procs: list[subprocess.Popen[bytes]] = []
    errs = [tempfile.TemporaryFile() for _ in cmds]
    try:
        prev = None
        for i, argv in enumerate(cmds):
            last = i == len(cmds) - 1
            try:
                p = subprocess.Popen(
                    list(argv),
                    stdin=prev if prev is not None else subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL if last else subprocess.PIPE,
                    stderr=errs[i],
                    env={**os.environ, **_C_ENV},
                )
            except FileNotFoundError as e:
                raise SourceError(
                    f"{argv[0]} is not installed ({e}); install it (e.g. "
                    "`make deps` or apt-get install xz-utils tar dpkg) and retry."
                ) from None
            if prev is not None:
                prev.close()  # the child holds its own copy
            prev = p.stdout
            procs.append(p)
        results = []
        for p, err in zip(procs, errs):
            rc = p.wait()
            err.seek(0)
            results.append((rc, err.read().decode(errors="replace")))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for err in errs:
            err.close()


def _tar_extract_args(dest: Path, source: str = "-") -> list[str]:
    """``tar -x`` of the subtrees the build reads, top component stripped."""
    return [
        "tar",
        "-x",
        "-f",
        source,
        "-C",
        str(dest),
        "--no-same-owner",
        "--strip-components=1",
        "--wildcards",
        "--no-wildcards-match-slash",
        "--anchored",
        "--",
        *(f"*/{sub}" for sub in TARBALL_SUBTREES),
    ]


def _check_tar(rc: int, err: str, what: str) -> None:
    """Accept tar's 'Not found in archive' (optional subtrees); raise otherwise."""
    if rc == 0:
        return
    bad = [
        line
        for line in err.splitlines()
        if line.strip()
        and "Not found in archive" not in line
        and "Exiting with failure status due to previous errors" not in line
    ]
    if rc == 2 and not bad:
        return
    raise SourceError(f"extracting {what} failed (tar exit {rc}): {_tail(err)}")


def extract_deb(deb: Path, dest: Path) -> None:
    """Extract the kernel subtrees of a linux-source .deb into ``dest``.

    dpkg-deb --fsys-tarfile | tar -xO usr/src/linux-source-*.tar.xz |
    xz -dc | tar -x (only ``TARBALL_SUBTREES``).
    """
    results = _pipeline(
        [
            ["dpkg-deb", "--fsys-tarfile", str(deb)],
            ["tar", "-xO", "-f", "-", "--wildcards", "*usr/src/linux-source-*.tar.xz"],
            ["xz", "-dc", "-T2"],
            _tar_extract_args(dest),
        ]
    )
    (rc0, e0), (rc1, e1), (rc2, e2), (rc3, e3) = results
    if rc0 != 0:
        raise SourceError(f"dpkg-deb could not read {deb} (exit {rc0}): {_tail(e0)}")
    if rc1 != 0:
        raise SourceError(
            f"{deb} holds no usr/src/linux-source-*.tar.xz; is it a "
            f"linux-source package? ({_tail(e1)})"
        )
    if rc2 != 0:
        raise SourceError(f"xz could not decompress the tarball in {deb}: {_tail(e2)}")
    _check_tar(rc3, e3, str(deb))


def extract_tarball(tarball: Path, dest: Path) -> None:
    """Extract the kernel subtrees of a .tar/.tar.xz/.tar.gz into ``dest``."""
    name = tarball.name
    if name.endswith((".tar.xz", ".txz")):
        decomp: list[str] | None = ["xz", "-dc", "-T2", "--", str(tarball)]
    elif name.endswith((".tar.gz", ".tgz")):
        decomp = ["gzip", "-dc", "--", str(tarball)]
    else:
        decomp = None
    if decomp is None:
        (rc, err), = _pipeline([_tar_extract_args(dest, str(tarball))])
    else:
        (rc0, e0), (rc, err) = _pipeline([decomp, _tar_extract_args(dest)])
        if rc0 != 0:
            raise SourceError(f"could not decompress {tarball}: {_tail(e0)}")
    _check_tar(rc, err, str(tarball))


def _archive_of(tree: KernelTree, dl: Path) -> Path:
    """The archive *tree* was extracted from: the user's .deb or tarball, else the
    Debian package downloaded again (same package and version) into *dl*."""
    marker = _read_marker(tree.root) or {}
    kind = marker.get("kind")
    if kind in ("deb", "tarball") and Path(str(marker.get("file"))).is_file():
        return Path(str(marker["file"]))
    if kind == "debian" and marker.get("package") and marker.get("debian_version"):
        cache = tree.cache or cache_dir()
        apt = DebianApt(cache)
        apt.update()
        deb = apt.download(str(marker["package"]), str(marker["debian_version"]), dl)
        if _deb_fields(deb) != (marker["package"], marker["debian_version"]):
            raise SourceError(f"apt-get download {marker['package']}="
                              f"{marker['debian_version']} produced another package")
        return deb
    raise SourceError(
        f"{tree.root} holds only the subtrees the build reads and the archive it came "
        f"from ({marker.get('file') or kind}) is gone: point --kernel at a full tree")


def package_members(tree: KernelTree, rels: Sequence[str], dest: Path) -> list[str]:
    """Extract the regular files *rels* (paths in the kernel tree) from the archive
    *tree* came from into *dest*; return those the archive holds.  Only regular
    files are written (0644/0755, never over a symlink); one pass over the archive."""
    import tarfile

    wanted = set(rels)
    found: list[str] = []
    dl = Path(tempfile.mkdtemp(prefix="members-", dir=subdir("tmp", tree.cache)))
    try:
        archive = _archive_of(tree, dl)
        if archive.name.endswith(".deb"):
            cmds = [["dpkg-deb", "--fsys-tarfile", str(archive)],
                    ["tar", "-xO", "-f", "-", "--wildcards", "*usr/src/linux-source-*.tar.xz"],
                    ["xz", "-dc"]]
        elif archive.name.endswith((".tar.xz", ".txz")):
            cmds = [["xz", "-dc", "--", str(archive)]]
        elif archive.name.endswith((".tar.gz", ".tgz")):
            cmds = [["gzip", "-dc", "--", str(archive)]]
        else:
            cmds = [["cat", "--", str(archive)]]
        procs: list[subprocess.Popen[bytes]] = []
        prev = None
        for argv in cmds:
            p = subprocess.Popen(argv, stdin=prev or subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 env={**os.environ, **_C_ENV})
            if prev is not None:
                prev.close()
            prev = p.stdout
            procs.append(p)
        try:
            with tarfile.open(fileobj=prev, mode="r|") as tar:
                for member in tar:
                    rel = member.name.split("/", 1)[1] if "/" in member.name else ""
                    if rel not in wanted or not member.isreg():
                        continue
                    data = tar.extractfile(member)
                    target = dest / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if target.is_symlink() or target.exists():
                        target.unlink()
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 0o755 if member.mode & 0o111 else 0o644)
                    with os.fdopen(fd, "wb") as out:
                        shutil.copyfileobj(data, out)  # type: ignore[arg-type]
                    found.append(rel)
                    if len(found) == len(wanted):
                        break
        except tarfile.TarError as exc:
            raise SourceError(f"reading {archive}: {exc}") from None
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
    finally:
        shutil.rmtree(dl, ignore_errors=True)
    return sorted(found)


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
            shutil.rmtree(final)
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
            f"git ref {ref!r} not found in {repo}; check `git -C {repo} log "
            f"{ref}` (fetch it first if it is a remote tag or branch)."
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
        results = _pipeline(
            [
                ["git", "-C", str(repo), "archive", "--format=tar", sha, "--", *paths],
                ["tar", "-x", "-f", "-", "-C", str(tmp), "--no-same-owner"],
            ]
        )
        (rc0, e0), (rc1, e1) = results
        if rc0 != 0:
            raise SourceError(f"git archive {sha[:12]} in {repo} failed: {_tail(e0)}")
        _check_tar(rc1, e1, f"git archive of {spec!r}")
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
    key = _safe_key(f"{pkg}_{ver}")

    def produce(tmp: Path) -> dict[str, Any]:
        extract_deb(deb, tmp)
        return {"kind": "deb", "package": pkg, "debian_version": ver, "file": str(deb)}

    root, marker = _cached_tree(cache, key, produce)
    origin = {
        "spec": spec,
        "kind": "deb",
        "file": str(deb),
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
            if memo.get("lists") != lists:
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
        if not m or m.get("kind") not in ("deb", "debian"):
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

    key = _safe_key(f"{package}_{version}")
    final = cache / "kernels" / key
    marker = _read_marker(final)
    if marker is not None:
        return _debian_tree(final, marker, spec, cache, fetched=False)

    pkg, ver = package, version

    def produce(tmp: Path) -> dict[str, Any]:
        dl = Path(tempfile.mkdtemp(prefix="download-", dir=subdir("tmp", cache)))
        try:
            t0 = time.monotonic()
            log.info("apt-get download %s=%s", pkg, ver)
            deb = apt.download(pkg, ver, dl)
            t1 = time.monotonic()
            got_pkg, got_ver = _deb_fields(deb)
            if (got_pkg, got_ver) != (pkg, ver):
                raise SourceError(
                    f"apt-get download {pkg}={ver} produced {got_pkg} {got_ver}."
                )
            log.info("extracting %s", deb.name)
            extract_deb(deb, tmp)
            t2 = time.monotonic()
        finally:
            shutil.rmtree(dl, ignore_errors=True)
        return {
            "kind": "debian",
            "package": pkg,
            "debian_version": ver,
            "deb": deb.name,
            "download_seconds": round(t1 - t0, 2),
            "extract_seconds": round(t2 - t1, 2),
        }

    try:
        root, marker = _cached_tree(cache, key, produce)
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

    path = Path(spec).expanduser()
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
        repo = Path(repo_text).expanduser()
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
