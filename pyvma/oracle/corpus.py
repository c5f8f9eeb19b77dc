# SPDX-License-Identifier: GPL-2.0-or-later
"""The oracle's built-in scenarios: the files of pyvma/oracle/scenarios/, in the
format of :mod:`.scenario`.

``corpus.json``: two neighbours A = pages [2, 6) and B = [6, 10) of one backing
(anonymous, MAP_NORESERVE, private or shared memfd), faulted or not, then one
family of operations (240).  The ``selftest-*.json`` files: the layout assertions
of the kernel's own tools/testing/selftests/mm/ tests, each scenario naming the
case it mirrors.
"""
from __future__ import annotations

from pathlib import Path

from .scenario import Scenario, load

DIR = Path(__file__).with_name("scenarios")


def files() -> list[Path]:
    """The built-in files, corpus first."""
    return sorted(DIR.glob("*.json"), key=lambda p: (p.name != "corpus.json", p.name))


def scenarios(small: bool = False, which: str = "all") -> list[Scenario]:
    """The built-in scenarios (*which*: ``corpus``, ``selftests`` or ``all``);
    *small*: those tagged ``small`` (one of each family) and every selftest one."""
    out: list[Scenario] = []
    for p in files():
        is_corpus = p.name == "corpus.json"
        if (which == "corpus" and not is_corpus) or (which == "selftests" and is_corpus):
            continue
        for s in load(p):
            if small and is_corpus and "small" not in s.tags:
                continue
            out.append(s)
    return out
