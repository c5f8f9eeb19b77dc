# SPDX-License-Identifier: GPL-2.0-or-later
"""Scratch copies of a kernel tree for tests that edit kernel source.

The copy hard-links every file (cheap) and replaces only the edited ones with new
files, so the original tree is never modified.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from pyvma.patches import link_copy



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


def insert_after(pattern: str, text: str) -> Callable[[str], str]:
    """An edit inserting *text* on the line after the first line containing *pattern*."""
    def edit(src: str) -> str:
        lines = src.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if pattern in line:
                lines.insert(i + 1, text + "\n")
                return "".join(lines)
        raise AssertionError(f"{pattern!r} not found")
    return edit


def line_of(path: Path, text: str) -> int:
    for no, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return no
    raise AssertionError(f"{text!r} not in {path}")


def tree_digest(root: Path) -> str:
    """A digest of every file's path, mode, size and content under *root*."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            h.update(f"{p.relative_to(root)}\0{st.st_mode}\0{st.st_size}\0".encode())
            h.update(p.read_bytes())
    return h.hexdigest()
