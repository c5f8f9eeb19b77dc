# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``pyvma`` command.

    pyvma test   [--kernel SPEC]... [--kernel-config CONFIG_X=y|n]... [-- PYTEST ARGS]
    pyvma build  --kernel SPEC [--kernel-config ...] [--sanitizer ubsan|asan]
    pyvma shim   --kernel SPEC [--kernel-config ...] [--report]
    pyvma fetch  SPEC...
    pyvma cache  list|clear

Exit status: 0 success, 1 test failures, 2 an error (message on stderr).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import PyvmaError

REPO = Path(__file__).resolve().parent.parent
DEFAULT_KERNEL = "debian:7.x"


def _config(items: list[str]):
    from vma_internal.config import HarnessConfig
    return HarnessConfig.parse(items or [])


def cmd_fetch(args: argparse.Namespace) -> int:
    from . import source
    for spec in args.specs:
        tree = source.resolve(spec)
        deb = tree.origin.get("debian_version") or tree.origin.get("package", "")
        print(f"{spec}\t{tree.version_str}\t{tree.root}" + (f"\t{deb}" if deb else ""))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from . import source
    from .build import build
    tree = source.resolve(args.kernel)
    b = build(tree, _config(args.kernel_config), args.sanitizer)
    secs = b.info.get("seconds", {})
    print(f"kernel   {tree.version_str} ({tree.root})")
    print(f"build    {b.key}  {b.module_path}")
    print(f"shim     {b.info['shim']['extracted']} extracted, {b.info['shim']['stubs']} stubs, "
          f"{len(b.info['shim']['demoted'])} demoted")
    if secs:
        print(f"seconds  shim {secs['shim']}  support {secs['support_objects']}  "
              f"total {secs['total']}")
    return 0


def cmd_shim(args: argparse.Namespace) -> int:
    from . import source
    from .cache import subdir
    from vma_internal.shim import build_shim
    tree = source.resolve(args.kernel)
    work = Path(tempfile.mkdtemp(prefix="shim-", dir=subdir("tmp")))
    try:
        res = build_shim(tree.root, _config(args.kernel_config), work)
        if args.report:
            print(report(res.shim, tree))
        else:
            sys.stdout.write(res.shim.text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(shim, tree) -> str:
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
        how = ("hook: " + manifest.STUB_HOOKS[s.name]) if s.name in manifest.STUB_HOOKS else \
            ("returns " + manifest.STUB_RETURNS[s.name]) if s.name in manifest.STUB_RETURNS \
            else "no-op" if s.ret == "void" else "returns 0"
        lines.append(f"{s.proto.where}\tstub\t{s.name}\t{how}")
    lines += ["", "## demoted to stubs or dropped (did not compile in userland)"]
    for name, why in sorted(shim.demoted.items()):
        lines.append(f"{name}\t{why}")
    return "\n".join(lines)


def cmd_test(args: argparse.Namespace) -> int:
    kernels = args.kernel or [DEFAULT_KERNEL]
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "--rootdir", str(REPO),
           "-p", "pyvma.pytest_plugin"]
    for k in kernels:
        cmd += ["--kernel", k]
    for c in args.kernel_config:
        cmd += ["--kernel-config", c]
    extra = list(args.pytest_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    if not any(not a.startswith("-") for a in extra):
        extra.append(str(REPO / "tests"))
    return min(subprocess.call(cmd + extra, cwd=REPO), 2)


def cmd_cache(args: argparse.Namespace) -> int:
    from .cache import cache_dir
    root = cache_dir()
    if args.action == "list":
        for sub in ("kernels", "builds"):
            d = root / sub
            for p in sorted(d.iterdir()) if d.exists() else []:
                if p.name.startswith("."):
                    continue
                size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                print(f"{sub}/{p.name}\t{size // (1 << 20)} MiB")
        return 0
    for sub in ("builds", "objs", "tmp"):
        shutil.rmtree(root / sub, ignore_errors=True)
    if args.all:
        shutil.rmtree(root / "kernels", ignore_errors=True)
    print(f"cleared {root}/{{builds,objs,tmp}}" + (" and kernels" if args.all else ""))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyvma", description="Test a kernel tree's mm/vma.c "
                                "from Python (see README.md).")
    sub = p.add_subparsers(dest="cmd", required=True)

    def kernel_opts(sp, many: bool = False):
        if many:
            sp.add_argument("--kernel", action="append", metavar="SPEC",
                            help=f"kernel tree (repeatable; default {DEFAULT_KERNEL})")
        else:
            sp.add_argument("--kernel", default=DEFAULT_KERNEL, metavar="SPEC",
                            help="DIR, DIR@REF, linux-source .deb/tarball, or "
                                 f"debian:linux-source-X.Y (default {DEFAULT_KERNEL})")
        sp.add_argument("--kernel-config", action="append", default=[],
                        metavar="CONFIG_X=y|n")

    sp = sub.add_parser("test", help="run the suites against kernel trees")
    kernel_opts(sp, many=True)
    sp.add_argument("pytest_args", nargs=argparse.REMAINDER)
    sp.set_defaults(fn=cmd_test)
    sp = sub.add_parser("build", help="build (or reuse) a tree's module")
    kernel_opts(sp)
    sp.add_argument("--sanitizer", choices=["ubsan", "asan"], default=None)
    sp.set_defaults(fn=cmd_build)
    sp = sub.add_parser("shim", help="print the generated vma_internal.h (or --report)")
    kernel_opts(sp)
    sp.add_argument("--report", action="store_true",
                    help="list every definition with its tree location, stubs, demotions")
    sp.set_defaults(fn=cmd_shim)
    sp = sub.add_parser("fetch", help="fetch/extract kernel trees into the cache")
    sp.add_argument("specs", nargs="+", metavar="SPEC")
    sp.set_defaults(fn=cmd_fetch)
    sp = sub.add_parser("cache", help="list or clear the cache")
    sp.add_argument("action", choices=["list", "clear"])
    sp.add_argument("--all", action="store_true", help="with clear: kernels too")
    sp.set_defaults(fn=cmd_cache)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except PyvmaError as exc:
        print(f"pyvma: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyvma: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
