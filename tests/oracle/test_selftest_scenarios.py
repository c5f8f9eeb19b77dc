# SPDX-License-Identifier: GPL-2.0-or-later
"""The kernel's own mm selftests (merge.c, guard-regions.c, ...) as oracle scenarios:
each scenario's checkpoints and asserted returns on the tree, then (where the
running kernel can: x86-64 Linux with PROCMAP_QUERY) the same sequence live,
compared after every operation."""
import os
import sys

import pytest

from pyvma.oracle import compare, corpus, harness, live

SELFTESTS = corpus.scenarios(which="selftests")
_CTX: dict = {}


def _live_unavailable() -> str:
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        return "the oracle's system calls are x86-64 Linux ones"
    if "probe" not in _CTX:
        _CTX["probe"] = live.probe()
    return _CTX["probe"].get("procmap_query", "")


def _ctx(kernel) -> compare.Context:
    key = (kernel.name, id(kernel))
    if key not in _CTX:
        _CTX[key] = compare.Context.make(kernel)
    return _CTX[key]


def test_every_selftest_file_has_scenarios_naming_their_case():
    names = {s.name.split("/")[0] for s in SELFTESTS}
    assert {"merge.c", "guard-regions.c"} <= names
    for s in SELFTESTS:
        assert s.mirrors.startswith("tools/testing/selftests/mm/"), s.name
        case = s.name.split("/")[1]
        assert case in s.mirrors or case.split(".")[-1] in s.mirrors, s.name
        assert any(o[0].startswith("expect") for o in s.ops) or s.returns, \
            f"{s.name} asserts nothing"


@pytest.mark.requires("mmap_region")
@pytest.mark.parametrize("sc", SELFTESTS, ids=lambda s: s.name)
def test_selftest_checkpoints_hold_on_the_tree(kernel, sc):
    """The layout (and returns) the selftest asserts, on the tree's mm/vma.c."""
    if sc.feature and not kernel.has(sc.feature):
        pytest.skip(f"{kernel.name} lacks {sc.feature}: the selftest asserts what the "
                    "change that brought it does")
    hr = harness.run(kernel, [list(o) for o in sc.ops], steps=True)
    assert not hr.bug, hr.bug
    ctx = compare.Context(kernel, {}, frozenset(), frozenset())
    notes: list = []
    step, why = compare.checkpoints(ctx, sc, hr, notes)
    assert step is None, f"{sc.name}: {why}\n{hr.steps[step]}"


@pytest.mark.requires("mmap_region")
@pytest.mark.parametrize("sc", SELFTESTS, ids=lambda s: s.name)
def test_selftest_scenario_agrees_with_the_running_kernel(kernel, sc):
    why = _live_unavailable()
    if why:
        pytest.skip(f"live half: {why}")
    ctx = _ctx(kernel)
    v = compare.judge(ctx, sc)
    if v.status == "skipped":
        pytest.skip(v.why)
    assert v.status in ("agree", "explained"), (sc.name, v.why, v.live, v.tree)
    if v.status == "explained":
        assert "feature" in v.why, v.why      # a named kernel change, probed


@pytest.mark.requires("mmap_region")
@pytest.mark.requires("anon_pgoff")
def test_anon_page_offset_mismatch_is_a_merge_difference_explained_by_the_feature(kernel):
    """7.3's separate anonymous page offset keeps the boundary; a running kernel
    without it merges (the probe says which): explained, naming the feature."""
    why = _live_unavailable()
    if why:
        pytest.skip(f"live half: {why}")
    ctx = _ctx(kernel)
    sc = next(s for s in SELFTESTS if s.name.endswith("anon_and_page_offset_mismatch_memfd"))
    v = compare.judge(ctx, sc)
    if ctx.behaviour["merges_moved_anon_of_file"]:
        assert v.status == "explained" and "anon_pgoff" in v.why, v.why
        assert [r[:2] for r in v.tree if r[1] <= 10] == [(0, 5), (5, 10)]
        assert [r[:2] for r in v.live if r[1] <= 10] == [(0, 10)]
    else:
        assert v.status == "agree", v.why
