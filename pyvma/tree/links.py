# SPDX-License-Identifier: GPL-2.0-or-later
"""One rule for symlinks in a kernel tree, whatever made them (an archive, a patch):
a link's target, resolved from the link's own directory, stays inside the tree."""
from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from pathlib import Path

#: the most path components a name in a tree may have, whatever made it (an archive
#: member, a patch): a kernel tree's deepest have about 12; thousands made
#: os.makedirs (extracting) and shutil.rmtree (cache clear) recurse out of the stack
MAX_DEPTH = 64


def link_problem(rel: str, target: str) -> str | None:
    """Why a symlink at *rel* (tree-relative) to *target* may not be in a tree, or
    None: absolute, or leading out of the tree from the link's directory."""
    joined = posixpath.join(posixpath.dirname(rel), target)
    norm = posixpath.normpath(joined)
    if target.startswith("/") or norm == ".." or norm.startswith("../") or "\0" in target:
        return f"a link out of the tree (to {target!r})"
    return None


def inside(root: Path, path: Path) -> bool:
    """Whether *path*, every symlink on the way resolved, stays inside *root*."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def symlinks(root: Path) -> Iterator[str]:
    """The tree-relative path of every symlink under *root* (directories' symlinks
    are not followed)."""
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            it = os.scandir(root / rel if rel else root)
        except OSError:
            continue
        with it:
            for e in it:
                sub = f"{rel}/{e.name}" if rel else e.name
                if e.is_symlink():
                    yield sub
                elif e.is_dir(follow_symlinks=False):
                    stack.append(sub)


def escaping_links(tree: Path, base: Path) -> list[tuple[str, str]]:
    """(path, target) of the symlinks of *tree* that break the rule, leaving out
    those *base* holds already, the same and as far out (not made by a patch)."""
    out = []
    for rel in symlinks(tree):
        target = os.readlink(tree / rel)
        if link_problem(rel, target) is None and inside(tree, tree / rel):
            continue
        try:
            same = os.readlink(base / rel) == target
        except OSError:
            same = False
        if same and (link_problem(rel, target) is not None or not inside(base, base / rel)):
            continue
        out.append((rel, target))
    return sorted(out)
