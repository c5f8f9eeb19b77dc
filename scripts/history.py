# SPDX-License-Identifier: GPL-2.0-or-later
"""Real history as acceptance: ``pyvma diff`` on every consecutive pair of the
versions ``make matrix`` knows (each series oldest to newest, then the newest
6.12 -> 7.2 -> 7.3), and every textual change between a pair to mm/vma*.c and the
caller code pyvma.engine.callers restates, by definition (function, macro, type),
accounted for:

* found: a divergence whose replay line exits 1 enters it (``pyvma diff --coverage``
  gives the lines each divergence runs on each tree; a macro or type is entered
  through the functions using it; caller code, by an operation whose probed path
  follows the change);
* exercised: the run entered it on a tree and no divergence came of it;
* named: why the harness cannot express it (NAMED, no code in the harness build,
  an entry point one tree lacks, a prototype, comments only);
* caller code not followed: restated once for every tree by the caller layer, which
  follows trees only by probed features (a gap of the layer, listed).

Each pair runs on private hard-linked copies of the two cached trees, sandboxed.

    python3 scripts/history.py                  # every pair
    python3 scripts/history.py --series 7.2 --markdown
    python3 scripts/history.py --pair 7.2.9-1~bpo13+1..7.2.11-1~bpo13+1

Exit 1 if a change is none of these, or a replay line does not exit 1; 2 if a
version could not be fetched.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import matrix  # noqa: E402

from pyvma import tree as ptree  # noqa: E402
from pyvma.cache import cache_dir, subdir  # noqa: E402
from pyvma.engine.callers_spec import SPECS  # noqa: E402
from pyvma.errors import PyvmaError  # noqa: E402
from pyvma.tree.scratch import link_copy  # noqa: E402

#: the files whose changes are accounted for: mm/vma*.c and the callers restated
FILES = ("mm/vma.c", "mm/vma.h", "mm/vma_init.c", "mm/vma_exec.c", "mm/mremap.c",
         "mm/mprotect.c", "mm/mlock.c", "mm/madvise.c", "mm/mseal.c")
#: the caller files (not compiled: restated by pyvma.engine.callers)
CALLER_FILES = FILES[4:]
#: why a change cannot show in the harness, by a word its changed lines use
NAMED = (
    (re.compile(r"\buprobe"), "uprobes: the harness has none (uprobe_mmap() is a stub)"),
    (re.compile(r"\buffd|userfaultfd"), "userfaultfd contexts: no harness build expresses "
                                         "them"),
    (re.compile(r"\bmove_page_tables\b|vm_unacct_memory\(to_account"),
     "page tables: the harness moves none (move_page_tables() cannot fail part-way)"),
    (re.compile(r"\bhugetlb|\bpmd\b|\bpte\b|\bpud\b|tlb"), "page tables / huge pages: "
                                                           "not in the harness"),
    (re.compile(r"\bfolio"), "page-level (folios): the harness has no pages"),
    (re.compile(r"khugepaged|VM_HUGEPAGE"), "khugepaged registration: not in the harness"),
    (re.compile(r"^\s*(int|long)\s+nr_pages;\s*$", re.M),
     "the width of a local page count: no behaviour at the harness's sizes"),
    (re.compile(r"pgoff_unfaulted"),
     "MREMAP_DONTUNMAP's source page offset after unlink_anon_vmas(): the caller layer "
     "does not restate unlink_anon_vmas() (the harness faults no pages to move): left "
     "for the layer's next step"),
)
_FUNC = re.compile(r"^(?:[A-Za-z_][\w\s\*]*?[\s\*])?([A-Za-z_]\w*)\s*\([^;]*$")
_MACRO = re.compile(r"^#\s*define\s+(\w+)")
_TYPE = re.compile(r"^(?:typedef\s+)?(struct|union|enum)\s+(\w+)\s*\{")
_KEYWORDS = frozenset({"if", "for", "while", "switch", "return", "sizeof"})
FILE_SCOPE = "<file scope>"


@dataclass
class Unit:
    """A definition of a C file: a function, a macro or a type, its text and the
    lines (1-based, inclusive) it spans; what is between them is FILE_SCOPE."""
    name: str
    kind: str                   # function, macro, type, file
    lines: list[str] = field(default_factory=list)
    first: int = 0
    last: int = 0

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def units(path: Path) -> dict[str, Unit]:
    """The definitions of a C file by name (``SYSCALL_DEFINEn(x, ...)`` as
    ``sys_x``, a type as ``struct x``)."""
    out: dict[str, Unit] = {FILE_SCOPE: Unit(FILE_SCOPE, "file")}
    if not path.is_file():
        return {}
    cur: Unit | None = None
    for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if cur is None:
            m, name, kind = _MACRO.match(line), None, ""
            if m:
                name, kind = m.group(1), "macro"
            elif (m := _TYPE.match(line)):
                name, kind = f"{m.group(1)} {m.group(2)}", "type"
            elif line[:1] not in ("", " ", "\t", "#", "/", "*", "}", "{") and \
                    (m := _FUNC.match(line)) and m.group(1) not in _KEYWORDS:
                name, kind = m.group(1), "function"
                if name.startswith("SYSCALL_DEFINE"):
                    name = "sys_" + line.split("(", 1)[1].split(",")[0].strip(" )")
            if name is not None:
                cur = out.setdefault(name, Unit(name, kind, first=no))
        unit = cur or out[FILE_SCOPE]
        unit.lines.append(line)
        unit.last = no
        if cur is not None and cur.kind == "function" and ";" in line and \
                "{" not in cur.text:
            # a prototype, not a definition: its own unit, ended here
            del out[cur.name]
            cur.name, cur.kind = f"{cur.name} (declaration)", "declaration"
            out[cur.name] = cur
            cur = None
            continue
        if cur is not None and (
                (cur.kind == "macro" and not line.rstrip().endswith("\\")) or
                (cur.kind != "macro" and line.startswith("}"))):
            cur = None
    return out


def _code(text: str) -> str:
    """The text without comments, whitespace, ``static`` and ``const``."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"\b(static|const)\b", "", text)
    return re.sub(r"\s+", "", text)


