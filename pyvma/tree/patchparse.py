# SPDX-License-Identifier: GPL-2.0-or-later
"""The file sections of a patch, read by git apply's rules (apply.c): lines end at
``\\n`` only; a section starts at ``diff --git`` (its names from that line, quoted or
not, then from its extended header) or at a ``---``/``+++``/``@@ -`` triple; hunks are
counted by their ``@@`` line counts; everything else between sections is skipped.

pyvma checks every path a patch names from this reading (and from git's own, see
patches.check_paths) before git writes anything; a patch this reading finds malformed
(a mode that is not octal, a count of thousands of digits, a bad C-quoted name, a
hunk shorter than it says) is refused here: nothing depends on git refusing it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: Longest number a hunk header or mode may hold (git reads them as unsigned long).
_NUM = r"\d{1,10}"
_HUNK = re.compile(rb"@@ -(" + _NUM.encode() + rb")(?:,(" + _NUM.encode() + rb"))? \+("
                   + _NUM.encode() + rb")(?:,(" + _NUM.encode() + rb"))? @@")
_ESC = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
        '"': '"', "\\": "\\"}
_TIMESTAMP = re.compile(r"\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [+-]\d{4})?\s*$")
_EXTENDED = (b"--- ", b"+++ ", b"old mode ", b"new mode ", b"deleted file mode ",
             b"new file mode ", b"copy from ", b"copy to ", b"rename old ", b"rename new ",
             b"rename from ", b"rename to ", b"similarity index ", b"dissimilarity index ",
             b"index ")


class Malformed(ValueError):
    """A patch git's rules cannot read (the caller names the patch)."""


@dataclass(frozen=True)
class Change:
    """One file section of a patch: its paths, mode and hunks."""

    old: str | None         # None: created
    new: str | None         # None: deleted
    new_mode: int | None
    hunks: tuple[int, ...]  # old-file line of each @@ hunk, in order
    added: tuple[str, ...] = ()     # its '+' lines (text after the '+')
    removed: tuple[str, ...] = ()   # its '-' lines


def unquote(text: str) -> tuple[str, str]:
    """git's C-quoted name at the start of *text* (``"a/f\\303\\251"``): (name, rest)."""
    out = bytearray()
    i = 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return out.decode("utf-8", "surrogateescape"), text[i + 1:]
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt in _ESC:
            out += _ESC[nxt].encode()
            i += 2
        elif re.fullmatch(r"[0-3][0-7][0-7]", text[i + 1:i + 4]):
            out.append(int(text[i + 1:i + 4], 8))
            i += 4
        else:
            raise Malformed(f"the quoted name {text[:40]!r} holds a bad escape \\{nxt}")
    raise Malformed(f"the quoted name {text[:40]!r} has no closing quote")


def unquote_name(text: str) -> str:
    """A whole C-quoted name to text; an unquoted one as it is."""
    return unquote(text)[0] if text.startswith('"') else text


def _skip_prefix(name: str) -> str | None:
    """*name* without its ``a/``-like first component (-p1); None if it has none."""
    i = name.find("/")
    return None if i <= 0 else name[i + 1:]


def header_name(rest: str) -> str | None:
    """The default name of a ``diff --git`` line (the part after it), as git's
    git_header_name() finds it: both names quoted or not, equal after a/ and b/."""
    if rest.startswith('"'):
        first, after = unquote(rest)
        a = _skip_prefix(first)
        after = after.lstrip(" \t")
        if a is None or not after:
            return None
        b = _skip_prefix(unquote(after)[0] if after.startswith('"') else after)
        return a if b == a else None
    a_full = _skip_prefix(rest)
    if a_full is None:
        return None
    q = rest.find('"')
    if q >= 0:
        b = _skip_prefix(unquote(rest[q:])[0])
        head = rest[:q].rstrip(" \t")
        a = _skip_prefix(head)
        return b if b is not None and a == b else None
    for i, ch in enumerate(a_full):
        if ch in " \t":
            second = _skip_prefix(a_full[i + 1:])
            if second is not None and second == a_full[:i]:
                return second
    return None


def _name(text: str, traditional: bool = False) -> str | None:
    """A ``---``/``+++`` name: -p1, up to a tab (or a diff timestamp); None for
    /dev/null.  An absolute name is kept whole (to be refused)."""
    if text.startswith('"'):
        name = unquote(text)[0]
    else:
        name = text.split("\t")[0]
        if traditional:
            name = _TIMESTAMP.sub("", name)
    if name == "/dev/null":
        return None
    if name.startswith("/"):
        return name
    return re.sub("/+", "/", _skip_prefix(name) or name)


