# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/matrix.py: which versions and configs it runs, and its line per run."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from pyvma import tree as ptree
from pyvma.cache import cache_dir

REPO = Path(__file__).resolve().parents[2]


def _matrix():
    spec = importlib.util.spec_from_file_location("pyvma_matrix", REPO / "scripts" / "matrix.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod            # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_served_versions_include_the_default_tree_newest_first() -> None:
    matrix = _matrix()
    tree = ptree.resolve("debian:7.x")
    package, version = tree.origin["package"], tree.origin["debian_version"]
    versions = matrix.served_versions(ptree.DebianApt(cache_dir()), package)
    assert versions[0] == version, versions


def test_tunables_are_the_offered_non_defaults() -> None:
    tun = _matrix().tunables()
    assert "CONFIG_NUMA=y" in tun and "CONFIG_MEM_SOFT_DIRTY=n" in tun
    assert "CONFIG_PER_VMA_LOCK=n" not in tun      # refused when parsed
    assert not any(t.startswith("CONFIG_PER_VMA_LOCK") for t in tun)


def test_a_row_is_one_greppable_line() -> None:
    matrix = _matrix()
    row = matrix.Row("linux-source-7.3", "7.3.4-1~bpo13+1", "default",
                     {"passed": 5, "failed": 1, "error": 1, "skipped": 2, "xfailed": 1}, 3.25)
    assert not row.green
    assert row.line().split() == ["linux-source-7.3", "7.3.4-1~bpo13+1", "default",
                                  "passed", "5", "failed", "2", "skipped", "2",
                                  "xfailed", "1", "seconds", "3.2"]
    assert row.markdown() == "| linux-source-7.3 | 7.3.4-1~bpo13+1 | default | 5 | 2 | 2 | 1 | 3.2 |"
