# SPDX-License-Identifier: GPL-2.0-or-later
"""The kernel matrix: the kernel suites on every linux-source version Debian serves.

For each version of each package (default: linux-source-6.12, -7.2, -7.3) that
Debian's package lists name today, the tree is ``debian:package=version`` (as
`pyvma fetch debian:linux-source-6.12=6.12.113-1` fetches it: only the subtrees
the build needs are kept, the .deb under the cache's debs/) and ``pytest`` runs
the kernel suites against it.  Trees with the vma_flags_t bitmap also run with
NUM_VMA_FLAG_BITS=128 (upstream's width); the newest tree of the newest series
also runs with each non-default tunable.

One line per run: package, version, config, passed, failed, skipped, xfailed,
seconds.  ``--markdown`` prints the table for the README.  Exit 1 if any run
failed, 2 if a version could not be fetched.

    python3 scripts/matrix.py                 # everything
    python3 scripts/matrix.py --newest        # the newest version of each series
    python3 scripts/matrix.py --series 7.2 --markdown
"""
from __future__ import annotations

import argparse
import functools
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyvma import tree as ptree  # noqa: E402
from pyvma.cache import cache_dir  # noqa: E402
from pyvma.errors import PyvmaError  # noqa: E402
from vma_internal.config import BASE_CONFIG, REFUSED, TUNABLE  # noqa: E402

SERIES = ("6.12", "7.2", "7.3")
SUITES = ("tests/upstream", "tests/sticky", "tests/merge", "tests/model", "tests/paths")
WIDE = "NUM_VMA_FLAG_BITS=128"


@dataclass
class Row:
    """One pytest run of the kernel suites."""

    package: str
    version: str
    config: str
    counts: dict[str, int]
    seconds: float
    note: str = ""

    @property
    def green(self) -> bool:
        return not self.note and not self.counts.get("failed") and not self.counts.get("error")

    def line(self) -> str:
        c = self.counts
        text = (f"{self.package:<18} {self.version:<18} {self.config:<24} "
                f"passed {c.get('passed', 0):>5}  failed {c.get('failed', 0) + c.get('error', 0):>3}"
                f"  skipped {c.get('skipped', 0):>4}  xfailed {c.get('xfailed', 0):>2}"
                f"  seconds {self.seconds:6.1f}")
        return text + (f"  {self.note}" if self.note else "")

    def markdown(self) -> str:
        c = self.counts
        return (f"| {self.package} | {self.version} | {self.config} | {c.get('passed', 0)} | "
                f"{c.get('failed', 0) + c.get('error', 0)} | {c.get('skipped', 0)} | "
                f"{c.get('xfailed', 0)} | {self.seconds:.1f} |")


def _dpkg_cmp(a: str, b: str) -> int:
    if a == b:
        return 0
    gt = subprocess.run(["dpkg", "--compare-versions", a, "gt", b]).returncode == 0
    return -1 if gt else 1


def served_versions(apt: ptree.DebianApt, package: str) -> list[str]:
    """Every version of ``package`` the package lists name, newest first."""
    proc = subprocess.run(["apt-cache", *apt.options(), "madison", package],
                          capture_output=True, text=True)
    found = {m.group(1) for m in re.finditer(r"^\s*\S+\s*\|\s*(\S+)\s*\|", proc.stdout, re.M)}
    return sorted(found, key=functools.cmp_to_key(_dpkg_cmp))


def tree_of(package: str, version: str, cache: Path) -> ptree.KernelTree:
    """The extracted tree of package=version: ``debian:package=version``, the tree
    a `pyvma fetch` of that spec serves (one tree per .deb, fetched and extracted
    once, its sha256 checked against Debian's lists)."""
    return ptree.resolve(f"debian:{package}={version}", cache=cache)


def run_suites(tree: Path, config: str | None, xdist: int) -> tuple[dict[str, int], float, str]:
    """pytest's counts for the kernel suites on ``tree``, its wall seconds, a note."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "--kernel", str(tree), *SUITES]
    if config:
        cmd += ["--kernel-config", config]
    if xdist > 1:
        cmd += ["-n", str(xdist)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (\w+)", last.split(" in ")[0])}
    counts.setdefault("error", counts.pop("errors", 0))
    note = "" if proc.returncode in (0, 1) else f"pytest exit {proc.returncode}: {last}"
    if proc.returncode == 1:
        failed = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        note = "; ".join(failed[:3])
    return counts, seconds, note


def tunables() -> list[str]:
    """Every non-default value of a tunable the harness offers."""
    out = []
    for name in sorted(TUNABLE):
        val = not BASE_CONFIG.get(name, False)
        if (name, val) not in REFUSED:
            out.append(f"{name}={'y' if val else 'n'}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default=",".join(SERIES),
                    help=f"comma-separated X.Y (default {','.join(SERIES)})")
    ap.add_argument("--newest", action="store_true", help="only the newest version of each")
    ap.add_argument("--max-versions", type=int, default=0,
                    help="at most this many versions of each series, newest first")
    ap.add_argument("--no-configs", action="store_true",
                    help="no NUM_VMA_FLAG_BITS=128 or tunable runs")
    ap.add_argument("-n", type=int, default=1, help="pytest-xdist workers per run")
    ap.add_argument("--markdown", action="store_true", help="also print the README table")
    args = ap.parse_args(argv)

    cache = cache_dir()
    apt = ptree.DebianApt(cache)
    apt.update()
    rows: list[Row] = []
    fetch_failed = False
    series = [s.strip() for s in args.series.split(",") if s.strip()]
    newest_series = max(series, key=lambda s: tuple(map(int, s.split("."))))
    for s in series:
        package = f"linux-source-{s}"
        versions = served_versions(apt, package)
        if not versions:
            print(f"matrix: Debian serves no {package}", file=sys.stderr, flush=True)
            fetch_failed = True
            continue
        if args.newest:
            versions = versions[:1]
        elif args.max_versions:
            versions = versions[:args.max_versions]
        for i, version in enumerate(versions):
            try:
                tree = tree_of(package, version, cache)
            except PyvmaError as exc:
                print(f"matrix: {package}={version}: {exc}", file=sys.stderr, flush=True)
                fetch_failed = True
                continue
            configs: list[str | None] = [None]
            if not args.no_configs:
                if tree.has("vma_flags_t"):
                    configs.append(WIDE)
                if s == newest_series and i == 0:
                    configs += tunables()
            for config in configs:
                counts, seconds, note = run_suites(tree.root, config, args.n)
                row = Row(package, version, config or "default", counts, seconds, note)
                rows.append(row)
                print(row.line(), flush=True)
    if args.markdown:
        print("\n| package | version | config | passed | failed | skipped | xfailed | seconds |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in rows:
            print(row.markdown())
    if fetch_failed:
        return 2
    return 0 if all(r.green for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