def _mode(text: str) -> int:
    word = text.strip()
    if not re.fullmatch(r"[0-7]{1,7}", word) or int(word, 8) > 0o177777:
        raise Malformed(f"the mode {word[:40]!r} is not a file mode (e.g. 100644)")
    return int(word, 8)


def _lines(text: bytes) -> list[str]:
    """Lines as git reads them: ended by ``\\n`` only (a last one without it kept)."""
    lines = text.decode("utf-8", "surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def changes(text: bytes) -> list[Change]:
    """Every file section of a patch, as git apply -p1 reads it."""
    lines = _lines(text)
    out: list[Change] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if line.startswith("diff --git "):
            sec, i = _git_header(lines, i)
            if sec is None:
                continue
        elif line.startswith("--- ") and i + 2 < n and lines[i + 1].startswith("+++ ") \
                and lines[i + 2].startswith("@@ -"):
            sec = {"old": _name(line[4:], True), "new": _name(lines[i + 1][4:], True),
                   "mode": None}
            i += 2
        else:
            i += 1
            continue
        hunks: list[int] = []
        added: list[str] = []
        removed: list[str] = []
        while i < n and lines[i].startswith("@@ -"):
            m = _HUNK.match(lines[i].encode("utf-8", "surrogateescape"))
            if not m:
                raise Malformed(f"line {i + 1} is not a hunk header: {lines[i][:60]!r}")
            hunks.append(int(m.group(1)))
            left_old = int(m.group(2)) if m.group(2) is not None else 1
            left_new = int(m.group(4)) if m.group(4) is not None else 1
            i += 1
            while left_old > 0 or left_new > 0:
                if i >= n or (i == n - 1 and not text.endswith(b"\n")):
                    raise Malformed(f"the hunk at line {i} is cut short")
                body = lines[i]
                tag = body[:1]
                if tag in (" ", ""):
                    left_old -= 1
                    left_new -= 1
                elif tag == "-":
                    left_old -= 1
                    removed.append(body[1:])
                elif tag == "+":
                    left_new -= 1
                    added.append(body[1:])
                elif tag != "\\":
                    raise Malformed(f"line {i + 1} in a hunk starts with {tag!r}")
                i += 1
            if left_old or left_new:
                raise Malformed(f"the hunk ending at line {i} has more lines than it says")
            if i < n and lines[i].startswith("\\"):
                i += 1
        if sec["old"] or sec["new"]:
            out.append(Change(sec["old"], sec["new"], sec["mode"], tuple(hunks),
                              tuple(added), tuple(removed)))
    return out


def _git_header(lines: list[str], i: int) -> tuple[dict | None, int]:
    """A ``diff --git`` section's names and mode (git's parse_git_diff_header), and
    the line after its header; None where git skips the line (no extended header)."""
    default = header_name(lines[i][len("diff --git "):])
    sec: dict = {"old": None, "new": None, "mode": None}
    new_file = deleted = False
    j = i + 1
    while j < len(lines):
        line = lines[j]
        op = next((p.decode() for p in _EXTENDED if line.startswith(p.decode())), None)
        if op is None:
            break
        arg = line[len(op):]
        if op in ("--- ", "+++ "):
            name = _name(arg)
            key = "old" if op == "--- " else "new"
            if name is None:
                new_file |= key == "old"
                deleted |= key == "new"
            sec[key] = name
        elif op in ("new mode ", "new file mode "):
            sec["mode"] = _mode(arg)
            new_file |= op == "new file mode "
        elif op in ("old mode ", "deleted file mode "):
            _mode(arg)
            deleted |= op == "deleted file mode "
        elif op in ("rename from ", "copy from ", "rename old "):
            sec["old"] = unquote_name(arg)
        elif op in ("rename to ", "copy to ", "rename new "):
            sec["new"] = unquote_name(arg)
        j += 1
    if j == i + 1:
        return None, i + 1
    if sec["old"] is None and sec["new"] is None and not (new_file and deleted):
        if default is None:
            raise Malformed(f"the 'diff --git' header at line {i + 1} names no file git "
                            "can read")
        sec["old"] = None if new_file else default
        sec["new"] = None if deleted else default
    elif sec["old"] is None and not new_file and default:
        sec["old"] = default
    elif sec["new"] is None and not deleted and default:
        sec["new"] = default
    return sec, j
