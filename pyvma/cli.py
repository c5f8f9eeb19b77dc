# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``pyvma`` command.

    pyvma test   [--kernel SPEC]... [--kernel-config CONFIG_X=y|n]...
                 [--patch FILE]... [--series MBOX] [--kernel-sanitizer ubsan|asan]
                 [-- PYTEST ARGS]
    pyvma build  --kernel SPEC [--kernel-config ...] [--kernel-sanitizer ubsan|asan|coverage]
    pyvma shim   --kernel SPEC [--kernel-config ...] [--report]
    pyvma diff   A B [--seed N] [--sequences N] [--length N] [--json] [--coverage]
    pyvma replay --kernel SPEC... --ops JSON
    pyvma fuzz   [--kernel SPEC] [--minutes M]
    pyvma fetch  SPEC...
    pyvma cache  list|clear [--keep-kernels]|collect
    pyvma mutate [--kernel SPEC] [--series MBOX] [--sample N] [-n N|--tx SPEC] [--json]

``--sanitizer`` is accepted as the old spelling of ``--kernel-sanitizer`` (the
pytest plugin's name for it).

Exit status: 0 success, 1 test failures, 2 an error (message on stderr).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from .argcheck import (
    ConfigItems,
    Once,
    OneLineParser,
    config_item,
    finite_range,
    flag_names,
    int_range,
    kernel_spec,
    ops_json,
    ops_json_text,
)
from .errors import PyvmaError, wrap_shim_errors
from .paths import TESTS, harness

DEFAULT_KERNEL = "debian:7.x"
THREE_WAY_HELP = ("a patch that does not apply is merged 3-way (as git am -3) where the "
                  "base is a git checkout (DIR or DIR@REF) holding its pre-image blobs")
PATCHES_HELP = ("apply only these patches of the series, chosen on purpose (b4's -P syntax: "
                "1-8, 1,3,5-)")


def _config(items: list[str]):
    from vma_internal.config import HarnessConfig
    return HarnessConfig.parse(items or [])


def _tree(spec: str, patches: list[str] | None = None, series: str | None = None,
          chosen: str | None = None):
    from .tree.patches import patched
    return patched(spec, patches or [], series, chosen=chosen)


def _kernel(spec: str, patches=None, series=None, config_items=None, chosen=None,
            sanitizer: str | None = None):
    from .api import load_tree
    return load_tree(_tree(spec, patches, series, chosen), _config(config_items or []),
                     sanitizer)


def cmd_diff(args: argparse.Namespace) -> int:
    from .engine.diff import diff, diff_coverage
    from .engine.report import report_json, report_text
    san = "coverage" if args.coverage else None     # gcov builds, their own build keys
    a = _kernel(args.a, args.a_patch, args.a_series, args.kernel_config, args.a_patches, san)
    b = _kernel(args.b, args.b_patch, args.b_series, args.kernel_config, args.b_patches, san)
    run = diff_coverage if args.coverage else diff
    divs, stats = run(a, b, seed=args.seed, sequences=args.sequences, length=args.length,
                       seconds=args.seconds, use_corpus=not args.no_corpus)
    print((report_json if args.json else report_text)(a, b, divs, stats))
    return 1 if divs else 0


class _KernelGroup(argparse.Action):
    """``--kernel SPEC [--patch F]... [--series MBOX [--patches N-M]]``, repeatable: the
    patch options belong to the --kernel before them (as replay lines print them)."""

    def __call__(self, parser, namespace, value, option_string=None):
        groups = getattr(namespace, "kernels", None) or []
        if option_string == "--kernel":
            groups.append({"spec": value, "patch": [], "series": None, "patches": None})
        elif not groups:
            parser.error(f"{option_string} must follow the --kernel it applies to")
        elif option_string == "--patch":
            groups[-1]["patch"].append(value)
        else:
            groups[-1][option_string.lstrip("-")] = value
        namespace.kernels = groups


MAX_MAPS = 64 << 20


def _maps_text(path: str) -> str:
    """The text of ``--maps``: a regular file (/proc/PID/smaps is one) of at most
    MAX_MAPS bytes; a FIFO or device is refused, never waited on."""
    import os
    import stat
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise PyvmaError(f"--maps {path}: cannot read it ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PyvmaError(f"--maps {path}: not a regular file; give a saved "
                             "/proc/PID/smaps or maps (or the file itself)")
        try:
            data = f.read(MAX_MAPS + 1)
        except OSError as exc:
            raise PyvmaError(f"--maps {path}: cannot read it ({exc.strerror})") from None
    if len(data) > MAX_MAPS:
        raise PyvmaError(f"--maps {path}: larger than {MAX_MAPS >> 20} MiB; give one "
                         "process's maps")
    return data.decode("utf-8", errors="replace")


def _around(op: tuple, before: tuple, after: tuple, draw) -> str:
    """A loaded process's layout after *op*, drawn around what it changed (or, if
    nothing, the pages it names): the VMAs there and two either side."""
    from .api.diagram import near
    changed = set(before) ^ set(after)
    nums = [a for a in op[1:3] if isinstance(a, int)]
    if changed:
        lo, hi = min(r[0] for r in changed), max(r[1] for r in changed)
    elif nums:
        lo, hi = min(nums), max(nums)
    else:
        lo, hi = 0, 0
    i, j = near(after, lo, hi)
    hidden = [f"{n} VMAs {where} not shown" for n, where in
              ((i, "below"), (len(after) - j, "above")) if n]
    return draw(after[i:j]) + (f"\n({'; '.join(hidden)})" if hidden else "")


def cmd_replay(args: argparse.Namespace) -> int:
    import json as _json

    from .api.mm import MM
    from .engine.diff import state_skip
    from .engine.ops import World, apply
    from .engine.report import describe, layout_diagram
    ops = [tuple(op) for op in _json.loads(args.ops)]
    groups = args.kernels or [{"spec": DEFAULT_KERNEL, "patch": [], "series": None,
                               "patches": None}]
    kernels = [_kernel(g["spec"], g["patch"], g["series"], args.kernel_config, g["patches"])
               for g in groups]
    for k in kernels:
        print(f"kernel {k.name}: {k.label}")
    results = []
    starts = []
    maps_text = _maps_text(args.maps) if args.maps else None
    for k in kernels:
        k.clear_warnings()
        k.reset_services()
        with (k.mm() if maps_text is None else MM.from_smaps(k, maps_text)) as mm:
            w = World(k, mm)
            starts.append(w.layout())
            if maps_text is not None:
                print(f"{k.name}: loaded {args.maps}: {len(starts[-1])} VMAs\n"
                      + layout_diagram(starts[-1]))
            results.append([apply(w, op) for op in ops])
        k.clear_warnings()
    for i, op in enumerate(ops):
        print(f"{i + 1}. {describe(op)}")
        for k, start, res in zip(kernels, starts, results):
            o = res[i]
            extra = (f"  WARN {'; '.join(o.warns)}" if o.warns else "") + \
                (f"  BUG {o.bug}" if o.bug else "")
            print(f"   {k.name}: ret {o.ret}{extra}")
            text = layout_diagram(o.layout) if maps_text is None else \
                _around(op, res[i - 1].layout if i else start, o.layout, layout_diagram)
            print("\n".join("      " + l for l in text.splitlines()))
    skip = state_skip(kernels)
    for i in range(len(ops)):
        states = [{n: v for n, v in r[i].state.items() if n not in skip} for r in results]
        if any(st != states[0] for st in states):
            print(f"state after {i + 1} differs: "
                  + " | ".join(f"{k.name} {st}" for k, st in zip(kernels, states)))
    finals = {tuple(r[-1].key(skip=skip)) for r in results} if ops else set()
    return 1 if len(finals) > 1 else 0


def replay_checked(args: argparse.Namespace) -> int:
    """``cmd_replay`` once every flag name of ``--ops`` is a flag of a kernel given
    (a flag one tree lacks is how trees differ; one no tree has is a typo)."""
    if args.maps:
        _maps_text(args.maps)           # a FIFO or a huge file: refused before any build
    groups = args.kernels or [{"spec": DEFAULT_KERNEL, "patch": [], "series": None,
                               "patches": None}]
    kernels = [_kernel(g["spec"], g["patch"], g["series"], args.kernel_config, g["patches"])
               for g in groups]
    unknown = [n for n in flag_names(ops_json(args.ops))
               if not any(k.has_flag(n) or k.mask(n) for k in kernels)]
    if unknown:
        raise PyvmaError(f"--ops: {', '.join(unknown)}: not a flag of "
                         f"{' or '.join(k.name for k in kernels)} with this config; "
                         f"give flags these kernels have (e.g. {kernels[0].flag_names[0]})")
    return cmd_replay(args)


def cmd_oracle(args: argparse.Namespace) -> int:
    """Scenarios (built-in or --scenarios files) or --random sequences on the running
    kernel and on a tree; exit 1 on a disagreement."""
    import random as _random
    import time as _time

    from .cache import cache_dir
    from .oracle import compare, corpus, report, runner, scenario, versions
    spec = args.kernel
    if spec == "running":
        spec, how = versions.resolve_running()
        print(f"pyvma oracle: --kernel running: {spec} ({how})", file=sys.stderr)
    scs = [s for f in args.scenarios for s in scenario.load(f)] if args.scenarios else None
    config = list(args.kernel_config)
    if not any(c.startswith("CONFIG_MEM_SOFT_DIRTY=") for c in config) and \
            not compare.live_soft_dirty():
        config.append("CONFIG_MEM_SOFT_DIRTY=n")      # as the running kernel shows it
    k = _kernel(spec, args.patch, args.series, config, args.patches)
    ctx = compare.Context.make(k)
    if args.random is not None or args.seconds is not None:
        seed = args.seed if args.seed is not None else _random.randrange(1 << 32)
        t0 = _time.monotonic()
        print("\n".join(report.header(k, ctx)))
        counts, _, nops = runner.random_run(
            ctx, args.random, args.seconds, seed, args.window, args.length,
            cache_dir() / "oracle", lambda sc: runner.reproduce(spec, list(args.kernel_config), sc))
        print(runner.summary(ctx, counts, nops, seed, args.window, args.length,
                             _time.monotonic() - t0))
        return 1 if counts["disagree"] or counts["error"] else 0
    verdicts = [compare.judge(ctx, sc) for sc in (scs or corpus.scenarios(small=args.small))]
    print(report.as_json(k, ctx, verdicts) if args.json
          else report.text(k, ctx, verdicts, verbose=args.verbose))
    return 1 if any(v.status in ("disagree", "error") for v in verdicts) else 0


def cmd_fuzz(args: argparse.Namespace) -> int:
    """Hold the kernel to the reference model for --minutes; keep what fails."""
    import time as _time

    from hypothesis import HealthCheck, settings

    from .engine.model import Checker, make_state_machine, save_regression
    k = _kernel(args.kernel, args.patch, args.series, args.kernel_config, args.patches)
    print(f"pyvma fuzz: {k.label}")
    machine = make_state_machine(k)
    machine.TestCase.settings = settings(max_examples=args.batch, stateful_step_count=40,
                                         deadline=None, database=None,
                                         suppress_health_check=list(HealthCheck))
    t_end = _time.monotonic() + args.minutes * 60
    rounds = 0
    while _time.monotonic() < t_end:
        rounds += 1
        try:
            machine.TestCase().runTest()
        except AssertionError as exc:
            print(f"pyvma fuzz: {k.name}: the kernel disagrees with the model\n{exc}")
            if Checker.last_failure:
                path = save_regression(k, Checker.last_failure, Path(args.save_dir))
                print(f"saved as regression case {path}")
            return 1
    print(f"pyvma fuzz: {k.name}: {rounds * args.batch} sequences in "
          f"{args.minutes} min, no disagreement with the model")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from .tree import resolve
    for spec in args.specs:
        tree = resolve(spec)
        deb = tree.origin.get("debian_version") or tree.origin.get("package", "")
        print(f"{spec}\t{tree.version_str}\t{tree.root}" + (f"\t{deb}" if deb else ""))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from .build import build
    from .tree.patches import patched
    tree = patched(args.kernel, args.patch, args.series, chosen=args.patches,
                   three_way=args.three_way)
    b = build(tree, _config(args.kernel_config), args.sanitizer)
    secs = b.info.get("seconds", {})
    print(f"kernel   {tree.origin.get('label') or tree.version_str} ({tree.root})")
    from .sandbox import status
    print(f"sandbox  {status()}")
    print(f"build    {b.key}  {b.module_path}")
    print(f"shim     {b.info['shim']['extracted']} extracted, {b.info['shim']['stubs']} stubs, "
          f"{len(b.info['shim']['demoted'])} demoted")
    for hook, names in b.info.get("hooks", {}).items():
        print(f"hook     {hook}: {', '.join(names)}")
    unmatched = b.info.get("manifest_unmatched", [])
    if unmatched:
        print(f"unused   {len(unmatched)} manifest hooks bind nothing in this tree: "
              f"{', '.join(unmatched)}")
    if secs:
        print(f"seconds  shim {secs['shim']}  support {secs['support_objects']}  "
              f"total {secs['total']}")
    return 0


def cmd_shim(args: argparse.Namespace) -> int:
    from vma_internal.shim import build_shim

    from . import paths
    from .cache import subdir
    from .tree import resolve
    tree = resolve(args.kernel)
    work = Path(tempfile.mkdtemp(prefix="shim-", dir=subdir("tmp")))
    try:
        with wrap_shim_errors():
            res = build_shim(tree.root, _config(args.kernel_config), work, paths.harness())
        if args.report:
            print(shim_report(res.shim, tree))
        else:
            sys.stdout.write(res.shim.text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def shim_report(shim, tree) -> str:
    """Every definition with its tree location, every stub, every demotion."""
    lines = [f"# pyvma shim report for {tree.version_str} ({tree.root})",
             f"# include guard {shim.guard}; {len(shim.extracted)} definitions extracted, "
             f"{len(shim.stubs)} stubs, {len(shim.demoted)} demoted", "",
             "## extracted (file:line kind name [#if conditions left to cpp])"]
    for d in sorted(shim.extracted, key=lambda d: (d.file, d.line)):
        cond = f"  [#if {' && '.join(d.conds)}]" if d.conds else ""
        names = d.name if d.kind != "enum" else ", ".join(d.names[:8]) + \
            (" ..." if len(d.names) > 8 else "")
        lines.append(f"{d.file}:{d.line}\t{d.kind}\t{names}{cond}")
    lines += ["", "## stubs (made from the tree's prototype)"]
    from vma_internal import manifest
    for s in sorted(shim.stubs, key=lambda s: s.name):
        how = f"hook: {s.call}" + (f" (by {s.matched})" if s.matched != "name" else "") \
            if s.call else ("returns " + manifest.STUB_RETURNS[s.name]) \
            if s.name in manifest.STUB_RETURNS else "no-op" if s.ret == "void" else "returns 0"
        lines.append(f"{s.proto.where}\tstub\t{s.name}\t{how}")
    lines += ["", "## demoted to stubs or dropped (did not compile in userland)"]
    for name, why in sorted(shim.demoted.items()):
        lines.append(f"{name}\t{why}")
    from vma_internal import outside  # the entry points kept outside mm/vma*.c
    lines += outside.report_lines(tree.root, harness(tree.cache).parse_cache)
    return "\n".join(lines)


def cmd_test(args: argparse.Namespace) -> int:
    from .testrun import run_tests
    return run_tests(args, DEFAULT_KERNEL)


def cmd_cache(args: argparse.Namespace) -> int:
    from .cache import cache_dir, clear, collect_stale, usage
    root = cache_dir()
    if args.action == "list":
        from .inputs import printable
        from .tree.markers import recorded_identity
        rows = usage(root)
        for name, size in rows:
            ident = recorded_identity(root / name) if name.startswith("kernels/patched-") \
                else None
            what = f"\t{printable(str(ident['label']))}" if ident else ""
            print(f"{name}\t{size / (1 << 20):.1f} MiB{what}")
        print(f"total\t{sum(s for _, s in rows) / (1 << 20):.1f} MiB\t{root}")
        return 0
    if args.action == "collect":
        for p in collect_stale(root):
            print(f"removed {p}")
        return 0
    gone, alien = clear(root, keep_kernels=args.keep_kernels)
    kept = "locks/" + (", kernels/ and debs/" if args.keep_kernels else "")
    print(f"cleared {root}: {' '.join(gone) or 'nothing to clear'} (kept {kept})"
          + (f"; left alone, not pyvma's: {' '.join(alien)}" if alien else ""))
    return 0


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="pyvma", description="Test a kernel tree's mm/vma.c "
                                "from Python (see README.md).")
    sub = p.add_subparsers(dest="cmd", required=True)

    def kernel_opts(sp, many: bool = False):
        if many:
            sp.add_argument("--kernel", action="append", metavar="SPEC", type=kernel_spec,
                            help=f"kernel tree (repeatable; default {DEFAULT_KERNEL})")
        else:
            sp.add_argument("--kernel", default=DEFAULT_KERNEL, metavar="SPEC",
                            type=kernel_spec, help="DIR, DIR@REF, linux-source .deb/tarball, or "
                                 f"debian:linux-source-X.Y (default {DEFAULT_KERNEL})")
        sp.add_argument("--kernel-config", action=ConfigItems, default=[],
                        metavar="CONFIG_X=y|n", type=config_item)

    sp = sub.add_parser("test", help="run the kernel suites against kernel trees (with "
                        "patches: against the base tree too, reporting what changed)")
    kernel_opts(sp, many=True)
    sp.add_argument("--patch", action="append", default=[], metavar="FILE",
                    help="apply this patch to a scratch copy of each kernel (repeatable)")
    sp.add_argument("--series", metavar="MBOX", help="apply a git format-patch/lore series")
    sp.add_argument("--patches", metavar="N-M", help=PATCHES_HELP)
    sp.add_argument("--3way", dest="three_way", action="store_true", help=THREE_WAY_HELP)
    sp.add_argument("--no-base", action="store_true",
                    help="with patches: the plain run, not compared with the base tree")
    sp.add_argument("--affected", action="store_true",
                    help="run only the tests that reach the change (by the functions each "
                         "test entered on the recorded base) and stop after their verdict")
    sp.add_argument("--no-record", action="store_true",
                    help="do not record which functions each test enters when this tree "
                         "has no record (it costs a run on the coverage build)")
    sp.add_argument("--kernel-sanitizer", "--sanitizer", dest="sanitizer",
                    choices=["ubsan", "asan"], default=None,
                    help="test a sanitizer build (asan runs pytest in a subprocess with the "
                         "ASan runtime preloaded)")
    sp.add_argument("pytest_args", nargs=argparse.REMAINDER)
    sp.set_defaults(fn=cmd_test)
    sp = sub.add_parser("build", help="build (or reuse) a tree's module")
    kernel_opts(sp)
    sp.add_argument("--patch", action="append", default=[], metavar="FILE",
                    help="apply this patch to a scratch copy first (repeatable, in order)")
    sp.add_argument("--series", metavar="MBOX", help="apply a git format-patch/lore series")
    sp.add_argument("--patches", metavar="N-M", help=PATCHES_HELP)
    sp.add_argument("--3way", dest="three_way", action="store_true", help=THREE_WAY_HELP)
    sp.add_argument("--kernel-sanitizer", "--sanitizer", dest="sanitizer",
                    choices=["ubsan", "asan", "coverage"], default=None,
                    help="build with a sanitizer or gcov (as the plugin's --kernel-sanitizer)")
    sp.set_defaults(fn=cmd_build)
    sp = sub.add_parser("shim", help="print the generated vma_internal.h (or --report)")
    kernel_opts(sp)
    sp.add_argument("--report", action="store_true",
                    help="list every definition with its tree location, stubs, demotions")
    sp.set_defaults(fn=cmd_shim)
    sp = sub.add_parser("diff", help="compare the behaviour of two kernel builds")
    sp.add_argument("a", metavar="A", help="kernel spec A", type=kernel_spec)
    sp.add_argument("b", metavar="B", help="kernel spec B", type=kernel_spec)
    for side in ("a", "b"):
        sp.add_argument(f"--{side}-patch", action="append", default=[], metavar="FILE",
                        help=f"patch applied to {side.upper()} (repeatable)")
        sp.add_argument(f"--{side}-series", metavar="MBOX", help=f"series applied to {side.upper()}")
        sp.add_argument(f"--{side}-patches", metavar="N-M", help=f"patches of {side.upper()}'s "
                        "series to apply (e.g. 1-8)")
    sp.add_argument("--kernel-config", action=ConfigItems, default=[], metavar="CONFIG_X=y|n",
                    type=config_item)
    sp.add_argument("--seed", type=int_range(0, 2**64 - 1, "--seed"), default=1)
    sp.add_argument("--sequences", type=int_range(1, 10**8, "--sequences"), default=500)
    sp.add_argument("--length", type=int_range(1, 10**5, "--length"), default=30)
    sp.add_argument("--seconds", type=finite_range(0, 10**7, "--seconds"), default=60.0,
                    help="time budget for random sequences")
    sp.add_argument("--no-corpus", action="store_true")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--coverage", action="store_true",
                    help="build both with gcov and report the lines, branches and functions "
                         "of mm/vma.c the run reached")
    sp.set_defaults(fn=cmd_diff)
    sp = sub.add_parser("replay", help="replay an operation sequence (from a diff report)")
    sp.add_argument("--kernel", action=_KernelGroup, metavar="SPEC", type=kernel_spec,
                    help="a kernel (repeatable); --patch/--series/--patches after it apply to it")
    sp.add_argument("--patch", action=_KernelGroup, metavar="FILE")
    sp.add_argument("--series", action=_KernelGroup, metavar="MBOX")
    sp.add_argument("--patches", action=_KernelGroup, metavar="N-M")
    sp.add_argument("--kernel-config", action=ConfigItems, default=[], metavar="CONFIG_X=y|n",
                    type=config_item)
    sp.add_argument("--ops", required=True, type=ops_json_text, action=Once,
                    help="the JSON operation list of the report")
    sp.add_argument("--maps", metavar="FILE", help="start from this layout (/proc/PID/smaps, "
                    "maps, or a PROCMAP_QUERY dump) instead of an empty mm")
    sp.set_defaults(fn=replay_checked, kernels=None)
    sp = sub.add_parser("oracle", help="compare a tree's mm/vma.c with the running kernel")
    sp.add_argument("--kernel", default=DEFAULT_KERNEL, metavar="SPEC",
                    type=lambda s: s if s == "running" else kernel_spec(s),
                    help="the tree (default %(default)s); running: the closest Debian serves")
    sp.add_argument("--kernel-config", action=ConfigItems, default=[], metavar="CONFIG_X=y|n",
                    type=config_item)
    sp.add_argument("--patch", action="append", default=[], metavar="FILE")
    sp.add_argument("--series", metavar="MBOX")
    sp.add_argument("--patches", metavar="N-M", help=PATCHES_HELP)
    sp.add_argument("--small", action="store_true",
                    help="one built-in corpus scenario of each family, and the selftest ones")
    sp.add_argument("--scenarios", action="append", default=[], metavar="FILE",
                    help="run the scenarios of FILE (README: the format) instead of the "
                    "built-in ones; repeatable")
    sp.add_argument("--random", type=int_range(1, 10**9, "--random"), metavar="N",
                    help="N seeded random sequences, compared after every operation; a "
                    "disagreement is shrunk and saved")
    sp.add_argument("--seconds", type=finite_range(0, 10**7, "--seconds"), metavar="S",
                    help="random sequences for S seconds (with --random: whichever ends "
                    "first)")
    sp.add_argument("--seed", type=int_range(0, 2**64 - 1, "--seed"),
                    help="the random sequences' seed (default: drawn, printed)")
    sp.add_argument("--window", type=int_range(4, 4096, "--window"), default=24, metavar="PAGES",
                    help="the random sequences' window (default %(default)s)")
    sp.add_argument("--length", type=int_range(1, 1000, "--length"), default=8, metavar="OPS",
                    help="operations per random sequence (default %(default)s)")
    sp.add_argument("--verbose", action="store_true", help="list agreeing scenarios too")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_oracle)
    sp = sub.add_parser("fuzz", help="model-based exploration (hypothesis) for a while")
    kernel_opts(sp)
    sp.add_argument("--patch", action="append", default=[], metavar="FILE")
    sp.add_argument("--series", metavar="MBOX")
    sp.add_argument("--patches", metavar="N-M", help=PATCHES_HELP)
    sp.add_argument("--minutes", type=finite_range(0, 10**6, "--minutes"), default=5.0)
    sp.add_argument("--batch", type=int_range(1, 10**7, "--batch"), default=200,
                    help="examples per hypothesis run")
    sp.add_argument("--save-dir", default=str(TESTS / "model" / "regressions"),
                    help="where findings are kept as regression cases")
    sp.set_defaults(fn=cmd_fuzz)
    sp = sub.add_parser("fetch", help="fetch/extract kernel trees into the cache")
    sp.add_argument("specs", nargs="+", metavar="SPEC", type=kernel_spec)
    sp.set_defaults(fn=cmd_fetch)
    sp = sub.add_parser("cache", help="list or clear the cache")
    sp.add_argument("action", choices=["list", "clear", "collect"],
                    help="list: everything with its disk use; clear: everything; collect: "
                         "what killed runs left")
    sp.add_argument("--keep-kernels", action="store_true",
                    help="with clear: keep the kernel trees and their .debs")
    sp.add_argument("--all", action="store_true", help=argparse.SUPPRESS)  # clear's default
    sp.set_defaults(fn=cmd_cache)
    from .mutate.command import add_parser as mutate_parser  # pyvma mutate
    mutate_parser(sub)
    from . import sandbox  # --sandbox/--no-sandbox; an untrusted tree's code in bubblewrap
    for name in sandbox.COMMANDS:
        sandbox.add_options(sub.choices[name], DEFAULT_KERNEL)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.argv = sys.argv[1:] if argv is None else list(argv)    # for the sandbox
        with wrap_shim_errors():
            return args.fn(args)
    except PyvmaError as exc:
        from .inputs import printable
        print(f"pyvma: error: {printable(str(exc), keep_newlines=True)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyvma: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
