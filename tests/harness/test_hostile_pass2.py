# SPDX-License-Identifier: GPL-2.0-or-later
"""The second adversarial pass of issue 20 (archives, patches and mail, trees, the
cache, arguments, the environment, the sandbox): each test is a hostile input that
wrote outside the cache, lost data, hung or printed a traceback before its fix.

Every input is built here at test time; nothing outside tmp_path may change.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pyvma import sandbox
from pyvma.sandbox import SANDBOX_DIR, probe

REPO = Path(__file__).resolve().parents[2]


def child_env(cache: Path, **extra: str) -> dict[str, str]:
    """A child python's environment: this checkout's pyvma, a private cache."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "HYPOTHESIS_", "PYVMA_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, "PYVMA_CACHE": str(cache), **extra}


def pyvma(cache: Path, *argv: str, cwd: Path | None = None, timeout: float = 300,
          **env: str) -> subprocess.CompletedProcess:
    """``python3 -m pyvma ARGV`` in a child (a hang fails the test, never the run)."""
    return subprocess.run([sys.executable, "-m", "pyvma", *argv], cwd=cwd or REPO,
                          env=child_env(cache, **env), capture_output=True, text=True,
                          timeout=timeout)


def listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


# -- the sandbox: what one sandboxed run plants in the sandbox's cache -----------------

def planted_out_link(tmp_path: Path) -> tuple[Path, Path]:
    """A private cache whose sandbox/out a sandboxed run made a link to a victim
    directory of the user's (the sandbox's cache is writable by the tree's code)."""
    cache = tmp_path / "cache"
    (cache / SANDBOX_DIR).mkdir(parents=True, mode=0o700)
    os.chmod(cache, 0o700)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine\n")
    (victim / str(os.getpid())).mkdir()
    (victim / str(os.getpid()) / "keep").write_text("mine\n")
    (cache / SANDBOX_DIR / "out").symlink_to(victim)
    return cache, victim


def test_output_staging_follows_no_link_the_sandbox_planted(tmp_path: Path) -> None:
    """``pyvma test -- --ktap F`` staged F in sandbox/out/<pid>, by path: a link
    sandbox/out planted by an earlier sandboxed run made the outer run (root)
    remove <victim>/<pid> with everything in it and make a directory there."""
    cache, victim = planted_out_link(tmp_path)
    before = listing(victim)
    argv, staged = sandbox.stage_outputs(["test", "--", "--ktap", "r.ktap"], ["r.ktap"],
                                         cache)
    assert listing(victim) == before
    (outer, dest), = staged
    assert dest == "r.ktap"
    assert outer.parent.parent == cache / SANDBOX_DIR and not outer.parent.is_symlink()
    assert argv[-1] == str(cache / outer.parent.name / outer.name)


@pytest.mark.skipif(probe("bwrap") is not None, reason="bubblewrap cannot run here")
def test_sandboxed_ktap_with_a_planted_out_link(tmp_path: Path) -> None:
    """The same link, a real sandboxed run: it wrote through it (a traceback inside,
    EROFS) and the outer run made and removed a directory in the victim."""
    from pyvma.tree import resolve
    tree = resolve("debian:7.x").root
    cache, victim = planted_out_link(tmp_path)
    before = listing(victim)
    ktap = tmp_path / "r.ktap"
    proc = pyvma(cache, "test", "--kernel", str(tree), "--sandbox", "--", "--ktap",
                 str(ktap), "--collect-only", "-q", cwd=tmp_path)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert listing(victim) == before
    assert ktap.is_file()


# -- archives --------------------------------------------------------------------------

def hostile_tarball(tmp_path: Path, extra: list[tarfile.TarInfo]) -> Path:
    """A small kernel-shaped tarball (linux-9.9.1/) with *extra* members after it."""
    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    out = tmp_path / "hostile.tar"
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        tf.add(tree, arcname="linux-9.9.1")
        for t in extra:
            tf.addfile(t, io.BytesIO(b"x" * t.size) if t.isreg() else None)
    return out


def member(name: str, pax: dict[str, str] | None = None) -> tarfile.TarInfo:
    t = tarfile.TarInfo(name)
    t.size, t.mode = 1, 0o644
    if pax:
        t.pax_headers = pax
    return t


