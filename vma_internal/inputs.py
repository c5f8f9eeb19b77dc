# SPDX-License-Identifier: GPL-2.0-or-later
"""What the shim generator reads from a kernel tree (light: the build key needs
it on every load, before anything is parsed)."""
from __future__ import annotations

import re
from pathlib import Path

from . import manifest

# what the wide scan of include/linux reads (index.wide_map)
WIDE_GLOBS = ("include/linux/*.h", "include/linux/sched/*.h")


def headers_of(tree: Path) -> list[str]:
    """The headers to index: what the tree's own mm/vma_internal.h includes, then extras."""
    out: list[str] = []
    vi = tree / "mm" / "vma_internal.h"
    text = vi.read_text(errors="replace") if vi.exists() else ""
    for m in re.finditer(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]', text, re.M):
        inc = m.group(2)
        if m.group(1) == '"':
            out.append(f"mm/{inc}")
        elif inc.startswith("linux/"):
            out.append(f"include/{inc}")
    for extra in manifest.EXTRA_HEADERS:
        if extra not in out:
            out.append(extra)
    return [h for h in out if (tree / h).is_file()]


def shim_inputs(tree: Path) -> list[str]:
    """What the shim generator and the compiles read from *tree* beyond the
    content hash's defaults, as paths and globs relative to it: the build key
    covers them all (an edit to any of them rebuilds)."""
    return [*headers_of(tree), *manifest.SOURCE_DEFINITIONS,
            *manifest.OUTSIDE_ENTRY_POINTS, *WIDE_GLOBS,
            "tools/testing/shared/**/*.h"]
