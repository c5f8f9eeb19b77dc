# SPDX-License-Identifier: GPL-2.0-or-later
"""A tree's code runs in bubblewrap (pyvma/sandbox.py): a hostile mm/vma.c, built and
loaded, cannot write outside the sandbox's cache, has no network and is not root.

The hostile tree is made at test time: Debian's 7.x with a GCC constructor appended
to mm/vma.c (as a patch, sandboxed by default, or as a hard-linked scratch directory,
not sandboxed by default).  The constructor runs when pyvma build checks the library
(dlopen) and when a run loads it; it tries to write three victims, makes a UDP
connect to 1.1.1.1 (a route lookup) and appends what happened, with its uid, to a
report file (the only way out it has: the cache it may write)."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pyvma.cache import cache_dir
from pyvma.paths import REPO
from pyvma.sandbox import SANDBOX_DIR, UID, probe
from pyvma.tree import resolve

from .scratch import diff_of, scratch_tree

pytestmark = pytest.mark.skipif(probe("bwrap") is not None,
                                reason=f"bubblewrap cannot run here: {probe('bwrap')}")

TOKEN = uuid.uuid4().hex[:12]       # a new mm/vma.c each session: the build (and its
                                    # constructor) runs again

CTOR = r"""
/* a hostile tree's constructor (pyvma's tests/harness/test_sandbox.py) */
extern char *pyvma_hx_getenv(const char *) __asm__("getenv");
extern int pyvma_hx_open(const char *, int, ...) __asm__("open");
extern long pyvma_hx_write(int, const void *, unsigned long) __asm__("write");
extern int pyvma_hx_close(int) __asm__("close");
extern int pyvma_hx_socket(int, int, int) __asm__("socket");
extern int pyvma_hx_connect(int, const void *, unsigned int) __asm__("connect");
extern unsigned int pyvma_hx_getuid(void) __asm__("getuid");
extern int *pyvma_hx_errno(void) __asm__("__errno_location");
extern int pyvma_hx_dprintf(int, const char *, ...) __asm__("dprintf");

__attribute__((constructor)) static void pyvma_hostile_TOKEN(void)
{
	static const char *names[3] = { "PYVMA_HOSTILE_V0", "PYVMA_HOSTILE_V1",
					"PYVMA_HOSTILE_V2" };
	/* AF_INET, port 53 (big-endian), 1.1.1.1 */
	static const unsigned char sa[16] = { 2, 0, 0, 53, 1, 1, 1, 1 };
	const char *report = pyvma_hx_getenv("PYVMA_HOSTILE_REPORT");
	const char *p;
	int res[3], i, fd, s, net;

	for (i = 0; i < 3; i++) {
		p = pyvma_hx_getenv(names[i]);
		res[i] = -1;
		if (!p)
			continue;
		fd = pyvma_hx_open(p, 01 | 0100 | 02000, 0644); /* O_WRONLY|O_CREAT|O_APPEND */
		if (fd < 0) {
			res[i] = *pyvma_hx_errno();
			continue;
		}
		pyvma_hx_write(fd, "PWNED\n", 6);
		pyvma_hx_close(fd);
		res[i] = 0;
	}
	s = pyvma_hx_socket(2, 2, 0);                           /* AF_INET, SOCK_DGRAM */
	net = s < 0 ? *pyvma_hx_errno() : pyvma_hx_connect(s, sa, 16) ? *pyvma_hx_errno() : 0;
	if (!report)
		return;
	fd = pyvma_hx_open(report, 01 | 0100 | 02000, 0644);
	if (fd < 0)
		return;
	pyvma_hx_dprintf(fd, "uid=%u v0=%d v1=%d v2=%d net=%d\n", pyvma_hx_getuid(),
			 res[0], res[1], res[2], net);
	pyvma_hx_close(fd);
}
""".replace("TOKEN", TOKEN)


def _hostile(text: str, variant: str = "patch") -> str:
    """*text* with the constructor (a *variant* of its own: its own build)."""
    return text + CTOR + f"/* {variant} */\n"


@pytest.fixture(scope="module")
def base() -> Path:
    return resolve("debian:7.x").root


@pytest.fixture
def work(tmp_path: Path, request: pytest.FixtureRequest):
    """A working directory holding the victim; the report path; cleanup."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "victim").write_text("untouched\n")
    cache = cache_dir()
    name = f"hostile-{TOKEN}-{request.node.name[:40]}"
    stray = [cache / f"{name}.report", cache / SANDBOX_DIR / f"{name}.report",
             cache / "kernels" / name, Path.home() / name]
    for p in stray:
        p.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYVMA_HOSTILE_REPORT": str(stray[0]),
           "PYVMA_HOSTILE_V0": str(cwd / "victim"), "PYVMA_HOSTILE_V1": str(stray[2]),
           "PYVMA_HOSTILE_V2": str(stray[3])}
    yield cwd, env, stray
    for p in stray:
        p.unlink(missing_ok=True)
    drop_hostile_trees(cache)