def changes(a: Path, b: Path) -> list[dict]:
    """Per file and definition, what changed between trees *a* and *b*; each named
    when the change is comments/linkage only or uses a word of NAMED."""
    out = []
    for f in FILES:
        fa, fb = units(a / f), units(b / f)
        for name in sorted(set(fa) | set(fb)):
            ua, ub = fa.get(name), fb.get(name)
            ta, tb = (ua.text if ua else ""), (ub.text if ub else "")
            if ta == tb:
                continue
            named = None
            changed = "\n".join(
                ln[1:] for ln in difflib.unified_diff(ta.splitlines(), tb.splitlines(),
                                                      lineterm="", n=0)
                if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
            if _code(ta) == _code(tb):
                named = "comments, static or const only: no behaviour"
            else:
                named = next((why for rx, why in NAMED if rx.search(changed)), None)
            if named is None and name == FILE_SCOPE:
                named = "declarations and includes only (definitions are their own units)"
            if named is None and name.endswith("(declaration)"):
                named = "a prototype: the definition's change is counted where it is defined"
            kind = (ua or ub).kind if (ua or ub) else "file"
            out.append({"file": f, "function": name, "kind": kind, "named": named,
                        "spans": {"a": spans(fa, f, name, a), "b": spans(fb, f, name, b)}})
    return out


def spans(defs: dict[str, Unit], f: str, name: str, tree: Path) -> dict[str, list]:
    """Where the code of definition *name* runs, per measured file: a function's own
    lines; a macro's or type's, the lines of the functions using it (in its file
    and, for mm/vma.h, in mm/vma.c)."""
    u = defs.get(name)
    if u is None or f in CALLER_FILES:
        return {}
    if u.kind == "function":
        return {f: [[u.first, u.last]]}
    word = re.compile(rf"\b{re.escape(name.split()[-1])}\b")
    out: dict[str, list] = {}
    for g, gdefs in ((f, defs), *((("mm/vma.c", units(tree / "mm/vma.c")),)
                                  if f == "mm/vma.h" else ())):
        for v in gdefs.values():
            if v.kind == "function" and word.search(v.text):
                out.setdefault(g, []).append([v.first, v.last])
    return out


def enters(reached: dict[str, list[int]], where: dict[str, list]) -> bool:
    """Whether lines *reached* (per file) fall in any span of *where*."""
    for f, ss in where.items():
        got = reached.get(f) or []
        if any(lo <= n <= hi for n in got for lo, hi in ss):
            return True
    return False


def own_copy(tree: Path, dest: Path) -> Path:
    """*tree* hard-linked into *dest* (the subtrees a build reads); SystemExit 2
    if the tree went away while it was linked."""
    try:
        link_copy(tree, dest)
    except OSError as exc:
        raise SystemExit(f"history: {tree}: cannot link it ({exc}); run again") from None
    if not (dest / "Makefile").is_file() or not (dest / "mm" / "vma.c").is_file():
        raise SystemExit(f"history: {tree} went away while it was linked; run again")
    return dest


def run_diff(a: Path, b: Path, sequences: int) -> dict:
    """``pyvma diff A B --coverage --json``: its divergences, each with its replay's
    exit status (and the last lines of its error output when not 1)."""
    # sandboxed: the trees are Debian's (private copies, not the user's own)
    cmd = [sys.executable, "-m", "pyvma", "diff", str(a), str(b), "--json", "--coverage",
           "--sandbox", "--sequences", str(sequences)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1], "divergences": []}
    data = json.loads(proc.stdout)
    for d in data["divergences"]:
        args = [*shlex.split(d["replay"])[1:2], "--sandbox", *shlex.split(d["replay"])[2:]]
        rp = subprocess.run([sys.executable, "-m", "pyvma", *args], cwd=REPO,
                            capture_output=True, text=True)
        d["replay_exit"] = rp.returncode
        if rp.returncode != 1:
            d["replay_error"] = " / ".join(rp.stderr.strip().splitlines()[-3:])
    return data