@pytest.mark.parametrize("case", ["2000 directories deep", "NUL in a pax path"])
def test_archive_member_names_one_line(case: str, tmp_path: Path) -> None:
    """A member 2000 directories deep made os.makedirs recurse out of the stack
    (RecursionError traceback); a pax path with a NUL byte a ValueError traceback."""
    t = (member("linux-9.9.1/mm/" + "d/" * 2000 + "x") if case.startswith("2000") else
         member("linux-9.9.1/mm/ok", {"path": "linux-9.9.1/mm/a\0b"}))
    tar = hostile_tarball(tmp_path, [t])
    proc = pyvma(tmp_path / "cache", "fetch", str(tar), timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-1500:]
    assert ("directories deep" if case.startswith("2000") else "NUL") in lines[0]
    assert not list((tmp_path / "cache" / "kernels").glob("hostile*"))


# -- trees -----------------------------------------------------------------------------

def test_extraversion_escapes_reach_no_terminal(tmp_path: Path) -> None:
    """An archive's Makefile with terminal escapes in EXTRAVERSION: ``pyvma fetch``
    printed them raw (an OSC title and a screen clear)."""
    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    (tree / "Makefile").write_text("VERSION = 9\nPATCHLEVEL = 9\nSUBLEVEL = 1\n"
                                   "EXTRAVERSION = -\x1b]0;pwn\x07\x1b[2J\r\nNAME = x\n")
    tar = tmp_path / "esc.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(tree, arcname="linux-9.9.1")
    proc = pyvma(tmp_path / "cache", "fetch", str(tar), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and "\r" not in proc.stdout
    assert "9.9.1-\\x1b]0;pwn\\x07\\x1b[2J" in proc.stdout, proc.stdout


def test_thousands_of_digits_are_no_sublevel(tmp_path: Path) -> None:
    """A SUBLEVEL of 4000 digits was taken as a version number."""
    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    (tree / "Makefile").write_text("VERSION = 9\nPATCHLEVEL = 9\nSUBLEVEL = " + "9" * 4000
                                   + "\nEXTRAVERSION =\n")
    proc = pyvma(tmp_path / "cache", "fetch", str(tree), timeout=120)
    assert proc.returncode == 2 and "not a Linux kernel tree" in proc.stderr, proc.stderr


def test_a_tree_whose_prelude_fails_is_one_line(tmp_path: Path) -> None:
    """A kernel-shaped tree (an archive's, say) lacking tools/testing/shared:
    ``pyvma shim`` printed gcc's CalledProcessError as a traceback; now one line with
    the compiler's first error."""
    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    proc = pyvma(tmp_path / "cache", "shim", "--kernel", str(tree), timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr[-800:]
    assert proc.returncode == 2
    errs = [ln for ln in proc.stderr.splitlines() if ln.startswith("pyvma: error:")]
    assert len(errs) == 1 and "preprocessing" in errs[0] and "error" in errs[0], proc.stderr


# -- the cache -------------------------------------------------------------------------

def test_a_killed_clear_leaves_no_half_removed_tree(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``cache clear`` removed each entry in place: killed half-way (a timeout, ^C) it
    left kernels/<tree> with files missing under its name, which later runs use."""
    from pyvma import cache as pcache
    root = tmp_path / "cache"
    monkeypatch.setenv("PYVMA_CACHE", str(root))
    pcache.cache_dir()
    tree = root / "kernels" / "t"
    (tree / "mm").mkdir(parents=True)
    for name in ("Makefile", "mm/vma.c", "mm/vma.h"):
        (tree / name).write_text("x\n")
    real = pcache._rmtree

    def killed(path: Path) -> None:
        for p in sorted(Path(path).rglob("vma.c")):
            p.unlink()                  # part of the work done ...
        raise KeyboardInterrupt         # ... then the kill

    monkeypatch.setattr(pcache, "_rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        pcache.clear(root)
    assert not tree.exists() or (tree / "mm" / "vma.c").is_file()
    monkeypatch.setattr(pcache, "_rmtree", real)
    gone, alien = pcache.clear(root)
    assert alien == [] and sorted(e.name for e in root.iterdir()) == ["CACHEDIR.TAG",
                                                                      "locks"]


def deep_dirs(top: Path, depth: int) -> None:
    """*top* holding a chain of *depth* directories (made by descriptors: no path
    that long), with a file at the bottom."""
    top.mkdir(parents=True, exist_ok=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        new = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = new
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)


def test_clear_removes_what_a_sandboxed_run_nested_deep(tmp_path: Path) -> None:
    """A sandboxed run (a tree's code) may write anything in sandbox/, 3000
    directories deep too: ``cache clear`` then died with a RecursionError traceback
    and removed nothing more."""
    cache = tmp_path / "cache"
    pyvma(cache, "cache", "list")
    deep_dirs(cache / SANDBOX_DIR / "builds", 3000)
    try:
        proc = pyvma(cache, "cache", "clear", timeout=120)
    finally:        # pytest's own clean-up of tmp_path would die of it too
        subprocess.run(["rm", "-rf", "--", str(cache / SANDBOX_DIR)], check=False)
        subprocess.run(["rm", "-rf", "--", *map(str, cache.glob(".clearing-*"))], check=False)
    assert "Traceback" not in proc.stderr, proc.stderr[-600:]
    assert proc.returncode == 0, proc.stderr
    assert sorted(e.name for e in cache.iterdir()) == ["CACHEDIR.TAG", "locks"]


def test_a_patch_may_not_nest_a_path_thousands_deep(tmp_path: Path) -> None:
    """A patch creating mm/d/d/.../x 2000 directories deep applied, and every later
    removal of the patched tree (cache clear) died with a RecursionError."""
    from pyvma.errors import PyvmaError
    from pyvma.tree.patches import patched

    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    rel = "mm/" + "d/" * 2000 + "x"
    p = tmp_path / "deep.patch"
    p.write_text("From: x <x@example.org>\nSubject: [PATCH] deep\n\n---\n"
                 f"diff --git a/{rel} b/{rel}\nnew file mode 100644\n--- /dev/null\n"
                 f"+++ b/{rel}\n@@ -0,0 +1 @@\n+x\n")
    try:
        with pytest.raises(PyvmaError, match="2002 directories deep"):
            patched(str(tree), [str(p)], cache=tmp_path / "cache")
        assert not list((tmp_path / "cache" / "kernels").glob("patched-*"))
    finally:        # pytest's own clean-up of tmp_path would die of a deep tree
        subprocess.run(["rm", "-rf", "--", str(tmp_path / "cache")], check=False)


# -- patches and mail ------------------------------------------------------------------

def test_a_patch_file_name_reaches_no_terminal(tmp_path: Path) -> None:
    """A --patch file saved under a hostile name (an attachment's): the name went raw
    into the patched tree's label, which ``pyvma build``, the pytest header and the
    recorded series print."""
    from pyvma.tree.patches import patched

    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    p = tmp_path / "0001-\x1b]0;pwn\x07\x1b[2J.patch"
    p.write_text("From: x <x@example.org>\nSubject: [PATCH] a\n\n---\n"
                 "diff --git a/mm/vma.c b/mm/vma.c\n--- a/mm/vma.c\n+++ b/mm/vma.c\n"
                 "@@ -1 +1,2 @@\n /* placeholder vma.c */\n+/* added */\n")
    t = patched(str(tree), [str(p)], cache=tmp_path / "cache")
    label = t.origin["label"]
    assert "\x1b" not in label and "\x07" not in label, repr(label)
    assert "0001-\\x1b]0;pwn\\x07\\x1b[2J.patch" in label, label


# -- arguments -------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["DIR@REF", "tarball", "deep"])
def test_a_spec_too_long_to_look_up_is_one_line(how: str, tmp_path: Path) -> None:
    """A spec the system cannot look up (ENAMETOOLONG): a traceback from pathlib."""
    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    spec = {"DIR@REF": f"{tree}@" + "a" * 5000, "tarball": str(tmp_path / ("a" * 300)) +
            ".tar", "deep": str(tmp_path) + "/a" * 3000}[how]
    proc = pyvma(tmp_path / "cache", "fetch", spec, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr[-600:]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "File name too long" in lines[0]
    assert len(lines[0]) < 1000


@pytest.mark.skipif(probe("bwrap") is not None, reason="bubblewrap cannot run here")
def test_a_run_started_in_a_home_directory_hides_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``cd ~ && pyvma test --kernel debian:7.x``: the working directory was bound
    read-only whole, so the tree's code read ~/.ssh (and could print it in a CI log)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    secret = home / ".ssh" / "id_rsa"
    secret.write_text("PRIVATE KEY\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    monkeypatch.syspath_prepend(str(home))     # python3 -m puts the cwd on sys.path
    (tmp_path / "cache").mkdir(mode=0o700)
    cmd = sandbox.bwrap_command("bwrap", tmp_path / "cache", ["build"], [], [], [], [], {})
    inner = cmd[:cmd.index("--", cmd.index("--chdir")) + 1]
    read = subprocess.run([*inner, "/bin/cat", str(secret)], capture_output=True, text=True,
                          timeout=60)
    assert "PRIVATE KEY" not in read.stdout and read.returncode != 0, read.stdout
    where = subprocess.run([*inner, "/bin/pwd"], capture_output=True, text=True, timeout=60)
    assert where.returncode == 0 and where.stdout.strip() == str(home), where.stderr


def test_a_member_pyvma_skips_is_not_read_without_end(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A member outside the subtrees pyvma keeps was read on for as long as it claimed
    (an xz bomb of a terabyte of zeros: an hour of decompression); the stream as a
    whole is bounded (the limit made small here)."""
    from pyvma.errors import SourceError
    from pyvma.tree import archive
    junk = tarfile.TarInfo("linux-9.9.1/Documentation/junk")
    junk.size = 3 << 20
    tar = hostile_tarball(tmp_path, [junk])
    monkeypatch.setattr(archive, "MAX_STREAM_BYTES", 2 << 20)
    with pytest.raises(SourceError, match="GiB of tar: refused"):
        archive.extract_tarball(tar, tmp_path / "out")
    monkeypatch.setattr(archive, "MAX_STREAM_BYTES", 8 << 20)
    archive.extract_tarball(tar, tmp_path / "out2")
    assert (tmp_path / "out2" / "mm" / "vma.c").is_file()


WRAPPER = """#!{python}
# bubblewrap as pyvma sets it up, the command inside replaced by a hostile one
import os, sys
a = sys.argv[1:]
if "--chdir" in a:
    a = a[:a.index("--", a.index("--chdir")) + 1] + ["/bin/sh", "-c", os.environ["HOSTILE"]]
os.execvp("bwrap", ["bwrap", *a])
"""


@pytest.mark.skipif(probe("bwrap") is not None, reason="bubblewrap cannot run here")
def test_sandboxed_fuzz_cannot_plant_code_in_the_save_dir(tmp_path: Path) -> None:
    """fuzz's --save-dir (the checkout's tests/model/regressions by default) was bound
    writable into the sandbox: the tree's code could plant a conftest.py there, which
    the next unsandboxed pytest or ``pyvma test`` of one's own tree runs as root.  Now
    the run writes its findings in the cache and only regular files named like a
    finding are copied out."""
    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    save = tmp_path / "regressions"
    save.mkdir()
    wrapper = tmp_path / "bwrap-hostile"
    wrapper.write_text(WRAPPER.format(python=sys.executable))
    wrapper.chmod(0o755)
    hostile = (f"echo pwned > {save}/conftest.py; for d in \"$PYVMA_CACHE\"/save-*; do "
               "echo '{}' > \"$d/9.9.1-0123456789.json\"; "
               "ln -s /etc/hostname \"$d/9.9.1-abcdefabcd.json\"; "
               "echo pwned > \"$d/conftest.py\"; done; true")
    proc = pyvma(tmp_path / "cache", "fuzz", "--kernel", str(tree), "--sandbox",
                 "--minutes", "0.001", "--save-dir", str(save), cwd=tmp_path,
                 PYVMA_BWRAP=str(wrapper), HOSTILE=hostile)
    assert proc.returncode == 0, proc.stderr[-800:]
    assert sorted(p.name for p in save.iterdir()) == ["9.9.1-0123456789.json"], \
        sorted(p.name for p in save.iterdir())
    assert not (save / "9.9.1-0123456789.json").is_symlink()
    assert not list((tmp_path / "cache" / SANDBOX_DIR).glob("save-*"))


@pytest.mark.skipif(probe("bwrap") is not None, reason="bubblewrap cannot run here")
def test_the_sandbox_writes_no_sysctl(tmp_path: Path) -> None:
    """uid 65534 inside is the caller outside (root in CI), and bwrap's fresh /proc
    left /proc/sys writable: the tree's code set the host's vm.overcommit_memory (and
    could set kernel.core_pattern, a command the host runs as root).  Only opened
    for writing here, nothing written."""
    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "linux", 9, 9, 1)
    wrapper = tmp_path / "bwrap-hostile"
    wrapper.write_text(WRAPPER.format(python=sys.executable))
    wrapper.chmod(0o755)
    opened = []
    for name in ("vm/overcommit_memory", "kernel/core_pattern"):
        hostile = (f"exec {sys.executable} -c \"import os; "
                   f"os.close(os.open('/proc/sys/{name}', os.O_WRONLY))\"")
        proc = pyvma(tmp_path / "cache", "build", "--kernel", str(tree), "--sandbox",
                     cwd=tmp_path, PYVMA_BWRAP=str(wrapper), HOSTILE=hostile)
        assert "Read-only file system" in proc.stderr or proc.returncode != 0
        if proc.returncode == 0:
            opened.append(name)
    assert opened == []
