# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma diff``'s report: operations described, layouts drawn, the text a developer
pastes (header, divergence blocks, the exercised and coverage footers, the replay
lines) and the same as JSON.  Reads what ``diff.diff()`` found; runs nothing."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..api.diagram import draw, side_by_side
from .callers_spec import describe_caller
from .ops import BASE, Op, Outcome
from .ops_paths import describe_path
from .ops_query import describe_query

if TYPE_CHECKING:
    from ..api import Kernel
    from .diff import Divergence

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def layout_diagram(layout: tuple) -> str:
    """An op layout (pages) drawn: one column a page, a letter a VMA, flags listed
    below (their VM_ prefix and the base flags left out)."""
    legend = []
    for s, e, pgoff, flags, av, f in layout:
        extra = (f" anon={av}" if av else "") + (f" file={f}" if f else "")
        short = " ".join(n.removeprefix("VM_") for n in flags if n not in BASE)
        legend.append(f"{s:#x}-{e:#x} pgoff {pgoff:#x} {short}{extra}".rstrip())
    return draw([(r[0], r[1]) for r in layout], legend, LETTERS)


def describe(op: Op) -> str:
    name, *a = op
    text = describe_path(op) or describe_query(op) or describe_caller(op)
    if text is not None:
        return text
    if name == "mmap":
        s, e, pgoff, flags, f = a
        extra = [n.removeprefix("VM_") for n in flags if n not in BASE]
        return (f"mmap pages {s:#x}-{e:#x} pgoff {pgoff:#x}"
                + (f" +{'+'.join(extra)}" if extra else "") + (f" file={f}" if f else " anon"))
    if name == "insert":
        s, e, pgoff, flags, av, f = a
        extra = [n.removeprefix("VM_") for n in flags if n not in BASE]
        return (f"insert_vm_struct pages {s:#x}-{e:#x} pgoff {pgoff:#x}"
                + (f" +{'+'.join(extra)}" if extra else "")
                + (f" anon={av}" if av else "") + (f" file={f}" if f else ""))
    if name == "copy_vma":
        page, dst, move = a
        return f"copy_vma of the VMA at page {page:#x} to page {dst:#x}" + \
            (" and unmap the source (mremap move)" if move else " (source kept)")
    if name in ("brk", "vm_munmap"):
        return f"{'do_brk_flags' if name == 'brk' else '__vm_munmap'} pages {a[0]:#x}-{a[1]:#x}"
    if name == "fault":
        return f"fault at page {a[0]:#x} (anon_vma_prepare)"
    if name == "fail":
        return f"fail {a[0]} during the next operation (after {a[1]} call(s))"
    if name in ("map", "merge_new"):
        s, e, pgoff, flags, av, f = a
        extra = [n.removeprefix("VM_") for n in flags if n not in BASE]
        return (f"{name} pages {s:#x}-{e:#x} pgoff {pgoff:#x}"
                + (f" +{'+'.join(extra)}" if extra else "")
                + (f" anon={av}" if av else "") + (f" file={f}" if f else ""))
    if name in ("modify", "mprotect"):
        s, e, flags = a
        extra = [n.removeprefix("VM_") for n in flags if n not in BASE]
        less = [n.removeprefix("VM_") for n in BASE if n not in flags]
        what = "base" + "".join(f"-{n}" for n in less) + (f"+{'+'.join(extra)}" if extra else "")
        return (f"modify pages {s:#x}-{e:#x} to {what}" if name == "modify" else
                f"mprotect pages {s:#x}-{e:#x} to {what} (vma_modify_flags, flags set)")
    return f"{name} {' '.join(str(x) for x in a)}"


def exercised_text(stats: dict) -> str:
    """What the run exercised (operations and their outcomes) and what it cannot."""
    ops = "; ".join(f"{op} {sum(c.values())} (" + ", ".join(f"{r} {n}" for r, n in c.items())
                    + ")" for op, c in stats.get("exercised", {}).items())
    state = ", ".join(stats.get("state_compared", []))
    without = ", ".join(stats.get("state_compared_without", []))
    return (f"exercised (tree A's outcomes): {ops or 'nothing'}\n"
            f"compared per operation: return value, layout (flags by name, pgoff, anon_vma "
            f"sharing, file), {state}, WARN count, BUG\n"
            + (f"state not compared (one tree cannot express it): {without}\n"
               if without else "")
            + "".join(f"state no harness build expresses: {n} ({why})\n"
                      for n, why in stats.get("state_not_expressible", {}).items())
            + "".join(f"caller path each tree takes its own way: {p}\n"
                      for p in stats.get("caller_paths_differ", []))
            + f"not exercised by diff: {', '.join(stats.get('not_exercised', []))}\n"
            + coverage_text(stats))


def coverage_text(stats: dict) -> str:
    """The coverage footer (``--coverage``): per tree and file, lines and branches
    reached, and the functions never entered, one greppable line each."""
    from ..build.coverage import pct
    cov = stats.get("coverage")
    if not cov:
        return ""
    out = []
    for side in ("a", "b"):
        t = cov[side]
        tag = f"coverage {side.upper()} {t['label']}"
        if t.get("same_build_as_a"):
            out.append(f"{tag}: the same build as A (one library ran both sides: "
                       "the lines above)")
            continue
        for name, f in t["files"].items():
            entered = f["functions"] - len(f["never_entered"])
            out.append(f"{tag} {name}: lines {f['lines_reached']}/{f['lines']} "
                       f"({pct(f['lines_reached'], f['lines'])}), branches "
                       f"{f['branches_taken']}/{f['branches']} "
                       f"({pct(f['branches_taken'], f['branches'])}), functions "
                       f"{entered}/{f['functions']} entered")
            out.append(f"{tag} {name} never entered ({len(f['never_entered'])}): "
                       + (" ".join(f["never_entered"]) or "none"))
    return "".join(line + "\n" for line in out)