def account(ch: list[dict], data: dict) -> None:
    """Each change's verdict (``how``): ``found`` (a divergence whose replay exits 1
    enters it on the tree that has it, by its coverage lines; a caller change by
    an operation whose probed path follows it), ``exercised`` (the run entered it,
    no divergence), ``named`` (why the harness cannot express it), ``gap`` (caller
    code the layer restates once for every tree, this change not followed) or
    ``open`` (none of these)."""
    cov = (data.get("stats") or {}).get("coverage") or {}
    per = cov.get("divergences") or []
    divs = data.get("divergences", [])
    run = {s: {f: c.get("reached", []) for f, c in (cov.get(s) or {}).get("files",
                                                                           {}).items()}
           for s in "ab"}
    code = {s: {f: c.get("code", []) for f, c in (cov.get(s) or {}).get("files",
                                                                         {}).items()}
            for s in "ab"}
    if (cov.get("b") or {}).get("same_build_as_a"):
        run["b"], code["b"] = run["a"], code["a"]
    for c in ch:
        c["how"], c["by"] = ("named", None) if c["named"] else ("open", None)
        if c["named"]:
            continue
        if c["file"] in CALLER_FILES:
            caller_verdict(c, divs)
            continue
        for i, d in enumerate(divs):
            if d.get("replay_exit") == 1 and i < len(per) and any(
                    enters(per[i].get(s, {}), c["spans"][s]) for s in "ab"):
                c["how"], c["by"] = "found", i
                break
        else:
            if any(enters(run[s], c["spans"][s]) for s in "ab"):
                c["how"] = "exercised"
            else:
                c["named"] = why_not_entered(c, code, data.get("stats") or {})
                c["how"] = "named" if c["named"] else "open"


def why_not_entered(c: dict, code: dict, stats: dict) -> str | None:
    """Why no operation of the run entered a change of mm/vma*.c (None: no reason
    the harness can name): no code of it in the harness's build, an entry point
    diff names as not exercised, or a definition one tree alone has."""
    name = c["function"]
    if not any(enters(code[s], c["spans"][s]) for s in "ab"):
        return ("no code of it in the harness's build (compiled out by its config, or "
                "an inline nothing in the build calls)")
    hit = next((x for x in stats.get("not_exercised", [])
                if x.split(" (")[0] == name), None)
    if hit:
        return f"not exercised by diff: {hit}"
    sides = [s for s in "ab" if c["spans"][s]]
    left = "; ".join(f"{op} ({why})" for op, why in (stats.get("ops_left_out") or {}).items())
    if len(sides) == 1:
        return (f"only tree {sides[0].upper()} has it, and no operation both trees run "
                "enters it" + (f" (left out for both: {left})" if left else ""))
    if left:
        # the operations that reach it may be the ones one tree lacks an entry for
        return f"no operation both trees run enters it (left out for both: {left})"
    return None


def caller_verdict(c: dict, divs: list[dict]) -> None:
    """A change to caller code: found where a probed path of the operation that
    restates it follows it and a replaying divergence takes that path; named
    otherwise (not restated, or restated once for every tree)."""
    ops = [(op, s) for op, s in SPECS.items() if s.restates[0] == c["file"]
           and c["function"] in s.restates[1]]
    if not ops:
        c["how"], c["named"] = "named", (
            f"not restated by the caller layer ({c['file']} beyond the VMA changes "
            "its operations state)")
        return
    for op, s in ops:
        for fn, value in s.follows:
            if fn != c["function"]:
                continue
            for i, d in enumerate(divs):
                if d.get("replay_exit") == 1 and any(
                        o[0] == op and value in o for o in d["ops"]):
                    c["how"], c["by"] = "found", i
                    return
    c["how"], c["named"] = "gap", (
        f"restated once for every tree by the {'/'.join(o for o, _ in ops)} operation: "
        "the layer follows a tree's caller only by a probed feature, none for this "
        "change (a gap of the layer)")


