# SPDX-License-Identifier: GPL-2.0-or-later
"""Untrusted inputs: hostile archives, a poisoned or foreign cache, bad arguments.

Every hostile input is built here at test time.  For each: the exit status and
the one-line message of the ``pyvma`` command, and that nothing outside the
cache changed (modes, inodes and contents of a victim directory).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyvma import build as pbuild
from pyvma import cache as pcache
from pyvma import cli
from pyvma import tree as ptree
from pyvma.errors import PyvmaError, SourceError
from pyvma.tree import archive as archive_mod
from pyvma.tree import features
from pyvma.tree.markers import SOURCES_DIR
from pyvma.tree.validate import _probe_memo
from vma_internal import cexpr, cparse
from vma_internal.config import HarnessConfig

from .test_source import git, make_fake_tree, make_source_deb, make_tarball

MAKEFILE = b"VERSION = 9\nPATCHLEVEL = 9\nSUBLEVEL = 1\nEXTRAVERSION =\n"


# --------------------------------------------------------------------------
# helpers


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache dir, also $PYVMA_CACHE for the command."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PYVMA_CACHE", str(path))
    return path


@pytest.fixture()
def victim(tmp_path: Path) -> Path:
    """Files outside the cache an attack aims at (a secret 0600, a directory)."""
    d = tmp_path / "victim"
    d.mkdir()
    (d / "secret").write_text("secret\n")
    os.chmod(d / "secret", 0o600)
    (d / "sub").mkdir()
    return d


def state(root: Path) -> dict[str, tuple]:
    """Mode, inode, size and content hash of everything under *root*."""
    out = {}
    for p in [root, *sorted(root.rglob("*"))]:
        st_ = p.lstat()
        body = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and \
            not p.is_symlink() else ""
        out[str(p.relative_to(root))] = (st_.st_mode, st_.st_ino, st_.st_size, body)
    return out


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """``pyvma ARGV`` in this process: (exit status, stdout, stderr)."""
    try:
        rc = cli.main(list(argv))
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 2
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "error:" in lines[0]
    return lines[0]


def kernels_in(cache: Path) -> list[str]:
    """The entries of kernels/ but the markers' directory."""
    d = cache / "kernels"
    return sorted(n for n in os.listdir(d) if n != SOURCES_DIR) if d.is_dir() else []


def tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]],
             top: str = "linux-9.9.1") -> Path:
    """A kernel-shaped tarball (Makefile, mm/vma.c) plus the hostile *members*."""
    mode = "w:xz" if path.name.endswith(".xz") else "w"
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tf:
        for name, data in (("Makefile", MAKEFILE), ("mm/vma.c", b"/* vma */\n")):
            ti = tarfile.TarInfo(f"{top}/{name}")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, data: bytes = b"x\n",
           link: str = "", dev: tuple[int, int] = (0, 0)) -> tuple[tarfile.TarInfo, bytes | None]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.linkname = kind, mode, link
    ti.devmajor, ti.devminor = dev
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        return ti, data
    return ti, None


# --------------------------------------------------------------------------
# archives


def hostile(victim: Path) -> dict[str, tuple[list, str]]:
    top = "linux-9.9.1"
    return {
        "block device": ([member(f"{top}/mm/sda", tarfile.BLKTYPE, 0o666, dev=(8, 0))],
                         "is a device node"),
        "char device": ([member(f"{top}/mm/null", tarfile.CHRTYPE, 0o666, dev=(1, 3))],
                        "is a device node"),
        "fifo": ([member(f"{top}/mm/fifo", tarfile.FIFOTYPE)], "is a fifo"),
        "setuid": ([member(f"{top}/mm/su", mode=0o4755)], "is setuid/setgid"),
        "setgid": ([member(f"{top}/include/sg", mode=0o2755)], "is setuid/setgid"),
        "world-writable": ([member(f"{top}/mm/ww", mode=0o777)], "is world-writable"),
        "absolute": ([member(str(victim / "planted"))], "absolute or '..' path"),
        "dotdot": ([member(f"{top}/../../{victim.name}/planted")], "absolute or '..' path"),
        "symlink out (absolute)": ([member(f"{top}/mm/out", tarfile.SYMTYPE,
                                           link=str(victim / "secret"))],
                                   "is a link out of the tree"),
        "symlink out (relative)": ([member(f"{top}/mm/out", tarfile.SYMTYPE,
                                           link="../../../../victim/secret")],
                                   "is a link out of the tree"),
        "hard link out": ([member(f"{top}/mm/hard", tarfile.LNKTYPE,
                                  link=str(victim / "secret"))], "link"),
        "write through a link": ([member(f"{top}/mm/d", tarfile.SYMTYPE, link="../.."),
                                  member(f"{top}/mm/d/x/planted")],
                                 "is a link out of the tree"),
        "write through an in-tree link": ([member(f"{top}/mm/d", tarfile.SYMTYPE, link="."),
                                           member(f"{top}/mm/d/planted")],
                                          "is written through a symbolic link"),
        "link out through links": ([member(f"{top}/mm/a", tarfile.SYMTYPE, link=".."),
                                    member(f"{top}/mm/b", tarfile.SYMTYPE, link="a/../..")],
                                   "is a link out of the tree (through other links"),
    }


