# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of pyvma.tree / pyvma.cache against real Debian kernel trees.

The two real trees come from ``resolve("debian:7.x")`` and
``resolve("debian:6.12")`` in the default cache (``make kernels`` fetches
them; they are reused afterwards).  Everything else runs on small trees
made in tmp_path and on a private cache dir, so the error cases can check
that nothing was left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from pyvma import cache as pcache
from pyvma import tree as ptree
from pyvma.errors import PyvmaError, SourceError
from pyvma.tree import MARKER, KernelTree, resolve
from pyvma.tree.markers import _cached_tree

# --------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def k73() -> KernelTree:
    return resolve("debian:7.x")


@pytest.fixture(scope="module")
def k612() -> KernelTree:
    return resolve("debian:6.12")


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    """A private, empty cache dir."""
    path = tmp_path / "cache dir"
    path.mkdir()
    return path


def kernels_left(cache: Path) -> list[str]:
    kdir = cache / "kernels"
    return sorted(n for n in os.listdir(kdir) if n != ".sources") if kdir.is_dir() else []


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and directory under root with its content hash and mtime."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_file() and not p.is_symlink():
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                digest = ""
            out[rel] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    st = root.stat()
    out["."] = (st.st_mode, st.st_mtime_ns)
    return out


def copy_files(src_root: Path, dst_root: Path, rels: list[str]) -> None:
    for rel in rels:
        dst = dst_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src_root / rel, dst)


def make_fake_tree(root: Path, major: int, minor: int, sub: int = 0, vma: bool = True) -> Path:
    """A tiny tree shaped like a kernel (our own placeholder text)."""
    (root / "mm").mkdir(parents=True)
    (root / "Makefile").write_text(
        f"# placeholder\nVERSION = {major}\nPATCHLEVEL = {minor}\n"
        f"SUBLEVEL = {sub}\nEXTRAVERSION =\nNAME = test\n"
    )
    (root / "mm" / "other.c").write_text("/* placeholder */\n")
    if vma:
        (root / "mm" / "vma.c").write_text("/* placeholder vma.c */\n")
    for sub_dir in ("include/linux", "lib", "tools/include", "scripts", "arch/x86/include/asm"):
        (root / sub_dir).mkdir(parents=True, exist_ok=True)
        (root / sub_dir / "placeholder.h").write_text("/* placeholder */\n")
    (root / "arch/x86/other.c").write_text("/* not extracted */\n")
    return root


def make_tarball(tree: Path, out: Path, top: str) -> Path:
    mode = "w:xz" if out.name.endswith(".xz") else "w"
    with tarfile.open(out, mode) as tf:
        tf.add(tree, arcname=top)
    return out


