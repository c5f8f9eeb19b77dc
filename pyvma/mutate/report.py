# SPDX-License-Identifier: GPL-2.0-or-later
"""The report of a mutation run: per function and per file, what the suites killed,
what diff killed, what either did, and every survivor with its one-line change and
the commands that replay it; as text or JSON.

Counted apart, never in a kill rate: mutants that do not compile, that leave the
library as it was, and those marked equivalent in the equivalents file (one mutant
id a line, ``# why`` after it)."""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PyvmaError
from .mutants import Mutant

APART = ("nocompile", "identical", "equivalent", "error")


def read_equivalents(path: str | None) -> dict[str, str]:
    """id -> why, from a file of ``ID  # why`` lines (blank lines and comments skipped)."""
    if not path:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise PyvmaError(f"--equivalents {path}: cannot read it ({exc.strerror})") from None
    out = {}
    for no, line in enumerate(text.splitlines(), 1):
        body, _, why = line.partition("#")
        body = body.strip()
        if not body:
            continue
        if not re.fullmatch(r"[0-9a-f]{12}", body):
            raise PyvmaError(f"--equivalents {path}:{no}: not a mutant id (12 hex digits, "
                             f"then '# why'): {line.strip()[:60]!r}")
        out[body] = why.strip()
    return out


@dataclass
class Row:
    """One function's (or file's) counts."""

    file: str
    function: str
    mutants: int = 0
    apart: dict[str, int] = field(default_factory=dict)
    run: int = 0
    suites: int = 0
    diff: int = 0
    either: int = 0
    survivors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, res: dict[str, Any], status: str) -> None:
        self.mutants += 1
        if status in APART:
            self.apart[status] = self.apart.get(status, 0) + 1
            return
        self.run += 1
        s, d = bool(res["suites"]["killed"]), bool(res["diff"]["killed"])
        self.suites += s
        self.diff += d
        self.either += s or d
        if not (s or d):
            self.survivors.append(res)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "function": self.function, "mutants": self.mutants,
                "apart": self.apart, "run": self.run, "killed_by_suites": self.suites,
                "killed_by_diff": self.diff, "killed_by_either": self.either,
                "survivors": [r["id"] for r in self.survivors]}


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.0f}%" if d else "-"


def status_of(res: dict[str, Any], equivalents: dict[str, str]) -> str:
    if res.get("id") in equivalents and res.get("status") == "run":
        return "equivalent"
    return str(res.get("status"))


def tabulate(results: list[dict[str, Any]], equivalents: dict[str, str]) \
        -> tuple[list[Row], list[Row], Row]:
    """Rows per function, per file, and the total."""
    fns: dict[tuple[str, str], Row] = {}
    files: dict[str, Row] = {}
    total = Row("all", "")
    for res in sorted(results, key=lambda r: (r["mutant"]["file"], r["mutant"]["line"])):
        m = res["mutant"]
        st = status_of(res, equivalents)
        for row in (fns.setdefault((m["file"], m["function"]), Row(m["file"], m["function"])),
                    files.setdefault(m["file"], Row(m["file"], "")), total):
            row.add(res, st)
    return list(fns.values()), list(files.values()), total


def replay(res: dict[str, Any], kernel_args: list[str]) -> list[str]:
    """The commands that show a mutant's survival (pasteable)."""
    k = " ".join(shlex.quote(a) for a in kernel_args)
    p = shlex.quote(res["patch"])
    spec = shlex.quote(kernel_args[1])
    return [f"pyvma test {k} --patch {p} --no-base",
            f"pyvma diff {spec} {spec} --b-patch {p}"]


def _table(rows: list[Row], first: str) -> list[str]:
    out = [f"| {first} | mutants | apart (no compile / identical / equivalent) | run | "
           "suites | diff | either | survived |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        name = r.function if first == "function" else r.file
        if first == "function" and not r.function.isupper():
            name = f"{r.file}: {r.function}()"
        elif first == "function":
            name = f"{r.file}: {r.function}"
        apart = " / ".join(str(r.apart.get(k, 0)) for k in ("nocompile", "identical",
                                                               "equivalent"))
        if r.apart.get("error"):
            apart += f" (+{r.apart['error']} errors)"
        out.append(f"| {name} | {r.mutants} | {apart} | {r.run} | "
                   f"{r.suites} ({_pct(r.suites, r.run)}) | {r.diff} ({_pct(r.diff, r.run)}) | "
                   f"{r.either} ({_pct(r.either, r.run)}) | {r.run - r.either} |")
    return out


def text(results: list[dict[str, Any]], equivalents: dict[str, str], title: str,
         kernel_args: list[str], planned: int) -> str:
    """The report as Markdown-ish text (tables paste into a README or a mail)."""
    fns, files, total = tabulate(results, equivalents)
    lines = [title, "",
             f"{len(results)} of {planned} planned mutants have a result. Kill rates are "
             "of the mutants run (built, changed the library, not marked equivalent).", "",
             "Per file:", ""]
    lines += _table([*files, total], "file")
    lines += ["", "Per function:", ""]
    lines += _table(fns, "function")
    survivors = [s for r in fns for s in r.survivors]
    lines += ["", f"Survivors ({len(survivors)}):"]
    for res in survivors:
        m = Mutant(**res["mutant"])
        lines.append(f"  {m.id} {m.change()}")
        lines += [f"      {c}" for c in replay(res, kernel_args)]
    only = [(res, w) for res in results for w in ("suites", "diff")
            if res.get("status") == "run" and res[w]["killed"] and
            not res["diff" if w == "suites" else "suites"]["killed"]]
    if only:
        lines += ["", "Killed by one side only:"]
        for res, w in only:
            m = Mutant(**res["mutant"])
            why = res[w].get("detail") or res[w].get("how")
            lines.append(f"  {m.id} {m.change()}: {w} only ({why})")
    apart = [r for r in results if status_of(r, equivalents) in APART]
    if apart:
        lines += ["", "Counted apart:"]
        for res in apart:
            m = Mutant(**res["mutant"])
            st = status_of(res, equivalents)
            why = equivalents.get(m.id, "") if st == "equivalent" else res.get("detail", "")
            lines.append(f"  {m.id} {st}: {m.change()}" + (f" ({why})" if why else ""))
    return "\n".join(lines)


def as_json(results: list[dict[str, Any]], equivalents: dict[str, str], title: str,
            kernel_args: list[str], planned: int) -> str:
    fns, files, total = tabulate(results, equivalents)
    return json.dumps({
        "title": title, "planned": planned, "results": len(results),
        "total": total.as_dict(), "files": [r.as_dict() for r in files],
        "functions": [r.as_dict() for r in fns],
        "mutants": [{**r, "status": status_of(r, equivalents),
                     "replay": replay(r, kernel_args) if r.get("patch") else []}
                    for r in results],
    }, indent=1)
