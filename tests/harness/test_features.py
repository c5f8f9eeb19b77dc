# SPDX-License-Identifier: GPL-2.0-or-later
"""The feature registry (pyvma/tree/features.py) and ``@pytest.mark.requires`` checking
its names at collection."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma import tree as ptree
from pyvma.tree import features

REPO = Path(__file__).resolve().parents[2]


def test_every_feature_says_what_it_is_and_where_it_came_from() -> None:
    assert features.NAMES == ptree.FEATURES
    for f in features.REGISTRY.values():
        assert f.meaning and "\n" not in f.meaning, f.name
        assert f.change and "\n" not in f.change, f.name
        assert callable(f.probe), f.name


def test_unknown_name_is_refused_with_the_close_ones() -> None:
    with pytest.raises(features.UnknownFeature, match=r"'stiky'.*did you mean sticky"):
        features.check("stiky")
    tree = ptree.resolve("debian:7.x")
    with pytest.raises(ValueError, match="unknown kernel feature"):
        tree.has("stiky")


@pytest.mark.parametrize("spec", ["debian:6.12", "debian:linux-source-7.2", "debian:7.x"])
def test_behaviour_features_follow_the_code(spec: str) -> None:
    """The two behaviour probes agree with the text of the tree's functions."""
    tree = ptree.resolve(spec)
    vma_c = (tree.root / "mm/vma.c").read_text(errors="replace")
    # where the tree has it: mm/vma.c, or 6.12's mm/mmap.c (built from there)
    home = features.Tree(tree.root).home("insert_vm_struct")
    assert home in ("", vma_c, (tree.root / "mm/mmap.c").read_text(errors="replace"))
    insert = features.function_body(home, "insert_vm_struct")
    assert tree.has("insert_vm_struct") == (insert is not None)
    if insert is not None:
        assert tree.has("insert_vm_struct_warns") == ("BUG_ON(vma->anon_vma)" not in insert)
    copy = features.function_body(vma_c, "copy_vma")
    assert copy is not None
    assert tree.has("copy_vma_self_merge_warns") == ("VM_BUG_ON_VMA(" not in copy)


def test_probe_results_are_kept_in_the_cache_given(tmp_path: Path) -> None:
    tree = ptree.resolve("debian:7.x")
    feats = ptree.probe_features(tree.root, tmp_path)
    assert feats == tree.features
    assert list((tmp_path / "hashes").glob("probe-*.json"))


def test_misspelt_requires_fails_collection(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["pyvma.pytest_plugin"]\n')
    (tmp_path / "test_typo.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.requires('stiky')\n"
        "def test_typo(kernel):\n    pass\n\n"
        "def test_fine():\n    pass\n")
    (tmp_path / "test_class.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.requires('sticky', 'vma_flags')\n"
        "class TestX:\n    def test_a(self):\n        pass\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), "--kernel", "debian:7.x", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    out = run.stdout
    assert run.returncode == 2, out + run.stderr
    assert "ERROR collecting test_typo.py" in out, out
    assert "unknown kernel feature 'stiky' (did you mean sticky?)" in out, out
    assert "ERROR collecting test_class.py" in out, out
    assert "unknown kernel feature 'vma_flags' (did you mean vma_flags_t" in out, out
    assert "2 errors" in out, out
