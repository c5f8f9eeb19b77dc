# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's linux-source packages: apt-get download through a project-local apt configuration."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vma_internal.digest import sha256_file

from ..cache import (
    _rmtree,
    file_lock,
    subdir,
    write_json_atomic,
)
from ..errors import DownloadError, SourceError
from ..log import log
from .archive import _run, _tail, extract_deb
from .kernel_tree import _OFFLINE_HELP, VMA_C_SINCE
from .markers import _cached_tree, _safe_key, read_marker, update_marker
from .validate import _load_tree, _read_text

if TYPE_CHECKING:
    from .kernel_tree import KernelTree



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
            log("info", "apt-get update (pyvma-local lists in %s)", self.lists)
            proc = _run(["apt-get", *self.options(), "-q", "update"])
            failed = proc.returncode != 0 or re.search(
                r"^(E:|W: Failed to fetch)", proc.stdout + proc.stderr, re.M
            )
            if not failed:
                self.stamp.write_text(want + "\n")
                return
            msg = _tail(proc.stderr or proc.stdout)
            if self.has_lists():
                log("warning", "apt-get update failed, using older package lists: %s", msg)
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
            raise DownloadError(
                f"apt-get download {package}={version} failed: "
                f"{_tail(proc.stderr or proc.stdout)}. {_OFFLINE_HELP}"
            )
        return debs[0]


#: ``debian:X.Y``, ``debian:linux-source-X.Y``, ``debian:X.x``, and a version of a
#: series: ``debian:linux-source-X.Y=VERSION`` (``debian:X.Y=VERSION``)
DEBIAN_SPEC = re.compile(r"^debian:(?:linux-source-)?(\d{1,3})(?:\.(\d{1,3}|x))?(?:=(.*))?$",
                         re.S)
#: a Debian version as Debian's kernel packages spell them ([epoch:]upstream[-revision],
#: e.g. 6.12.113-1, 7.2.11-1~bpo13+1): nothing apt or a shell could read otherwise
DEBIAN_VERSION = re.compile(r"(?:[0-9]{1,4}:)?[0-9][A-Za-z0-9.+~]*(?:-[A-Za-z0-9.+~]+)*")
MAX_VERSION = 64
_SPEC_FORMS = ("use debian:X.Y (e.g. debian:6.12), debian:linux-source-X.Y, debian:X.x for "
               "the newest linux-source-X.* Debian offers (e.g. debian:7.x), or "
               "debian:linux-source-X.Y=VERSION for one version Debian serves (e.g. "
               "debian:linux-source-6.12=6.12.113-1).")


def parse_spec(spec: str) -> tuple[int, int | None, str | None]:
    """``(major, minor or None for X.x, version or None)`` of a debian: spec;
    SourceError (one line) for anything else."""
    m = DEBIAN_SPEC.match(spec)
    if not m:
        shown = repr(spec) if len(spec) <= 80 else repr(spec[:80]) + "..."
        raise SourceError(f"cannot parse Debian spec {shown}: {_SPEC_FORMS}")
    major = int(m.group(1))
    minor = None if m.group(2) in (None, "x") else int(m.group(2))
    version = m.group(3)
    if version is None:
        return major, minor, None
    shown = version if version.isprintable() and len(version) <= 80 \
        else repr(version[:80]) + "..."
    if minor is None:
        raise SourceError(f"{spec.split('=')[0]}={shown}: a version belongs to one series: "
                          "name it, e.g. debian:linux-source-6.12=6.12.113-1.")
    if len(version) > MAX_VERSION or not DEBIAN_VERSION.fullmatch(version):
        raise SourceError(f"bad Debian version {shown!r} in the kernel spec: a version is "
                          "[epoch:]upstream[-revision] of digits, letters and . + ~ (at most "
                          f"{MAX_VERSION} characters), e.g. debian:linux-source-6.12=6.12.113-1.")
    upstream = version.split(":", 1)[-1]
    if not re.match(rf"{major}\.{minor}(?![0-9])", upstream):
        raise SourceError(f"version {version} is not one of linux-source-{major}.{minor} "
                          f"(its versions start with {major}.{minor}), e.g. "
                          f"debian:linux-source-{major}.{minor}={major}.{minor}.1-1.")
    return major, minor, version


def spec_problem(spec: str) -> str | None:
    """What is wrong with the debian: spec *spec* (None: nothing)."""
    try:
        parse_spec(spec)
    except SourceError as e:
        return str(e)
    return None


def _dpkg_version_gt(a: str, b: str) -> bool:
    try:
        return subprocess.run(
            ["dpkg", "--compare-versions", a, "gt", b], capture_output=True
        ).returncode == 0
    except FileNotFoundError:
        return a > b


