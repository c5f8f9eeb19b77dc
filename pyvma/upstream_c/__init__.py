# SPDX-License-Identifier: GPL-2.0-or-later
"""Upstream's own C tests (a tree's ``tools/testing/vma``), built and run by pyvma.

The harness is built with the tree's own Makefile in a scratch copy under the cache
(its make writes objects next to its sources; the tree is never written): every
top-level entry of the tree is a symlink into it except the path down to
``tools/testing/vma``, which is a fresh copy without build products.  A wrapper
makefile includes upstream's Makefile and adds two things only: a preprocessed
main file (the tests the build compiles in, read from the expansions of upstream's
``TEST(name)``) and, where the link fails on names the tree's headers define (6.12.117+:
``vma_close`` in ``mm/internal.h``), a header of those definitions, taken from the tree
by the shim's index and force-included into the main object.

Layout under the cache::

    upstream-c/<key>.names.json   the C tests the main file compiles in, in run order
    upstream-c/<key>/             one finished build (renamed into place atomically)
        vma                       upstream's binary (absent if it did not build)
        RESULT.json               status, the compiler's/linker's message, supplied names
        build.log                 make's output, every round
"""
from __future__ import annotations

from .build import build, load_built
from .harness import (
                      BUILD_PRODUCTS,
                      HARNESS,
                      KEY_FILES,
                      KEY_VERSION,
                      KEYS,
                      MAIN_ONLY,
                      Built,
                      CaseResult,
                      error_lines,
                      harness_key,
                      main_file,
                      make_safe_dir,
                      names_key,
                      present,
                      scratch_copy,
                      source_test_names,
                      test_names,
)
from .harness import KEYS as _keys  # noqa: F401  (the key memo: tests clear it)
from .scheduler import Pending, pending, start
from .verdicts import parse, run

__all__ = ["BUILD_PRODUCTS", "HARNESS", "KEY_FILES", "KEY_VERSION", "KEYS", "MAIN_ONLY",
           "Built", "CaseResult", "Pending", "build", "error_lines", "harness_key",
           "load_built", "main_file", "make_safe_dir", "names_key", "parse", "pending", "present", "run",
           "scratch_copy", "source_test_names", "start", "test_names"]