def make_source_deb(tmp_path: Path, tree: Path, package: str, version: str) -> Path:
    """A linux-source-style .deb: usr/src/<package>.tar.xz inside."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    pkgroot = tmp_path / "debroot"
    (pkgroot / "DEBIAN").mkdir(parents=True)
    (pkgroot / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: pyvma tests <tests@invalid>\nDescription: test package\n"
    )
    (pkgroot / "usr" / "src").mkdir(parents=True)
    make_tarball(tree, pkgroot / "usr" / "src" / f"{package}.tar.xz", package)
    deb = tmp_path / f"{package}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(pkgroot), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@invalid",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


# --------------------------------------------------------------------------
# the real Debian trees


def test_debian_offline_uses_cached_tree(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apt unreachable: a cached tree of the asked-for series is used, else a clear error."""

    def offline(self: ptree.DebianApt, max_age: float = 0) -> None:
        raise SourceError("cannot fetch the Debian package lists (test)")

    monkeypatch.setattr(ptree.DebianApt, "update", offline)
    with pytest.raises(SourceError, match="cannot fetch the Debian package lists"):
        resolve("debian:9.x", cache=cache)
    assert kernels_left(cache) == []

    # a .deb given as a file never serves a debian: spec (it was not checked
    # against Debian's lists)
    fake = make_fake_tree(tmp_path / "src-file", 9, 9, 3)
    resolve(str(make_source_deb(tmp_path / "deb-file", fake, "linux-source-9.9", "9.9.3-1")),
            cache=cache)
    with pytest.raises(SourceError, match="cannot fetch the Debian package lists"):
        resolve("debian:9.x", cache=cache)
    # trees extracted from Debian's verified .debs do: the newest is used
    for ver in ("9.9.1-1", "9.9.2-1~bpo13+1"):
        fake = make_fake_tree(tmp_path / f"src-{ver}", 9, 9, int(ver.split(".")[2][0]))
        deb = make_source_deb(tmp_path / f"deb-{ver}", fake, "linux-source-9.9", ver)
        sha = hashlib.sha256(deb.read_bytes()).hexdigest()

        def produce(tmp: Path, deb: Path = deb, ver: str = ver, sha: str = sha) -> dict:
            ptree.extract_deb(deb, tmp)
            return {"kind": "debian", "package": "linux-source-9.9", "debian_version": ver,
                    "deb_sha256": sha}
        _cached_tree(cache, f"linux-source-9.9_{ver}-{sha[:12]}", produce)
    tree = resolve("debian:9.x", cache=cache)
    assert tree.origin["kind"] == "debian"
    assert tree.origin["debian_version"] == "9.9.2-1~bpo13+1"
    assert tree.version == (9, 9, 2)
    assert resolve("debian:9.9", cache=cache).root == tree.root
    with pytest.raises(SourceError, match="cannot fetch"):
        resolve("debian:9.8", cache=cache)




def test_debian_7x(k73: KernelTree) -> None:
    assert k73.version[:1] == (7,)
    assert k73.version_str.startswith(f"{k73.version[0]}.{k73.version[1]}.")
    assert k73.name == k73.version_str
    assert k73.origin["kind"] == "debian"
    assert k73.origin["package"] == f"linux-source-{k73.version[0]}.{k73.version[1]}"
    assert k73.origin["debian_version"].startswith(k73.version_str)
    assert (k73.root / MARKER).is_file()
    assert k73.root.parent.name == "kernels"
    marker = json.loads((k73.root / MARKER).read_text())
    sha = marker["deb_sha256"]
    assert k73.root.name == f"{k73.origin['package']}_{k73.origin['debian_version']}-{sha[:12]}"
    # the .deb is kept, with the sha256 of Debian's lists
    assert ptree.source_archive(k73.root) == Path(marker["deb_path"])
    for sub in ("mm", "include", "lib", "tools", "arch/x86/include", "scripts", "Makefile"):
        assert (k73.root / sub).exists(), sub
    assert not (k73.root / "drivers").exists()  # only the subtrees the build reads
    want = {"vma.c", "vma_init.c", "vma_exec.c", "vma_flags_t", "sticky", "vmg_middle",
            "maybe_guard", "copy_on_fork", "soft_dirty_sticky"}
    assert want <= k73.features
    assert "vmg_vma" not in k73.features
    assert k73.has("sticky")
    with pytest.raises(ValueError):
        k73.has("no-such-feature")


def test_debian_612(k612: KernelTree) -> None:
    assert k612.version[:2] == (6, 12)
    assert k612.version_str == "6.12.%d" % k612.version[2]
    assert k612.origin["package"] == "linux-source-6.12"
    assert k612.origin["debian_version"].startswith("6.12.")
    assert {"vma.c", "vmg_vma"} <= k612.features
    absent = {"sticky", "vma_flags_t", "vmg_middle", "maybe_guard", "copy_on_fork",
              "soft_dirty_sticky", "vma_init.c", "vma_exec.c"}
    assert not (absent & k612.features)


def test_debian_specs_reuse_the_cached_tree(k612: KernelTree, k73: KernelTree) -> None:
    start = time.monotonic()
    again = resolve("debian:linux-source-6.12")
    assert again.root == k612.root
    assert resolve(f"debian:{k73.version[0]}").root == k73.root
    assert time.monotonic() - start < 5


