# SPDX-License-Identifier: GPL-2.0-or-later
"""Patches as kernel inputs, and `pyvma diff` / `pyvma replay` between builds."""
from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma import tree as ptree
from pyvma.api import load, load_tree
from pyvma.cache import cache_dir
from pyvma.engine.diff import diff
from pyvma.tree.patches import PatchError, patched

REPO = Path(__file__).resolve().parents[2]
# the final sticky set of the existing-range merge (7.x): the line the patch drops
STICKY_SET = "vma_set_flags_mask(vmg->target, sticky_flags);"


def make_patch(tree: Path, rel: str, edit, subject: str = "mm: test change") -> str:
    """A git-style patch of *edit* applied to the tree's *rel* (made at run time)."""
    old = (tree / rel).read_text().splitlines(keepends=True)
    new = edit("".join(old)).splitlines(keepends=True)
    body = "".join(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}"))
    return (f"From: Test <test@example.org>\nSubject: [PATCH] {subject}\n\n---\n"
            f"diff --git a/{rel} b/{rel}\n{body}")


@pytest.fixture(scope="module")
def tree7():
    tree = ptree.resolve("debian:7.x")
    text = (tree.root / "mm/vma.c").read_text()
    if "sticky" not in tree.features or STICKY_SET not in text:
        pytest.skip(f"{tree.version_str} has no sticky set in vma_merge_existing_range()")
    return tree


@pytest.fixture(scope="module")
def sticky_patch(tree7, tmp_path_factory) -> Path:
    """Drops the first (existing-range merge) sticky set."""
    p = tmp_path_factory.mktemp("patches") / "0001-drop-sticky-set.patch"
    p.write_text(make_patch(tree7.root, "mm/vma.c",
                            lambda t: t.replace("\t" + STICKY_SET + "\n", "", 1)))
    return p


def test_self_diff_reports_nothing(tree7):
    k = load("debian:7.x")
    divs, stats = diff(k, k, seed=3, sequences=60, length=25, seconds=30)
    assert divs == []
    assert stats["ops_run"] > 1000


def test_one_line_sticky_patch_is_found_and_shrunk(tree7, sticky_patch):
    base = load("debian:7.x")
    broken = load_tree(patched("debian:7.x", [str(sticky_patch)]))
    assert broken.build.key != base.build.key
    divs, stats = diff(base, broken, seed=1, sequences=300, length=30, seconds=60)
    assert divs, "dropping the sticky set went unnoticed"
    shortest = min(divs, key=lambda d: len(d.ops))
    assert len(shortest.ops) <= 4
    sticky = {n for n in ("VM_MAYBE_GUARD", "VM_SOFTDIRTY") if base.sticky_mask & base.flag(n)}
    # the base keeps a sticky flag the patched tree loses
    lost = {f for r in shortest.a.layout for f in r[3]} - {f for r in shortest.b.layout for f in r[3]}
    assert lost & sticky, (lost, shortest.ops)
    print(f"\nfound in {stats['seconds']} s: {shortest.ops}")


def test_patch_that_does_not_apply_names_patch_file_and_hunk(tree7, tmp_path):
    good = tmp_path / "0001-ok.patch"
    good.write_text(make_patch(tree7.root, "mm/vma.c", lambda t: t.replace(
        STICKY_SET, STICKY_SET + " /* ok */", 1)))
    bad = tmp_path / "0002-stale.patch"
    stale = make_patch(tree7.root, "mm/vma.c", lambda t: t.replace(
        STICKY_SET, STICKY_SET + " /* stale */", 1))
    bad.write_text(stale.replace(f" \t{STICKY_SET}", f" \t{STICKY_SET} /* not in the tree */", 1)
                   .replace(f"-\t{STICKY_SET}\n", f"-\t{STICKY_SET} /* gone */\n", 1))
    before = sorted(p.name for p in (cache_dir() / "kernels").iterdir())
    with pytest.raises(PatchError) as err:
        patched("debian:7.x", [str(good), str(bad)])
    msg = str(err.value)
    assert "patch 2/2 (0002-stale.patch)" in msg
    assert re.search(r"mm/vma\.c:\d+", msg), msg
    after = sorted(p.name for p in (cache_dir() / "kernels").iterdir())
    assert after == before, "a failed patch left a tree in the cache"


def test_series_mbox_applies_in_order_and_skips_cover(tree7, tmp_path):
    p1 = make_patch(tree7.root, "mm/vma.c", lambda t: t.replace(
        STICKY_SET, STICKY_SET + " /* one */", 1), "[PATCH 1/2] mm: one")
    # patch 2 applies only on top of patch 1
    after1 = (tree7.root / "mm/vma.c").read_text().replace(STICKY_SET, STICKY_SET + " /* one */", 1)
    scratch = tmp_path / "t"
    (scratch / "mm").mkdir(parents=True)
    (scratch / "mm/vma.c").write_text(after1)
    p2 = make_patch(scratch, "mm/vma.c", lambda t: t.replace("/* one */", "/* two */", 1),
                    "[PATCH 2/2] mm: two")
    cover = ("From: Test <test@example.org>\nSubject: [PATCH 0/2] mm: a series\n\n"
             "This is the cover letter.\n")
    mbox = tmp_path / "series.mbox"
    mbox.write_text("".join(f"From 0000000000000000 Mon Sep 17 00:00:00 2001\n{m}\n"
                            for m in (cover, p2, p1)))          # out of order on purpose
    tree = patched("debian:7.x", series=str(mbox))
    assert STICKY_SET + " /* two */" in (tree.root / "mm/vma.c").read_text()
    assert (tree7.root / "mm/vma.c").read_text().count("/* two */") == 0


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyvma", *args], capture_output=True,
                          text=True, cwd=REPO)


def test_cli_diff_exit_codes_json_and_replay(tree7, sticky_patch):
    same = run_cli("diff", "debian:7.x", "debian:7.x", "--sequences", "20", "--no-corpus")
    assert same.returncode == 0, same.stderr
    assert "no divergence" in same.stdout
    found = run_cli("diff", "debian:7.x", "debian:7.x", "--b-patch", str(sticky_patch),
                    "--sequences", "100", "--json")
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    assert report["divergences"]
    ops = min((d["ops"] for d in report["divergences"]), key=len)
    tree = patched("debian:7.x", [str(sticky_patch)])
    replay = run_cli("replay", "--kernel", "debian:7.x", "--kernel", str(tree.root),
                     "--ops", json.dumps(ops))
    assert replay.returncode == 1, replay.stdout + replay.stderr
    bad = run_cli("diff", "debian:7.x", "/nonexistent")
    assert bad.returncode == 2 and "does not exist" in bad.stderr
