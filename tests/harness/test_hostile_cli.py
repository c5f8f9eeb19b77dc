# SPDX-License-Identifier: GPL-2.0-or-later
"""The command line and the cache against hostile or careless input: ``cache clear``
clears only a cache pyvma made, and not under a running build; a cache path make
would expand; repeated or contradictory options; unsafe kernel versions in file
names and test ids; FIFOs; what ``pyvma test`` takes for a test path.

Every input is built here at test time; nothing outside tmp_path may change.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyvma import cache as pcache
from pyvma import cli
from pyvma import upstream_c

from .test_source import make_fake_tree
from .test_untrusted import one_line_error, run, state

REPO = Path(cli.__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child python: this checkout's pyvma, no xdist worker."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "HYPOTHESIS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache dir (made by pyvma), also $PYVMA_CACHE for the command."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PYVMA_CACHE", str(path))
    return path


def a_home(path: Path) -> Path:
    """A directory like a home: the user's files, some named as pyvma names its own."""
    path.mkdir(mode=0o700)
    (path / ".bashrc").write_text("# mine\n")
    for sub in ("tmp", "kernels", "src/linux"):
        (path / sub).mkdir(parents=True)
        (path / sub / "notes").write_text("mine\n")
    return path


# --------------------------------------------------------------------------
# cache clear: only a cache pyvma made, only pyvma's entries, never under a build


