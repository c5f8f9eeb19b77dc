# SPDX-License-Identifier: GPL-2.0-or-later
"""Scratch copies of a kernel tree: every file hard-linked (cheap; a copy across
filesystems), the ones to be changed replaced by private files, so the original
tree is never modified.  Patched trees (patches.py) are made of them, and so is
code that edits kernel source (tests, the benchmark, coverage)."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PatchError
from .archive import package_members
from .kernel_tree import KernelTree
from .markers import read_marker

#: What a build reads, hard-linked from the base tree into every patched tree.
SUBTREES = ("Makefile", "mm", "include", "lib", "tools", "arch/x86/include", "scripts")

def _link_or_copy(src: str, dst: str) -> None:
    """Hard link; a copy when the cache is on another filesystem."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(src, dst, follow_symlinks=False)


def link_copy(src: Path, dest: Path, subtrees: tuple[str, ...] = SUBTREES) -> None:
    """Hard-link the subtrees a build reads from *src* into *dest* (copies across
    filesystems); symlinks stay symlinks."""
    for rel in subtrees:
        s = src / rel
        d = dest / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir() and not s.is_symlink():
            shutil.copytree(s, d, copy_function=_link_or_copy, symlinks=True)
        elif s.is_file() and not s.is_symlink():
            _link_or_copy(str(s), str(d))


def looping_links(d: str, names: list[str]) -> list[str]:
    """The entries of directory *d* that are symbolic links to *d* itself or a
    directory above it (real paths compared, so cycles through several links count):
    a ``shutil.copytree`` ``ignore`` that follows links yet ends (a loop in
    tools/testing/vma copied tools/testing 40 times, then failed)."""
    here = os.path.realpath(d)
    out = []
    for n in names:
        p = os.path.join(d, n)
        if os.path.islink(p) and os.path.isdir(p):
            real = os.path.realpath(p)
            if here == real or here.startswith(real.rstrip("/") + "/"):
                out.append(n)
    return out


def _write_private(dest: Path, rel: str, data: bytes, mode: int) -> None:
    """Replace scratch *rel* by a new file of its own (never the base tree's inode)."""
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    real = os.path.realpath(target.parent)
    if not (real + "/").startswith(os.path.realpath(dest) + "/"):
        raise PatchError(f"{rel}: its directory leaves the scratch copy; nothing applied")
    if target.is_symlink() or target.exists():
        target.unlink()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode & 0o755)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _from_package(base: KernelTree, rels: list[str], dest: Path) -> set[str]:
    """Extract *rels* (files outside the cached subtrees) from the base tree's own
    package or git ref into *dest*; the set of those the package holds."""
    marker = _marker(base.root)
    if marker.get("kind") == "git":
        repo, sha = marker.get("repo"), marker.get("sha")
        found = set()
        for rel in rels:
            proc = subprocess.run(["git", "-C", str(repo), "show", f"{sha}:{rel}"],
                                  capture_output=True)
            if proc.returncode == 0:
                _write_private(dest, rel, proc.stdout, 0o644)
                found.add(rel)
        return found
    return set(package_members(base, rels, dest))


def _marker(root: Path) -> dict[str, Any]:
    """The marker pyvma wrote for the cached tree *root* ({} for any other tree:
    a tree's own PYVMA_SOURCE.json is its content, never read)."""
    return read_marker(root) or {}


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
    # unless the scratch copy has it already (the patched trees' subtrees hold tools/)
    if not (dest / "tools" / "testing" / "vma").exists():
        shutil.copytree(tree / "tools" / "testing" / "vma", dest / "tools" / "testing" / "vma",
                        copy_function=os.link, ignore=looping_links)
    for extra in ("lib", "tools/scripts", "tools/build", "scripts", "arch/x86", "tools/arch"):
        s = tree / extra
        if s.exists() and not (dest / extra).exists():
            shutil.copytree(s, dest / extra, copy_function=os.link, symlinks=True)
    return path
