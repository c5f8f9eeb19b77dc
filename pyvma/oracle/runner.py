# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma oracle --random N`` / ``--seconds S``: seeded random sequences run live
and on the tree, compared after every operation; each disagreement shrunk
(:mod:`.shrink`), written as a scenario file and printed with the command that
reproduces it.  Progress on a terminal."""
from __future__ import annotations

import json
import re
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from . import compare, live, randseq, report, shrink
from .scenario import Scenario, dumps, needs_of


def _kind(v: compare.Verdict) -> str:
    """A disagreement's kind, kept while shrinking: the why without the op number."""
    return re.sub(r"^(after )?op \d+:? ", "", v.why)


def shrunk(ctx: compare.Context, sc: Scenario, v: compare.Verdict) -> Scenario:
    """*sc* shrunk to the fewest operations that still disagree the same way."""
    kind = _kind(v)

    def still(ops: list) -> bool:
        cand = Scenario(sc.name, tuple(tuple(o) for o in ops), needs_of(ops), sc.window)
        got = compare.judge(ctx, cand)
        return got.status == "disagree" and _kind(got) == kind

    ops = shrink.shrink([list(o) for o in sc.ops], still)
    return Scenario(sc.name + "/shrunk", tuple(tuple(o) for o in ops), needs_of(ops),
                    sc.window)


class Progress:
    """A status line on stderr while it is a terminal, at most twice a second."""

    def __init__(self, total: int | None, seconds: float | None) -> None:
        self.on = sys.stderr.isatty()
        self.total, self.seconds = total, seconds
        self.t0 = self.last = time.monotonic()

    def show(self, done: int, counts: Counter, force: bool = False) -> None:
        now = time.monotonic()
        if not self.on or (now - self.last < 0.5 and not force):
            return
        self.last = now
        of = f"/{self.total}" if self.total else ""
        left = f", {max(0, self.seconds - (now - self.t0)):.0f}s left" if self.seconds else ""
        rate = done / max(now - self.t0, 1e-6)
        sys.stderr.write(f"\r[{done}{of}] {counts['agree']} agree, {counts['explained']} "
                         f"explained, {counts['disagree']} disagree, {counts['error']} errors "
                         f"({rate:.0f}/s{left})\x1b[K")
        sys.stderr.flush()

    def end(self) -> None:
        if self.on:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def random_run(ctx: compare.Context, n: int | None, seconds: float | None, seed: int,
               window: int, length: int, out_dir: Path, command: Callable[[Scenario], str],
               emit: Callable[[str], None] = print) -> tuple[Counter, list[str], int]:
    """Run sequences 0, 1, ... of *seed* until *n* ran or *seconds* passed; every
    disagreement shrunk, saved under *out_dir* and printed.  (counts, the saved
    files, operations run)."""
    counts: Counter = Counter()
    saved: list[str] = []
    kinds: Counter = Counter()
    prog = Progress(n, seconds)
    t_end = time.monotonic() + seconds if seconds else None
    i = ops_run = 0
    while (n is None or i < n) and (t_end is None or time.monotonic() < t_end):
        sc = randseq.scenario(seed, i, window, length)
        i += 1
        v = compare.judge(ctx, sc)
        counts[v.status] += 1
        ops_run += len(sc.ops)
        if v.status == "explained":
            for feat in sorted(set(re.findall(r"feature (\w+)", v.why))):
                counts["explained by " + feat] += 1
        if v.status in ("disagree", "error"):
            small = shrunk(ctx, sc, v) if v.status == "disagree" else sc
            sv = compare.judge(ctx, small) if small is not sc else v
            step = small.ops[sv.step][0] if sv.step is not None else ""
            key = f"{step} {_kind(sv)}"
            kinds[key] += 1
            if kinds[key] > 1:
                continue                # one of each kind shown; the count in the summary
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"random-{seed}-{i - 1}.json"
            path.write_text(dumps([small]))
            saved.append(shown(path))
            prog.end()
            emit(f"{v.status} random sequence {seed}:{i - 1} ({len(sc.ops)} operations, "
                 f"shrunk to {len(small.ops)}, saved as {shown(path)}): {sv.why or v.why}")
            if sv.status in ("disagree", "explained"):
                emit("\n".join(report.verdict_lines(ctx.k, sv)))
            emit(f"reproduce: {command(small)}")
        prog.show(i, counts)
    prog.end()
    if kinds:
        emit("disagreements by kind (the op at which they start, why): " + "; ".join(
            f"{n} x {k}" for k, n in kinds.most_common()))
    return counts, saved, ops_run


def summary(ctx: compare.Context, counts: Counter, ops_run: int, seed: int, window: int,
            length: int, seconds: float) -> str:
    n = sum(c for k, c in counts.items() if not k.startswith("explained by "))
    by = ", ".join(f"{c} by {k.removeprefix('explained by ')}" for k, c in sorted(counts.items())
                   if k.startswith("explained by "))
    return (f"pyvma oracle --random: {n} sequences ({ops_run} operations, seed {seed}, window "
            f"{window}, up to {length} operations each, {seconds:.0f}s): {counts['agree']} "
            f"agree, {counts['explained']} differ as a kernel change explains"
            f"{f' ({by})' if by else ''}, "
            f"{counts['disagree']} disagree; {counts['skipped']} skipped, {counts['error']} "
            f"errors (running {live.kernel_release()} vs tree {ctx.k.version})")


def reproduce(spec: str, config: list[str], sc: Scenario) -> str:
    """The command line that runs *sc* again (the scenario inline, as JSON)."""
    words = ["python3", "-m", "pyvma", "oracle", "--kernel", spec]
    for c in config:
        words += ["--kernel-config", c]
    return shlex.join(words + ["--scenarios", json.dumps(sc.to_json())])


def shown(path: Path) -> str:
    """*path* as seen outside the sandbox (its cache is the cache's sandbox/ there)."""
    from .. import sandbox
    from ..cache import cache_dir
    if sandbox.inside():
        try:
            return str(cache_dir() / sandbox.SANDBOX_DIR / path.relative_to(cache_dir()))
        except ValueError:
            pass
    return str(path)