def replay_line(kernels: Sequence[Kernel], ops: list) -> str:
    """``pyvma replay --kernel A [--series ...] --kernel B ... --ops '[...]'``."""
    import shlex
    args = [arg for k in kernels for arg in k.replay_args]
    return f"pyvma replay {shlex.join(args)} --ops {shlex.quote(json.dumps(ops))}"


def report_text(a: Kernel, b: Kernel, divs: list[Divergence], stats: dict) -> str:
    import shlex
    head = (f"pyvma diff: A = {a.label} ({shlex.join(a.replay_args[1:])})\n"
            f"            B = {b.label} ({shlex.join(b.replay_args[1:])})\n"
            f"{stats['corpus']} corpus scenarios, {stats['sequences']} random sequences, "
            f"{stats['ops_run']} operations, {stats['ops_per_second']} ops/s per tree, "
            f"{stats['seconds']} s\n" + fast_text(stats) + paths_text(stats)
            + (f"flags left out of the comparison (one tree lacks them): "
               f"{', '.join(stats['flags_compared_without'])}\n"
               if stats.get("flags_compared_without") else ""))
    if not divs:
        return head + "no divergence in what was exercised:\n" + exercised_text(stats)
    out = [head + exercised_text(stats) + f"{len(divs)} divergence(s)\n"]
    for n, d in enumerate(divs, 1):
        out.append(f"--- divergence {n}: {describe(d.ops[-1])}  "
                   f"[{d.origin}, {len(d.ops)} op(s), shrunk from {d.shrunk_from}]")
        for i, op in enumerate(d.ops, 1):
            out.append(f"  {i}. {describe(op)}")
        if d.missing:
            for side, miss in d.missing.items():
                if miss:
                    out.append(f"  note: {', '.join(miss)} not a flag of "
                               f"{(a if side == 'a' else b).version} (left out there)")
        for p in stats.get("caller_paths_differ", []):
            if any(op[0] == p.split()[0] and p.split()[1].rstrip(":") in op for op in d.ops):
                out.append(f"  note: {p}")
        for line in (d.differing_state() if bool(d.a.bug) == bool(d.b.bug) else []):
            out.append(f"  state differs (A / B): {line}")
        out.append("  before the last operation (both):")
        out += ["    " + l for l in layout_diagram(d.before).splitlines()]
        left = f"ret {d.a.ret}" + (f"  WARN {'; '.join(d.a.warns)}" if d.a.warns else "") + \
            (f"  BUG {d.a.bug}" if d.a.bug else "") + "\n" + layout_diagram(d.a.layout)
        right = f"ret {d.b.ret}" + (f"  WARN {'; '.join(d.b.warns)}" if d.b.warns else "") + \
            (f"  BUG {d.b.bug}" if d.b.bug else "") + "\n" + layout_diagram(d.b.layout)
        out.append("  after:")
        out += ["    " + l for l in side_by_side(left, right, (f"A {a.name}",
                                                              f"B {b.name}")).splitlines()]
        out.append(f"  replay: {replay_line([a, b], d.ops)}")
        out.append("")
    return "\n".join(out)


def fast_text(stats: dict) -> str:
    """The line on the random sequences generated and run in C (engine/fast.py)."""
    if not stats.get("fast_sequences"):
        return ""
    bad = stats.get("fast_unreproduced")
    return (f"+ {stats['fast_sequences']} random sequences generated and run in C "
            f"({stats.get('fast_ops_per_second', 0)} ops/s per tree; operations "
            f"{', '.join(stats.get('fast_operations', []))})\n"
            + (f"harness bug: the C runner's divergence not reproduced by ops.apply() in "
               f"{', '.join(bad)}\n" if bad else ""))


def paths_text(stats: dict) -> str:
    """Which path ran what: the C runner (engine/fast.py) or ops.apply(), and why a
    sequence could not run in C (an operation kind or fault site it lacks...)."""
    ran = stats.get("ran_in")
    if not ran:
        return ""
    c, py = ran["c"], ran["python"]
    why = py.get("why", {})
    return (f"ran in C: {c['sequences']} sequences, {c['operations']} operations per tree; "
            f"ran by ops.apply(): {py['corpus']} corpus scenarios, {py['sequences']} "
            f"sequences, {py['operations']} operations per tree"
            + (" (sequences not in C: " + ", ".join(f"{r} {n}" for r, n in why.items()) + ")"
               if why else "") + "\n")


def report_json(a: Kernel, b: Kernel, divs: list[Divergence], stats: dict) -> str:
    def outcome(o: Outcome) -> dict:
        return {"ret": o.ret, "layout": o.layout, "warns": o.warns, "bug": o.bug,
                "state": o.state}
    return json.dumps({
        "a": {"label": a.label, "args": a.replay_args, "version": a.version,
              "build": a.build.key},
        "b": {"label": b.label, "args": b.replay_args, "version": b.version,
              "build": b.build.key},
        "stats": stats,
        "divergences": [{"ops": d.ops, "origin": d.origin, "shrunk_from": d.shrunk_from,
                         "before": d.before, "a": outcome(d.a), "b": outcome(d.b),
                         "missing_flags": d.missing, "state_differs": d.differing_state(),
                         "replay": replay_line([a, b], d.ops)}
                        for d in divs],
    }, indent=1, default=str)
