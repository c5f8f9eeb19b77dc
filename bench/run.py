#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pyvma benchmarks: every cost as a ratio measured in one run on this machine.

    python3 bench/run.py [--kernel SPEC]... [--rounds N] [--repeat N]

For each kernel (default debian:7.x and debian:6.12), on a hard-linked scratch copy
of the tree (so upstream's make can write its objects without touching the tree):

  cold build          pyvma (empty cache) vs upstream `make -C tools/testing/vma -j2`,
                      with upstream's sanitizers (ASan+UBSan) and without; the two
                      alternated --repeat times (default 3), medians compared
  one-line rebuild    after a one-line change to mm/vma.c, pyvma vs upstream make
  warm start          pyvma.api.load() of a cached build
  upstream suite      pytest tests/upstream (warm) vs upstream's ./vma run + rebuild
  upstream C tests    what tests/upstream_c/test_upstream_c.py (upstream's own C tests
                      as items) adds to pytest tests/upstream, cold (empty caches), warm
  ops/s               merge+munmap driven from Python vs the same loop in C (same build)
  peak memory         of a pytest run of tests/ (max RSS)

Prints a markdown table and keeps it in bench/results/<version>-<N>cores.md.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))      # pyvma of this checkout, installed or not

from pyvma import tree as ptree  # noqa: E402
from pyvma.tree.scratch import scratch_tree, upstream_scratch  # noqa: E402

def timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, int, str]:
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    return time.monotonic() - t0, p.returncode, p.stdout + p.stderr


def pyvma_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pyvma", *args]


