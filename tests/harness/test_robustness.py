# SPDX-License-Identifier: GPL-2.0-or-later
"""Crashing kernel code, concurrent builders, a damaged cache, hostile paths,
a missing toolchain: each gives a clear message, and nothing is left broken."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyvma import tree as ptree

from .scratch import scratch_tree

REPO = Path(__file__).resolve().parents[2]
SEGV_ADDR, LOOP_ADDR, BUG_ADDR, ASAN_ADDR = 0x5550000, 0x4440000, 0x3330000, 0x2220000
UAF_ADDR, UB_ADDR = 0x1110000, 0x6660000
ANCHOR = "struct vm_area_struct *vma_merge_new_range(struct vma_merge_struct *vmg)\n{\n"


def cli(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyvma", *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def tree7():
    return ptree.resolve("debian:7.x")


@pytest.fixture(scope="module")
def faulty_tree(tree7, tmp_path_factory):
    """7.x whose vma_merge_new_range() WARNs then segfaults, loops or BUGs on magic
    addresses."""
    plant = textwrap.dedent(f"""\
        \tif (vmg->start == {SEGV_ADDR:#x}UL) {{
        \t\tWARN_ON(vmg->start == {SEGV_ADDR:#x}UL);
        \t\t*(volatile int *)0 = 0;
        \t}}
        \twhile (vmg->start == {LOOP_ADDR:#x}UL)
        \t\t;
        \tBUG_ON(vmg->start == {BUG_ADDR:#x}UL);
        \tif (vmg->start == {ASAN_ADDR:#x}UL) {{
        \t\tvolatile char *p = malloc(8);
        \t\tp[8] = 1;
        \t\tfree((void *)p);
        \t}}
        \tif (vmg->start == {UAF_ADDR:#x}UL) {{
        \t\tstruct vm_area_struct *freed = vm_area_alloc(vmg->mm);
        \t\tvm_area_free(freed);
        \t\t(void)*(volatile unsigned long *)&freed->vm_start;
        \t}}
        \tif (vmg->start == {UB_ADDR:#x}UL) {{
        \t\tvolatile int shift = 70;
        \t\tvmg->pgoff += 1UL << shift;
        \t}}
        """)
    return scratch_tree(tree7.root, tmp_path_factory.mktemp("faulty"), {
        "mm/vma.c": lambda t: t.replace(ANCHOR, ANCHOR + plant, 1)})


def test_isolate_reports_segfault_hang_and_bug_and_goes_on(faulty_tree, tmp_path):
    tests = tmp_path / "test_faults.py"
    tests.write_text(textwrap.dedent(f"""\
        from pyvma.errors import KernelBug
        import pytest

        def test_segv(kernel, mm):
            mm.map(0, 0x1000)
            mm.merge_new_range({SEGV_ADDR:#x}, {SEGV_ADDR + 0x1000:#x})

        def test_loop(kernel, mm):
            mm.merge_new_range({LOOP_ADDR:#x}, {LOOP_ADDR + 0x1000:#x})

        def test_bug(kernel, mm):
            with pytest.raises(KernelBug):
                mm.merge_new_range({BUG_ADDR:#x}, {BUG_ADDR + 0x1000:#x})

        def test_fine(kernel, mm):
            mm.map(0, 0x1000)
            vma, state = mm.merge_new_range(0x1000, 0x2000)
            assert state == "success"
        """))
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["pyvma.pytest_plugin"]\n')
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "--kernel", str(faulty_tree),
                           "--isolate", "--isolate-timeout", "5", str(tests)],
                          capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "2 failed, 2 passed" in out, out
    assert "test_segv" in out and "SIGSEGV" in out
    assert f"WARN {faulty_tree}/mm/vma.c:" in out or "WARN " in out
    assert "vmg->start == 0x5550000UL" in out, "the WARN before the crash is not reported"
    assert "test_loop" in out and "timed out" in out


@pytest.fixture
def fresh_tree(tree7, tmp_path):
    """A tree nobody built yet (a unique edit), under a path with shell metacharacters."""
    odd = tmp_path / "we ird $(touch pwned) 'q\" dir"
    return scratch_tree(tree7.root, odd, {
        "mm/vma.c": lambda t: t + f"/* {tmp_path.name} */\n"})


def test_hostile_paths_and_two_concurrent_builders(fresh_tree, tmp_path):
    cache = tmp_path / "ca che $HOME `x`"
    env = dict(os.environ, PYVMA_CACHE=str(cache))
    procs = [subprocess.Popen([sys.executable, "-m", "pyvma", "build", "--kernel",
                               str(fresh_tree)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    keys = {line.split()[1] for out, _ in outs for line in out.splitlines()
            if line.startswith("build")}
    assert len(keys) == 1
    builds = [p for p in (cache / "builds").iterdir()]
    assert [p.name for p in builds] == list(keys), "a second build or a temp dir was left"
    assert not (fresh_tree.parent / "pwned").exists() and not (REPO / "pwned").exists()


def test_truncated_module_is_detected_and_rebuilt(fresh_tree, tmp_path):
    env = dict(os.environ, PYVMA_CACHE=str(tmp_path / "cache"))
    first = cli("build", "--kernel", str(fresh_tree), env=env)
    assert first.returncode == 0, first.stderr
    bdir = next((tmp_path / "cache" / "builds").iterdir())
    info = json.loads((bdir / "BUILD.json").read_text())
    module = bdir / info["module_file"]
    module.write_bytes(module.read_bytes()[:4096])          # damaged by hand
    again = cli("build", "--kernel", str(fresh_tree), env=env)
    assert again.returncode == 0, again.stderr
    import hashlib
    assert hashlib.sha256(module.read_bytes()).hexdigest() == info["module_sha256"] or \
        json.loads((bdir / "BUILD.json").read_text())["module_sha256"] == \
        hashlib.sha256(module.read_bytes()).hexdigest()
    assert module.stat().st_size > 4096


def test_build_respects_umask(fresh_tree, tmp_path):
    env = dict(os.environ, PYVMA_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run(["sh", "-c", 'umask 027 && exec "$0" -m pyvma build --kernel "$1"',
                           sys.executable, str(fresh_tree)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    bdir = next((tmp_path / "cache" / "builds").iterdir())
    for p in [bdir, *bdir.rglob("*")]:
        assert not p.stat().st_mode & stat.S_IWOTH, p
        assert not p.stat().st_mode & stat.S_IROTH, p


def test_missing_compiler_and_missing_urcu_are_named(tree7, tmp_path):
    env = dict(os.environ, PYVMA_CACHE=str(tmp_path / "cache"), CC="no-such-cc")
    proc = cli("build", "--kernel", str(tree7.root), env=env)
    assert proc.returncode == 2
    assert "no C compiler" in proc.stderr and "apt-get install gcc" in proc.stderr
    # a compiler that cannot find <urcu.h>
    fake = tmp_path / "cc"
    fake.write_text('#!/bin/sh\nexec gcc -nostdinc "$@"\n')
    fake.chmod(0o755)
    env["CC"] = str(fake)
    proc = cli("build", "--kernel", str(tree7.root), env=env)
    assert proc.returncode == 2
    assert "liburcu" in proc.stderr and "apt-get install liburcu-dev" in proc.stderr
    assert not (tmp_path / "cache" / "builds").exists() or \
        not any((tmp_path / "cache" / "builds").iterdir())


def test_xdist_cold_cache_builds_once(fresh_tree, tmp_path):
    """`pytest -n 2` on a cold cache: both workers need the module, one builds it."""
    pytest.importorskip("xdist")
    cache = tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", "2", "--kernel", str(fresh_tree),
                           "tests/upstream/test_merge.py", "-k", "simple or new0-a1"],
                          cwd=REPO, env=dict(os.environ, PYVMA_CACHE=str(cache)),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    assert len(list((cache / "builds").iterdir())) == 1


def test_asan_build_reports_overflow_and_vma_use_after_free(faulty_tree, tmp_path):
    """`pyvma test --sanitizer asan` runs pytest under the ASan runtime; with
    --isolate, each memory error fails its own test and the run goes on.  A VMA
    used after vm_area_free() is reported although the userland slab would keep it
    for reuse: under ASan the harness hands freed slab objects back to malloc."""
    tests = tmp_path / "test_asan.py"
    tests.write_text(textwrap.dedent(f"""\
        def test_overflow(kernel, mm):
            mm.merge_new_range({ASAN_ADDR:#x}, {ASAN_ADDR + 0x1000:#x})

        def test_vma_use_after_free(kernel, mm):
            mm.merge_new_range({UAF_ADDR:#x}, {UAF_ADDR + 0x1000:#x})

        def test_fine(kernel, mm):
            mm.map(0, 0x1000)
        """))
    proc = cli("test", "--kernel", str(faulty_tree), "--sanitizer", "asan", "--",
               "-p", "no:cacheprovider", "--isolate", "--rootdir", str(tmp_path), str(tests))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "heap-buffer-overflow" in out
    assert "heap-use-after-free" in out, out[-3000:]
    assert "2 failed, 1 passed" in out


def test_ubsan_build_fails_the_test_with_undefined_behaviour(faulty_tree, tmp_path):
    """`pyvma test --sanitizer ubsan`: undefined behaviour in kernel code stops the
    kernel call (-fno-sanitize-recover); with --isolate that fails its own test,
    with UBSan's report, and the run goes on."""
    tests = tmp_path / "test_ubsan.py"
    tests.write_text(textwrap.dedent(f"""\
        def test_shift(kernel, mm):
            mm.merge_new_range({UB_ADDR:#x}, {UB_ADDR + 0x1000:#x})

        def test_fine(kernel, mm):
            mm.merge_new_range(0x2000, 0x3000)
        """))
    proc = cli("test", "--kernel", str(faulty_tree), "--sanitizer", "ubsan", "--",
               "-p", "no:cacheprovider", "--isolate", "--rootdir", str(tmp_path), str(tests))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "shift exponent 70 is too large" in out, out[-3000:]
    assert "mm/vma.c" in out
    assert "1 failed, 1 passed" in out


def test_asan_build_from_a_plain_process(fresh_tree, tmp_path):
    """`pyvma build --sanitizer asan` outside an ASan process: the build's own checks
    must not load the ASan module into it."""
    env = dict(os.environ, PYVMA_CACHE=str(tmp_path / "cache"))
    env.pop("LD_PRELOAD", None)
    proc = cli("build", "--kernel", str(fresh_tree), "--sanitizer", "asan", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "ASan runtime does not come first" not in proc.stderr