@pytest.mark.parametrize("how", ["env", "dot"])
def test_clear_refuses_a_directory_pyvma_did_not_make(how: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    home = a_home(tmp_path / "home")
    before = state(home)
    if how == "dot":
        monkeypatch.chdir(home)
        monkeypatch.setenv("PYVMA_CACHE", ".")
    else:
        monkeypatch.setenv("PYVMA_CACHE", str(home))
    rc, out, err = run(capsys, "cache", "clear")
    line = one_line_error(err)
    assert rc == 2 and out == "" and "refusing to clear" in line and \
        pcache.MARKER in line, line
    assert state(home) == before


def test_clear_refuses_the_root_directory(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    """``PYVMA_CACHE=/``: refused before anything is removed (removal is disarmed
    here, so a regression cannot touch the machine)."""
    def boom(*a, **k):
        raise AssertionError(f"cache clear tried to remove {a}")
    monkeypatch.setattr(pcache, "_rmtree", boom)
    monkeypatch.setattr(Path, "unlink", boom)
    monkeypatch.setenv("PYVMA_CACHE", "/")
    rc, out, err = run(capsys, "cache", "clear")
    assert rc == 2 and out == "", (out, err)
    one_line_error(err)


@pytest.mark.parametrize("forgery", ["symlink", "other-owner", "other-text", "fifo"])
def test_clear_refuses_a_forged_marker(forgery: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    home = a_home(tmp_path / "home")
    marker = home / pcache.MARKER
    if forgery == "symlink":
        real = tmp_path / "real-marker"
        real.write_text(pcache.MARKER_TEXT)
        marker.symlink_to(real)
    elif forgery == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the marker another owner")
        marker.write_text(pcache.MARKER_TEXT)
        os.chown(marker, 4321, 4321)
    elif forgery == "fifo":
        os.mkfifo(marker)
    else:
        marker.write_text("Signature: 8a477f597d28d172789f06886806bc55\n# some other tool\n")
    before = state(home)
    monkeypatch.setenv("PYVMA_CACHE", str(home))
    rc, _, err = run(capsys, "cache", "clear")
    assert rc == 2 and "refusing to clear" in one_line_error(err)
    assert state(home) == before


def test_clear_removes_only_pyvmas_entries(cache: Path, capsys: pytest.CaptureFixture) -> None:
    pcache.cache_dir()
    assert (cache / pcache.MARKER).read_text() == pcache.MARKER_TEXT
    for sub in ("builds/k", "kernels/t", "tmp/x", "upstream-c/y"):
        (cache / sub).mkdir(parents=True)
    (cache / "my-notes").write_text("put here by hand\n")
    rc, out, _ = run(capsys, "cache", "clear")
    assert rc == 0 and "left alone, not pyvma's: my-notes" in out, out
    assert sorted(os.listdir(cache)) == sorted([pcache.MARKER, "locks", "my-notes"])


def test_the_default_cache_is_adopted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """~/.cache/pyvma made by an older pyvma (no marker) is pyvma's by its name."""
    monkeypatch.delenv("PYVMA_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    old = tmp_path / ".cache" / "pyvma"
    (old / "kernels").mkdir(parents=True, mode=0o755)
    os.chmod(old, 0o700)
    assert pcache.cache_dir() == old
    assert pcache.marker_problem(old) is None


def test_clear_waits_for_no_build_it_refuses(cache: Path, capsys: pytest.CaptureFixture) -> None:
    """A build or fetch holds a lock in the cache: clear removes nothing, one line,
    exit 2; once it ends, clear clears."""
    root = pcache.cache_dir()
    (root / "builds" / "k").mkdir(parents=True)
    with pcache.file_lock(root / "locks" / "build-0123.lock"):
        rc, out, err = run(capsys, "cache", "clear")
        line = one_line_error(err)
        assert rc == 2 and "building or fetching" in line, line
        assert (root / "builds" / "k").is_dir()
    rc, out, _ = run(capsys, "cache", "clear")
    assert rc == 0 and not (root / "builds").exists()


# --------------------------------------------------------------------------
# make never expands the cache path


HARNESS_MAKEFILE = """\
default: vma
generated/map-shift.h generated/bit-length.h generated/autoconf.h:
\tmkdir -p generated && touch $@
main.o: main.c
\t$(CC) $(CFLAGS) -c -o $@ main.c
vma: main.o
\t$(CC) -o $@ main.o
"""
HARNESS_MAIN = """\
#include <stdio.h>
#include "../../../mm/vma.c"
#define TEST(name) do { if (0) puts("Test " #name " FAILED"); } while (0)
int main(void)
{
\tTEST(one);
\tTEST(two);
\tprintf("2 tests run, 2 passed, 0 failed.\\n");
\treturn 0;
}
"""


def harness_tree(root: Path) -> Path:
    """A tiny tree with a harness of our own shaped like upstream's (make, main.c
    including mm/vma.c, TEST(name) expanding to its FAILED line)."""
    make_fake_tree(root, 7, 2, 1)
    h = root / upstream_c.HARNESS
    h.mkdir(parents=True)
    (h / "Makefile").write_text(HARNESS_MAKEFILE)
    (h / "main.c").write_text(HARNESS_MAIN)
    return root


@pytest.mark.parametrize("name", ["c$(shell touch {mark})", "with space", "a'b\"c;$$x"])
def test_make_never_expands_the_cache_path(name: str, tmp_path: Path) -> None:
    from pyvma.tree import resolve
    mark = tmp_path / "expanded"
    cache = tmp_path / name.format(mark=mark)
    tree = resolve(str(harness_tree(tmp_path / "tree")), cache)
    assert tree.cache == cache
    upstream_c._keys.clear()
    assert upstream_c.test_names(tree) == ["one", "two"]
    built = upstream_c.build(tree)
    assert built.ok, built.message
    assert built.dir.parent == cache / "upstream-c"
    res = upstream_c.run(built, ["one", "two"])
    assert all(r.passed for r in res.values()), res
    assert not mark.exists(), "make ran the $(shell ...) of the cache path"
    assert not [p for p in (cache / "upstream-c").iterdir() if p.name.startswith(
        ("names-", "src-"))]


# --------------------------------------------------------------------------
# options: given twice, contradictory, flag names no kernel has


OPS = '[["map", 0, 4, 0, ["VM_READ"], null, null]]'
TWICE = [
    (["replay", "--ops", OPS, "--ops", '[["munmap", 0, 4]]'], "--ops given twice"),
    (["build", "--kernel-config", "CONFIG_MEM_SOFT_DIRTY=y", "--kernel-config",
      "CONFIG_MEM_SOFT_DIRTY=n"], "contradicts"),
    (["test", "--kernel-config", "CONFIG_MEM_SOFT_DIRTY=n", "--kernel-config",
      "CONFIG_MEM_SOFT_DIRTY=y"], "contradicts"),
    (["replay", "--ops", OPS, "--kernel-config", "CONFIG_MEM_SOFT_DIRTY=y",
      "--kernel-config", "CONFIG_MEM_SOFT_DIRTY=n"], "contradicts"),
]


@pytest.mark.parametrize("argv,want", TWICE, ids=[a[0] + "-" + w for a, w in TWICE])
def test_an_option_given_twice_or_both_ways_is_refused(argv: list[str], want: str,
                                                       cache: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    rc, out, err = run(capsys, *argv)
    line = one_line_error(err)
    assert rc == 2 and out == "" and want in line, line
    assert not cache.exists()           # refused before anything ran


def test_the_same_config_twice_is_one(capsys: pytest.CaptureFixture) -> None:
    args = cli.parser().parse_args(["build", "--kernel-config", "CONFIG_MEM_SOFT_DIRTY=n",
                                    "--kernel-config", "CONFIG_MEM_SOFT_DIRTY=n"])
    assert args.kernel_config == ["CONFIG_MEM_SOFT_DIRTY=n"]


def test_a_flag_name_no_kernel_has_is_refused(kernel, kernel_spec: str,
                                              capfd: pytest.CaptureFixture) -> None:
    """(capfd: a debian: tree's replay runs sandboxed, in a child.)"""
    capsys = capfd
    bad = '[["map", 0, 4, 0, ["VM_READ", "VM_RAED"], null, null], ["munmap", 1, 2]]'
    rc, out, err = run(capsys, "replay", "--kernel", kernel_spec, "--ops", bad)
    line = one_line_error(err)
    assert rc == 2 and "VM_RAED" in line and "VM_READ," not in line, line
    rc, out, err = run(capsys, "replay", "--kernel", kernel_spec, "--ops", OPS)
    assert rc == 0 and "ret 0" in out, (out, err)


# --------------------------------------------------------------------------
# --maps: a FIFO, a device or a huge file is refused, never waited on


@pytest.mark.parametrize("what", ["fifo", "device", "huge"])
def test_maps_that_is_no_regular_file_or_too_big(what: str, tmp_path: Path) -> None:
    import subprocess
    import sys
    if what == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif what == "device":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "huge"
        with open(path, "wb") as f:
            f.truncate(cli.MAX_MAPS + 1)             # sparse
    try:
        proc = subprocess.run([sys.executable, "-m", "pyvma", "replay", "--ops", OPS,
                               "--maps", str(path)], cwd=REPO, capture_output=True,
                              text=True, timeout=120, env=child_env())
    except subprocess.TimeoutExpired:
        pytest.fail(f"pyvma replay --maps {what} hangs")
    line = one_line_error(proc.stderr)
    assert proc.returncode == 2 and str(path) in line, line
    assert ("larger than" if what == "huge" else "not a regular file") in line


# --------------------------------------------------------------------------
# a kernel version with '/' and other unsafe characters: file names and test ids


UNSAFE_EXTRA = "-rc1/../x y[1]::z"


def test_unsafe_extraversion_in_test_ids(tmp_path: Path) -> None:
    import subprocess
    import sys
    root = make_fake_tree(tmp_path / "tree", 7, 2, 1)
    mk = (root / "Makefile").read_text().replace("EXTRAVERSION =",
                                                 f"EXTRAVERSION = {UNSAFE_EXTRA}")
    (root / "Makefile").write_text(mk)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "test_ids.py").write_text("def test_one(kernel_spec):\n    pass\n")
    env = child_env(PYVMA_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "pyvma.pytest_plugin",
                           "-p", "no:cacheprovider", "--collect-only", "-q", "--rootdir",
                           str(tmp_path / "t"), "--kernel", str(root), "test_ids.py"],
                          cwd=tmp_path / "t",
                          capture_output=True, text=True, env=env, timeout=300)
    ids = [ln for ln in proc.stdout.splitlines() if "::" in ln]
    assert ids == ["test_ids.py::test_one[7.2.1-rc1_.._x_y_1___z]"], proc.stdout + proc.stderr


def test_unsafe_version_in_a_fuzz_regression_file(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from pyvma.engine.model import save_regression
    out = tmp_path / "regressions"
    path = save_regression(SimpleNamespace(version="7.2.1" + UNSAFE_EXTRA),  # type: ignore
                           [("munmap", 0, 4)], out)
    assert path.parent == out and path.is_file(), path
    assert path.name.startswith("7.2.1-rc1_.._x_y_1___z-")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [path.name]


# --------------------------------------------------------------------------
# pyvma test: what is a test path; pytest's and hypothesis's caches


def test_an_options_value_is_no_test_path() -> None:
    from pyvma.argcheck import pytest_paths
    from pyvma.testrun import default_suites, pytest_extra
    suites = default_suites()
    assert suites
    for extra in (["--", "--ktap", "out.ktap"], ["-k", "merge"], ["-xk", "merge"],
                  ["--junitxml", "r.xml", "-n", "0", "-p", "no:randomly"],
                  ["--kernel-config", "CONFIG_MEM_SOFT_DIRTY=n"]):
        assert pytest_paths(extra[1:] if extra[0] == "--" else extra) == []
        assert pytest_extra(extra)[-len(suites):] == suites, extra
    for extra in (["tests/sticky"], ["--ktap", "o.ktap", "tests/merge/test_x.py::t"],
                  ["-kmerge", "tests/sticky"], ["--tb=long", "tests/sticky"]):
        got = pytest_extra(extra)
        assert not set(suites) & set(got), got
    assert "--tb=short" in pytest_extra([]) and "--tb=short" not in pytest_extra(
        ["--tb", "long"])


def test_ktap_value_keeps_the_kernel_suites(kernel_spec: str, tmp_path: Path) -> None:
    """``pyvma test -- --ktap out.ktap`` collects the kernel suites, not the harness's
    self-tests."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "pyvma", "test", "--kernel", kernel_spec,
                           "--", "--ktap", str(tmp_path / "out.ktap"), "--collect-only"],
                          cwd=REPO, capture_output=True, text=True, env=child_env(),
                          timeout=600)
    ids = [ln for ln in proc.stdout.splitlines() if "::" in ln]
    assert len(ids) > 100, proc.stdout[-2000:] + proc.stderr
    assert not [i for i in ids if i.startswith("tests/harness/")]


def test_pytest_and_hypothesis_caches_go_under_the_cache(cache: Path,
                                                         tmp_path: Path) -> None:
    import subprocess

    from pyvma.testrun import pytest_base
    env: dict[str, str] = {}
    cmd = pytest_base([], ["-q"], env)
    assert f"cache_dir={cache / 'pytest-cache'}" in cmd
    assert env["HYPOTHESIS_STORAGE_DIRECTORY"] == str(cache / "hypothesis")
    # run as pyvma test runs it, in a directory standing for the checkout
    tree = make_fake_tree(tmp_path / "tree", 7, 2, 1)      # resolves at once (never built)
    work = tmp_path / "checkout"
    work.mkdir()
    (work / "test_h.py").write_text(
        "from hypothesis import given, strategies as st\n"
        "@given(st.integers())\ndef test_h(x):\n    assert x < 10\n")
    run_env = child_env(PYVMA_CACHE=str(cache))
    for how in ("pyvma test", "plugin alone"):
        argv = cmd if how == "pyvma test" else cmd[:3] + [
            "-p", "pyvma.pytest_plugin", "-p", "no:benchmark", "-p", "no:cacheprovider"]
        proc = subprocess.run([*argv, "--rootdir", str(work), "--kernel", str(tree),
                               "test_h.py"], cwd=work,
                              capture_output=True, text=True, timeout=300,
                              env={**run_env, **(env if how == "pyvma test" else {})})
        assert "1 failed" in proc.stdout, proc.stdout + proc.stderr
        assert set(os.listdir(work)) - {"__pycache__"} == {"test_h.py"}, \
            (how, os.listdir(work))
        assert (cache / "hypothesis").is_dir()
