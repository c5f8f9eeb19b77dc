# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma mutate``: plan the mutants, run those without a cached result as a
pytest-xdist campaign (campaign.py), report on all of them (report.py)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..argcheck import config_item, finite_range, int_range, kernel_spec
from ..errors import PyvmaError

DEFAULT_KERNEL = "debian:7.x"
#: The mutants marked equivalent, with why (ids are of the file, function and line
#: text, so a mark carries over to every tree with the same line).
EQUIVALENTS = Path(__file__).with_name("equivalents.txt")


def add_parser(sub: Any) -> None:
    """The ``mutate`` subcommand's options."""
    sp = sub.add_parser("mutate", help="mutation testing: would the suites and diff notice "
                        "a one-line bug in mm/vma.c, vma_exec.c, vma_init.c or mm.h's masks?")
    sp.add_argument("--kernel", default=DEFAULT_KERNEL, metavar="SPEC", type=kernel_spec,
                    help=f"the tree to mutate (default {DEFAULT_KERNEL})")
    sp.add_argument("--kernel-config", action="append", default=[], metavar="CONFIG_X=y|n",
                    type=config_item)
    sp.add_argument("--patch", action="append", default=[], metavar="FILE",
                    help="mutate only the lines these patches change (repeatable)")
    sp.add_argument("--series", metavar="MBOX", help="mutate only the lines this series changes")
    sp.add_argument("--patches", metavar="N-M", help="the patches of the series to apply")
    sp.add_argument("--functions", metavar="NAME,...", help="only these functions (or masks)")
    sp.add_argument("--sample", type=int_range(1, 10**6, "--sample"), metavar="N",
                    help="run N mutants spread over files and functions")
    sp.add_argument("--seed", type=int_range(0, 2**32 - 1, "--seed"), default=1,
                    help="the sample's seed (default 1)")
    sp.add_argument("-n", "--workers", default="auto", metavar="N|auto",
                    help="local pytest-xdist workers (0: in this process; default auto)")
    sp.add_argument("--tx", action="append", default=[], metavar="XSPEC",
                    help="pytest-xdist worker spec instead of -n (repeatable; e.g. "
                         "ssh=host//python=python3, popen)")
    sp.add_argument("--rsyncdir", action="append", default=[], metavar="DIR",
                    help="with --tx ssh=...: directories xdist copies to the hosts")
    sp.add_argument("--diff-seconds", type=finite_range(0, 10**5, "--diff-seconds"),
                    default=10.0, help="pyvma diff's random-sequence budget a mutant (10)")
    sp.add_argument("--equivalents", metavar="FILE", default=str(EQUIVALENTS),
                    help="mutant ids marked equivalent (ID  # why), counted apart "
                         "(default: pyvma/mutate/equivalents.txt)")
    sp.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--keep", action="store_true",
                    help="keep each mutant's scratch tree and build in the cache")
    sp.add_argument("--no-sandbox", action="store_true",
                    help="run an untrusted tree's mutants as root unconfined (mutate cannot "
                         "run in bubblewrap: its mutant trees are written to the cache)")
    sp.set_defaults(fn=cmd_mutate)