def as_deb(tmp_path: Path, members: list, out: Path) -> Path:
    """A linux-source-9.9 .deb whose kernel tarball holds *members* (plus the
    Makefile and mm/vma.c of tar_with)."""
    inner = tar_with(tmp_path / "inner.tar.xz", members, top="linux-source-9.9")
    root = tmp_path / "debroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: linux-source-9.9\nVersion: 9.9.1-1\nArchitecture: all\n"
        "Maintainer: t <t@invalid>\nDescription: t\n")
    (root / "usr/src").mkdir(parents=True)
    shutil.copy(inner, root / "usr/src/linux-source-9.9.tar.xz")
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root),
                    str(out)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("case", list(hostile(Path("/v"))))
@pytest.mark.parametrize("container", ["tarball", "deb"])
def test_hostile_archive_refused(case: str, container: str, tmp_path: Path, cache: Path,
                                 victim: Path, capsys: pytest.CaptureFixture) -> None:
    members, why = hostile(victim)[case]
    before = state(victim)
    src = tmp_path / "src"
    src.mkdir()
    if container == "tarball":
        archive = tar_with(src / "linux-9.9.1.tar", members)
    else:
        archive = as_deb(tmp_path, members, src / "linux-source-9.9_9.9.1-1_all.deb")
    rc, out, err = run(capsys, "fetch", str(archive))
    line = one_line_error(err)
    assert rc == 2 and out == ""
    assert "refused" in line and why in line, line
    assert kernels_in(cache) == []
    assert state(victim) == before
    # nothing of the archive landed anywhere: no device node, no setuid file
    for p in cache.rglob("*"):
        m = p.lstat().st_mode
        assert stat.S_ISREG(m) or stat.S_ISDIR(m) or stat.S_ISLNK(m), p
        assert not m & (stat.S_ISUID | stat.S_ISGID), p


def test_modes_of_a_good_archive_are_tamed(tmp_path: Path, cache: Path) -> None:
    """Group-writable and odd modes of an accepted archive: extracted as the data
    filter says (no group/other write, owner read-write)."""
    tarball = tar_with(tmp_path / "linux-9.9.1.tar",
                       [member("linux-9.9.1/mm/gw", mode=0o664),
                        member("linux-9.9.1/mm/ro", mode=0o400),
                        member("linux-9.9.1/mm/link", tarfile.SYMTYPE, link="vma.c")])
    tree = ptree.resolve(str(tarball))
    assert stat.S_IMODE((tree.root / "mm/gw").stat().st_mode) == 0o644
    assert stat.S_IMODE((tree.root / "mm/ro").stat().st_mode) == 0o600
    assert os.readlink(tree.root / "mm/link") == "vma.c"


