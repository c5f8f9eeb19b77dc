#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""mm/vma.c line and branch coverage (gcov) under pyvma's suites, beside upstream's
own C suite on the same tree; where the tree keeps entry points in mm/mmap.c (6.12),
the coverage of the functions pyvma builds from it too, on a row of its own.

    python3 scripts/coverage.py [--kernel debian:7.x] [--tests tests]

Builds the tree with --coverage, runs the pytest suites against it, and builds and
runs upstream's `tools/testing/vma` with --coverage on a hard-linked scratch copy.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))      # pyvma of this checkout, installed or not

from pyvma import tree as ptree  # noqa: E402
from pyvma.build import build  # noqa: E402
from pyvma.build.coverage import counters_dir, gcov_env, pct, read_gcda, units  # noqa: E402

TARGET_LINES, TARGET_BRANCHES = 85.0, 75.0


def gcov_stats(gcda: Path) -> tuple[int, int, int, int]:
    """(lines, covered lines, branches, taken branches) of mm/vma.c from one .gcda."""
    f = read_gcda(gcda, ("mm/vma.c",)).get("mm/vma.c")
    if f is None:
        return 0, 0, 0, 0
    return f.lines, f.lines_reached, f.branches, f.branches_taken


def unit_stats(gcda: Path, source: str) -> tuple[int, int, int, int]:
    """(lines, covered lines, branches, taken branches) of *source* from one unit."""
    f = read_gcda(gcda, (source,)).get(source)
    if f is None:
        return 0, 0, 0, 0
    return f.lines, f.lines_reached, f.branches, f.branches_taken


def pyvma_coverage(spec: str, tests: list[str]) -> tuple:
    tree = ptree.resolve(spec)
    b = build(tree, sanitizer="coverage")
    for g in b.dir.rglob("*.gcda"):
        g.unlink()
    counters = counters_dir(b, b.dir / "obj")
    # the counts go where the objects were compiled (a temp dir since renamed):
    # written beside the .gcno in the build instead
    env = dict(os.environ, PYVMA_SANITIZER="coverage", **gcov_env(b, b.dir / "obj"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--kernel", spec, *tests], cwd=REPO, env=env,
                          capture_output=True, text=True)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    # per source: mm/vma.c from the unit holding it, then each file outside mm/vma*.c
    # the build took entry points from (6.12: mm/mmap.c), from its own unit
    stats: dict[str, tuple] = {}
    for unit, source in zip(units(b), ["mm/vma.c", *b.info.get("outside", {})]):
        gcda = counters / f"{unit}.gcda"
        if not gcda.is_file():
            raise SystemExit(f"no coverage data of {unit} written (pytest: {summary})")
        shutil.copyfile(b.dir / "obj" / f"{unit}.gcno", gcda.with_suffix(".gcno"))
        stats[source] = unit_stats(gcda, source)
    return tree, stats, b.info.get("outside", {}), summary


def upstream_coverage(tree: Path, work: Path) -> tuple | str:
    from pyvma.tree.scratch import upstream_scratch
    d = upstream_scratch(tree, work / "upstream", sanitizers=False)
    vma = d / "tools" / "testing" / "vma"
    proc = subprocess.run(["make", "-C", str(vma), "-j2", "EXTRA_CFLAGS=--coverage"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        errs = [l for l in (proc.stdout + proc.stderr).splitlines() if "error" in l.lower()]
        return f"upstream harness does not build: {(errs or ['?'])[-1][:160]}"
    subprocess.run([str(vma / "vma")], capture_output=True, text=True, cwd=vma)
    gcda = vma / "main.gcda"
    if not gcda.exists():
        return "upstream run wrote no coverage data"
    return gcov_stats(gcda)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kernel", default="debian:7.x")
    ap.add_argument("--tests", nargs="*", default=["tests/upstream", "tests/sticky",
                                                     "tests/merge", "tests/model",
                                                     "tests/paths"])
    args = ap.parse_args()
    tree, stats, outside, summary = pyvma_coverage(args.kernel, args.tests)
    with tempfile.TemporaryDirectory(prefix="pyvma-cov-") as tmp:
        up = upstream_coverage(tree.root, Path(tmp))
    print(f"# mm/vma.c coverage, {tree.version_str}\n")
    print("| suite | file | lines | branches taken |")
    print("|---|---|---|---|")
    for source, (l, lc, br, bt) in stats.items():
        what = source if source == "mm/vma.c" else \
            f"{source} ({len(outside[source])} entry points: {', '.join(outside[source])})"
        print(f"| pyvma ({' '.join(args.tests)}) | {what} | {pct(lc, l)} ({lc}/{l}) | "
              f"{pct(bt, br)} ({bt}/{br}) |")
    if isinstance(up, str):
        print(f"| upstream tools/testing/vma | mm/vma.c | {up} | |")
    else:
        ul, ulc, ubr, ubt, *_ = up
        print(f"| upstream tools/testing/vma | mm/vma.c | {pct(ulc, ul)} ({ulc}/{ul}) | "
              f"{pct(ubt, ubr)} ({ubt}/{ubr}) |")
    print(f"\npytest: {summary}")
    print(f"target: ≥ {TARGET_LINES:.0f}% lines, ≥ {TARGET_BRANCHES:.0f}% branches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
