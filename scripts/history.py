# SPDX-License-Identifier: GPL-2.0-or-later
"""Real history as acceptance: ``pyvma diff`` on every consecutive pair of the
versions ``make matrix`` knows (each series oldest to newest, then the newest
6.12 -> 7.2 -> 7.3), and every textual change between a pair to mm/vma*.c and the
caller code pyvma.engine.callers restates, by function, accounted for: found (a
divergence whose replay line exits 1) or named (why the harness cannot express it).

    python3 scripts/history.py                  # every pair
    python3 scripts/history.py --series 7.2 --markdown

Exit 1 if a change is neither found nor named, or a replay line does not exit 1;
2 if a version could not be fetched.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import matrix  # noqa: E402

from pyvma import tree as ptree  # noqa: E402
from pyvma.cache import cache_dir  # noqa: E402
from pyvma.errors import PyvmaError  # noqa: E402

#: the files whose changes are accounted for: mm/vma*.c and the callers restated
FILES = ("mm/vma.c", "mm/vma.h", "mm/vma_init.c", "mm/vma_exec.c", "mm/mremap.c",
         "mm/mprotect.c", "mm/mlock.c", "mm/madvise.c", "mm/mseal.c")
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
_FUNC = re.compile(r"^(?:[A-Za-z_][\w\s\*]*?)\b([A-Za-z_]\w*)\s*\([^;]*$")


def functions(path: Path) -> dict[str, str]:
    """Top-level definitions of a C file by name (a function from its first line at
    column 0 to the closing brace at column 0); what is between them as
    ``<file scope>``."""
    out: dict[str, list[str]] = {}
    if not path.is_file():
        return {}
    cur, scope = "<file scope>", []
    for line in path.read_text(errors="replace").splitlines():
        m = _FUNC.match(line) if cur == "<file scope>" and line[:1] not in (" ", "\t", "#",
                                                                               "/", "*", "}") \
            else None
        if m:
            cur = m.group(1)
        (out.setdefault(cur, []) if cur != "<file scope>" else scope).append(line)
        if cur != "<file scope>" and line.startswith("}"):
            cur = "<file scope>"
    got = {n: "\n".join(v) for n, v in out.items()}
    got["<file scope>"] = "\n".join(scope)
    return got


def _code(text: str) -> str:
    """The text without comments, whitespace, ``static`` and ``const``."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"\b(static|const)\b", "", text)
    return re.sub(r"\s+", "", text)


def changes(a: Path, b: Path) -> list[dict]:
    """Per file and function, what changed between trees *a* and *b*; each named
    when the change is comments/linkage only or uses a word of NAMED."""
    out = []
    for f in FILES:
        fa, fb = functions(a / f), functions(b / f)
        for name in sorted(set(fa) | set(fb)):
            ta, tb = fa.get(name, ""), fb.get(name, "")
            if ta == tb:
                continue
            named = None
            if _code(ta) == _code(tb):
                named = "comments, static or const only: no behaviour"
            else:
                changed = "\n".join(
                    ln[1:] for ln in difflib.unified_diff(ta.splitlines(), tb.splitlines(),
                                                          lineterm="", n=0)
                    if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
                named = next((why for rx, why in NAMED if rx.search(changed)), None)
            out.append({"file": f, "function": name, "named": named})
    return out


def run_diff(a: Path, b: Path, sequences: int) -> dict:
    """``pyvma diff A B --json``: its divergences, each with its replay's exit status."""
    cmd = [sys.executable, "-m", "pyvma", "diff", str(a), str(b), "--json",
           "--sequences", str(sequences)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1], "divergences": []}
    data = json.loads(proc.stdout)
    for d in data["divergences"]:
        args = shlex.split(d["replay"])[1:]
        rp = subprocess.run([sys.executable, "-m", "pyvma", *args], cwd=REPO,
                            capture_output=True, text=True)
        d["replay_exit"] = rp.returncode
    return data


def pairs(series: list[str], apt, cache: Path) -> list[tuple[str, Path, str, Path]]:
    """(version, tree) pairs: consecutive versions of each series, then the newest
    of each series to the next series' newest."""
    out, newest = [], []
    for s in series:
        vs = list(reversed(matrix.served_versions(apt, f"linux-source-{s}")))
        trees = [(v, matrix.tree_of(apt, f"linux-source-{s}", v, cache)) for v in vs]
        out += [(x[0], x[1], y[0], y[1]) for x, y in zip(trees, trees[1:])]
        if trees:
            newest.append(trees[-1])
    out += [(x[0], x[1], y[0], y[1]) for x, y in zip(newest, newest[1:])]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default=",".join(matrix.SERIES))
    ap.add_argument("--sequences", type=int, default=100)
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
    rows, bad = [], False
    for va, ta, vb, tb in todo:
        ch = changes(ta, tb)
        data = run_diff(ta, tb, args.sequences) if ch else {"divergences": []}
        divs = [(d["ops"][-1][0], d["replay_exit"]) for d in data.get("divergences", [])]
        found = [f"{op} (replay exit {rc})" for op, rc in divs]
        open_ = [c for c in ch if c["named"] is None]
        ok = not data.get("error") and all(rc == 1 for _, rc in divs) and \
            (not open_ or bool(divs))
        bad |= not ok
        what = "; ".join(f"{c['file']} {c['function']}" + (f" [named: {c['named']}]"
                                                             if c["named"] else "")
                         for c in ch) or "none"
        verdict = ("error: " + data["error"]) if data.get("error") else \
            ("found: " + ", ".join(found)) if found else \
            "named" if ch else "no change"
        if open_ and not divs:
            verdict = "NOT ACCOUNTED: " + ", ".join(c["function"] for c in open_)
        rows.append((f"{va} -> {vb}", what, verdict))
        print(f"{va} -> {vb}: changes: {what}\n  {verdict}", flush=True)
    if args.markdown:
        print("\n| pair | changes (file function) | found / named |")
        print("| --- | --- | --- |")
        for r in rows:
            print("| " + " | ".join(x.replace("|", "/") for x in r) + " |")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
