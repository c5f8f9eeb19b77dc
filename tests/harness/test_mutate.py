# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma mutate``: where mutants go, what the operators make, the patches, the
sample, the report's counting, and real runs: the sticky mask mutant killed by the
suites, a campaign on two local pytest-xdist workers (standing in for two hosts)
merged into one report, resumed from the cache.

The small C inputs are written here, at test time; real runs use a cached Debian tree.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma.errors import PyvmaError
from pyvma.mutate import report
from pyvma.mutate.mutants import Mutant, generate, sample
from pyvma.mutate.operators import mutations
from pyvma.mutate.sites import Line, blank_comments, changed_lines, function_lines, mask_lines

REPO = Path(__file__).resolve().parents[2]

C_TEXT = """\
/* a file comment: if (a < b) return -ENOMEM; */
#include "vma.h"

static int frob(struct vm_area_struct *prev, struct vm_area_struct *next,
\t\tunsigned long start, unsigned long end)
{
\tint err = 0;

\t/* if (prev < next) */
\tif (start < end && prev)
\t\treturn -ENOMEM;
#ifdef CONFIG_X
\tvm_stat_account(mm, flags, 1);
#endif
\tmmap_write_unlock(mm);
\tprev->vm_end = next->vm_start;
\tpr_info("start < end");
\treturn err;
}

struct thing {
\tint a;
};

void other(void)
{
\tif (!x)
\t\tgoto out;
\tcall_it(VM_SHARED);
out:
\treturn;
}
"""

MM_H = """\
#define VM_NONE 0
#define VM_COPY_ON_FORK (VM_PFNMAP | VM_MIXEDMAP | \\
\t\t\t VM_MAYBE_GUARD)
#define VMA_STICKY_FLAGS mk_vma_flags(VMA_SOFTDIRTY_BIT, VMA_MAYBE_GUARD_BIT)
#define VM_NOT_A_MASK (VM_READ | VM_WRITE)
"""


def tree_of(tmp: Path) -> Path:
    (tmp / "mm").mkdir(parents=True)
    (tmp / "include" / "linux").mkdir(parents=True)
    (tmp / "mm" / "vma.c").write_text(C_TEXT)
    (tmp / "include" / "linux" / "mm.h").write_text(MM_H)
    return tmp


def changes(line_text: str, prev: str = "", fn: str = "f") -> set[tuple[str, str]]:
    code = blank_comments([line_text])[0]
    return {(op, new.strip()) for op, new in
            mutations(Line("mm/vma.c", 1, fn, line_text, code), prev)}


def test_functions_found_comments_and_preprocessor_skipped():
    lines = function_lines("mm/vma.c", C_TEXT)
    assert {ln.function for ln in lines} == {"frob", "other"}
    texts = [ln.text.strip() for ln in lines]
    assert "/* if (prev < next) */" not in texts
    assert not any(t.startswith("#") for t in texts)
    assert "int a;" not in texts                       # a struct is not a function
    src = 'x = 1; /* y < z */ "a<b"'
    blanked = blank_comments([src])[0]
    assert len(blanked) == len(src) and "<" not in blanked and blanked.startswith("x = 1; ")


def test_operators_each_kind():
    got = changes("\tif (start < end && prev)", prev="\tint err = 0;")
    assert ("rel", "if (start <= end && prev)") in got
    assert ("logic", "if (start < end || prev)") in got
    assert ("negate", "if (!(start < end && prev))") in got
    assert ("swap", "if (end < end && prev)") in got
    assert ("swap", "if (start < end && next)") in got
    assert changes("\t\treturn -ENOMEM;", prev="\tif (x)") == \
        {("drop-return", ";"), ("errno", "return -EINVAL;")}
    assert ("drop-acct", ";") in changes("\tvm_stat_account(mm, flags, 1);", prev="{")
    assert ("drop-unlock", ";") in changes("\tmmap_write_unlock(mm);", prev="x = 1;")
    assert ("drop-assign", ";") in changes("\tprev->vm_end = next->vm_start;", prev="x;")
    assert ("flag", "call_it(VM_MAYSHARE);") in changes("\tcall_it(VM_SHARED);", prev="x;")
    # a declaration is never dropped, nor a line continuing a statement
    assert not {op for op, _ in changes("\tint err = 0;", prev="{")} & {"drop-assign"}
    assert not [op for op, _ in changes("\t\tfoo(a);", prev="\tx = bar(b,")
                if op.startswith("drop")]
    # the text of a string literal is not code
    assert not [op for op, _ in changes('\tpr_info("start < end");', prev="x;")
                if op == "rel"]


