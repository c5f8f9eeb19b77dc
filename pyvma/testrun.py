# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma test``: the patch loop.

Every input (``--kernel``, ``--kernel-config``, ``--patch``, ``--series``,
``--patches``) is resolved and built before pytest starts: a bad one is one line and
exit 2.  By default the kernel suites run (the harness's self-tests run in ``make
test``, or when named).  Given patches, the same suites run on the base tree too (a
cached base result is reused: same build, suites and harness) and the report opens
with what the patches changed; exit 1 only if something newly fails
(``--no-base``: the plain run, its own exit status), or upstream's C tests that ran on
the base are skipped because its harness no longer builds.  Without patches, the
tests that reach what changed since a recorded base run first (pyvma/affected.py).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .affected import STDERR_VAR
from .errors import PyvmaError
from .paths import PACKAGE, REPO, TESTS

#: The suites that test a kernel tree (tests/harness tests pyvma itself).
KERNEL_SUITES = ("upstream", "upstream_c", "sticky", "merge", "model", "paths")


def default_suites() -> list[str]:
    return [str(TESTS / s) for s in KERNEL_SUITES if (TESTS / s).is_dir()]


def _harness_digest() -> str:
    """What the tests' outcomes depend on besides the build: the suites and the API."""
    h = hashlib.sha256()
    for top in (TESTS, PACKAGE):
        for p in sorted(top.rglob("*.py")):
            h.update(f"{top.name}/{p.relative_to(top)}".encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


#: pytest options that change only how results are shown or written, not which tests
#: run or how: a base result is reused across them.
_OUTPUT_ONLY = ("--ktap", "--junitxml", "--junit-xml", "--pyvma-results", "--color",
                "--tb", "--durations")


def _selection(extra: list[str]) -> list[str]:
    """The pytest arguments that choose and configure the tests (output options out)."""
    out, skip = [], False
    for a in extra:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in _OUTPUT_ONLY:
            skip = "=" not in a
            continue
        if a in ("-q", "-qq", "-v", "-vv", "--quiet", "--verbose") or a.startswith("-r"):
            continue
        out.append(a)
    return out


def _sanitizer_env(sanitizer: str | None, env: dict[str, str]) -> Path | None:
    """Set up *env* for a sanitizer run; the UBSan log directory, if any."""
    if sanitizer:
        env["PYVMA_SANITIZER"] = sanitizer
    if sanitizer == "asan":
        # ASan must be the first library of the process: run pytest under its runtime
        from vma_internal.toolchain import asan_runtime
        lib = asan_runtime()
        if not os.path.isabs(lib):
            raise PyvmaError("the ASan runtime (libasan.so) was not found: install it with "
                             "`apt-get install libasan8` or use --kernel-sanitizer ubsan")
        env["LD_PRELOAD"] = " ".join(filter(None, [lib, env.get("LD_PRELOAD")]))
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    if sanitizer == "ubsan":
        # UBSan reads where to report from its options at exec time: into files, which
        # an isolated test's failure quotes (its child's pid) and which are printed
        # after the run (a report of a test that was not isolated)
        logdir = Path(tempfile.mkdtemp(prefix="pyvma-ubsan-"))
        opts = [o for o in env.get("UBSAN_OPTIONS", "").split(":") if o]
        env["UBSAN_OPTIONS"] = ":".join(opts + [f"log_path={logdir}/ubsan",
                                                "print_stacktrace=1"])
        env["PYVMA_SANITIZER_LOG"] = f"{logdir}/ubsan"
        return logdir
    return None


def pytest_extra(pytest_args: list[str]) -> list[str]:
    """The user's pytest arguments with pyvma's defaults: ``-q``, short tracebacks
    (``--tb=short``) and the kernel suites, unless the user chose (a test path
    replaces the suites; an option's value is no test path)."""
    from .argcheck import pytest_paths
    extra = list(pytest_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    if not any(a.startswith(("-q", "-v", "--quiet", "--verbose")) for a in extra):
        extra.insert(0, "-q")
    if not any(a == "--tb" or a.startswith("--tb=") for a in extra):
        extra.insert(0, "--tb=short")
    if not pytest_paths(extra):
        extra += default_suites()
    return extra


def pytest_base(config_items: list[str], extra: list[str], env: dict[str, str]) -> list[str]:
    """pytest's command line before the kernels and *extra*; *env* gets where
    hypothesis keeps its examples.  pytest's and hypothesis's caches go under pyvma's
    cache, never into the checkout (or site-packages) pytest runs in."""
    from .cache import cache_dir
    root = cache_dir()
    # pytest's unraisable-exception plugin collects garbage five times at the end of a
    # run (0.5-1.8 s here, most of it in the kernel objects of the suites): an exception
    # in a finalizer is still printed by Python itself
    cmd = [sys.executable, "-m", "pytest", "-rs", "--rootdir", str(REPO),
           "-p", "pyvma.pytest_plugin", "-p", "no:unraisableexception"]
    if not any(a.startswith("cache_dir=") for a in extra):
        cmd += ["-o", f"cache_dir={root / 'pytest-cache'}"]
    if importlib.util.find_spec("pytest_benchmark") and \
            not any(a.startswith("--benchmark-storage") for a in extra):
        # pytest-benchmark, where installed, makes .benchmarks/ in the directory too
        cmd += [f"--benchmark-storage=file://{root / 'benchmarks'}"]
    env.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(root / "hypothesis"))
    # the suites' bytecode and pytest's rewritten asserts are kept under the cache (a
    # sandboxed run cannot write the checkout; without them each run compiles the
    # suites again: 6 s of a 9 s run on 2 cores)
    env.setdefault("PYTHONPYCACHEPREFIX", str(root / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for c in config_items:
        cmd += ["--kernel-config", c]
    return cmd


def run_tests(args: argparse.Namespace, default_kernel: str) -> int:
    from vma_internal.config import HarnessConfig

    from .build import build
    from .cache import subdir
    from .tree import resolve
    from .tree.patches import patched_tree, read_patches

    cfg = HarnessConfig.parse(args.kernel_config or [])
    specs = args.kernel or [default_kernel]
    bases = [resolve(s) for s in specs]
    ps = read_patches(args.patch, args.series, args.patches, args.three_way) \
        if (args.patch or args.series or args.patches) else None
    patched = [patched_tree(s, ps) for s in specs] if ps else []
    extra = pytest_extra(args.pytest_args)
    suites = default_suites()
    _start_c_builds(args, extra, [*patched, *bases])
    # build all before pytest starts (a compile error is one message, here)
    builds = {str(t.root): build(t, cfg, args.sanitizer) for t in [*bases, *patched]}
    from .sandbox import status  # whether the tree's code runs confined, first
    print(f"pyvma: sandbox {status()}", file=sys.stderr, flush=True)

    env = dict(os.environ)
    base_cmd = pytest_base(args.kernel_config or [], extra, env)
    logdir = _sanitizer_env(args.sanitizer, env)
    work = Path(tempfile.mkdtemp(prefix="pyvma-test-"))
    try:
        first = _plan(args, cfg, specs, bases, patched, builds, work)
        if args.affected and first.file is not None and extra[-len(suites):] == suites:
            # only the affected tests run: collect only the files that hold them
            if not first.modules:
                print(f"pyvma: no test reaches {first.functions}; --affected: nothing to "
                      "run (the full run tests the rest)")
                return 0
            extra = extra[:-len(suites)] + sorted(str(REPO / m) for m in first.modules)
        if first.maps:
            from .affected import MAPS_VAR
            env[MAPS_VAR] = ":".join(first.maps)
        if not patched or args.no_base:
            kernels = [str(t.root) for t in patched] if patched else specs
            cmd = base_cmd + [a for k in kernels for a in ("--kernel", k)] + \
                first.args(args.affected) + extra
            rc = min(subprocess.call(cmd, cwd=REPO, env=env), 2)
        else:
            rc = _run_against_base(base_cmd + first.args(args.affected), extra,
                                   dict(env, **{STDERR_VAR: "1"}), specs, bases, patched,
                                   builds, args, subdir("results"))
        _record(args, first, env)
        return rc
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if logdir is not None:
            for report in sorted(logdir.glob("ubsan.*")):
                print(f"pyvma: UBSan report ({report.name}):", file=sys.stderr)
                sys.stderr.write(report.read_text(errors="replace"))
            shutil.rmtree(logdir, ignore_errors=True)


def _start_c_builds(args: argparse.Namespace, extra: list[str], trees: list) -> None:
    """Upstream's C harness builds (ASan: the slowest part of a run after a change)
    start now, beside pyvma's build and the Python suites; the pytest child finds
    them done (or waits on their lock) when it reaches the C tests, last."""
    from .argcheck import pytest_paths
    if args.affected or not any("upstream_c" in p for p in pytest_paths(extra)):
        return
    from . import upstream_c
    for t in trees:
        if upstream_c.present(t.root):
            upstream_c.start(t)


def _plan(args: argparse.Namespace, cfg, specs: list[str], bases: list, patched: list,
          builds: dict, work: Path):
    """The affected tests' phase of this run (pyvma/affected_run.py), said first."""
    from .affected_run import Plan, plan
    if args.sanitizer:
        return Plan(note="")            # the maps are of the plain build's runs
    if patched:
        tested = [(str(t.root), t, builds[str(t.root)].key, b, builds[str(b.root)].key)
                  for t, b in zip(patched, bases)]
    else:
        tested = [(s, b, builds[str(b.root)].key, None, None) for s, b in zip(specs, bases)]
    p = plan(tested, cfg.key, work, not (args.affected or getattr(args, "no_record", False)))
    if p.note:
        print(p.note, flush=True)
    return p


def _record(args: argparse.Namespace, first, env: dict[str, str]) -> None:
    """After the run: the maps this run lacked (not with --affected or --no-record)."""
    if args.affected or getattr(args, "no_record", False) or not first.record:
        return
    from .affected_run import record
    for spec, tree, key in first.record:
        print(f"pyvma: recording which functions each test enters on {tree.version_str} "
              "(its coverage build)...", flush=True)
        print(record(spec, tree, key, args.kernel_config or [],
                     _cfg_key(args), env), flush=True)


def _cfg_key(args: argparse.Namespace) -> str:
    from vma_internal.config import HarnessConfig
    return HarnessConfig.parse(args.kernel_config or []).key


def _run_against_base(base_cmd: list[str], extra: list[str], env: dict[str, str],
                      specs: list[str], bases: list, patched: list, builds: dict,
                      args: argparse.Namespace, results_dir: Path) -> int:
    from . import results
    digest = _harness_digest()

    def cache_file(tree) -> Path:
        key = hashlib.sha256(json.dumps([builds[str(tree.root)].key, args.sanitizer,
                                         sorted(args.kernel_config or []), _selection(extra),
                                         digest])
                             .encode()).hexdigest()[:20]
        return results_dir / f"{key}.json"

    cached = {str(b.root): results.load(cache_file(b)) for b in bases}
    run = [(spec, b) for spec, b in zip(specs, bases) if not cached[str(b.root)]]
    kernels = [spec for spec, _ in run] + [str(t.root) for t in patched]
    tmp = Path(tempfile.mkdtemp(prefix="pyvma-results-"))
    try:
        out_file = tmp / "results.json"
        cmd = base_cmd + [a for k in kernels for a in ("--kernel", k)] + \
            ["--pyvma-results", str(out_file)] + extra
        names = ", ".join(t.origin.get("label", t.name) for t in patched)
        reused = len(bases) - len(run)
        print(f"pyvma: running the suites on {names}"
              + (f" and on {', '.join(b.version_str for _, b in run)}" if run else "")
              + (f" (the base's result of an identical run reused for {reused})"
                 if reused else "") + "; the full run follows the comparison", flush=True)
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        got = results.load(out_file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if proc.returncode not in (0, 1) or not got:
        sys.stdout.write(proc.stdout.decode(errors="replace"))
        return min(max(proc.returncode, 2), 2) if proc.returncode else 2
    newly_failing = 0
    for b, t in zip(bases, patched):
        base_id = results.safe_id(b.version_str)      # as the plugin names the kernel
        mine = {n: r for n, r in got.items() if r.get("kernel") == base_id}
        if mine and not args.affected:     # --affected: a part of the base's run
            from .cache import write_json_atomic
            write_json_atomic(cache_file(b), mine)
        base_records = mine or cached[str(b.root)]
        ch = results.changes(base_records, got, base_id, results.safe_id(t.name))
        newly_failing += len(ch.newly_failing) + len(ch.unbuilt)
        print(ch.text())
    print()
    sys.stdout.write(proc.stdout.decode(errors="replace"))
    return 1 if newly_failing else 0
