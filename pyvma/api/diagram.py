# SPDX-License-Identifier: GPL-2.0-or-later
"""Layouts as text, in the style of the comments in upstream's VMA tests::

    0123456789
    AAA BB  CC

One column a page; each VMA a letter (in address order); gaps are spaces.  A
layout spanning more than ``MAX_COLUMNS`` pages (any real process: its stack is
near 0x7fff...) is drawn compressed: no ruler, a long VMA or gap shortened around
a ``~``, rows wrapped; the legend keeps every address.
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
    if last > MAX_COLUMNS:
        return _draw_compressed(pages, legend, letters)
    row = [" "] * last
    for i, (s, e) in enumerate(pages):
        for p in range(s, e):
            row[p] = letters[i % len(letters)]
    lines = ["".join(str(p % 10) for p in range(last)), "".join(row).rstrip()]
    lines += [f"{letters[i % len(letters)]}: {text}" for i, text in enumerate(legend)]
    return "\n".join(lines)


MAX_COLUMNS = 256        # pages drawn one column each; beyond, compressed
_RUN = 6                 # a VMA longer than this is drawn in _RUN columns around a "~"
_GAP = 3                 # a gap longer than this is drawn " ~ "
_WRAP = 96               # columns of a compressed row before it wraps


def _draw_compressed(pages: Sequence[tuple[int, int]], legend: Sequence[str],
                     letters: str) -> str:
    """The drawing of a layout too wide for a column a page: each VMA at most _RUN
    columns, each gap at most _GAP, in rows of at most _WRAP columns."""
    cells: list[str] = []
    prev_end = pages[0][0]
    for i, (s, e) in enumerate(pages):
        gap = s - prev_end
        cells += [" "] * gap if gap <= _GAP else [" ", "~", " "]
        ch = letters[i % len(letters)]
        n = e - s
        cells += [ch] * n if n <= _RUN else \
            [ch] * (_RUN // 2) + ["~"] + [ch] * (_RUN - _RUN // 2 - 1)
        prev_end = max(prev_end, e)
    row = "".join(cells)
    lines = [f"pages {pages[0][0]:#x}-{max(e for _, e in pages):#x}, {len(pages)} VMAs, "
             f"compressed (a '~' stands for more pages of a VMA or a gap)"]
    lines += [row[i:i + _WRAP].rstrip() for i in range(0, len(row), _WRAP)]
    lines += [f"{letters[i % len(letters)]}: {text}" for i, text in enumerate(legend)]
    return "\n".join(lines)


def near(rows: Sequence[tuple], lo: int, hi: int, context: int = 2) -> tuple[int, int]:
    """The slice [i, j) of *rows* (each (start, end, ...), in address order) to draw
    around the range [lo, hi): the rows meeting it and *context* on either side."""
    hit = [i for i, r in enumerate(rows) if r[0] <= hi and r[1] >= lo]
    if not hit:
        after = [i for i, r in enumerate(rows) if r[0] >= lo]
        at = after[0] if after else len(rows)
        hit = [at, at - 1] if at else [0]
    return max(0, min(hit) - context), min(len(rows), max(hit) + 1 + context)


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