def drop_hostile_trees(cache: Path) -> None:
    """The patched trees this session's hostile constructor went into, removed from
    the shared cache (they are this test's own code, not a kernel's: nothing may
    mistake them for a tree, or reuse them)."""
    import shutil
    for d in (cache / "kernels").glob("patched-*"):
        try:
            text = (d / "mm" / "vma.c").read_text(errors="replace")
        except OSError:
            continue
        if f"pyvma_hostile_{TOKEN}" in text:    # this process's only (xdist)
            shutil.rmtree(d, ignore_errors=True)


def pyvma(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyvma", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def reports(path: Path) -> list[dict[str, int]]:
    """The constructor's reports (one line each time the library was loaded)."""
    assert path.is_file(), f"the constructor wrote no report at {path}"
    return [{k: int(v) for k, v in (f.split("=") for f in line.split())}
            for line in path.read_text().splitlines()]


def assert_confined(cwd: Path, stray: list[Path]) -> None:
    """What a sandboxed run of the constructor leaves: the victims untouched, its
    report in the sandbox's cache only, every write refused as read-only, no route."""
    assert (cwd / "victim").read_text() == "untouched\n"
    assert not stray[0].exists() and not stray[2].exists() and not stray[3].exists()
    got = reports(stray[1])
    assert got, "the constructor did not run"
    for r in got:
        assert r == {"uid": UID, "v0": errno.EROFS, "v1": errno.EROFS, "v2": errno.EROFS,
                     "net": errno.ENETUNREACH}, r


def test_patched_tree_is_sandboxed_by_default(base: Path, tmp_path: Path, work) -> None:
    cwd, env, stray = work
    patch = tmp_path / "0001-hostile.patch"
    patch.write_text(diff_of(base, {"mm/vma.c": _hostile}))
    p = pyvma(["build", "--kernel", "debian:7.x", "--patch", str(patch)], cwd, env)
    assert p.returncode == 0, p.stderr
    assert f"sandbox  on: bubblewrap, uid {UID} gid {UID}, no network, read-only but " \
        f"{cache_dir() / SANDBOX_DIR}" in p.stdout
    assert_confined(cwd, stray)
    # the test run: built, loaded and run in the sandbox, and its header says so
    stray[1].unlink()
    p = pyvma(["test", "--kernel", "debian:7.x", "--patch", str(patch), "--no-base", "--",
               "-v", "--co", str(REPO / "tests" / "harness" / "test_diagram.py")], cwd, env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"pyvma sandbox: on: bubblewrap, uid {UID} gid {UID}, no network" in p.stdout
    assert_confined(cwd, stray)


@pytest.mark.skipif(os.geteuid() != 0, reason="shows what runs as root unconfined")
def test_no_sandbox_runs_it_unconfined(base: Path, tmp_path: Path, work) -> None:
    """--no-sandbox still works: the constructor runs as root and writes the victim
    (only the one in this test's directory is offered to it)."""
    cwd, env, stray = work
    del env["PYVMA_HOSTILE_V1"], env["PYVMA_HOSTILE_V2"]
    patch = tmp_path / "0001-hostile.patch"
    patch.write_text(diff_of(base, {"mm/vma.c": lambda t: _hostile(t, "unconfined")}))
    p = pyvma(["build", "--kernel", "debian:7.x", "--patch", str(patch), "--no-sandbox"],
              cwd, env)
    assert p.returncode == 0, p.stderr
    assert "sandbox  off: --no-sandbox" in p.stdout
    assert (cwd / "victim").read_text() == "untouched\nPWNED\n"
    assert reports(stray[0])[0]["uid"] == 0


def test_own_directory_default_off_sandbox_on_request(base: Path, tmp_path: Path,
                                                      work) -> None:
    """A directory (a developer's own tree) runs unconfined by default; --sandbox
    confines it (the tree is bound read-only at its own path)."""
    cwd, env, stray = work
    tree = scratch_tree(base, tmp_path / "linux", {"mm/vma.c": lambda t: _hostile(t, "dir")})
    (tree / "victim").write_text("untouched\n")
    env["PYVMA_HOSTILE_V2"] = str(tree / "victim")
    p = pyvma(["build", "--kernel", str(tree), "--sandbox"], cwd, env)
    assert p.returncode == 0, p.stderr
    assert "sandbox  on: bubblewrap" in p.stdout
    assert (tree / "victim").read_text() == "untouched\n"
    stray[3].unlink(missing_ok=True)
    assert_confined(cwd, stray)
    if os.geteuid() != 0:
        return
    del env["PYVMA_HOSTILE_V1"]
    stray[1].unlink()
    p = pyvma(["build", "--kernel", str(tree)], cwd, env)
    assert p.returncode == 0, p.stderr
    assert "sandbox  off: your own tree (a directory or DIR@REF)" in p.stdout
    assert reports(stray[0]) == [{"uid": 0, "v0": 0, "v1": -1, "v2": 0,
                                  "net": reports(stray[0])[0]["net"]}]
    assert (tree / "victim").read_text() == "untouched\nPWNED\n"


def test_without_bubblewrap_untrusted_input_is_refused_as_root(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYVMA_BWRAP": "/bin/false"}
    p = pyvma(["build", "--kernel", "debian:7.x"], tmp_path, env)
    if os.geteuid() == 0:
        assert p.returncode == 2
        assert p.stderr.count("\n") == 1, p.stderr
        assert p.stderr.startswith("pyvma: error: refusing to run the code of debian:7.x "
                                   "(a Debian package) as root unconfined: bubblewrap "
                                   "cannot run here: /bin/false fails its probe"), p.stderr
        assert "--no-sandbox" in p.stderr
    p = pyvma(["build", "--kernel", "debian:7.x", "--sandbox"], tmp_path, env)
    assert p.returncode == 2 and p.stderr.startswith(
        "pyvma: error: --sandbox: bubblewrap cannot run here"), p.stderr
    p = pyvma(["build", "--kernel", "debian:7.x", "--no-sandbox"], tmp_path, env)
    assert p.returncode == 0, p.stderr
    assert "sandbox  off: --no-sandbox" in p.stdout
    env["PYVMA_BWRAP"] = str(tmp_path / "no-such-bwrap")
    p = pyvma(["build", "--kernel", "debian:7.x"], tmp_path, env)
    if os.geteuid() == 0:
        assert p.returncode == 2 and "no-such-bwrap not found" in p.stderr, p.stderr


def test_the_inner_marker_set_outside_changes_nothing(tmp_path: Path) -> None:
    """PYVMA_SANDBOXED=1 in the caller's environment does not switch the sandbox off:
    it is honoured only inside a user namespace."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYVMA_SANDBOXED": "1"}
    p = pyvma(["build", "--kernel", "debian:7.x"], tmp_path, env)
    assert p.returncode == 0, p.stderr
    assert f"sandbox  on: bubblewrap, uid {UID}" in p.stdout


def test_bwrap_is_what_the_makefile_installs() -> None:
    text = (REPO / "Makefile").read_text()
    assert "bubblewrap" in text.split("APT_PACKAGES =", 1)[1].splitlines()[0]
    assert shutil.which("bwrap")


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is of running as root")
def test_mutate_of_an_untrusted_tree_is_refused_as_root(tmp_path: Path) -> None:
    """mutate cannot run in bubblewrap: as root, a Debian tree's mutants run only
    with --no-sandbox (--list runs none and is not refused)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = pyvma(["mutate", "--kernel", "debian:7.x", "--sample", "1", "-n", "0"], tmp_path, env)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("pyvma: error: pyvma mutate cannot run in the sandbox"), p.stderr
    assert "debian:7.x (a Debian package)" in p.stderr and "--no-sandbox" in p.stderr
    p = pyvma(["mutate", "--kernel", "debian:7.x", "--list", "--sample", "2"], tmp_path, env)
    assert p.returncode == 0, p.stderr


def test_run_from_tmp_keeps_the_private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from /tmp itself: the working directory was bound read-only over the
    sandbox's private /tmp, and `pyvma test --series` died ("No usable temporary
    directory"); /tmp stays the private, writable one (files under it still bound)."""
    from pyvma.sandbox import bwrap_command
    monkeypatch.chdir("/tmp")
    inp = tmp_path / "series.mbox"
    inp.write_text("x\n")
    (tmp_path / "cache").mkdir(mode=0o700)
    cmd = bwrap_command("bwrap", tmp_path / "cache", ["test"], [], [str(inp)], [], [], {})
    pairs = list(zip(cmd, cmd[1:], cmd[2:]))
    assert ("--ro-bind", "/tmp", "/tmp") not in pairs
    assert ("--tmpfs", "/tmp", "--tmpfs") in pairs or any(
        a == "--tmpfs" and b == "/tmp" for a, b, _ in pairs)
    assert ("--ro-bind", str(inp), str(inp)) in pairs
