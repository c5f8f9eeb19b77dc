# SPDX-License-Identifier: GPL-2.0-or-later
"""The preprocessor structure of a header: its logical lines (directive
continuations joined) and the ``#if`` conditions a line lives under."""
from __future__ import annotations

import re

_DIRECTIVE = re.compile(r"#\s*(\w+)\s*(.*)", re.S)


class CondStack:
    """Tracks the #if nesting as a list of C conditions."""

    def __init__(self) -> None:
        self.frames: list[list[str]] = []   # per level: conditions of the branches so far
        self.current: list[str] = []        # per level: the active branch condition

    def directive(self, line: str) -> None:
        m = _DIRECTIVE.match(line.strip())
        if not m:
            return
        word, rest = m.group(1), " ".join(m.group(2).replace("\\\n", " ").split())
        if word in ("if", "ifdef", "ifndef"):
            if word == "ifdef":
                cond = f"defined({rest.split()[0]})" if rest else "1"
            elif word == "ifndef":
                cond = f"!defined({rest.split()[0]})" if rest else "1"
            else:
                cond = rest or "0"
            self.frames.append([cond])
            self.current.append(f"({cond})")
        elif word == "elif" and self.frames:
            prev = " && ".join(f"!({c})" for c in self.frames[-1])
            self.frames[-1].append(rest)
            self.current[-1] = f"{prev} && ({rest})"
        elif word == "else" and self.frames:
            self.current[-1] = " && ".join(f"!({c})" for c in self.frames[-1])
        elif word == "endif" and self.frames:
            self.frames.pop()
            self.current.pop()

    def snapshot(self) -> tuple[str, ...]:
        return tuple(self.current)


def logical_lines(text: str):
    """Yield (lineno, line) with directive continuation lines joined."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        if line.lstrip().startswith("#"):
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line + "\n" + lines[i]
        yield start + 1, line
        i += 1
