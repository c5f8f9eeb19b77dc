# SPDX-License-Identifier: GPL-2.0-or-later
"""Where pyvma's own C sources, suites and data are: computed once, here.

From a checkout they sit beside the package (``csrc/``, ``tests/``); from an
installed wheel (``pip install .``) they are package data inside it
(``pyvma/csrc``, ``pyvma/suites``).  The C units the build compiles are listed
here too: one list, whatever the C glue is split into.
"""
from __future__ import annotations

from pathlib import Path

import vma_internal
from vma_internal.harness import Harness

PACKAGE = Path(__file__).resolve().parent
#: The checkout's root (the directory above the package; site-packages when installed).
REPO = PACKAGE.parent


def _data(installed: str, checkout: str) -> Path:
    here = PACKAGE / installed
    return here if here.is_dir() else REPO / checkout


#: The C glue, its headers and the shim's overrides.
CSRC = _data("csrc", "csrc")
CSRC_INCLUDE = CSRC / "include"
#: The suites ``pyvma test`` runs (tests/ of the checkout).
TESTS = _data("suites", "tests")
#: The shim generator's sources (part of every build's key).
VMA_INTERNAL = Path(vma_internal.__file__).resolve().parent

#: The glue unit that #includes the tree's mm/vma*.c (it reaches their statics);
#: the first translation unit is the shim, mm/vma*.c, then this.
GLUE_FIRST_UNIT = "entry_static.c"
#: The rest of the glue, #included in this order by the second translation unit.
#: Bottom up, by layer (csrc/pyvma_internal.h): runtime -> hooks -> objects -> entry
#: points; no file calls a function of a file after it (tests/harness/test_csrc_layers.py).
#: The last ones, GLUE_TOP_UNITS, are above the first unit's file too: they call entry
#: points of both units and nothing below calls them.
GLUE_SECOND_UNIT: tuple[str, ...] = ("runtime.c", "hooks.c", "hooks_file.c", "flags.c",
                                     "objects.c", "requests.c", "entry_merge.c",
                                     "entry_mmap.c", "entry_seq.c", "entry_seq_callers.c",
                                     "entry_seq_gen.c", "entry_seq_run.c")
#: A tree that keeps entry points outside mm/vma*.c (6.12's mm/mmap.c) gets one more
#: unit, generated from the tree with no glue of ours in it (vma_internal/outside.py):
#: the shim, then the tree's functions; the glue calls them through the shim.
#: The top layer: operation sequences run in C (pyvma diff's fast path): the world,
#: one operation and its record; the caller operations; the generator; the loop.
GLUE_TOP_UNITS: tuple[str, ...] = ("entry_seq.c", "entry_seq_callers.c", "entry_seq_gen.c",
                                   "entry_seq_run.c")


def harness(cache: Path | None = None) -> Harness:
    """What the shim generator is given: the C glue and its units, and (with the
    cache directory *cache*) where it caches header parses and wide maps."""
    return Harness(CSRC, GLUE_FIRST_UNIT, GLUE_SECOND_UNIT,
                   parse_cache=cache / "parsecache" if cache else None,
                   wide_cache=cache / "widemap" if cache else None)