def test_debian_spec_errors(cache: Path) -> None:
    with pytest.raises(SourceError, match="mm/vma.c appeared in 6.11"):
        resolve("debian:6.1", cache=cache)
    with pytest.raises(SourceError, match="cannot parse Debian spec 'debian:banana'"):
        resolve("debian:banana", cache=cache)
    assert kernels_left(cache) == []


def test_content_hash_real_trees(k73: KernelTree, k612: KernelTree) -> None:
    h73 = k73.content_hash()
    start = time.monotonic()
    assert k73.content_hash() == h73
    assert time.monotonic() - start < 0.5  # warm
    assert len(h73) == 64
    assert k612.content_hash() != h73
    files = k73.hashed_files()
    assert "mm/vma.c" in files and "mm/vma_exec.c" in files
    assert "include/linux/mm.h" in files and "include/uapi/linux/mman.h" in files
    assert "lib/maple_tree.c" in files
    assert any(f.startswith("tools/include/") for f in files)
    assert any(f.startswith("tools/testing/shared/") for f in files)
    assert "mm/mmap.c" not in files
    assert "mm/mmap.c" in k73.hashed_files(["mm/mmap.c"])
    assert k73.content_hash(["mm/mmap.c"]) != h73


# --------------------------------------------------------------------------
# user directories


@pytest.fixture()
def copied_tree(k73: KernelTree, tmp_path: Path) -> Path:
    """The hashed files of the 7.x tree plus mm/mmap.c (and mm/mremap.c, which a
    feature is probed in), under a path with spaces."""
    dst = tmp_path / "my linux 'tree'"
    copy_files(k73.root, dst, k73.hashed_files(["mm/mmap.c", "mm/mremap.c"]))
    return dst


def test_content_hash_follows_mm_vma_c(k73: KernelTree, copied_tree: Path, cache: Path) -> None:
    tree = resolve(str(copied_tree), cache=cache)
    assert tree.root == copied_tree
    assert tree.name == copied_tree.name
    assert tree.origin == {"spec": str(copied_tree), "kind": "dir", "path": str(copied_tree)}
    assert tree.version == k73.version and tree.features == k73.features
    base = tree.content_hash()
    assert base == k73.content_hash()  # same files, different place
    assert tree.content_hash() == base

    vma_c = copied_tree / "mm" / "vma.c"
    original = vma_c.read_bytes()
    vma_c.write_bytes(original + b"/* edited */\n")
    edited = tree.content_hash()
    assert edited != base
    vma_c.write_bytes(original)
    assert tree.content_hash() == base

    # Files outside the list do not count unless asked for.
    (copied_tree / "mm" / "mmap.c").write_bytes(b"changed")
    assert tree.content_hash() == base
    assert tree.content_hash(["mm/mmap.c"]) != k73.content_hash(["mm/mmap.c"])
    assert kernels_left(cache) == []


def _age(root: Path, seconds: int = 3600) -> None:
    """Date every file and directory under *root* back by *seconds* (older than the
    content hash's racy window, so its memo is written and trusted)."""
    past = time.time() - seconds
    for p in [root, *root.rglob("*")]:
        os.utime(p, (past, past), follow_symlinks=False)


def test_content_hash_memo_sees_edits_and_new_files(copied_tree: Path, cache: Path) -> None:
    """The warm path (one memo per root and pattern list) follows an in-place edit
    (no directory changes), a file added to a globbed directory and its removal."""
    tree = resolve(str(copied_tree), cache=cache)
    _age(copied_tree)
    base = tree.content_hash()
    memos = list((cache / "hashes").glob("*.memo"))
    assert len(memos) == 1
    assert tree.content_hash() == base                      # from the memo

    vma_c = copied_tree / "mm" / "vma.c"
    st = vma_c.stat()
    original = vma_c.read_bytes()
    with open(vma_c, "r+b") as f:                           # same inode, same size
        f.write(b"/" if original[:1] != b"/" else b"#")
    os.utime(vma_c, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))
    edited = tree.content_hash()
    assert edited != base
    assert tree.content_hash() == edited                    # memo of the edited tree
    vma_c.write_bytes(original)
    _age(copied_tree)
    assert tree.content_hash() == base

    new = copied_tree / "include" / "linux" / "zz_pyvma_new.h"
    new.write_text("#define ZZ 1\n")
    _age(copied_tree)
    added = tree.content_hash()
    assert added != base and "include/linux/zz_pyvma_new.h" in tree.hashed_files()
    new.unlink()
    _age(copied_tree)
    assert tree.content_hash() == base