def test_mask_operator_drops_one_flag():
    got = {(ln.function, ln.no, new.strip()) for ln, prev in
           zip(mask_lines(MM_H), [""] + [x.code for x in mask_lines(MM_H)])
           for op, new in mutations(ln, prev if ln.no > 2 else "")}
    assert ("VM_COPY_ON_FORK", 3, "0)") in got                # VM_MAYBE_GUARD dropped
    assert ("VM_COPY_ON_FORK", 2, "#define VM_COPY_ON_FORK (0 | VM_MIXEDMAP | \\") in got
    assert ("VMA_STICKY_FLAGS", 4, "#define VMA_STICKY_FLAGS mk_vma_flags(VMA_SOFTDIRTY_BIT)") \
        in got
    assert ("VMA_STICKY_FLAGS", 4, "#define VMA_STICKY_FLAGS mk_vma_flags(VMA_MAYBE_GUARD_BIT)") \
        in got
    assert not any(fn == "VM_NOT_A_MASK" for fn, _, _ in got)   # not a known mask


def test_generate_ids_patches_and_only_lines(tmp_path):
    root = tree_of(tmp_path / "t")
    ms = generate(root)
    assert len({m.id for m in ms}) == len(ms) > 10
    assert ms == generate(root)                                 # stable
    files = {m.file for m in ms}
    assert files == {"mm/vma.c", "include/linux/mm.h"}
    m = next(m for m in ms if m.operator == "drop-unlock")
    patch = m.patch(root)
    assert "-\tmmap_write_unlock(mm);\n+\t;\n" in patch
    # the patch applies as git applies it, and makes exactly the one change
    work = tmp_path / "w"
    subprocess.run(["cp", "-r", str(root), str(work)], check=True)
    subprocess.run(["git", "apply", "-"], input=patch.encode(), cwd=work, check=True,
                   env={**os.environ, "GIT_DIR": os.devnull})
    new = (work / "mm/vma.c").read_text().split("\n")
    assert new[m.line - 1] == "\t;"
    assert (work / "mm/vma.c").read_text().count("\n") == C_TEXT.count("\n")
    for each in ms:                     # every patch applies, near the file's end too
        subprocess.run(["git", "apply", "--check", "-"], input=each.patch(root).encode(),
                       cwd=root, check=True, env={**os.environ, "GIT_DIR": os.devnull})
    only = generate(root, only={"mm/vma.c": {m.line}})
    assert {x.line for x in only} == {m.line}
    assert {x.function for x in generate(root, functions={"other"})} == {"other"}


def test_changed_lines():
    assert changed_lines("a\nb\nc\n", "a\nB\nc\nd\n") == {2, 4}
    assert changed_lines("a\nb\n", "a\nb\n") == set()


def test_sample_spreads_over_files_and_functions():
    ms = [Mutant(f"{i:012x}", f, i, fn, "rel", "a", "b")
          for i, (f, fn) in enumerate([("mm/vma.c", f"f{i % 30}") for i in range(300)]
                                      + [("mm/vma_exec.c", "g")] * 10
                                      + [("include/linux/mm.h", "VM_X")] * 5)]
    s = sample(ms, 20, seed=3)
    assert len(s) == 20 and len({m.id for m in s}) == 20
    assert {m.file for m in s} == {"mm/vma.c", "mm/vma_exec.c", "include/linux/mm.h"}
    assert len({m.function for m in s if m.file == "mm/vma.c"}) == \
        sum(m.file == "mm/vma.c" for m in s)                   # one per function first
    assert sample(ms, 20, seed=3) == s


def result(mid: str, fn: str, status: str = "run", suites: bool = False,
           diff: bool = False) -> dict:
    m = Mutant(mid, "mm/vma.c", 1, fn, "rel", "\ta < b", "\ta <= b")
    res = {"id": mid, "mutant": m.as_dict(), "status": status, "patch": f"/p/{mid}.patch"}
    if status == "run":
        res["suites"] = {"killed": suites, "how": "fail" if suites else "pass"}
        res["diff"] = {"killed": diff, "how": "divergence" if diff else "pass"}
    return res