def bench_kernel(spec: str, rounds: int, work: Path, repeat: int) -> dict:
    tree = ptree.resolve(spec)
    r: dict = {"kernel": tree.version_str, "spec": spec, "repeat": repeat}
    v = tree.version_str
    # --- cold builds: upstream make and pyvma, with and without sanitizers ----
    # alternated, *repeat* times each, medians kept: the machine's speed drifts
    for san, pysan, key in ((True, "asan", "san"), (False, None, "nosan")):
        up_times, py_times = [], []
        for i in range(repeat):
            d = upstream_scratch(tree.root, work / f"up-{v}-{key}-{i}", san)
            secs, rc, out = timed(["make", "-C", str(d / "tools/testing/vma"), "-j2"])
            if rc != 0:
                r[f"up_cold_{key}_err"] = _last_error(out)
            else:
                up_times.append(secs)
            pd = scratch_tree(tree.root, work / f"py-{v}-{key}-{i}", {})
            env = dict(os.environ, PYVMA_CACHE=str(work / f"cache-{v}-{key}-{i}"))
            args = ["build", "--kernel", str(pd)] + (["--sanitizer", pysan] if pysan else [])
            secs, rc, out = timed(pyvma_cmd(*args), env=env, cwd=REPO)
            if rc != 0:
                r[f"py_cold_{key}_err"] = _last_error(out)
            else:
                py_times.append(secs)
        r[f"up_cold_{key}"] = statistics.median(up_times) if up_times else None
        r[f"py_cold_{key}"] = statistics.median(py_times) if py_times else None
        r[f"cold_{key}_runs"] = (up_times, py_times)
    # --- upstream's one-line rebuild and run (ASan, its default) ----------------
    d = work / f"up-{v}-san-0"
    if r.get("up_cold_san"):
        _one_line_change(d / "mm" / "vma.c")
        secs, rc, _ = timed(["make", "-C", str(d / "tools/testing/vma"), "-j2"])
        r["up_rebuild"] = secs if rc == 0 else None
        secs, rc, out = timed([str(d / "tools/testing/vma/vma")])
        r["up_run"] = secs
        m = re.search(r"(\d+) tests run, (\d+) passed, (\d+) failed", out)
        r["up_tests"] = m.group(0) if m else out.strip().splitlines()[-1:]
    # --- pyvma: one-line rebuild, warm start, ops (on the no-sanitizer build) ---
    d = work / f"py-{v}-nosan-0"
    env = dict(os.environ, PYVMA_CACHE=str(work / f"cache-{v}-nosan-0"))
    args = ["build", "--kernel", str(d)]
    if r.get("py_cold_nosan"):
        _one_line_change(d / "mm" / "vma.c")
        secs, rc, out = timed(pyvma_cmd(*args), env=env, cwd=REPO)
        r["py_rebuild"] = secs if rc == 0 else None
        m = re.search(r"total ([\d.]+)", out)
        r["py_rebuild_inproc"] = float(m.group(1)) if m else None
        # warm start: load() of the cached build, in a fresh process
        code = ("import time, sys; sys.path.insert(0, '.'); import pyvma.api as pv;"
                f"t = time.perf_counter(); k = pv.load({str(d)!r});"
                "print(time.perf_counter() - t)")
        # as a user's Python runs it: bytecode cached (this session's environment
        # may set PYTHONDONTWRITEBYTECODE), so the first start only warms; the
        # median of the five after it is kept
        warm_env = {k: x for k, x in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        loads = []
        for i in range(6):
            _, rc, out = timed([sys.executable, "-c", code], env=warm_env, cwd=REPO)
            if rc == 0 and i:
                loads.append(float(out.strip().splitlines()[-1]))
        r["py_warm_load"] = statistics.median(loads) if loads else None
        r.update(_ops(str(d), env, rounds))
        # the patch loop: a one-line change to a function of mm/vma.c, then the verdict;
        # each pyvma measure next to upstream's make + ./vma after the same change (the
        # machine's load drifts).  The first default run builds upstream's harness of
        # this tree cold and records which functions each test enters (once per tree
        # content); the loop repeats what follows.  A local checkout: not sandboxed.
        r.update(patch_loop(d, work / f"up-{v}-san-0", env, repeat))
    # --- diff throughput (a tree against itself: every operation runs twice) --
    code = ("import sys; sys.path.insert(0, '.'); import pyvma.api as pv;"
            "from pyvma.engine.diff import diff;"
            f"k = pv.load({spec!r}); d, s = diff(k, k, seed=7, sequences=400, length=30,"
            " seconds=60, use_corpus=False);"
            " print(s.get('fast_ops_per_second', 0), s['ops_per_second'])")
    _, rc, out = timed([sys.executable, "-c", code], cwd=REPO)
    # the fast path (sequences drawn and run in C, every state field compared) and
    # the whole run (with the Python-generated sequences: 1 in 21)
    fast_ops, all_ops = (map(float, out.strip().splitlines()[-1].split()) if rc == 0
                         else (None, None))
    r["diff_ops"], r["diff_ops_all"] = fast_ops, all_ops
    r.update(fast_callers_rate(spec))
    # --- upstream-equivalent suite, warm ------------------------------------
    secs, rc, out = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--kernel", spec, "tests/upstream"], cwd=REPO)
    r["py_suite"] = secs
    r["py_suite_result"] = out.strip().splitlines()[-1] if out.strip() else ""
    r.update(c_tests_added(tree.root, work / f"ctests-{v}"))
    r.update(sandbox_overhead(spec))
    return r


def fast_callers_rate(spec: str) -> dict:
    """The fast path's rate on sequences of the caller operations (mremap, mprotect,
    madvise, mlock, mlockall, mseal, drawn in C with the basic ones between them):
    ops/s per tree, every state field compared, and the share of caller operations."""
    code = ("import sys; sys.path.insert(0, '.'); import pyvma.api as pv;"
            "from pyvma.engine.diff import diff;"
            "from pyvma.engine.callers_spec import SPECS;"
            f"k = pv.load({spec!r}); d, s = diff(k, k, seed=7, sequences=400, length=30,"
            " seconds=60, use_corpus=False, only=frozenset(SPECS));"
            "ex = s['exercised']; n = sum(sum(ex.get(o, {}).values()) for o in SPECS);"
            "t = sum(sum(v.values()) for v in ex.values());"
            " print(s.get('fast_ops_per_second', 0), n / max(t, 1))")
    _, rc, out = timed([sys.executable, "-c", code], cwd=REPO)
    if rc != 0 or not out.strip():
        return {"callers_ops": None, "callers_share": None}
    rate, share = map(float, out.strip().splitlines()[-1].split())
    return {"callers_ops": rate, "callers_share": share}


def patch_loop(d: Path, up: Path, env: dict, repeat: int = 3) -> dict:
    """The patch loop's three measures, each with upstream's make + ./vma beside it."""
    from pyvma.testrun import KERNEL_SUITES
    python_suites = [str(REPO / "tests" / s) for s in KERNEL_SUITES if s != "upstream_c"]
    r: dict = {}
    secs, rc, out = timed(pyvma_cmd("test", "--kernel", str(d)), env=env, cwd=REPO)
    r["py_loop_first"] = secs
    m = re.search(r"recorded which functions each of (\d+) tests enters .*?\(([\d.]+) s", out)
    r["py_map"] = (int(m.group(1)), float(m.group(2))) if m else None
    n = 0
    for key, extra in (("py_first", ["--affected"]), ("py_loop_py", ["--", *python_suites]),
                       ("py_loop", [])):
        ups, pys, ats = [], [], []
        for _ in range(repeat):         # alternated; medians (the machine's load drifts)
            n += 1
            if up.is_dir():
                _one_line_in_function(up / "mm" / "vma.c", "vma_expand", n)
                t_make, rc_m, _ = timed(["make", "-C", str(up / "tools/testing/vma"), "-j2"])
                t_run, _, _ = timed([str(up / "tools/testing/vma/vma")])
                if rc_m == 0:
                    ups.append(t_make + t_run)
            _one_line_in_function(d / "mm" / "vma.c", "vma_expand", n)
            secs, verdict_at, out = timed_verdict(
                pyvma_cmd("test", "--kernel", str(d), *extra), env)
            pys.append(secs)
            if verdict_at is not None:
                ats.append(verdict_at)
        r[f"{key}_up"] = statistics.median(ups) if ups else None
        r[key] = statistics.median(pys)
        r[f"{key}_verdict_at"] = statistics.median(ats) if ats else None
        r[f"{key}_runs"] = (ups, pys)
        lines = out.strip().splitlines()
        r[f"{key}_result"] = lines[-1] if lines else ""
        r[f"{key}_verdict"] = next((ln for ln in lines if " tests reach " in ln
                                    or ln.startswith("pyvma: no test reaches")), "")
    return r


def timed_verdict(cmd: list[str], env: dict) -> tuple[float, float | None, str]:
    """Wall time of *cmd*, and when its first-verdict line came (pyvma: N tests reach)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    at, out = None, []
    assert p.stdout is not None
    for line in p.stdout:
        if at is None and (" tests reach " in line or "no test reaches" in line):
            at = time.monotonic() - t0
        out.append(line)
    p.wait()
    return time.monotonic() - t0, at, "".join(out)


def _one_line_in_function(path: Path, function: str, n: int) -> None:
    """A one-line change inside *function* (a statement before its closing brace)."""
    text = path.read_text()
    i = re.search(rf"^(?:[A-Za-z_][\w\s\*]*?[\s\*])?\**{function}\([^;]*$", text, re.M)
    assert i, function
    end = text.index("\n}\n", i.end())
    path.unlink()   # hard-linked: never write through to the original tree
    # unique to this bench run: no build of an earlier run's same content is reused
    path.write_text(text[:end] + f"\n\t(void){n}; /* pyvma bench {_RUN} */" + text[end:])


_RUN = f"{os.getpid()}.{time.time_ns()}"


def sandbox_overhead(spec: str, n: int = 5) -> dict:
    """What bubblewrap adds to the patch loop's fixed cost: `pyvma build` of a cached
    build, sandboxed (the default for a Debian tree) and --no-sandbox, alternated *n*
    times after one warm-up each; medians."""
    on, off = [], []
    for i in range(n + 1):
        a, rc_a, _ = timed(pyvma_cmd("build", "--kernel", spec, "--sandbox"), cwd=REPO)
        b, rc_b, _ = timed(pyvma_cmd("build", "--kernel", spec, "--no-sandbox"), cwd=REPO)
        if i and rc_a == 0 and rc_b == 0:
            on.append(a)
            off.append(b)
    return {"sb_on": statistics.median(on) if on else None,
            "sb_off": statistics.median(off) if off else None}


def c_tests_added(root: Path, work: Path) -> dict:
    """What upstream's C tests as items (tests/upstream_c/test_upstream_c.py) add to a
    run of tests/upstream, cold (empty caches) and warm: pytest wall with minus without."""
    out: dict = {}
    for what, paths in (("without", ["tests/upstream"]),
                        ("with", ["tests/upstream", "tests/upstream_c/test_upstream_c.py"])):
        env = dict(os.environ, PYVMA_CACHE=str(work / f"cache-{what}"))
        for temp in ("cold", "warm"):
            secs, rc, res = timed([sys.executable, "-m", "pytest", "-q", "-p",
                                   "no:cacheprovider", "--kernel", str(root), *paths],
                                  env=env, cwd=REPO)
            out[f"ct_{temp}_{what}"] = secs if rc == 0 else None
            if what == "with":
                out[f"ct_{temp}_result"] = res.strip().splitlines()[-1] if res.strip() else ""
    for temp in ("cold", "warm"):
        a, b = out.get(f"ct_{temp}_without"), out.get(f"ct_{temp}_with")
        out[f"ct_{temp}_added"] = b - a if a and b else None
    return out


def _ops(tree: str, env: dict, rounds: int) -> dict:
    code = f"""
import sys, time
sys.path.insert(0, '.')
import pyvma.api as pv
from bench.native import native_loop
k = pv.load({tree!r})
native = native_loop(k)
mm = k.mm()
rw = k.flag("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
mm.map(0, 0x1000, 0, rw); mm.map(0x2000, 0x3000, 2, rw)
n = {rounds}
t = time.perf_counter()
for _ in range(n):
    mm.merge_new_range(0x1000, 0x2000, 1, rw)
    mm.munmap(0x1000, 0x2000)
py = 2 * n / (time.perf_counter() - t)
t = time.perf_counter()
ops = native(mm.ptr, n, rw)
c = ops / (time.perf_counter() - t)
assert ops == 2 * n, ops
print(py, c)
"""
    _, rc, out = timed([sys.executable, "-c", code], env=env, cwd=REPO)
    if rc != 0:
        return {"ops_py": None, "ops_c": None, "ops_err": _last_error(out)}
    py, c = map(float, out.strip().splitlines()[-1].split())
    return {"ops_py": py, "ops_c": c}


def _one_line_change(path: Path) -> None:
    text = path.read_text()
    path.unlink()   # hard-linked: never write through to the original tree
    path.write_text(text + "/* pyvma bench: one-line change */\n")


def _last_error(out: str) -> str:
    errs = [l for l in out.splitlines() if "undefined reference" in l] or \
        [l for l in out.splitlines() if "error" in l.lower()]
    return (errs[0] if errs else out.strip().splitlines()[-1] if out.strip() else "")[:200]


def peak_memory() -> float:
    """Max RSS (MiB) of a pytest run of the whole suite (children included)."""
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                   cwd=REPO, capture_output=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def fmt(v, unit="s") -> str:
    if v is None:
        return "fails"
    return f"{v:.2f} {unit}" if unit == "s" else f"{v:,.0f}"


def ratio(a, b) -> str:
    return f"{a / b:.2f}×" if a and b else "—"


def table(results: list[dict], peak: float) -> str:
    ncores = os.cpu_count()
    out = [f"# pyvma benchmark — {time.strftime('%Y-%m-%d')}, {ncores} cores", "",
           "| measure | kernel | pyvma | upstream / native | ratio | target |",
           "|---|---|---|---|---|---|"]
    for r in results:
        k = r["kernel"]
        med = f" (median of {r.get('repeat', 1)})" if r.get("repeat", 1) > 1 else ""
        out.append(f"| cold build, ASan+UBSan{med} | {k} | {fmt(r.get('py_cold_san'))} | "
                   f"{fmt(r.get('up_cold_san'))} | {ratio(r.get('py_cold_san'), r.get('up_cold_san'))} | ≤ 0.7× |")
        out.append(f"| cold build, no sanitizers{med} | {k} | {fmt(r.get('py_cold_nosan'))} | "
                   f"{fmt(r.get('up_cold_nosan'))} | {ratio(r.get('py_cold_nosan'), r.get('up_cold_nosan'))} | ≤ 0.7× |")
        out.append(f"| rebuild after a one-line mm/vma.c change (process wall; in-process "
                   f"{fmt(r.get('py_rebuild_inproc'))}) | {k} | {fmt(r.get('py_rebuild'))} | "
                   f"{fmt(r.get('up_rebuild'))} | {ratio(r.get('py_rebuild'), r.get('up_rebuild'))} | ≤ 1 s |")
        out.append(f"| warm start (load of a cached build, median of 5) | {k} | "
                   f"{fmt((r.get('py_warm_load') or 0) * 1000, 'n')} ms | | | ≤ 50 ms |")
        up_total = (r.get("up_run") or 0) + (r.get("up_rebuild") or 0) if r.get("up_run") else None
        out.append(f"| upstream-equivalent suite, warm (pytest wall) | {k} | {fmt(r.get('py_suite'))} | "
                   f"{fmt(up_total)} (run {fmt(r.get('up_run'))} + rebuild) | "
                   f"{ratio(r.get('py_suite'), up_total)} | ≤ 3 s |")
        vd = r.get("py_loop_py_verdict_at")
        out.append(f"| patch loop, first verdict after a one-line change to vma_expand() "
                   f"(`pyvma test --affected`: the tests that reach it; in a full run the "
                   f"line came at {fmt(vd)}) vs make + ./vma | {k} | {fmt(r.get('py_first'))}"
                   f" | {fmt(r.get('py_first_up'))} | "
                   f"{ratio(r.get('py_first'), r.get('py_first_up'))} | ≤ 0.3× |")
        out.append(f"| patch loop, whole default `pyvma test` (upstream's C tests too: their "
                   f"ASan rebuild beside the Python suites) vs make + ./vma | {k} | "
                   f"{fmt(r.get('py_loop'))} | {fmt(r.get('py_loop_up'))} | "
                   f"{ratio(r.get('py_loop'), r.get('py_loop_up'))} | ≤ 1.0× |")
        out.append(f"| patch loop, Python kernel suites alone (`pyvma test -- <suites>`) vs "
                   f"make + ./vma | {k} | {fmt(r.get('py_loop_py'))} | "
                   f"{fmt(r.get('py_loop_py_up'))} | "
                   f"{ratio(r.get('py_loop_py'), r.get('py_loop_py_up'))} | ≤ 0.6× |")
        if r.get("py_map"):
            nt, secs = r["py_map"]
            out.append(f"| recording which functions each of {nt} tests enters (once per "
                       f"tree content, after the first run) | {k} | {fmt(secs)} | | | |")
        for temp in ("cold", "warm"):
            out.append(f"| upstream C tests added to pytest tests/upstream, {temp} (wall with "
                       f"{fmt(r.get(f'ct_{temp}_with'))}) | {k} | "
                       f"{fmt(r.get(f'ct_{temp}_added'))} | | | |")
        out.append(f"| sandbox: warm `pyvma build` in bubblewrap vs --no-sandbox (median of "
                   f"5, alternated) | {k} | {fmt(r.get('sb_on'))} | {fmt(r.get('sb_off'))} | "
                   f"{ratio(r.get('sb_on'), r.get('sb_off'))} | |")
        out.append(f"| ops/s, Python-driven vs native C loop | {k} | {fmt(r.get('ops_py'), 'n')} | "
                   f"{fmt(r.get('ops_c'), 'n')} | {ratio(r.get('ops_py'), r.get('ops_c'))} | ≥ 0.3× |")
        out.append(f"| diff throughput, random sequences drawn and run in C, all state "
                   f"compared (ops/s per tree; whole run with the Python-generated ones "
                   f"{fmt(r.get('diff_ops_all'), 'n')}) vs native C loop | {k} | "
                   f"{fmt(r.get('diff_ops'), 'n')} | {fmt(r.get('ops_c'), 'n')} | "
                   f"{ratio(r.get('diff_ops'), r.get('ops_c'))} | ≥ 100,000 |")
        share = r.get("callers_share")
        out.append(f"| diff fast path with the caller operations (mremap, mprotect, madvise, "
                   f"mlock, mlockall, mseal drawn in C: "
                   f"{'-' if share is None else f'{100 * share:.0f}%'} of the operations; "
                   f"ops/s per tree, all state compared) | {k} | "
                   f"{fmt(r.get('callers_ops'), 'n')} | {fmt(r.get('ops_c'), 'n')} | "
                   f"{ratio(r.get('callers_ops'), r.get('ops_c'))} | ≥ 200,000 |")
    out.append("| peak memory of `pytest tests` (max RSS) | all | "
               + (f"{peak:.0f} MiB" if peak else "not measured (--no-memory)") + " | | | |")
    notes = []
    for r in results:
        for key in ("up_cold_san_err", "up_cold_nosan_err", "py_cold_san_err",
                    "py_cold_nosan_err", "ops_err"):
            if r.get(key):
                notes.append(f"- {r['kernel']} {key[:-4]}: {r[key]}")
        for key, what in (("san", "ASan+UBSan"), ("nosan", "no sanitizers")):
            up, py = r.get(f"cold_{key}_runs", ([], []))
            if up or py:
                notes.append(f"- {r['kernel']} cold builds, {what} (s, in run order): upstream "
                             f"{' '.join(f'{x:.2f}' for x in up) or '—'}; pyvma "
                             f"{' '.join(f'{x:.2f}' for x in py) or '—'}")
        if r.get("up_tests"):
            notes.append(f"- {r['kernel']} upstream ./vma: {r['up_tests']}")
        notes.append(f"- {r['kernel']} pytest tests/upstream: {r.get('py_suite_result')}")
        for key in ("py_first", "py_loop_py", "py_loop"):
            if r.get(f"{key}_result"):
                ups, pys = r.get(f"{key}_runs", ([], []))
                notes.append(f"- {r['kernel']} patch loop ({key}): {r[f'{key}_verdict']} | "
                             f"{r[f'{key}_result']} | s, in run order: upstream "
                             f"{' '.join(f'{x:.2f}' for x in ups)}; pyvma "
                             f"{' '.join(f'{x:.2f}' for x in pys)}")
        notes.append(f"- {r['kernel']} patch loop: a local checkout (scratch copy), so not "
                     "sandboxed (bubblewrap is for debian:, .deb, tarball and patched trees)")
        if r.get("ct_cold_result"):
            notes.append(f"- {r['kernel']} pytest tests/upstream tests/upstream_c: "
                         f"{r['ct_cold_result']} (cold), {r.get('ct_warm_result')} (warm)")
    return "\n".join(out + ([""] + notes if notes else [])) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kernel", action="append")
    ap.add_argument("--rounds", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3,
                    help="cold builds per side, alternated; medians are reported")
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args()
    specs = args.kernel or ["debian:7.x", "debian:6.12"]
    results = []
    with tempfile.TemporaryDirectory(prefix="pyvma-bench-") as tmp:
        for spec in specs:
            results.append(bench_kernel(spec, args.rounds, Path(tmp), args.repeat))
    peak = 0.0 if args.no_memory else peak_memory()
    text = table(results, peak)
    print(text)
    outdir = REPO / "bench" / "results"
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / f"{results[0]['kernel']}-{os.cpu_count()}cores.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