def test_resolving_a_directory_never_writes_into_it(copied_tree: Path, cache: Path) -> None:
    before = snapshot(copied_tree)
    time.sleep(0.01)
    tree = resolve(str(copied_tree), cache=cache)
    tree.content_hash()
    tree.content_hash(["mm/*.c"])
    ptree.probe_features(tree.root)
    resolve(str(copied_tree) + "/", cache=cache)
    assert snapshot(copied_tree) == before


def test_relative_directory(copied_tree: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(copied_tree)
    tree = resolve(".", cache=cache)
    assert tree.root == copied_tree and tree.name == copied_tree.name


# --------------------------------------------------------------------------
# DIR@REF


@pytest.fixture()
def git_repo(k73: KernelTree, tmp_path: Path) -> Path:
    repo = tmp_path / "linux repo @ 'x'"
    repo.mkdir()
    files = ["Makefile", "mm/vma.c", "mm/vma.h", "include/linux/mm.h",
             "include/linux/mm_types.h", "arch/x86/include/asm/page.h"]
    copy_files(k73.root, repo, files)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    git(repo, "tag", "v-first")
    (repo / "mm" / "vma.c").write_bytes(b"/* second */\n")
    git(repo, "commit", "-qam", "second")
    return repo


def test_git_ref_export(k73: KernelTree, git_repo: Path, cache: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD")
    first = git(git_repo, "rev-parse", "v-first")
    before = snapshot(git_repo)

    tree = resolve(f"{git_repo}@v-first", cache=cache)
    assert tree.root == cache / "kernels" / f"git-{first[:12]}"
    assert tree.name == f"{k73.version_str}-g{first[:12]}"
    assert tree.origin["kind"] == "git" and tree.origin["sha"] == first
    assert tree.origin["ref"] == "v-first"
    assert (tree.root / "mm" / "vma.c").read_bytes() == (k73.root / "mm" / "vma.c").read_bytes()
    assert (tree.root / "arch/x86/include/asm/page.h").is_file()
    assert {"sticky", "vma_flags_t", "vmg_middle"} <= tree.features
    assert (tree.root / MARKER).is_file()

    # The user's repository is untouched: same files (index included), same
    # HEAD.  (`git status` may refresh the index, so it comes last.)
    assert snapshot(git_repo) == before
    assert git(git_repo, "rev-parse", "HEAD") == head
    assert git(git_repo, "status", "--porcelain") == ""

    # Reused, and a second ref is a second tree.
    assert resolve(f"{git_repo}@{first}", cache=cache).root == tree.root
    tip = resolve(f"{git_repo}@HEAD", cache=cache)
    assert tip.root.name == f"git-{head[:12]}"
    assert (tip.root / "mm" / "vma.c").read_bytes() == b"/* second */\n"
    assert kernels_left(cache) == sorted([f"git-{first[:12]}", f"git-{head[:12]}"])


def test_git_ref_errors(git_repo: Path, tmp_path: Path, cache: Path) -> None:
    with pytest.raises(SourceError, match="git ref 'no-such-tag' not found"):
        resolve(f"{git_repo}@no-such-tag", cache=cache)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(SourceError, match="is not a git repository"):
        resolve(f"{plain}@HEAD", cache=cache)
    with pytest.raises(SourceError, match="looks like DIR@REF but directory"):
        resolve(f"{tmp_path}/missing@HEAD", cache=cache)
    assert kernels_left(cache) == []


# --------------------------------------------------------------------------
# .deb and tarball files


def test_deb_file(tmp_path: Path, cache: Path) -> None:
    fake = make_fake_tree(tmp_path / "src", 9, 9, 1)
    deb = make_source_deb(tmp_path, fake, "linux-source-9.9", "9.9.1-1~test1")
    tree = resolve(str(deb), cache=cache)
    sha = hashlib.sha256(deb.read_bytes()).hexdigest()
    key = f"linux-source-9.9_9.9.1-1~test1-{sha[:12]}"
    assert tree.root == cache / "kernels" / key
    assert tree.version == (9, 9, 1) and tree.name == "9.9.1"
    assert tree.origin["kind"] == "deb"
    assert tree.origin["package"] == "linux-source-9.9"
    assert tree.origin["debian_version"] == "9.9.1-1~test1"
    assert (tree.root / "mm" / "vma.c").is_file()
    assert (tree.root / "arch/x86/include/asm/placeholder.h").is_file()
    assert not (tree.root / "arch/x86/other.c").exists()  # only arch/x86/include
    marker = (tree.root / MARKER).read_text()
    assert "9.9.1-1~test1" in marker
    assert resolve(str(deb), cache=cache).root == tree.root
    assert kernels_left(cache) == [key]
    # the .deb is kept (verified) for single-file extractions later
    kept = ptree.source_archive(tree.root)
    assert kept is not None and kept.parent == cache / "debs"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == sha
    out = cache / "members"
    assert ptree.extract_members(kept, ["arch/x86/other.c", "no/such.c"], out) == \
        ["arch/x86/other.c"]
    assert (out / "arch/x86/other.c").read_text() == "/* not extracted */\n"


def test_deb_concurrent_resolves_extract_once(tmp_path: Path, cache: Path) -> None:
    fake = make_fake_tree(tmp_path / "src", 9, 8)
    deb = make_source_deb(tmp_path, fake, "linux-source-9.8", "9.8-1")
    results: list[object] = []

    def work() -> None:
        try:
            results.append(resolve(str(deb), cache=cache).root)
        except BaseException as e:  # pragma: no cover - reported below
            results.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(map(str, results))) == 1, results
    sha = hashlib.sha256(deb.read_bytes()).hexdigest()
    assert kernels_left(cache) == [f"linux-source-9.8_9.8-1-{sha[:12]}"]


@pytest.mark.parametrize("suffix", [".tar.xz", ".tar"])
def test_tarball(tmp_path: Path, cache: Path, suffix: str) -> None:
    fake = make_fake_tree(tmp_path / "src", 9, 7, 3)
    tarball = make_tarball(fake, tmp_path / f"linux 9.7 'x'{suffix}", "linux-9.7.3")
    tree = resolve(str(tarball), cache=cache)
    assert tree.version == (9, 7, 3)
    assert tree.origin["kind"] == "tarball"
    assert (tree.root / "mm" / "vma.c").is_file()
    assert not (tree.root / "mm" / "vma_init.c").exists()
    assert tree.features == frozenset({"vma.c"})
    again = resolve(str(tarball), cache=cache)
    assert again.root == tree.root
    assert len(kernels_left(cache)) == 1


def test_old_kernel_tarball_leaves_nothing(tmp_path: Path, cache: Path) -> None:
    fake = make_fake_tree(tmp_path / "src", 6, 1, 100, vma=False)
    tarball = make_tarball(fake, tmp_path / "linux-6.1.tar.xz", "linux-6.1")
    with pytest.raises(SourceError, match=r"mm/vma.c appeared in 6\.11"):
        resolve(str(tarball), cache=cache)
    assert kernels_left(cache) == []


def test_not_a_source_archive(tmp_path: Path, cache: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(SourceError, match="neither a .deb nor a .tar.xz"):
        resolve(str(junk), cache=cache)
    bad = tmp_path / "linux-source-1.0.deb"
    bad.write_text("not a deb")
    with pytest.raises(SourceError, match="not a readable .deb"):
        resolve(str(bad), cache=cache)
    assert kernels_left(cache) == []


# --------------------------------------------------------------------------
# error messages for plain specs


def test_missing_path(tmp_path: Path, cache: Path) -> None:
    missing = tmp_path / "no such linux"
    with pytest.raises(SourceError) as ei:
        resolve(str(missing), cache=cache)
    msg = str(ei.value)
    assert f"kernel tree {missing} does not exist" in msg
    assert "--kernel /path/to/linux" in msg
    assert isinstance(ei.value, PyvmaError)
    assert kernels_left(cache) == []


def test_not_a_kernel_dir(tmp_path: Path, cache: Path) -> None:
    d = tmp_path / "photos"
    d.mkdir()
    (d / "Makefile").write_text("all:\n\ttrue\n")
    with pytest.raises(SourceError, match=r"is not a Linux kernel tree: it has no top-level Makefile with VERSION and PATCHLEVEL"):
        resolve(str(d), cache=cache)
    assert kernels_left(cache) == []


def test_fake_61_dir(tmp_path: Path, cache: Path) -> None:
    d = make_fake_tree(tmp_path / "linux-6.1", 6, 1, 0, vma=False)
    with pytest.raises(SourceError) as ei:
        resolve(str(d), cache=cache)
    msg = str(ei.value)
    assert "kernel 6.1.0" in msg and "has no mm/vma.c" in msg
    assert "mm/vma.c appeared in 6.11" in msg
    assert kernels_left(cache) == []


@pytest.mark.parametrize("spec", ["", "   ", "ubuntu:6.12", "http://example.invalid/linux.tar.xz"])
def test_garbage_specs(spec: str, cache: Path) -> None:
    with pytest.raises(SourceError, match="A kernel spec is one of"):
        resolve(spec, cache=cache)
    assert kernels_left(cache) == []


def test_makefile_version_parsing(tmp_path: Path) -> None:
    d = tmp_path / "t"
    d.mkdir()
    (d / "Makefile").write_text("VERSION = 7\nPATCHLEVEL = 4\nSUBLEVEL = 0\nEXTRAVERSION = -rc2\n")
    assert ptree.parse_makefile_version(d) == ((7, 4, 0), "7.4.0-rc2")
    (d / "Makefile").write_text("VERSION = x\nPATCHLEVEL = 4\n")
    assert ptree.parse_makefile_version(d) is None


# --------------------------------------------------------------------------
# pyvma.cache


def test_cache_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "env cache"
    monkeypatch.setenv("PYVMA_CACHE", str(target))
    assert pcache.cache_dir() == target and target.is_dir()
    assert pcache.cache_dir(tmp_path / "other") == tmp_path / "other"
    monkeypatch.delenv("PYVMA_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pcache.cache_dir() == tmp_path / "home" / ".cache" / "pyvma"


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_dir_failure_leaves_nothing(tmp_path: Path, exc: type[BaseException]) -> None:
    final = tmp_path / "parent" / "final"
    with pytest.raises(exc):
        with pcache.atomic_dir(final) as tmp:
            (tmp / "half").write_text("x")
            raise exc()
    assert not final.exists()
    assert os.listdir(final.parent) == []


def test_atomic_dir_success(tmp_path: Path) -> None:
    final = tmp_path / "final"
    with pcache.atomic_dir(final) as tmp:
        assert tmp.parent == tmp_path and not final.exists()
        (tmp / "f").write_text("x")
    assert (final / "f").read_text() == "x"
    assert os.listdir(tmp_path) == ["final"]


def test_file_lock_excludes(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "x.lock"
    order: list[str] = []
    with pcache.file_lock(lock):
        t = threading.Thread(target=lambda: _locked_append(lock, order))
        t.start()
        time.sleep(0.2)
        order.append("first")
    t.join()
    assert order == ["first", "second"]


def _locked_append(lock: Path, order: list[str]) -> None:
    with pcache.file_lock(lock):
        order.append("second")