def test_report_counts_and_equivalents(tmp_path):
    eq = tmp_path / "equiv"
    eq.write_text("# marked by hand\n00000000000e  # only the name of a local changes\n")
    equivalents = report.read_equivalents(str(eq))
    assert equivalents == {"00000000000e": "only the name of a local changes"}
    results = [result("00000000000a", "f", suites=True, diff=True),
               result("00000000000b", "f", suites=True),
               result("00000000000c", "f", diff=True),
               result("00000000000d", "f"),
               result("00000000000e", "f"),
               result("00000000000f", "f", status="nocompile"),
               result("000000000010", "f", status="identical")]
    fns, files, total = report.tabulate(results, equivalents)
    (row,) = fns
    assert (row.mutants, row.run, row.suites, row.diff, row.either) == (7, 4, 2, 2, 3)
    assert row.apart == {"equivalent": 1, "nocompile": 1, "identical": 1}
    assert [s["id"] for s in row.survivors] == ["00000000000d"]
    text = report.text(results, equivalents, "T", ["--kernel", "debian:7.x"], 7)
    assert "| mm/vma.c: f() | 7 | 1 / 1 / 1 | 4 | 2 (50%) | 2 (50%) | 3 (75%) | 1 |" in text
    assert "pyvma test --kernel debian:7.x --patch /p/00000000000d.patch --no-base" in text
    assert "pyvma diff debian:7.x debian:7.x --b-patch /p/00000000000d.patch" in text
    data = json.loads(report.as_json(results, equivalents, "T", ["--kernel", "debian:7.x"], 7))
    assert data["total"]["killed_by_either"] == 3 and data["total"]["survivors"] == \
        ["00000000000d"]
    eq.write_text("not-an-id\n")
    with pytest.raises(PyvmaError, match=r"equiv:1: not a mutant id"):
        report.read_equivalents(str(eq))


# -- real runs on a cached tree -----------------------------------------------------------

def pyvma(*args: str, env: dict | None = None, timeout: float = 900) \
        -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyvma", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tree7():
    from pyvma.tree.spec import resolve
    return resolve("debian:7.x")


def test_sticky_mask_mutant_killed_by_the_suites(tree7):
    """VM_MAYBE_GUARD dropped from VM_COPY_ON_FORK: every test reading the mask from
    the tree agrees with it; the sticky facts do not."""
    if not tree7.has("copy_on_fork"):
        pytest.skip(f"{tree7.version_str} has no VM_COPY_ON_FORK")
    from pyvma.mutate.run import Options, run_mutant
    (m,) = [m for m in generate(tree7.root, functions={"VM_COPY_ON_FORK"})
            if m.operator == "mask" and "VM_MAYBE_GUARD" in m.old and
            "VM_MAYBE_GUARD" not in m.new]
    res = run_mutant(m, Options(spec=str(tree7.root), root=str(tree7.root), diff_seconds=1))
    assert res["status"] == "run", res
    assert res["suites"]["killed"], res
    assert "test_sticky_facts.py::test_guard_copied_on_fork" in res["suites"]["detail"]


def test_campaign_on_two_workers_merged_and_resumed(tree7, tmp_path):
    """Two local xdist workers (``--tx popen`` twice) stand in for two hosts: each
    keeps its own cache, the kernel tree is read from the planner's cache, results
    come back merged into one report; a second run takes them from the cache."""
    cache = tmp_path / "cache"
    env = {**os.environ, "PYVMA_CACHE": str(cache)}
    env.pop("PYVMA_KERNELS", None)
    # three small mutants (two functions of one line each)
    args = ("mutate", "--no-sandbox", "--kernel", str(tree7.root), "--functions",
            "init_vma_prep,vma_is_fork_child", "--tx", "popen", "--tx", "popen", "--json",
            "--diff-seconds", "1")
    listed = pyvma("mutate", "--no-sandbox", "--kernel", str(tree7.root), "--functions",
                   "init_vma_prep,vma_is_fork_child", "--list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[-1] == "3 mutants of 7.3.4" or \
        not tree7.version_str.startswith("7.3"), listed.stdout
    first = pyvma(*args, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    data = json.loads(first.stdout)
    assert data["results"] == data["planned"] >= 2
    workers = {m.get("worker") for m in data["mutants"]}
    assert workers <= {"gw0", "gw1"} and len(workers) == 2, workers
    assert (cache / "mutate" / "worker-gw0").is_dir() and \
        (cache / "mutate" / "worker-gw1").is_dir()
    assert not (cache / "mutate" / "worker-gw0" / "kernels" /
                tree7.root.name).exists()                    # the tree is not copied
    assert all(m["status"] in ("run", "nocompile", "identical") for m in data["mutants"])
    again = pyvma(*args, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{data['planned']} with a cached result, 0 to run" in again.stderr
    assert json.loads(again.stdout)["total"] == data["total"]


def test_drop_builds_removes_only_the_mutant_tree(tmp_path, monkeypatch):
    from pyvma.mutate.run import drop_builds
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("PYVMA_CACHE", str(cache))
    for key, tree in (("a", "/t/mutant"), ("b", "/t/mutant"), ("c", "/t/base")):
        (cache / "builds" / key).mkdir(parents=True)
        (cache / "builds" / key / "BUILD.json").write_text(json.dumps({"tree": tree}))
    drop_builds(Path("/t/mutant"))
    assert sorted(p.name for p in (cache / "builds").iterdir()) == ["c"]