def cached(cache: Path, package: str, version: str) -> Path | None:
    """The cached tree of package=version, however it was fetched (a debian: spec
    or the .deb matrix.tree_of() resolves): resolving the other way would extract
    it again under the same key, removing the tree a concurrent run reads."""
    kdir = cache / "kernels"
    for d in sorted(kdir.iterdir()) if kdir.is_dir() else ():
        try:
            m = json.loads((d / "PYVMA_SOURCE.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and m.get("package") == package and \
                m.get("debian_version") == version and (d / "mm" / "vma.c").is_file():
            return d
    return None


def pairs(series: list[str], apt, cache: Path) -> list[tuple[str, Path, str, Path]]:
    """(version, tree) pairs: consecutive versions of each series, then the newest
    of each series to the next series' newest."""
    out, newest = [], []
    for s in series:
        vs = list(reversed(matrix.served_versions(apt, f"linux-source-{s}")))
        trees = [(v, cached(cache, f"linux-source-{s}", v)
                  or matrix.tree_of(apt, f"linux-source-{s}", v, cache)) for v in vs]
        out += [(x[0], x[1], y[0], y[1]) for x, y in zip(trees, trees[1:])]
        if trees:
            newest.append(trees[-1])
    out += [(x[0], x[1], y[0], y[1]) for x, y in zip(newest, newest[1:])]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default=",".join(matrix.SERIES))
    ap.add_argument("--sequences", type=int, default=100)
    ap.add_argument("--pair", action="append", default=[], metavar="OLD..NEW",
                    help="only this pair of versions (repeatable)")
    ap.add_argument("--markdown", action="store_true", help="also print the README table")
    args = ap.parse_args(argv)
    cache = cache_dir()
    apt = ptree.DebianApt(cache)
    apt.update()
    try:
        todo = pairs([s.strip() for s in args.series.split(",") if s.strip()], apt, cache)
    except PyvmaError as exc:
        print(f"history: {exc}", file=sys.stderr)
        return 2
    if args.pair:
        todo = [p for p in todo if f"{p[0]}..{p[2]}" in args.pair]
    rows, bad = [], False
    for va, ta, vb, tb in todo:
        with tempfile.TemporaryDirectory(prefix="history-", dir=subdir("tmp", cache)) as tmp:
            # private hard-linked copies: a concurrent fetch that extracts a cached
            # tree again (removing it) cannot pull it from under the run
            ta, tb = own_copy(ta, Path(tmp) / "a"), own_copy(tb, Path(tmp) / "b")
            ch = changes(ta, tb)
            data = run_diff(ta, tb, args.sequences) if any(not c["named"] for c in ch) \
                else {"divergences": []}
        account(ch, data)
        divs = data.get("divergences", [])
        bad_replays = [d for d in divs if d["replay_exit"] != 1]
        opened = [c for c in ch if c["how"] == "open"]
        ok = not data.get("error") and not bad_replays and not opened
        bad |= not ok
        print(f"{va} -> {vb}: {len(ch)} change(s), {len(divs)} divergence(s)"
              + (f"; error: {data['error']}" if data.get("error") else ""), flush=True)
        for i, d in enumerate(divs):
            print(f"  divergence {i + 1}: {d['ops'][-1][0]} ({len(d['ops'])} ops, "
                  f"{d['origin']}): replay exit {d['replay_exit']}"
                  + (f" ({d['replay_error']})" if d.get("replay_error") else ""))
        for c in ch:
            why = f"divergence {c['by'] + 1} ({divs[c['by']]['ops'][-1][0]})" \
                if c["how"] == "found" else c["named"] or ""
            print(f"  {c['how'].upper():9} {c['file']} {c['function']}"
                  + (f": {why}" if why else ""))
        count = {h: sum(c["how"] == h for c in ch) for h in
                 ("found", "exercised", "named", "gap", "open")}
        found = sorted({f"{c['function']} ({divs[c['by']]['ops'][-1][0]})"
                        for c in ch if c["how"] == "found"})
        rows.append((f"{va} -> {vb}", str(len(ch)), str(len(divs)),
                     f"{count['found']}: " + ", ".join(found) if found else "0",
                     str(count["exercised"]), str(count["named"]), str(count["gap"]),
                     (f"{count['open']}: " + ", ".join(c["function"] for c in opened))
                     if opened else "0"))
    if args.markdown:
        print("\n| pair | changes | divergences (all replay exit 1) | found (by) | "
              "exercised, no divergence | named | caller code not followed | "
              "not accounted |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print("| " + " | ".join(x.replace("|", "/") for x in r) + " |")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
