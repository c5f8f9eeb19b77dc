# SPDX-License-Identifier: GPL-2.0-or-later
"""What a patch that does not apply adds that the tree already has: the functions
and macros its ``+`` lines define (and its ``-`` lines do not), found defined in the
tree.  A series merged in a revised form fails on context, yet its definitions are
there: naming them (``foo() at mm/vma.c:120``) says so where "rebase it" would not."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .links import inside
from .patchparse import Change

#: A function definition's first line: at column 0, a type before the name, '('.
_FUNC = re.compile(r"^(?![ \t#])(?!(?:return|if|else|while|for|switch|do|case|goto|typedef)"
                   r"\b)[A-Za-z_][\w \t\*]*?[ \t\*](\w+)[ \t]*\(", re.M)
_MACRO = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)", re.M)
#: Where a name a patch adds is looked for beyond the files it touches.
_WHERE = ("mm", "include")
_MAX_NAMES = 200


def definitions(text: str) -> dict[str, int]:
    """``name()`` / ``NAME`` -> line of each function and macro *text* defines."""
    out: dict[str, int] = {}
    for m in _MACRO.finditer(text):
        out.setdefault(m.group(1), text.count("\n", 0, m.start()) + 1)
    for m in _FUNC.finditer(text):
        name = m.group(1)
        if name.isupper() or not _has_body(text, m.end() - 1):
            continue
        out.setdefault(f"{name}()", text.count("\n", 0, m.start()) + 1)
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


def _has_body(text: str, paren: int) -> bool:
    """Whether the parameter list opening at *paren* is followed by a '{' body."""
    depth = 0
    end = min(len(text), paren + 4000)
    i = paren
    while i < end:
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                break
        elif c in ";{}":
            return False
        i += 1
    rest = text[i + 1:i + 400]
    m = re.match(r"[\s\w()]*?([{;=,])", rest)
    return m is not None and m.group(1) == "{"


def added_definitions(changes: list[Change]) -> dict[str, str]:
    """``name`` -> file of each function and macro the '+' lines define and the
    '-' lines do not (what the patch adds, not what it edits)."""
    out: dict[str, str] = {}
    for c in changes:
        if not c.new:
            continue
        removed = definitions("\n".join(c.removed) + "\n")
        for name in definitions("\n".join(c.added) + "\n"):
            if name not in removed:
                out.setdefault(name, c.new)
    return out


def already_has(root: Path, changes: list[Change]) -> list[str]:
    """``foo() at mm/vma.c:120`` for each definition the patch adds that *root* has."""
    wanted = dict(list(added_definitions(changes).items())[:_MAX_NAMES])
    if not wanted:
        return []
    found: dict[str, str] = {}
    first = list(dict.fromkeys(wanted.values()))
    for rel in first + _candidates(root, wanted):
        path = root / rel
        if path.is_symlink() or not path.is_file() or not inside(root, path):
            continue
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for name, line in definitions(text).items():
            if name in wanted and name not in found:
                found[name] = f"{rel}:{line}"
        if len(found) == len(wanted):
            break
    return [f"{name} at {found[name]}" for name in wanted if name in found]


def _candidates(root: Path, wanted: dict[str, str]) -> list[str]:
    """The C files under mm/ and include/ that mention any wanted name (grep -l)."""
    dirs = [d for d in _WHERE if (root / d).is_dir() and not (root / d).is_symlink()]
    if not dirs:
        return []
    args = ["grep", "-rlwF", "--include=*.[ch]"]
    for name in wanted:
        args += ["-e", name.rstrip("()")]
    try:
        proc = subprocess.run([*args, "--", *dirs], cwd=root, capture_output=True,
                              text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted(proc.stdout.splitlines())