def _cached_debian_trees(cache: Path, major: int, minor: int | None,
                         version: str | None = None) -> list[Path]:
    """Cached trees of linux-source-major[.minor] (of *version*), best (newest) first."""
    kdir = cache / "kernels"
    found: list[tuple[tuple[int, int], str, Path]] = []
    if not kdir.is_dir():
        return []
    for d in kdir.iterdir():
        m = read_marker(d, cache)
        # only a tree extracted from a .deb whose sha256 matched Debian's lists
        if not m or not (m.get("kind") == "debian" or m.get("debian_lists") is True) or \
                not re.fullmatch(r"[0-9a-f]{64}", str(m.get("deb_sha256", ""))) or \
                not isinstance(m.get("debian_version"), str):
            continue
        if version is not None and m["debian_version"] != version:
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
    dest = debs / (_safe_key(f"{src.stem}-{sha[:12]}") + ".deb")
    if dest.is_file() and sha256_file(dest) == sha:
        return dest
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=debs)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        if sha256_file(Path(tmp)) != sha:
            raise SourceError(f"{src} changed while pyvma copied it into {debs}; retry.")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest


def _debian_deb(apt: DebianApt, pkg: str, ver: str, sha: str, cache: Path) -> Path:
    """Debian's .deb of pkg=ver, kept under ``debs/``: downloaded unless a kept
    copy has the SHA256 of Debian's package lists; refused if it has not."""
    kept = subdir("debs", cache) / (_safe_key(f"{pkg}_{ver}_all-{sha[:12]}") + ".deb")
    if kept.is_file() and sha256_file(kept) == sha:
        return kept
    dl = Path(tempfile.mkdtemp(prefix="download-", dir=subdir("tmp", cache)))
    try:
        log("info", "apt-get download %s=%s", pkg, ver)
        deb = apt.download(pkg, ver, dl)
        got = sha256_file(deb)
        if got != sha:
            raise SourceError(
                f"the downloaded {deb.name} has sha256 {got}, Debian's package lists say "
                f"{sha}: refused (a broken mirror or proxy?); retry later.")
        got_pkg, got_ver = _deb_fields(deb)
        if (got_pkg, got_ver) != (pkg, ver):
            raise DownloadError(f"apt-get download {pkg}={ver} produced {got_pkg} {got_ver}.")
        os.chmod(deb, 0o644)
        os.replace(deb, kept)
    finally:
        _rmtree(dl)
    return kept


def _resolve_debian(spec: str, cache: Path) -> KernelTree:
    major, minor, pinned = parse_spec(spec.strip())
    since = ".".join(map(str, VMA_C_SINCE))
    if (major, minor if minor is not None else 999) < VMA_C_SINCE:
        raise SourceError(
            f"{spec} asks for Linux {major}.{minor if minor is not None else 'x'}, "
            f"which has no mm/vma.c (mm/vma.c appeared in {since}); ask for "
            "debian:6.12 or newer, e.g. debian:7.x."
        )
    wanted = f"linux-source-{major}.{minor}" if minor is not None else f"linux-source-{major}.*"

    def offline_fallback(err: SourceError) -> KernelTree:
        cached = _cached_debian_trees(cache, major, minor, pinned)
        if not cached:
            raise err
        log("warning", "%s; using the cached %s", err, cached[0].name)
        marker = read_marker(cached[0], cache) or {}
        return _debian_tree(cached[0], marker, spec, cache, fetched=False)

    apt = DebianApt(cache)
    try:
        apt.update()
    except SourceError as e:
        return offline_fallback(e)

    package = version = None
    if pinned is not None:
        package, version = f"linux-source-{major}.{minor}", pinned
    else:
        if minor is None:
            minors = [mi for (ma, mi) in apt.source_packages() if ma == major]
        else:
            minors = [minor]
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
    if sha is None and pinned is not None:
        return offline_fallback(SourceError(
            f"Debian (trixie, trixie-backports, trixie-security, sid) does not serve "
            f"{package} {version} now: pick one it serves (`pyvma fetch debian:{major}.{minor}` "
            "takes the newest; scripts/matrix.py lists them all), or pass its .deb."))
    if sha is None:
        return offline_fallback(SourceError(
            f"Debian's package lists name no SHA256 for {package} {version}: refusing "
            f"to use it; run `pyvma fetch {shlex.quote(spec)}` again later."))
    key = _safe_key(f"{package}_{version}-{sha[:12]}")
    final = cache / "kernels" / key

    def valid(m: dict[str, Any]) -> bool:
        # the content Debian's lists name, whoever extracted it (a .deb file of the
        # same sha256, the matrix): one tree per content
        return m.get("deb_sha256") == sha

    marker = read_marker(final, cache)
    if marker is not None and valid(marker):
        return _debian_tree(final, _verified(final, marker, cache), spec, cache,
                            fetched=False)

    pkg, ver = package, version

    def produce(tmp: Path) -> dict[str, Any]:
        t0 = time.monotonic()
        deb = _debian_deb(apt, pkg, ver, sha, cache)
        t1 = time.monotonic()
        log("info", "extracting %s", deb.name)
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
    except DownloadError as e:
        return offline_fallback(e)
    return _debian_tree(root, _verified(root, marker, cache), spec, cache, fetched=True)


def _verified(root: Path, marker: dict[str, Any], cache: Path) -> dict[str, Any]:
    """*marker*, recording (once) that its .deb's sha256 is the one Debian's lists
    name: then the tree serves debian: specs offline too, whoever extracted it."""
    if marker.get("kind") == "debian" or marker.get("debian_lists") is True:
        return marker
    return update_marker(root, cache, {"debian_lists": True})


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
