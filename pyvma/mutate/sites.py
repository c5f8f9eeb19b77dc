# SPDX-License-Identifier: GPL-2.0-or-later
"""Where mutants go: the functions of a kernel C file and the lines of their bodies,
the VMA flag masks of ``include/linux/mm.h``, and the lines a series adds.

Token-level, as kernel style allows: a function definition is a header starting in
column 0 followed by a line that is ``{``; its body ends at the next ``}`` in
column 0.  Comments, preprocessor lines and string literals are never mutated.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from vma_internal import manifest

#: The files ``pyvma mutate`` mutates (those a tree has).
C_FILES = ("mm/vma.c", "mm/vma_exec.c", "mm/vma_init.c")
MM_H = "include/linux/mm.h"


@dataclass(frozen=True)
class Line:
    """One mutable line: its file, 1-based number, enclosing function (or mask) and
    its code with comments blanked (same length as the text, so offsets agree)."""

    file: str
    no: int
    function: str
    text: str
    code: str


_HEADER_START = re.compile(r"^[A-Za-z_]")
_NAME_BEFORE_PAREN = re.compile(r"([A-Za-z_]\w*)\s*\(")


def blank_comments(lines: list[str]) -> list[str]:
    """Each line with comments and string/char literals replaced by spaces."""
    out = []
    in_comment = False
    for text in lines:
        chars = list(text)
        i = 0
        while i < len(chars):
            two = text[i:i + 2]
            if in_comment:
                if two == "*/":
                    chars[i] = chars[i + 1] = " "
                    in_comment = False
                    i += 2
                    continue
                chars[i] = " "
            elif two == "/*":
                chars[i] = chars[i + 1] = " "
                in_comment = True
                i += 2
                continue
            elif two == "//":
                for j in range(i, len(chars)):
                    chars[j] = " "
                break
            elif text[i] in "\"'":
                quote, j = text[i], i + 1
                while j < len(text) and text[j] != quote:
                    j += 2 if text[j] == "\\" else 1
                for k in range(i + 1, min(j, len(chars))):
                    chars[k] = " "
                i = j + 1
                continue
            i += 1
        out.append("".join(chars))
    return out


def function_lines(rel: str, text: str) -> list[Line]:
    """The body lines of every function defined in *text* (file *rel*)."""
    lines = text.split("\n")
    code = blank_comments(lines)
    out: list[Line] = []
    i = 0
    while i < len(lines):
        c = code[i]
        if c.rstrip() == "{" and i > 0:
            # walk back over the header (lines not ending a statement or block)
            j = i - 1
            header: list[str] = []
            while j >= 0 and code[j].strip() and not code[j].rstrip().endswith((";", "}")) \
                    and not code[j].lstrip().startswith("#"):
                header.insert(0, code[j])
                if _HEADER_START.match(code[j]):
                    break
                j -= 1
            m = _NAME_BEFORE_PAREN.search(" ".join(header))
            end = i + 1
            while end < len(lines) and not code[end].startswith("}"):
                end += 1
            if m and header and _HEADER_START.match(header[0]) and \
                    not header[0].startswith(("struct ", "enum ", "union ")) or \
                    (m and header and "(" in header[0]):
                name = m.group(1)
                for k in range(i + 1, end):
                    if code[k].strip() and not code[k].lstrip().startswith("#"):
                        out.append(Line(rel, k + 1, name, lines[k], code[k]))
            i = end + 1
            continue
        i += 1
    return out


def mask_lines(text: str) -> list[Line]:
    """The lines of ``#define MASK ...`` (continuations included) for the VMA flag
    masks the harness knows (vma_internal.manifest.MASK_NAMES)."""
    lines = text.split("\n")
    code = blank_comments(lines)
    names = "|".join(re.escape(n) for n in manifest.MASK_NAMES)
    start = re.compile(rf"^\s*#\s*define\s+({names})\b(.*)$")
    out: list[Line] = []
    i = 0
    while i < len(lines):
        m = start.match(code[i])
        if not m:
            i += 1
            continue
        name = m.group(1)
        k = i
        while True:
            out.append(Line(MM_H, k + 1, name, lines[k], code[k]))
            if not code[k].rstrip().endswith("\\") or k + 1 >= len(lines):
                break
            k += 1
        i = k + 1
    return out


def changed_lines(before: str, after: str) -> set[int]:
    """The 1-based line numbers of *after* that are not lines of *before* (what a
    series added or changed, as ``git diff`` would show it)."""
    import difflib
    a, b = before.split("\n"), after.split("\n")
    out: set[int] = set()
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            out.update(range(j1 + 1, j2 + 1))
    return out
