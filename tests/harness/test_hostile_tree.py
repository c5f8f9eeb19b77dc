# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile trees and archives, round two (issue 20, defects 1, 4, 5, 7, 8; issue 23
items 5 and 6): each input is built here, at test time, and each test fails on the
code before its fix.  Style and helpers are test_untrusted's."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from .test_untrusted import (  # noqa: F401  (cache, victim, fake_debian: fixtures)
    cache,
    fake_debian,
    kernels_in,
    member,
    one_line_error,
    run,
    state,
    tar_with,
    victim,
)

TOP = "linux-9.9.1"


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
