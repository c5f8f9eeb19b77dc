# SPDX-License-Identifier: GPL-2.0-or-later
"""The real kernel against the reference model (pyvma/engine/model.py), as hypothesis
stateful tests with a bounded number of examples; `pyvma fuzz` runs them long."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from pyvma.engine.model import Checker, Model, make_state_machine

REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*.json"))


def test_model_state_machine(kernel):
    machine = make_state_machine(kernel)
    machine.TestCase.settings = settings(max_examples=40, stateful_step_count=25,
                                         deadline=None, derandomize=True,
                                         suppress_health_check=list(HealthCheck))
    machine.TestCase().runTest()


@pytest.mark.parametrize("case", REGRESSIONS, ids=[p.stem for p in REGRESSIONS])
def test_saved_regression(kernel, case):
    data = json.loads(case.read_text())
    c = Checker(kernel)
    try:
        for op in data["ops"]:
            c.step(tuple(op))
    finally:
        c.close()


def test_model_catches_a_wrong_rule(kernel):
    """The check can fail: a model that forgets sticky flags disagrees with 7.x."""
    c = Checker(kernel)
    try:
        if not kernel.sticky_mask:
            pytest.skip(f"kernel {kernel.version} lacks sticky VMA flags")
        c.model.sticky = 0
        # 012
        # AA*   the new range brings VM_MAYBE_GUARD: the merged VMA keeps it
        c.step(("map", 0, 2, 0, c.flags(()), None, None))
        with pytest.raises(AssertionError, match="layouts differ"):
            c.step(("merge_new", 2, 3, 2, c.flags(("VM_MAYBE_GUARD",)), None, None))
    finally:
        c.close()



def _run(kernel, ops, mutate=None):
    """The ops through the Checker (kernel against model); *mutate*: a change to the
    model first.  Returns the model's layout as (start, end, pgoff) in pages."""
    c = Checker(kernel)
    try:
        if mutate is not None:
            mutate(c.model)
        for op in ops:
            c.step(op)
        return [(v.start, v.end, v.pgoff) for v in c.model.vmas]
    finally:
        c.close()


def _flags(kernel, *extra):
    return ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE") + extra


def test_model_name_policy_uffd_follow_the_flags_rules(kernel):
    """
    01234        01234        01234        01234
    AA*CC   ->   AAAAA   ->   AAA**   ->   AAAAA    uffd B; name 3-5 (split); name 3-5
    0123456                   0123456
    AAA*AAA                   AAABAAA (policy of a middle page: split in three)
    """
    base, dd = _flags(kernel), _flags(kernel, "VM_DONTDUMP")
    scene = [("map", 0, 2, 0, base, None, None), ("map", 2, 3, 2, dd, None, None),
             ("map", 3, 5, 3, base, None, None)]
    assert _run(kernel, scene + [("uffd", 2, 3, base, False)]) == [(0, 5, 0)]
    assert _run(kernel, scene + [("uffd", 2, 3, base, False), ("name", 3, 5, "heap")]) \
        == [(0, 3, 0), (3, 5, 3)]
    assert _run(kernel, scene + [("uffd", 2, 3, base, False), ("name", 3, 5, "heap"),
                                 ("name", 3, 5, None)]) == [(0, 5, 0)]
    assert _run(kernel, [("map", 0, 7, 0, base, None, None), ("policy", 3, 4)]) \
        == [(0, 3, 0), (3, 4, 3), (4, 7, 4)]

    def never_merges(m):
        m.modify = lambda s, e, flags: Model.modify(m, s, e, flags | kernel.flag("VM_IO"))
    with pytest.raises(AssertionError, match="layouts differ"):
        _run(kernel, scene + [("uffd", 2, 3, base, False)], never_merges)


def test_model_extend_merges_with_what_follows(kernel):
    """
    0123          0123
    A*BB    ->    AAAA   (vma_merge_extend fills the gap and takes B in)
    """
    base = _flags(kernel)
    ops = [("map", 0, 1, 0, base, None, None), ("map", 2, 4, 2, base, None, None),
           ("extend", 0, 1)]
    assert _run(kernel, ops) == [(0, 4, 0)]

    def left_only(m):
        # a model in which the range merges with the VMA before it only
        def merge_new(s, e, pgoff, flags, file):
            prev = next(v for v in m.vmas if v.end == s)
            m.vmas[m.vmas.index(prev)] = replace(prev, end=e)
            return "success"
        m.merge_new = merge_new
    with pytest.raises(AssertionError, match="layouts differ"):
        _run(kernel, ops, left_only)


@pytest.mark.requires("expand_downwards")
def test_model_stack_growth(kernel):
    """
    0123456789        0123456789
          SSS   ->        SSSSS    (the page offset goes down with it)
    AA    SSS   ->    AA    SSS    (-ENOMEM: A readable within the guard gap)
    """
    stack = _flags(kernel, "VM_GROWSDOWN")
    grow = [("map", 6, 9, 6, stack, None, None), ("stack", 6, 4)]
    assert _run(kernel, grow) == [(4, 9, 4)]
    guarded = [("map", 0, 2, 0, _flags(kernel), None, None)] + grow
    assert _run(kernel, guarded) == [(0, 2, 0), (6, 9, 6)]

    def keeps_pgoff(m):
        def stack_(page, addr):
            v = m._at(page)
            ret = Model.stack(m, page, addr)
            m.vmas = [replace(x, pgoff=v.pgoff) if x.end == v.end else x for x in m.vmas]
            return ret
        m.stack = stack_
    with pytest.raises(AssertionError, match="layouts differ"):
        _run(kernel, grow, keeps_pgoff)


@pytest.mark.requires("install_special_mapping")
def test_model_special_mapping_never_merges(kernel):
    """
    012345        012345
    AA**BB   ->   AASSBB   (S: VM_DONTEXPAND, page offset 0, VM_LOCKED dropped)
    """
    base = _flags(kernel)
    ops = [("map", 0, 2, 0, base, None, None), ("map", 4, 6, 4, base, None, None),
           ("special", 2, 4, _flags(kernel, "VM_LOCKED"), ("close",))]
    assert _run(kernel, ops) == [(0, 2, 0), (2, 4, 0), (4, 6, 4)]

    def keeps_locked(m):
        m.install_special = lambda s, e, flags: _special_keeping_locked(m, s, e, flags)
    with pytest.raises(AssertionError, match="layouts differ"):
        _run(kernel, ops, keeps_locked)


def _special_keeping_locked(m, s, e, flags):
    ret = Model.install_special(m, s, e, flags)
    v = m._at(s)
    m.vmas[m.vmas.index(v)] = replace(v, flags=v.flags | m.k.flag("VM_LOCKED"))
    return ret


def test_model_take_all_locks_changes_nothing(kernel):
    base = _flags(kernel)
    ops = [("map", 0, 2, 0, base, "av0", None), ("map", 3, 5, 3, base, None, "f0"),
           ("all_locks",)]
    assert _run(kernel, ops) == [(0, 2, 0), (3, 5, 3)]
