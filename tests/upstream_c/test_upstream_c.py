# SPDX-License-Identifier: GPL-2.0-or-later
"""Upstream's C tests of each kernel tree (``tools/testing/vma``), one item per C test
per kernel: ``<C test>[<kernel>]``.  The items are made by this directory's conftest
from what the tree's harness compiles in; see :mod:`pyvma.upstream_c`."""

UPSTREAM_C_TESTS = True     # the conftest turns this into the C tests' items
