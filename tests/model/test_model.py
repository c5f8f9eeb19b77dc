# SPDX-License-Identifier: GPL-2.0-or-later
"""The real kernel against the reference model (pyvma/engine/model.py), as hypothesis
stateful tests with a bounded number of examples; `pyvma fuzz` runs them long."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from pyvma.engine.model import Checker, make_state_machine

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
