# SPDX-License-Identifier: GPL-2.0-or-later
"""--ktap writes KTAP v1 that the kernel's own parser (tools/testing/kunit) accepts."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyvma import source

REPO = Path(__file__).resolve().parents[2]


def test_ktap_is_parsed_by_kunit_py(tmp_path):
    tree = source.resolve("debian:7.x")
    kunit = tree.root / "tools" / "testing" / "kunit" / "kunit.py"
    if not kunit.exists():
        pytest.skip(f"{tree.version_str} has no tools/testing/kunit/kunit.py")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["pyvma.pytest_plugin"]\n')
    (tmp_path / "test_three.py").write_text(textwrap.dedent("""\
        import pytest

        def test_pass(kernel, mm):
            mm.map(0, 0x1000)
            assert mm.map_count == 1

        def test_fail(kernel, mm):
            assert mm.map_count == 1

        @pytest.mark.requires("no_such_feature")
        def test_skip(kernel):
            pass
        """))
    ktap = tmp_path / "out.ktap"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), "--kernel", "debian:7.x",
                          "--ktap", str(ktap), str(tmp_path / "test_three.py")],
                         cwd=tmp_path, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert run.returncode == 1, run.stdout
    text = ktap.read_text()
    assert text.startswith("KTAP version 1\n1..1\n")
    parsed = subprocess.run([sys.executable, str(kunit), "parse", str(ktap)],
                            capture_output=True, text=True, cwd=tmp_path)
    out = parsed.stdout
    assert "[PASSED] test_pass[7." in out, out
    assert "[FAILED] test_fail[7." in out, out
    assert "[SKIPPED] test_skip[7." in out, out
    assert "passed: 1, failed: 1, skipped: 1" in out, out
