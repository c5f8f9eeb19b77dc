# SPDX-License-Identifier: GPL-2.0-or-later
"""The oracle's report: versions, agreement per scenario, each disagreement with
both layouts side by side and its sequence; or JSON."""
from __future__ import annotations

import json
from collections import Counter

from ..api.diagram import side_by_side
from . import live
from .compare import Verdict


def rows_text(rows: list[tuple]) -> str:
    """A layout as a page row (window pages) and one line a VMA."""
    if not rows:
        return "(no VMA in the window)"
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    width = max(r[1] for r in rows)
    row = [" "] * width
    for i, r in enumerate(rows):
        for p in range(r[0], r[1]):
            row[p] = letters[i % 26]
    lines = ["".join(str(p % 10) for p in range(width)), "".join(row).rstrip()]
    for i, (s, e, pgoff, flags, backing) in enumerate(rows):
        off = f" pgoff={pgoff:#x}" if pgoff is not None else ""
        lines.append(f"{letters[i % 26]}: {s}-{e} {backing}{off} "
                     + " ".join(f.removeprefix("VM_") for f in flags))
    return "\n".join(lines)


def verdict_lines(k, v: Verdict) -> list[str]:
    """One scenario's verdict; for a difference its sequence and both layouts."""
    out: list[str] = []
    line = f"{v.status:9} {v.scenario.name}"
    out.append(line + (f": {v.why}" if v.why else ""))
    if v.status in ("disagree", "explained"):
        if v.scenario.mirrors:
            out.append(f"  mirrors: {v.scenario.mirrors}")
        out.append("  ops: " + json.dumps([list(o) for o in v.scenario.ops]))
        out.append(f"  returns: running {v.live_rets}  tree {v.tree_rets}")
        if v.step is not None:
            out.append(f"  layouts after op {v.step + 1} "
                       f"{json.dumps(list(v.scenario.ops[v.step]))}:")
        out.append("\n".join("  " + l for l in side_by_side(
            rows_text(v.live), rows_text(v.tree),
            (f"running {live.kernel_release()}", f"tree {k.version}")).splitlines()))
    return out


def header(k, ctx) -> list[str]:
    return [f"running kernel {live.kernel_release()} "
            f"(VMAs read with {'PROCMAP_QUERY+smaps' if not ctx.allowed.get('procmap_query') else 'smaps'})",
            f"tree           {k.label} ({k.name})",
            "forbidden here: " + (", ".join(f"{n} ({why})" for n, why in ctx.allowed.items()
                                            if why) or "nothing")]


def text(k, ctx, verdicts: list[Verdict], verbose: bool = False) -> str:
    out = header(k, ctx)
    counts = Counter(v.status for v in verdicts)
    for v in verdicts:
        if v.status == "agree" and not verbose:
            continue
        out.extend(verdict_lines(k, v))
    ran = sum(counts[s] for s in ("agree", "explained", "disagree"))
    out.append(f"pyvma oracle: {len(verdicts)} scenarios, {ran} run: {counts['agree']} agree, "
               f"{counts['explained']} differ as a kernel change explains, "
               f"{counts['disagree']} disagree; {counts['skipped']} skipped, "
               f"{counts['error']} errors (running {live.kernel_release()} vs tree "
               f"{k.version})")
    return "\n".join(out)


def as_json(k, ctx, verdicts: list[Verdict]) -> str:
    return json.dumps({
        "running": live.kernel_release(), "tree": k.version, "tree_label": k.label,
        "forbidden": {n: why for n, why in ctx.allowed.items() if why},
        "counts": dict(Counter(v.status for v in verdicts)),
        "scenarios": [{"name": v.scenario.name, "status": v.status, "why": v.why,
                       "mirrors": v.scenario.mirrors, "step": v.step,
                       "ops": [list(o) for o in v.scenario.ops],
                       "returns": {"running": v.live_rets, "tree": v.tree_rets},
                       "running": [list(r) for r in v.live], "tree": [list(r) for r in v.tree]}
                      for v in verdicts]}, indent=1)
