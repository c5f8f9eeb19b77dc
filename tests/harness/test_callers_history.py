# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/history.py's accounting, on small trees made here: each definition of
mm/vma*.c and the caller files (a function however its first line is split, a
SYSCALL_DEFINE, a macro, a type, a prototype) is its own change; a change is found
only when a divergence whose replay exits 1 runs a line of it on a tree that has it
(a macro or type: a line of a function using it), exercised when only the run did,
named when no line of it has code; caller code is found only through an operation
whose probed path follows it, else a gap of the layer or not restated."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import history  # noqa: E402

OLD = """\
#define STATE(x) \\
\t{ .a = (x) }

struct vma_state {
\tint a;
};

static int
split_here(int a)
{
\treturn a + 1;
}

int merge(struct vma_state *s)
{
\t/* old comment */
\treturn s->a;
}

int unused(int a)
{
\treturn a;
}
"""
NEW = OLD.replace("\treturn a + 1;", "\treturn a + 2;").replace(
    "/* old comment */", "/* new comment */").replace("int a;\n};", "int a;\n\tint b;\n};"
).replace("\treturn a;\n}", "\treturn -a;\n}")
HEADER_OLD = "int merge(struct vma_state *s,\n\t  int flags);\n"
HEADER_NEW = "int merge(struct vma_state *s,\n\t  long flags);\n"
MREMAP_OLD = """\
SYSCALL_DEFINE5(mremap, unsigned long, addr)
{
\treturn 0;
}

static unsigned long move_vma(int x)
{
\treturn x;
}

static int mremap_to(int x)
{
\treturn x;
}

static int vrm_frobnicate(int x)
{
\treturn x;
}
"""
MREMAP_NEW = MREMAP_OLD.replace("\treturn x;", "\treturn x + 1;").replace(
    "\treturn 0;", "\treturn 1;")


def tree(root: Path, vma_c: str, vma_h: str, mremap_c: str) -> Path:
    (root / "mm").mkdir(parents=True)
    (root / "mm" / "vma.c").write_text(vma_c)
    (root / "mm" / "vma.h").write_text(vma_h)
    (root / "mm" / "mremap.c").write_text(mremap_c)
    return root


def test_units_split_a_c_file_into_its_definitions(tmp_path):
    t = tree(tmp_path / "a", OLD, HEADER_OLD, MREMAP_OLD)
    u = history.units(t / "mm" / "vma.c")
    assert {n: (x.kind, x.first, x.last) for n, x in u.items() if n != history.FILE_SCOPE} == {
        "STATE": ("macro", 1, 2), "struct vma_state": ("type", 4, 6),
        "split_here": ("function", 9, 12), "merge": ("function", 14, 18),
        "unused": ("function", 20, 23)}
    assert "static int" in u[history.FILE_SCOPE].text
    assert set(history.units(t / "mm" / "vma.h")) == {history.FILE_SCOPE,
                                                       "merge (declaration)"}
    assert "sys_mremap" in history.units(t / "mm" / "mremap.c")


def test_each_change_is_found_exercised_named_or_a_gap(tmp_path):
    a = tree(tmp_path / "a", OLD, HEADER_OLD, MREMAP_OLD)
    b = tree(tmp_path / "b", NEW, HEADER_NEW, MREMAP_NEW)
    ch = history.changes(a, b)
    by = {(c["file"], c["function"]): c for c in ch}
    assert by[("mm/vma.c", "merge")]["named"].startswith("comments")
    assert by[("mm/vma.h", "merge (declaration)")]["named"].startswith("a prototype")
    # lines: split_here 9-12, unused 20-23; the type is used by merge (14-18)
    reached_by_div = {"mm/vma.c": [10, 11]}           # split_here's body
    reached_by_run = {"mm/vma.c": [10, 11, 16, 17]}     # ... and merge's
    code = {"mm/vma.c": [10, 11, 16, 17]}               # unused: no code at all
    divs = [{"ops": [["map", 0, 1], ["mremap", 0, 1, 1, 4, "dontunmap"]], "replay_exit": 1},
            {"ops": [["mprotect_prot", 0, 1, "r"]], "replay_exit": 2}]
    data = {"divergences": divs, "stats": {"coverage": {
        "a": {"files": {"mm/vma.c": {"reached": reached_by_run["mm/vma.c"],
                                     "code": code["mm/vma.c"]}}},
        "b": {"same_build_as_a": True, "files": {}},
        "divergences": [{"a": reached_by_div, "b": {}}, {"a": {"mm/vma.c": [16]}, "b": {}}]},
        "not_exercised": [], "ops_left_out": {}}}
    history.account(ch, data)
    how = {(c["file"], c["function"]): c["how"] for c in ch}
    assert how[("mm/vma.c", "split_here")] == "found"
    # entered only by a divergence whose replay did not exit 1: the run's, exercised
    assert how[("mm/vma.c", "struct vma_state")] == "exercised"
    assert how[("mm/vma.c", "unused")] == "named"
    assert by[("mm/vma.c", "unused")]["named"].startswith("no code of it")
    # caller code: move_vma's change followed by dontunmap's probed path; mremap_to
    # restated once (a gap); vrm_frobnicate not restated at all
    assert how[("mm/mremap.c", "move_vma")] == "found"
    assert how[("mm/mremap.c", "mremap_to")] == "gap"
    assert how[("mm/mremap.c", "sys_mremap")] == "gap"
    assert how[("mm/mremap.c", "vrm_frobnicate")] == "named"
    assert "open" not in how.values()
    # without the replaying divergence, a change no line of the run reaches is open
    data["divergences"] = []
    data["stats"]["coverage"]["divergences"] = []
    data["stats"]["coverage"]["a"]["files"]["mm/vma.c"]["reached"] = []
    for c in ch:
        c["named"] = None if c["function"] in ("split_here",) else c["named"]
    history.account(ch, data)
    assert {c["function"]: c["how"] for c in ch}["split_here"] == "open"


def test_a_private_copy_under_the_cache_runs_in_the_sandbox(tmp_path):
    """history's hard-linked copies live under $PYVMA_CACHE/tmp: inside bubblewrap
    the cache is the sandbox's own, so a tree named there must be bound back (it was
    not: the build failed on a missing tree)."""
    import shutil
    import subprocess
    import tempfile

    import pytest

    from pyvma.cache import cache_dir, subdir
    from pyvma.sandbox import probe
    from pyvma.tree import resolve
    from pyvma.tree.scratch import link_copy
    if probe(shutil.which("bwrap") or "bwrap"):
        pytest.skip("bubblewrap cannot run here")
    src = resolve("debian:7.x").root
    with tempfile.TemporaryDirectory(prefix="history-test-",
                                     dir=subdir("tmp", cache_dir())) as tmp:
        copy = Path(tmp) / "tree"
        link_copy(src, copy)
        proc = subprocess.run([sys.executable, "-m", "pyvma", "build", "--kernel", str(copy),
                               "--sandbox"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
