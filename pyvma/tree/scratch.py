# SPDX-License-Identifier: GPL-2.0-or-later
"""Scratch copies of a kernel tree for code that edits kernel source (tests, the
benchmark, coverage): every file hard-linked (cheap), the edited ones replaced by
new files, so the original tree is never modified."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .patches import link_copy

#: What upstream's tools/testing/shared/shared.mk builds with (dropped by
#: ``upstream_scratch(sanitizers=False)``).
SAN_FLAGS = "-fsanitize=address -fsanitize=undefined"


def scratch_tree(src: Path, dest: Path, edits: dict[str, Callable[[str], str]]) -> Path:
    """Copy *src* into *dest* (hard links) and apply each edit (text -> text)."""
    link_copy(src, dest)
    for rel, edit in edits.items():
        path = dest / rel
        old = path.read_text()
        new = edit(old)
        assert new != old, f"edit of {rel} changed nothing"
        path.unlink()                       # break the hard link first
        path.write_text(new)
    return dest


def upstream_scratch(tree: Path, dest: Path, sanitizers: bool) -> Path:
    """A scratch copy of *tree* in which upstream's tools/testing/vma builds (with
    or without its sanitizers), for timing or coverage runs of upstream's harness."""
    edits: dict[str, Callable[[str], str]] = {}
    if not sanitizers:
        edits["tools/testing/shared/shared.mk"] = lambda t: t.replace(" -fsanitize=address", "") \
            .replace(" -fsanitize=undefined", "").replace(SAN_FLAGS, "")
    path = scratch_tree(tree, dest, edits)
    # upstream's harness lives in tools/testing/vma: link it in (read, not modified)
    shutil.copytree(tree / "tools" / "testing" / "vma", dest / "tools" / "testing" / "vma",
                    copy_function=os.link)
    for extra in ("lib", "tools/scripts", "tools/build", "scripts", "arch/x86", "tools/arch"):
        s = tree / extra
        if s.exists() and not (dest / extra).exists():
            shutil.copytree(s, dest / extra, copy_function=os.link, symlinks=True)
    return path