@pytest.mark.parametrize("limit", ["bytes", "members"])
def test_archive_limits(limit: str, tmp_path: Path, cache: Path, victim: Path,
                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A small archive expanding beyond the limits is refused with a clear line."""
    if limit == "bytes":
        monkeypatch.setattr(archive_mod, "MAX_EXTRACT_BYTES", 1 << 20)
        members = [member("linux-9.9.1/mm/zeros", data=bytes(4 << 20))]
        want = "expands to more than 1 MiB"
    else:
        monkeypatch.setattr(archive_mod, "MAX_MEMBERS", 50)
        members = [member(f"linux-9.9.1/lib/f{i}", data=b"") for i in range(60)]
        want = "has more than 50 members"
    archive = tar_with(tmp_path / "bomb.tar.xz", members)
    assert archive.stat().st_size < 64 << 10
    before = state(victim)
    rc, out, err = run(capsys, "fetch", str(archive))
    line = one_line_error(err)
    assert rc == 2 and want in line and "refused" in line, line
    assert kernels_in(cache) == [] and state(victim) == before
    assert not list((cache / "kernels").glob(".*tmp-*"))


def test_first_error_line_is_shown(tmp_path: Path, cache: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    """The cause (the first line a failing tool printed), not the tail."""
    junk = tmp_path / "linux-9.9.tar.xz"
    junk.write_bytes(b"this is not xz data\n" * 100)
    rc, _, err = run(capsys, "fetch", str(junk))
    line = one_line_error(err)
    assert rc == 2 and "xz exit 1" in line and "File format not recognized" in line, line
    # a .deb without the kernel tarball: tar's own "Not found in archive" is the cause
    root = tmp_path / "debroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: linux-source-9.9\nVersion: 9.9-1\nArchitecture: all\n"
        "Maintainer: t <t@invalid>\nDescription: t\n")
    (root / "usr/share/doc").mkdir(parents=True)
    (root / "usr/share/doc/readme").write_text("nothing\n")
    deb = tmp_path / "linux-source-9.9_9.9-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    rc, _, err = run(capsys, "fetch", str(deb))
    line = one_line_error(err)
    assert rc == 2 and "tar exit 2" in line and "Not found in archive" in line, line
    assert kernels_in(cache) == []


def test_cleanup_never_follows_a_symlink(tmp_path: Path, victim: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A removal that fails inside a read-only directory holding a link to a
    secret: the error handler makes directories writable, never the link's target."""
    tree = tmp_path / "cache" / "kernels" / ".x.tmp-1"
    (tree / "ro").mkdir(parents=True)
    (tree / "ro" / "link").symlink_to(victim / "secret")
    (tree / "ro" / "dirlink").symlink_to(victim / "sub")
    os.chmod(tree / "ro", 0o555)
    before = state(victim)
    real_unlink = os.unlink
    failed: list[str] = []

    def unlink(path, *a, **kw):  # root ignores the read-only directory: fail once
        if str(path).endswith("link") and path not in failed:
            failed.append(path)
            raise PermissionError(13, "Permission denied", path)
        return real_unlink(path, *a, **kw)

    monkeypatch.setattr(os, "unlink", unlink)
    pcache._rmtree(tree)
    assert failed, "the error handler was not exercised"
    assert not tree.exists()
    assert state(victim) == before
    assert stat.S_IMODE((victim / "secret").stat().st_mode) == 0o600


def test_extract_members(tmp_path: Path, cache: Path) -> None:
    """Single files of a kept archive, with the same refusals."""
    fake = make_fake_tree(tmp_path / "src", 9, 9, 1)
    tarball = make_tarball(fake, tmp_path / "linux-9.9.1.tar.xz", "linux-9.9.1")
    out = tmp_path / "out"
    got = ptree.extract_members(tarball, ["arch/x86/other.c", "mm/vma.c", "nope"], out)
    assert sorted(got) == ["arch/x86/other.c", "mm/vma.c"]
    assert (out / "arch/x86/other.c").read_text() == "/* not extracted */\n"
    with pytest.raises(SourceError, match="not a path inside a kernel tree"):
        ptree.extract_members(tarball, ["../../etc/passwd"], out)
    bad = tar_with(tmp_path / "bad.tar", [member("linux-9.9.1/mm/sda", tarfile.BLKTYPE)])
    with pytest.raises(SourceError, match="is a device node: refused"):
        ptree.extract_members(bad, ["mm/vma.c", "mm/sda"], tmp_path / "out2")
    # a link already in the destination (e.g. a tree sharing the cached one) is
    # never written through
    dest = tmp_path / "out3"
    (dest / "mm").parent.mkdir()
    (dest / "mm").symlink_to(tmp_path / "src" / "mm")
    before = state(tmp_path / "src")
    with pytest.raises(SourceError, match="refused"):
        ptree.extract_members(tarball, ["mm/vma.c"], dest)
    assert state(tmp_path / "src") == before


# --------------------------------------------------------------------------
# cache keying


@pytest.fixture()
def fake_debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Debian's linux-source-9.9 9.9.1-1 as apt would fetch it (lists and download
    answered locally); returns the genuine .deb."""
    fake = make_fake_tree(tmp_path / "genuine-src", 9, 9, 1)
    genuine = make_source_deb(tmp_path / "genuine", fake, "linux-source-9.9", "9.9.1-1")
    sha = hashlib.sha256(genuine.read_bytes()).hexdigest()
    monkeypatch.setattr(ptree.DebianApt, "update", lambda self, max_age=0: None)
    monkeypatch.setattr(ptree.DebianApt, "candidate",
                        lambda self, p: "9.9.1-1" if p == "linux-source-9.9" else None)
    monkeypatch.setattr(ptree.DebianApt, "sha256", lambda self, p, v: sha)

    def download(self, package: str, version: str, dest: Path) -> Path:
        return Path(shutil.copy(self.served, dest))
    monkeypatch.setattr(ptree.DebianApt, "served", genuine, raising=False)
    monkeypatch.setattr(ptree.DebianApt, "download", download)
    return genuine


def test_planted_deb_never_serves_a_debian_spec(
        tmp_path: Path, cache: Path, fake_debian: Path, victim: Path,
        capsys: pytest.CaptureFixture) -> None:
    """`pyvma fetch mine.deb` (same package and version as Debian's, a planted
    mm/vma.c) then `pyvma fetch debian:9.9`: Debian's tree, not the planted one."""
    planted_src = make_fake_tree(tmp_path / "planted-src", 9, 9, 1)
    (planted_src / "mm/vma.c").write_text("/* planted */\n")
    planted = make_source_deb(tmp_path / "planted", planted_src, "linux-source-9.9", "9.9.1-1")
    before = state(victim)
    rc, out, _ = run(capsys, "fetch", str(planted))
    assert rc == 0
    planted_root = Path(out.split("\t")[2])
    assert (planted_root / "mm/vma.c").read_text() == "/* planted */\n"

    rc, out, _ = run(capsys, "fetch", "debian:9.9")
    assert rc == 0
    root = Path(out.split("\t")[2])
    assert root != planted_root
    assert (root / "mm/vma.c").read_text() == "/* placeholder vma.c */\n"
    marker = json.loads((root / ptree.MARKER).read_text())
    assert marker["deb_sha256"] == hashlib.sha256(fake_debian.read_bytes()).hexdigest()
    assert Path(marker["deb_path"]).parent == cache / "debs"

    # a rebuilt .deb of the same version is extracted again (keyed by content)
    rebuilt_src = make_fake_tree(tmp_path / "rebuilt-src", 9, 9, 1)
    (rebuilt_src / "mm/vma.c").write_text("/* rebuilt */\n")
    rebuilt = make_source_deb(tmp_path / "rebuilt", rebuilt_src, "linux-source-9.9", "9.9.1-1")
    rc, out, _ = run(capsys, "fetch", str(rebuilt))
    assert rc == 0
    assert (Path(out.split("\t")[2]) / "mm/vma.c").read_text() == "/* rebuilt */\n"
    assert len(kernels_in(cache)) == 3
    assert state(victim) == before