def _base_args(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for f in args.patch:
        out += ["--patch", str(Path(f).expanduser().absolute())]
    if args.series:
        out += ["--series", str(Path(args.series).expanduser().absolute())]
        if args.patches:
            out += ["--patches", args.patches]
    elif args.patches:
        raise PyvmaError("--patches chooses patches of a --series; give the series' mbox")
    return out


def _workers_ok(text: str) -> str:
    if text != "auto" and not text.isdigit():
        raise PyvmaError(f"-n {text}: give a number of workers or auto")
    return text


def _xdist_args(args: argparse.Namespace) -> list[str]:
    if args.tx:
        out = [a for t in args.tx for a in ("--tx", t)] + ["--dist", "load"]
        return out + [a for d in args.rsyncdir for a in ("--rsyncdir", d)]
    return ["-n", _workers_ok(args.workers)]


def run_campaign(plan: dict[str, Any], xdist: list[str], run_dir: Path) -> list[dict[str, Any]]:
    """Run the plan's mutants as pytest items; the merged results."""
    import pyvma
    plan_file = run_dir / "mutate-plan.json"
    out_file = run_dir / "results.json"
    plan_file.write_text(json.dumps(plan))
    env = dict(os.environ)
    src = str(Path(pyvma.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [sys.executable, "-m", "pytest", "-p", "pyvma.mutate.campaign", "-p",
           "no:cacheprovider", "-o", "addopts=", "--rootdir", str(run_dir), "-q",
           "--no-header", "-p", "no:randomly", "-p", "no:benchmark", "--basetemp",
           str(run_dir / "tmp"), "--mutate-out", str(out_file), *xdist,
           str(plan_file)]
    sys.stdout.flush()
    # progress on stderr: stdout is the report's (--json)
    proc = subprocess.run(cmd, cwd=run_dir, env=env, stdout=sys.stderr.fileno())
    try:
        return json.loads(out_file.read_text())
    except (OSError, ValueError):
        raise PyvmaError(f"the mutation campaign ended (pytest exit {proc.returncode}) "
                         f"without results; its plan is {plan_file}") from None


def cmd_mutate(args: argparse.Namespace) -> int:
    from ..cache import subdir, write_json_atomic
    from ..tree import resolve
    from . import report
    from .mutants import generate, sample
    from .run import Options, base_tree, cached_result, patch_file, result_key
    from .sites import changed_lines

    xdist = _xdist_args(args)           # checked before anything runs
    equivalents = report.read_equivalents(args.equivalents)
    base_args = _base_args(args)
    plain = resolve(args.kernel)
    from ..sandbox import refuse_unconfined
    refuse_unconfined("mutate", args.kernel, plain, list(args.patch), args.series,
                      args.no_sandbox or args.list)
    opts = Options(spec=args.kernel, root="", base_args=base_args,
                   config=list(args.kernel_config), diff_seconds=args.diff_seconds,
                   keep=args.keep)
    base = base_tree(opts)
    opts.root = str(base.root)          # the workers' pristine tree, series applied
    only = None
    if base_args:
        only = {}
        for rel in ("mm/vma.c", "mm/vma_exec.c", "mm/vma_init.c", "include/linux/mm.h"):
            before, after = plain.root / rel, base.root / rel
            if after.is_file():
                old = before.read_text(errors="surrogateescape") if before.is_file() else ""
                only[rel] = changed_lines(old, after.read_text(errors="surrogateescape"))
    functions = set(args.functions.split(",")) if args.functions else None
    mutants = generate(base.root, only, functions)
    if functions and not mutants:
        raise PyvmaError(f"--functions {args.functions}: no mutant in these functions of "
                         f"{base.version_str} (names as the tree defines them)")
    if args.sample:
        mutants = sample(mutants, args.sample, args.seed)
    label = base.origin.get("label") or base.version_str
    if args.list:
        for m in mutants:
            print(f"{m.id} {m.change()}")
        print(f"{len(mutants)} mutants of {label}")
        return 0
    kernel_args = ["--kernel", args.kernel] if not base_args else ["--kernel", str(base.root)]
    base_hash = base.content_hash()
    results: list[dict[str, Any]] = []
    todo = []
    for m in mutants:
        patch = patch_file(m, base.root)
        got = cached_result(result_key(m, base_hash, patch.read_text(), opts))
        if got:
            results.append({**got, "patch": str(patch)})
        else:
            todo.append(m)
    print(f"pyvma mutate: {label}: {len(mutants)} mutants"
          + (f" (a sample, seed {args.seed})" if args.sample else "")
          + f", {len(results)} with a cached result, {len(todo)} to run", file=sys.stderr,
          flush=True)
    if todo:
        run_dir = subdir("mutate") / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        run_dir.mkdir(parents=True)
        plan = {"options": vars(opts), "mutants": [m.as_dict() for m in todo]}
        t0 = time.monotonic()
        new = run_campaign(plan, xdist, run_dir)
        for res in new:
            m_patch = subdir("mutate") / "patches" / f"{res['id']}.patch"
            res["patch"] = str(m_patch)
            if res.get("key") and res.get("status") != "error":
                write_json_atomic(subdir("mutate") / "results" / f"{res['key']}.json", res)
        results += new
        print(f"pyvma mutate: {len(new)} mutants run in {time.monotonic() - t0:.0f} s",
              file=sys.stderr)
    title = f"pyvma mutate: {label} ({base.root})"
    fmt = report.as_json if args.json else report.text
    print(fmt(results, equivalents, title, kernel_args, len(mutants)))
    return 0
