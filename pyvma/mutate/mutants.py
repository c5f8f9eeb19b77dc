# SPDX-License-Identifier: GPL-2.0-or-later
"""The mutants of a tree: every one-line change the operators make to the functions
of mm/vma.c, mm/vma_exec.c, mm/vma_init.c and the VMA flag masks of
include/linux/mm.h, each with a stable id and the patch that makes it."""
from __future__ import annotations

import difflib
import hashlib
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .operators import mutations
from .sites import C_FILES, MM_H, Line, function_lines, mask_lines


@dataclass(frozen=True)
class Mutant:
    """One one-line change of one file."""

    id: str             # 12 hex digits: file, function, old and new line, occurrence
    file: str           # relative to the tree's root
    line: int           # 1-based
    function: str       # the enclosing function, or the mask's name
    operator: str
    old: str
    new: str

    def change(self) -> str:
        """``mm/vma.c:123 vma_complete(): `old` -> `new``` (one line)."""
        fn = self.function if self.function.isupper() else f"{self.function}()"
        return f"{self.file}:{self.line} {fn} [{self.operator}] " \
               f"`{self.old.strip()}` -> `{self.new.strip()}`"

    def patch(self, root: Path) -> str:
        """A git-style patch making this change to the tree at *root*."""
        old = (root / self.file).read_text(encoding="utf-8", errors="surrogateescape")
        lines = old.splitlines(keepends=True)
        line = lines[self.line - 1]
        assert line.rstrip("\r\n") == self.old, f"{self.file}:{self.line} is not the mutated line"
        new = lines[:self.line - 1] + [self.new + line[len(self.old):]] + lines[self.line:]
        body = "".join(difflib.unified_diff(lines, new, f"a/{self.file}", f"b/{self.file}",
                                            n=3))
        return (f"From: pyvma mutate <mutant@pyvma>\nSubject: [PATCH] mutant {self.id}: "
                f"{self.change()}\n\n---\ndiff --git a/{self.file} b/{self.file}\n{body}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ident(m: tuple[str, str, str, str], nth: int) -> str:
    h = hashlib.sha256("\0".join((*m, str(nth))).encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:12]


def tree_lines(root: Path) -> list[tuple[Line, str]]:
    """Every mutable line of the tree with the code of the line before it."""
    out: list[tuple[Line, str]] = []
    for rel in C_FILES:
        path = root / rel
        if not path.is_file():
            continue
        lines = function_lines(rel, path.read_text(encoding="utf-8", errors="surrogateescape"))
        out += [(ln, lines[i - 1].code if i and lines[i - 1].function == ln.function else "")
                for i, ln in enumerate(lines)]
    mm_h = root / MM_H
    if mm_h.is_file():
        masks = mask_lines(mm_h.read_text(encoding="utf-8", errors="surrogateescape"))
        out += [(ln, masks[i - 1].code if i and masks[i - 1].no == ln.no - 1 else "")
                for i, ln in enumerate(masks)]
    return out


def generate(root: Path, only: dict[str, set[int]] | None = None,
             functions: set[str] | None = None) -> list[Mutant]:
    """The mutants of the tree at *root* (only on the *only* lines of each file, and in
    the named *functions*, when given)."""
    seen: dict[tuple[str, str, str, str], int] = {}
    out: list[Mutant] = []
    for ln, prev in tree_lines(root):
        if only is not None and ln.no not in only.get(ln.file, set()):
            continue
        if functions and ln.function not in functions:
            continue
        for op, new in mutations(ln, prev):
            if new == ln.text:
                continue
            key = (ln.file, ln.function, ln.text.strip(), new.strip())
            nth = seen.get(key, 0)
            seen[key] = nth + 1
            out.append(Mutant(_ident(key, nth), ln.file, ln.no, ln.function, op, ln.text, new))
    return out


def sample(mutants: list[Mutant], n: int, seed: int = 1) -> list[Mutant]:
    """*n* mutants spread over files and functions: each file a share in proportion
    to its mutants (at least a few of each), within a file round-robin over its
    functions in a seeded random order, a seeded random pick within each."""
    rng = random.Random(seed)
    by_file: dict[str, dict[str, list[Mutant]]] = {}
    for m in mutants:
        by_file.setdefault(m.file, {}).setdefault(m.function, []).append(m)
    total = len(mutants)
    quota = {f: min(sum(map(len, fns.values())), max(min(4, n), round(n * sum(
        map(len, fns.values())) / max(total, 1)))) for f, fns in by_file.items()}
    while sum(quota.values()) > n:          # the largest gives back what minimums took
        big = max(quota, key=lambda f: quota[f])
        quota[big] -= 1
    out: list[Mutant] = []
    for f, fns in by_file.items():
        pools = [rng.sample(ms, len(ms)) for ms in fns.values()]
        rng.shuffle(pools)
        got = 0
        while got < quota[f] and any(pools):
            for p in pools:
                if p and got < quota[f]:
                    out.append(p.pop())
                    got += 1
    return sorted(out, key=lambda m: (m.file, m.line, m.id))
