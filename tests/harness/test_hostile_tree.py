# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile trees and archives, round two (issue 20, defects 1, 4, 5, 7, 8; issue 23
items 5 and 6): each input is built here, at test time, and each test fails on the
code before its fix.  Style and helpers are test_untrusted's."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from .test_untrusted import (  # noqa: F401  (cache, victim, fake_debian: fixtures)
    cache,
    fake_debian,
    as_deb,
    kernels_in,
    member,
    one_line_error,
    run,
    state,
    tar_with,
    victim,
)

TOP = "linux-9.9.1"


# --------------------------------------------------------------------------
# defect 1: a hard link to a symlink, moved where its target leads out


def escaping_hard_link(victim: Path, top: str) -> list:
    """A symlink at depth 5 whose ``../../../../victim/secret`` stays in the tree
    from there (mm/victim/secret), hard-linked as mm/s where the same text climbs
    out of the extraction directory (kernels/.<key>.tmp-*/mm: four levels up is
    the test's tmp_path, which holds victim/); then a file written as mm/s.  The
    in-tree target exists, so tarfile links instead of copying."""
    target = f"../../../../{victim.name}/secret"
    return [member(f"{top}/mm/{victim.name}/secret", data=b"in the tree\n"),
            member(f"{top}/mm/a/b/c/d/s", tarfile.SYMTYPE, link=target),
            member(f"{top}/mm/s", tarfile.LNKTYPE, link=f"{top}/mm/a/b/c/d/s"),
            member(f"{top}/mm/s", mode=0o755, data=b"pwned\n")]


@pytest.mark.parametrize("container", ["linux-9.9.1.tar", "linux-9.9.1.tar.gz",
                                       "linux-9.9.1.tar.xz", "deb"])