def test_download_not_matching_debian_lists_is_refused(
        tmp_path: Path, cache: Path, fake_debian: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    other_src = make_fake_tree(tmp_path / "other-src", 9, 9, 1)
    (other_src / "mm/vma.c").write_text("/* mirror-planted */\n")
    other = make_source_deb(tmp_path / "other", other_src, "linux-source-9.9", "9.9.1-1")
    monkeypatch.setattr(ptree.DebianApt, "served", other, raising=False)
    rc, _, err = run(capsys, "fetch", "debian:9.9")
    line = one_line_error(err)
    assert rc == 2 and "Debian's package lists say" in line and "refused" in line, line
    assert kernels_in(cache) == []
    assert not list((cache / "debs").glob("*.deb"))


# --------------------------------------------------------------------------
# cache trust


def test_cache_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "new" / "cache"
    monkeypatch.setenv("PYVMA_CACHE", str(path))
    rc, out, _ = run(capsys, "cache", "list")
    assert rc == 0 and str(path) in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


@pytest.mark.parametrize("how", ["group-writable", "other-writable", "foreign owner"])
def test_untrusted_cache_refused(how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture) -> None:
    """A cache another user can write (or owns) is refused before anything in it is
    read: its planted ABI module never runs."""
    path = tmp_path / "shared cache"
    (path / "builds").mkdir(parents=True)
    ran = tmp_path / "planted-code-ran"
    (path / "builds" / pbuild.ABI_FILE).write_text(f"open({str(ran)!r}, 'w')\n")
    if how == "group-writable":
        os.chmod(path, 0o770)
    elif how == "other-writable":
        os.chmod(path, 0o757)
    else:
        if os.geteuid() != 0:
            pytest.skip("chown to another user needs root")
        os.chown(path, 65534, 65534)
    monkeypatch.setenv("PYVMA_CACHE", str(path))
    rc, _, err = run(capsys, "fetch", "debian:6.12")
    line = one_line_error(err)
    assert rc == 2 and "refusing it" in line
    assert ("owned by uid 65534" if how == "foreign owner" else "writable by group or others") \
        in line
    assert not ran.exists()


@pytest.mark.parametrize("how", ["file", "dangling link", "uncreatable", "no such user"])
def test_bad_cache_env(how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture) -> None:
    if how == "file":
        value = tmp_path / "a file"
        value.write_text("x")
        want = "is not a directory"
    elif how == "dangling link":
        value = tmp_path / "link"
        value.symlink_to(tmp_path / "nowhere")
        want = "dangling symbolic link"
    elif how == "uncreatable":
        (tmp_path / "f").write_text("x")
        value = tmp_path / "f" / "cache"
        want = "cannot create"
    else:
        value = "~pyvma-no-such-user/cache"
        want = "no such user"
    monkeypatch.setenv("PYVMA_CACHE", str(value))
    before = state(tmp_path)
    rc, _, err = run(capsys, "cache", "list")
    line = one_line_error(err)
    assert rc == 2 and want in line and "PYVMA_CACHE" in line, line
    assert state(tmp_path) == before


def test_abi_module_is_read_as_data(tmp_path: Path) -> None:
    """The cffi description in a build dir is never executed: a planted one is
    refused, the genuine one gives a working ffi."""
    objs = tmp_path / "objs"
    objs.mkdir()
    good = pbuild._abi_module(objs)
    ffi = pbuild.load_abi(good)
    assert ffi.sizeof("struct pyvma_flag") > 0
    ran = tmp_path / "ran"
    text = good.read_text()
    for planted in (f"open({str(ran)!r}, 'w')\n" + text,
                    text.replace("_version = ", f"_version = open({str(ran)!r}, 'w') or "),
                    text.replace("import _cffi_backend", "import os as _cffi_backend"),
                    text.replace(pbuild._abi_name(), "pyvma_abi_other")):
        bad = tmp_path / "builds" / pbuild.ABI_FILE
        bad.parent.mkdir(exist_ok=True)
        bad.write_text(planted)
        with pytest.raises(pbuild.BuildError, match="not the ABI description pyvma writes"):
            pbuild.load_abi(bad)
        assert not ran.exists()


@pytest.mark.parametrize("meta", ["[]", "null", "{}", '{"key": 1}', "not json",
                                  '{"key": "k", "module_name": "m", "module_file": "../x",'
                                  ' "module_sha256": "0"}'])
def test_damaged_build_json_is_rebuilt(meta: str, tmp_path: Path) -> None:
    """A BUILD.json of the wrong shape is a damaged entry (rebuilt), not a
    TypeError on every run."""
    bdir = tmp_path / "builds" / "k"
    bdir.mkdir(parents=True)
    (bdir / "BUILD.json").write_text(meta)
    (bdir / pbuild.ABI_FILE).write_text("")
    assert pbuild._cached_ok(bdir) is None


def test_parse_cache_is_json_and_damage_is_reparsed(tmp_path: Path) -> None:
    header = tmp_path / "h.h"
    header.write_text("#define PYVMA_T 1\nstruct pyvma_t { int a; };\n")
    cache = tmp_path / "parsecache"
    first = cparse.parse_header(header, "include/h.h", cache)
    [entry] = (tmp_path / "parsecache").iterdir()
    assert entry.suffix == ".json" and json.loads(entry.read_text())["defs"]
    assert not list((tmp_path / "parsecache").glob("*.pickle"))
    for damage in ("[]", "null", '{"key": "x", "defs": []}', "{", '{"key": 1}'):
        entry.write_text(damage)
        assert cparse.parse_header(header, "include/h.h", cache) == first
    data = json.loads(entry.read_text())
    data["defs"][0]["line"] = "1; import os"
    entry.write_text(json.dumps(data))
    assert cparse.parse_header(header, "include/h.h", cache) == first


def test_stale_temporaries_collected_and_listed(tmp_path: Path, cache: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    pcache.cache_dir()
    (cache / "locks").mkdir()
    stale_build = cache / "builds" / ".tmp-0123abcd-xyz"
    stale_tree = cache / "kernels" / ".linux-9.9.tmp-abc"
    old_dl = cache / "tmp" / "download-old"
    busy = cache / "builds" / ".tmp-feedbeef-live"
    for d in (stale_build, stale_tree, old_dl, busy):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f").write_bytes(bytes(8192))
    old = time.time() - 2 * pcache.STALE_TMP_SECONDS
    os.utime(old_dl, (old, old))
    rc, out, _ = run(capsys, "cache", "list")
    assert rc == 0
    for name in ("builds/.tmp-0123abcd-xyz", "kernels/.linux-9.9.tmp-abc", "tmp/"):
        assert name in out, out
    with pcache.file_lock(cache / "locks" / "build-feedbeef.lock"):
        rc, out, _ = run(capsys, "cache", "collect")
    assert rc == 0
    assert not stale_build.exists() and not stale_tree.exists() and not old_dl.exists()
    assert busy.exists()  # its build is running (its lock is held)


def test_cache_list_counts_hard_links_once(tmp_path: Path, cache: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    pcache.cache_dir()
    a, b = cache / "kernels" / "a", cache / "kernels" / "b"
    a.mkdir(parents=True)
    b.mkdir()
    (a / "big").write_bytes(os.urandom(2 << 20))
    os.link(a / "big", b / "big")
    (cache / "apt").mkdir()
    (cache / "apt" / "lists").write_bytes(os.urandom(1 << 20))
    rc, out, _ = run(capsys, "cache", "list")
    rows = dict(line.split("\t")[:2] for line in out.splitlines())
    assert rc == 0
    assert rows["kernels/a"].startswith("2.0") and rows["kernels/b"].startswith("0.0"), rows
    assert rows["apt/"].startswith("1.0")
    assert float(rows["total"].split()[0]) < 3.2


@pytest.mark.parametrize("keep", [False, True])
def test_cache_clear_clears_everything(keep: bool, tmp_path: Path, cache: Path, victim: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    pcache.cache_dir()
    for sub in ("apt/lists", "failed/k", "parsecache", "builds/k", "kernels/t", "debs",
                "objs", "tmp/x", "locks", "widemap"):
        (cache / sub).mkdir(parents=True)
        (cache / sub / "f").write_text("x")
    (cache / "kernels/t/out").symlink_to(victim)          # links are removed, not followed
    (cache / "parsecache/secret").symlink_to(victim / "secret")
    os.chmod(cache / "failed/k", 0o500)
    before = state(victim)
    rc, out, _ = run(capsys, "cache", "clear", *(["--keep-kernels"] if keep else []))
    assert rc == 0 and "cleared" in out
    left = sorted(os.listdir(cache))
    assert left == sorted([pcache.MARKER, *(["debs", "kernels", "locks"] if keep
                                            else ["locks"])])
    assert state(victim) == before


# --------------------------------------------------------------------------
# the command line


BAD_ARGS = [
    (["replay", "--ops", "{"], "not valid JSON"),
    (["replay", "--ops", "[1]"], "is not a list"),
    (["replay", "--ops", '[["map"]]'], "map takes 6 arguments"),
    (["replay", "--ops", '[["frob", 1, 2]]'], "unknown operation 'frob'"),
    (["replay", "--ops", '[["munmap", 0.5, 2]]'], "is not a page number"),
    (["replay", "--ops", f'[["munmap", 0, {2**52}]]'], "is not a page number"),
    (["replay", "--ops", '[["munmap", 0, NaN]]'], "is not a page number"),
    (["replay", "--ops", '[["map", 0, 4, 0, ["VM_READ", 3], null, null]]'],
     "is not a list of flag names"),
    (["replay", "--ops", '[["split", 2, 1]]'], "is not true/false"),
    (["replay", "--ops", "[]"], "non-empty JSON list"),
    (["fuzz", "--batch", "0"], "--batch 0 is out of range"),
    (["fuzz", "--minutes", "nan"], "--minutes 'nan' is out of range"),
    (["fuzz", "--minutes", "-1"], "out of range"),
    (["diff", "a", "b", "--seconds", "nan"], "--seconds 'nan' is out of range"),
    (["diff", "a", "b", "--seconds", "inf"], "out of range"),
    (["diff", "a", "b", "--sequences", "-5"], "--sequences -5 is out of range"),
    (["diff", "a", "b", "--length", "0"], "out of range"),
    (["diff", "a", "b", "--seed", "x"], "is not an integer"),
    (["fetch", "debian:6.12 "], "leading or trailing white space"),
    (["build", "--kernel", " debian:6.12"], "leading or trailing white space"),
    (["fetch", "debian:6.12x"], "cannot parse Debian spec"),
    (["fetch", ""], "empty kernel spec"),
    (["build", "--kernel-config", "CONFIG_FOO=y"], "unknown config option"),
    (["build", "--kernel-config", "CONFIG_NUMA=m"], "bad config option"),
    (["cache", "burn"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("argv,want", BAD_ARGS, ids=[" ".join(a)[:40] for a, _ in BAD_ARGS])
def test_bad_argument_one_line_exit_2(argv: list[str], want: str, cache: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    rc, out, err = run(capsys, *argv)
    line = one_line_error(err)
    assert rc == 2 and out == "" and want in line, line
    assert not cache.exists()  # refused before anything ran


def test_git_ref_quoted_in_the_suggested_command(tmp_path: Path, cache: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "f").write_text("x")
    git(repo, "add", "f")
    git(repo, "commit", "-qm", "x")
    ref = "$(touch pwned)"
    rc, _, err = run(capsys, "fetch", f"{repo}@{ref}")
    line = one_line_error(err)
    assert rc == 2 and f"git -C {repo} log -1 '$(touch pwned)' --" in line, line


def test_if_evaluator_never_evals() -> None:
    cfg = HarnessConfig()
    t0 = time.monotonic()
    assert cfg.evaluate("().\uff43\uff4f\uff55\uff4e\uff54(0)") is None
    assert cfg.evaluate("9**9**9") is None
    assert cfg.evaluate("__import__('os').system('true')") is None
    assert cfg.evaluate("(" * 5000 + "1" + ")" * 5000) is None
    assert time.monotonic() - t0 < 5  # a hang would be the failure; a bound for it
    assert cfg.evaluate("defined(CONFIG_MMU) && !defined(__ASSEMBLY__)") is True
    assert cfg.evaluate("IS_ENABLED(CONFIG_NUMA) || (1 << 3) != 8") is False
    assert cfg.evaluate("defined(CONFIG_KCOV) && __has_attribute(x)") is False
    assert cfg.evaluate("__has_attribute(x)") is None
    assert cexpr.evaluate("0x10 == 020 && -7 / 2 == -3 && -7 % 2 == -1 && (1 ? 2 : 3) == 2") == 1
    assert cexpr.evaluate("1 / 0") is None and cexpr.evaluate("0 && 1 / 0") == 0
    assert cexpr.evaluate("1 << 64") is None


# --------------------------------------------------------------------------
# fuzzing the argument parsing


_SUBCOMMANDS = ["test", "build", "shim", "diff", "replay", "fuzz", "fetch", "cache"]
_OPTIONS = ["--kernel", "--kernel-config", "--seed", "--sequences", "--length", "--seconds",
            "--ops", "--minutes", "--batch", "--sanitizer", "--keep-kernels", "--json",
            "--a-patch", "--report", "--no-corpus", "--help"]
_numbers = st.one_of(st.integers(-2**70, 2**70).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.sampled_from(["nan", "inf", "-inf", "0", "-0", "1e999", "0x10", ""]))
_json = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**60, 2**60),
                               st.floats(), st.text(max_size=8),
                               st.sampled_from(["map", "munmap", "split", "VM_READ"])),
                     lambda inner: st.lists(inner, max_size=7), max_leaves=20).map(json.dumps)
_specs = st.one_of(st.text(max_size=20),
                   st.from_regex(r"debian:(linux-source-)?[0-9]{1,3}(\.([0-9]{1,3}|x))?\s?",
                                 fullmatch=True))
_word = st.one_of(st.sampled_from(_SUBCOMMANDS + _OPTIONS + ["list", "clear", "collect"]),
                  _numbers, _json, _specs)


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(sub=st.sampled_from(_SUBCOMMANDS), words=st.lists(_word, max_size=6))
def test_fuzz_argument_parsing(sub: str, words: list[str]) -> None:
    """Random command lines: exit 0, 1 or 2, never a traceback.  The commands
    themselves are replaced (nothing is fetched or built): this is the parsing."""
    import contextlib
    import io as _io

    called = []
    real = cli.parser

    def parser():
        p = real()
        for action in p._subparsers._group_actions[0].choices.values():
            action.set_defaults(fn=lambda args: called.append(args) or 0)
        return p

    err = _io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(_io.StringIO()):
        orig, cli.parser = cli.parser, parser
        try:
            rc = cli.main([sub, *words])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
        finally:
            cli.parser = orig
    assert rc in (0, 1, 2)
    assert "Traceback" not in err.getvalue()
    if rc == 2:
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()


@pytest.mark.parametrize("damage", ["[]", "null", "{}", '{"stamp": 1, "features": 3}',
                                    '{"root": 1, "files": []}', '{"available": [1]}', "{"])
def test_damaged_cache_metadata_is_rebuilt(damage: str, tmp_path: Path, cache: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every JSON file pyvma keeps in the cache, damaged or of the wrong shape: the
    answer is worked out again, the same as from an empty cache."""
    from vma_internal import index, shim
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    (tree / "include/linux/mm.h").write_text("#define VM_STICKY 1\n")
    want_feats = features.probe(tree)
    want_hash = ptree.KernelTree(tree, "t", (9, 9, 1), "9.9.1", cache=cache).content_hash()
    want_wide = index.wide_map(tree)
    for f in (cache / "hashes").glob("*.json"):
        f.write_text(damage)
    _probe_memo.clear()
    pcache._digests.clear()
    assert ptree.probe_features(tree) == want_feats
    assert ptree.KernelTree(tree, "t", (9, 9, 1), "9.9.1", cache=cache).content_hash() == \
        want_hash
    entry = tmp_path / "wide.json"
    entry.write_text(damage)
    assert index.wide_map(tree, entry) == want_wide
    memo = tmp_path / "memo.json"
    memo.write_text(damage)
    assert shim._read_memo(memo) is None


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(spec=st.one_of(st.text(max_size=30), st.from_regex(r"[./~a-z@:^-]{1,12}", fullmatch=True),
                      st.sampled_from([".", "/", "..", "~", "/dev/null", "/proc/self",
                                       "x.deb", "y.tar.xz", ".@", "@HEAD", "/nonexistent@v1",
                                       "git:x", "http://x/y.deb"])))
def test_fuzz_fetch_specs(spec: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`pyvma fetch SPEC` for random specs (not debian:, which asks the network):
    exit 0 or 2 with one line, never a traceback, nothing written outside the cache."""
    import contextlib
    import io as _io
    if spec.strip().startswith("debian:"):
        return
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("PYVMA_CACHE")
    os.environ["PYVMA_CACHE"] = str(cache)
    err = _io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(_io.StringIO()):
            try:
                rc = cli.main(["fetch", spec])
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 2
    finally:
        if old is None:
            del os.environ["PYVMA_CACHE"]
        else:
            os.environ["PYVMA_CACHE"] = old
    assert rc in (0, 2), err.getvalue()
    assert "Traceback" not in err.getvalue()
    if rc == 2:
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
