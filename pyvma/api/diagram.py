# SPDX-License-Identifier: GPL-2.0-or-later
"""Layouts as text, in the style of the comments in upstream's VMA tests::

    0123456789
    AAA BB  CC

One column a page; each VMA a letter (in address order); gaps are spaces.
"""
from __future__ import annotations

import string
from collections.abc import Sequence

LETTERS = string.ascii_uppercase + string.ascii_lowercase


def draw(pages: Sequence[tuple[int, int]], legend: Sequence[str],
         letters: str = LETTERS) -> str:
    """The one layout drawing: a ruler, the row of letters of the VMAs spanning
    *pages* ((first page, end page) each, in address order), then one line a VMA,
    ``"<letter>: <its legend>"``."""
    if not pages:
        return "(empty)"
    last = max(e for _, e in pages)
    row = [" "] * last
    for i, (s, e) in enumerate(pages):
        for p in range(s, e):
            row[p] = letters[i % len(letters)]
    lines = ["".join(str(p % 10) for p in range(last)), "".join(row).rstrip()]
    lines += [f"{letters[i % len(letters)]}: {text}" for i, text in enumerate(legend)]
    return "\n".join(lines)


def render(regions: Sequence, page: int = 0x1000, flag_names=None) -> str:
    """The diagram of *regions* (objects with start, end, pgoff, flags)."""
    legend = [f"{r.start:#x}-{r.end:#x} pgoff={r.pgoff:#x}"
              + (f" {' '.join(sorted(flag_names(r.flags)))}" if flag_names
                 else f" flags={r.flags:#x}") for r in regions]
    return draw([(r.start // page, r.end // page) for r in regions], legend)


def side_by_side(left: str, right: str, titles: tuple[str, str] = ("", "")) -> str:
    """Two diagrams next to each other (for before/after and A/B reports)."""
    a = ([titles[0]] if titles[0] else []) + left.splitlines()
    b = ([titles[1]] if titles[1] else []) + right.splitlines()
    width = max(len(x) for x in a) + 4
    n = max(len(a), len(b))
    a += [""] * (n - len(a))
    b += [""] * (n - len(b))
    return "\n".join(f"{x:<{width}}{y}".rstrip() for x, y in zip(a, b))


def parse(diagram: str) -> list[tuple[str, int, int]]:
    """The VMAs a diagram draws: ``"AAA BB  CC"`` -> [("A", 0, 3), ("B", 4, 6), ("C", 8, 10)]
    (pages).  A ruler line of digits, if given first, is skipped; ``*`` and spaces
    are gaps; a letter may repeat for two VMAs only when something else separates
    them."""
    lines = [l for l in diagram.splitlines() if l.strip()]
    if lines and lines[0].strip().isdigit():
        lines = lines[1:]
    if len(lines) != 1:
        raise ValueError(f"a layout diagram is one row of letters, got {len(lines)} rows")
    out: list[tuple[str, int, int]] = []
    row = lines[0]
    i = 0
    while i < len(row):
        ch = row[i]
        if ch in " *.-":
            i += 1
            continue
        if ch not in LETTERS:
            raise ValueError(f"unexpected {ch!r} at column {i} of the diagram")
        j = i
        while j < len(row) and row[j] == ch:
            j += 1
        out.append((ch, i, j))
        i = j
    return out