def test_hard_link_to_a_symlink_is_refused(container: str, tmp_path: Path, cache: Path,
                                           victim: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    assert victim.parent == cache.parent           # the target text above assumes it
    before = state(victim)
    src = tmp_path / "src"
    src.mkdir()
    if container == "deb":
        archive = as_deb(tmp_path, escaping_hard_link(victim, "linux-source-9.9"),
                         src / "linux-source-9.9_9.9.1-1_all.deb")
    elif container.endswith(".gz"):
        plain = tar_with(tmp_path / "plain.tar", escaping_hard_link(victim, TOP))
        archive = src / container
        with open(plain, "rb") as f, open(archive, "wb") as out:
            subprocess.run(["gzip", "-c"], stdin=f, stdout=out, check=True)
    else:
        archive = tar_with(src / container, escaping_hard_link(victim, TOP))
    rc, out, err = run(capsys, "fetch", str(archive))
    line = one_line_error(err)
    assert rc == 2 and out == "", (rc, out)
    assert "refused" in line and "hard link" in line, line
    assert state(victim) == before
    assert (victim / "secret").read_text() == "secret\n"
    assert kernels_in(cache) == []


def test_member_replacing_a_hard_link_never_writes_its_twin(tmp_path: Path,
                                                          cache: Path) -> None:
    """A file member written where a hard link to another member was: a new file,
    the other member keeps its content (the archive's last word for each name)."""
    from pyvma import tree as ptree
    archive = tar_with(tmp_path / "linux-9.9.1.tar",
                       [member(f"{TOP}/mm/one", data=b"one\n"),
                        member(f"{TOP}/mm/two", tarfile.LNKTYPE, link=f"{TOP}/mm/one"),
                        member(f"{TOP}/mm/two", data=b"two\n")])
    tree = ptree.resolve(str(archive))
    assert (tree.root / "mm/one").read_text() == "one\n"
    assert (tree.root / "mm/two").read_text() == "two\n"


# --------------------------------------------------------------------------
# defect 8: a tar cut exactly at a member boundary


@pytest.mark.parametrize("suffix", [".tar", ".tar.xz"])
def test_tar_cut_at_a_member_boundary_is_refused(suffix: str, tmp_path: Path, cache: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    """Every member whole, the end-of-archive blocks missing (a download cut short
    where a member ended): refused, nothing cached."""
    full = tar_with(tmp_path / "full.tar", [member(f"{TOP}/mm/later.c", data=b"x" * 700)])
    with tarfile.open(full) as tf:
        last = tf.getmembers()[-1]
    end = last.offset_data + -(-last.size // 512) * 512
    data = full.read_bytes()
    assert data[end:] == bytes(len(data) - end)       # what is cut: only the end marker
    cut = tmp_path / f"linux-9.9.1{suffix}"
    if suffix == ".tar":
        cut.write_bytes(data[:end])
    else:
        cut.write_bytes(subprocess.run(["xz", "-c"], input=data[:end], check=True,
                                       capture_output=True).stdout)
    rc, out, err = run(capsys, "fetch", str(cut))
    line = one_line_error(err)
    assert rc == 2 and "truncated" in line and "end-of-archive" in line, line
    assert kernels_in(cache) == []
    # the same archive whole is accepted
    whole = tmp_path / "ok" / f"linux-9.9.1{suffix}"
    whole.parent.mkdir()
    shutil.copy(full, whole) if suffix == ".tar" else whole.write_bytes(
        subprocess.run(["xz", "-c"], input=data, check=True, capture_output=True).stdout)
    rc, out, err = run(capsys, "fetch", str(whole))
    assert rc == 0, err


# --------------------------------------------------------------------------
# defect 4: a patch creating PYVMA_SOURCE.json never makes a tree `debian:`


def new_file_patch(path: Path, name: str, text: str) -> Path:
    """A git patch creating *name* with *text*."""
    lines = text.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    path.write_text(f"From: t <t@invalid>\nSubject: [PATCH] add {name}\n\n---\n"
                    f"diff --git a/{name} b/{name}\nnew file mode 100644\n"
                    f"--- /dev/null\n+++ b/{name}\n@@ -0,0 +1,{len(lines)} @@\n{body}")
    return path


def forged_marker(package: str, version: str) -> str:
    return json.dumps({"format": 1, "kind": "debian", "package": package,
                       "debian_version": version, "deb_sha256": "ab" * 32,
                       "deb_path": "/nonexistent.deb"}, indent=1)


def test_patched_tree_never_serves_a_debian_spec(tmp_path: Path, cache: Path,
                                                 fake_debian: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    """A series creating PYVMA_SOURCE.json claiming to be Debian's (newer) 9.9, or a
    9.8 Debian does not serve: with apt unreachable, `fetch debian:9.9` is still
    Debian's tree and `fetch debian:9.8` an error."""
    from pyvma import tree as ptree
    from pyvma.tree.patches import patched

    from .test_source import make_fake_tree
    rc, out, err = run(capsys, "fetch", "debian:9.9")
    assert rc == 0, err
    genuine = Path(out.split("\t")[2])
    from pyvma.errors import PatchError
    for i, (pkg, ver) in enumerate([("linux-source-9.9", "9.9.9-1"),
                                    ("linux-source-9.8", "9.8.1-1")]):
        checkout = make_fake_tree(tmp_path / f"checkout{i}", 9, 9, 9)   # a user's tree
        patch = new_file_patch(tmp_path / f"p{i}.patch", "PYVMA_SOURCE.json",
                               forged_marker(pkg, ver))
        with pytest.raises(PatchError, match="PYVMA_SOURCE.json"):  # a patch may not
            patched(str(checkout), [str(patch)], cache=cache)
        # the forged marker by another way in (the user's tree holds it): the patched
        # copy in the cache carries it, and must still not serve a debian: spec
        (checkout / "PYVMA_SOURCE.json").write_text(forged_marker(pkg, ver))
        harmless = new_file_patch(tmp_path / f"h{i}.patch", "NOTES", "harmless\n")
        tree = patched(str(checkout), [str(harmless)], cache=cache)
        assert tree.root.parent == cache / "kernels"
        forged = tree.root / "PYVMA_SOURCE.json"   # copied or not: never trusted
        forged.write_text(forged_marker(pkg, ver))  # in the cached tree itself

    def offline(self: object, max_age: float = 0) -> None:
        raise ptree.archive.SourceError("cannot fetch the Debian package lists (test)")
    monkeypatch.setattr(ptree.DebianApt, "update", offline)
    rc, out, err = run(capsys, "fetch", "debian:9.9")
    assert rc == 0, err
    assert Path(out.split("\t")[2]) == genuine and out.rstrip().endswith("\t9.9.1-1"), out
    rc, out, err = run(capsys, "fetch", "debian:9.8")
    line = one_line_error(err)
    assert rc == 2 and "cannot fetch the Debian package lists" in line, line


# --------------------------------------------------------------------------
# defect 7: names too long for a file name, fifos and huge files in a tree

REPO = Path(__file__).resolve().parents[2]


def pyvma_cmd(cache: Path, *argv: str, timeout: float = 120) -> tuple[int, str]:
    """``python3 -m pyvma ARGV`` in a child (a hang is a failure, not a hung
    test run): (exit status, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "pyvma", *argv], cwd=REPO,
                          env={**os.environ, "PYVMA_CACHE": str(cache)},
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("what", ["Makefile fifo", "mm.h fifo", "huge vma.c"])
def test_tree_file_pyvma_must_not_read(what: str, tmp_path: Path, cache: Path) -> None:
    """A fifo where the top Makefile or include/linux/mm.h belongs hung every
    command; a 2 GiB mm/vma.c (sparse: no disk used) was read whole."""
    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    rel = {"Makefile fifo": "Makefile", "mm.h fifo": "include/linux/mm.h",
           "huge vma.c": "mm/vma.c"}[what]
    path = tree / rel
    if path.exists():
        path.unlink()
    if what.endswith("fifo"):
        os.mkfifo(path)
    else:
        with open(path, "wb") as f:
            f.truncate(2 << 30)
    rc, err = pyvma_cmd(cache, "fetch", str(tree))
    line = one_line_error(err)
    assert rc == 2 and rel in line and "refused" in line, line
    assert ("fifo" in line) if what.endswith("fifo") else ("2147483648 bytes" in line), line


def test_long_names_are_keys(tmp_path: Path, cache: Path,
                             capsys: pytest.CaptureFixture) -> None:
    """A 250-character tarball name and a 300-character .deb Version made a key
    longer than a file name may be (a traceback): both extract, to distinct keys."""
    from .test_source import make_fake_tree, make_tarball
    fake = make_fake_tree(tmp_path / "src", 9, 9, 1)
    tarball = make_tarball(fake, tmp_path / ("l" * 243 + ".tar.xz"), "linux-9.9.1")
    assert len(tarball.name) == 250
    rc, out, err = run(capsys, "fetch", str(tarball))
    assert rc == 0, err
    root = tmp_path / "debroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: linux-source-9.9\nVersion: 9.9.1-{'1' * 294}\nArchitecture: all\n"
        "Maintainer: t <t@invalid>\nDescription: t\n")
    (root / "usr/src").mkdir(parents=True)
    make_tarball(fake, root / "usr/src/linux-source-9.9.tar.xz", "linux-source-9.9")
    deb = tmp_path / "linux-source-9.9_long_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    rc, out2, err = run(capsys, "fetch", str(deb))
    assert rc == 0, err
    roots = [Path(o.split("\t")[2].strip()) for o in (out, out2)]
    assert all(len(r.name) <= 120 for r in roots) and roots[0] != roots[1], [len(r.name) for r in roots]
    assert len(kernels_in(cache)) == 2


# --------------------------------------------------------------------------
# defect 5: a tarball is keyed by its content


def test_tarball_keyed_by_content(tmp_path: Path, cache: Path,
                                  capsys: pytest.CaptureFixture) -> None:
    """Other bytes of the same size under the same path and mtime: another tree."""
    from .test_source import make_fake_tree, make_tarball
    trees = []
    for text in ("/* first  */\n", "/* second */\n"):
        src = make_fake_tree(tmp_path / f"src{len(trees)}", 9, 9, 1)
        (src / "mm/vma.c").write_text(text)
        trees.append(make_tarball(src, tmp_path / f"t{len(trees)}.tar", "linux-9.9.1"))
    assert trees[0].stat().st_size == trees[1].stat().st_size
    spec = tmp_path / "linux-9.9.1.tar"
    seen = []
    for t in trees:
        shutil.copy(t, spec)
        os.utime(spec, ns=(10**18, 10**18))
        rc, out, err = run(capsys, "fetch", str(spec))
        assert rc == 0, err
        seen.append((Path(out.split("\t")[2].strip()) / "mm/vma.c").read_text())
    assert seen == ["/* first  */\n", "/* second */\n"]


# --------------------------------------------------------------------------
# issue 23 item 5: the matrix and debian: share one tree, never removing it


def _matrix():
    import importlib.util
    spec = importlib.util.spec_from_file_location("pyvma_matrix", REPO / "scripts/matrix.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def ident(root: Path) -> tuple[int, int]:
    return (root.stat().st_ino, (root / "mm/vma.c").stat().st_ino)


def test_matrix_deb_file_and_debian_spec_share_one_tree(
        tmp_path: Path, cache: Path, fake_debian: Path,
        capsys: pytest.CaptureFixture) -> None:
    """Debian's own .deb given as a file, the matrix's tree of that version and a
    debian: spec: one tree, extracted once, never removed under a later run (it was
    deleted and extracted again by each in turn: kind "deb" vs "debian")."""
    rc, out, err = run(capsys, "fetch", str(fake_debian))        # as the old matrix did
    assert rc == 0, err
    root = Path(out.split("\t")[2])
    first = ident(root)
    for _ in range(2):
        rc, out, err = run(capsys, "fetch", "debian:9.9")
        assert rc == 0 and Path(out.split("\t")[2]) == root, (out, err)
        assert "removing" not in err
        tree = _matrix().tree_of("linux-source-9.9", "9.9.1-1", cache)
        assert tree.root == root
        rc, out, err = run(capsys, "fetch", str(fake_debian))
        assert rc == 0 and Path(out.split("\t")[2]) == root, (out, err)
        assert ident(root) == first
    assert kernels_in(cache) == [root.name]


# --------------------------------------------------------------------------
# issue 23 item 6: debian:linux-source-X.Y=VERSION


@pytest.mark.parametrize("spec", ["debian:linux-source-9.9=9.9.1-1", "debian:9.9=9.9.1-1"])
def test_debian_version_spec(spec: str, tmp_path: Path, cache: Path, fake_debian: Path,
                             monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture) -> None:
    """One version by name: fetched as apt-get download package=version, its sha256
    from Debian's lists; the same tree as debian:9.9 when that is the candidate."""
    from pyvma import tree as ptree
    asked: list[tuple[str, str]] = []
    real = ptree.DebianApt.download

    def download(self, package: str, version: str, dest: Path) -> Path:
        asked.append((package, version))
        return real(self, package, version, dest)
    monkeypatch.setattr(ptree.DebianApt, "download", download)
    monkeypatch.setattr(ptree.DebianApt, "candidate", lambda self, p: None)   # never asked
    rc, out, err = run(capsys, "fetch", spec)
    assert rc == 0, err
    assert out.split("\t")[1] == "9.9.1" and out.rstrip().endswith("\t9.9.1-1"), out
    assert asked == [("linux-source-9.9", "9.9.1-1")]
    # a version Debian's lists do not name: one line, exit 2
    monkeypatch.setattr(ptree.DebianApt, "sha256", lambda self, p, v: None)
    rc, out, err = run(capsys, "fetch", "debian:linux-source-9.9=9.9.7-1")
    line = one_line_error(err)
    assert rc == 2 and "does not serve linux-source-9.9 9.9.7-1" in line, line


@pytest.mark.parametrize("spec,why", [
    ("debian:linux-source-6.12=", "bad Debian version"),
    ("debian:linux-source-6.12=6.12.113-1;id", "bad Debian version"),
    ("debian:linux-source-6.12=6.12.113-1 x", "bad Debian version"),
    ("debian:linux-source-6.12=-o=Dir::Etc=/tmp", "bad Debian version"),
    ("debian:linux-source-6.12=../../6.12", "bad Debian version"),
    ("debian:linux-source-6.12=6." + "1" * 300, "at most 64 characters"),
    ("debian:linux-source-6.12=7.2.13-1", "is not one of linux-source-6.12"),
    ("debian:linux-source-6.12=6.120.1-1", "is not one of linux-source-6.12"),
    ("debian:7.x=7.2.13-1", "a version belongs to one series"),
    ("debian:linux-source-6.12==6.12.113-1", "bad Debian version"),
])
def test_debian_version_spec_refused(spec: str, why: str, cache: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    """Junk after '=' is one line and exit 2, before apt is asked anything."""
    rc, out, err = run(capsys, "fetch", spec)
    line = one_line_error(err)
    assert rc == 2 and out == "" and why in line, line
    assert len(line) < 400
    assert not (cache / "apt").exists()
    from pyvma.errors import SourceError
    from pyvma.tree.debian import parse_spec
    with pytest.raises(SourceError, match=why):
        parse_spec(spec)
    with pytest.raises(SourceError, match="bad Debian version"):     # the CLI strips it
        parse_spec("debian:linux-source-6.12=6.12.113-1\n")
    assert parse_spec("debian:linux-source-7.2=1:7.2.11-1~bpo13+1") == (7, 2, "1:7.2.11-1~bpo13+1")


# --------------------------------------------------------------------------
# defect 8: a symlink loop inside tools/testing/vma


def test_harness_copy_skips_looping_links(tmp_path: Path) -> None:
    """tools/testing/vma/loop -> .. (tools/testing) and a cycle of two links: the
    harness copy ends, without them; a link to a file is copied as a file."""
    from pyvma.upstream_c import scratch_copy
    root = tmp_path / "linux"
    vma = root / "tools/testing/vma"
    (vma / "sub").mkdir(parents=True)
    (root / "Makefile").write_text("VERSION = 9\n")
    (vma / "main.c").write_text('#include "../../../mm/vma.c"\n')
    (vma / "loop").symlink_to("..")       # (one loop a level: the old copy was 40 deep)
    (vma / "a").symlink_to("b")
    (vma / "b").symlink_to("sub")
    (vma / "sub" / "c").symlink_to("../a")
    (vma / "file").symlink_to("main.c")
    harness = scratch_copy(root, tmp_path / "copy")
    got = sorted(str(p.relative_to(harness)) for p in harness.rglob("*"))
    assert "loop" not in got and "sub/c" not in got and "file" in got, got
    assert len(got) < 20, got
    assert not (harness / "file").is_symlink()
