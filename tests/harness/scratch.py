# SPDX-License-Identifier: GPL-2.0-or-later
"""Test helpers for tests that edit kernel source: edits, diffs and mails made at
test time (the scratch copy itself: pyvma.tree.scratch)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from pyvma.tree.scratch import scratch_tree  # noqa: F401  (the tests' scratch copies)



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


# -- small series made at test time ---------------------------------------------------

def diff_of(tree: Path, edits: dict[str, Callable[[str], str] | None],
            new_files: dict[str, str] | None = None) -> str:
    """A git-style diff of *edits* (text -> text; None deletes) of the tree's files,
    plus *new_files* (path -> text)."""
    import difflib
    out = []
    for rel, edit in edits.items():
        old = (tree / rel).read_text().splitlines(keepends=True)
        new = [] if edit is None else edit("".join(old)).splitlines(keepends=True)
        head = f"diff --git a/{rel} b/{rel}\n" + ("deleted file mode 100644\n" if edit is None
                                                   else "")
        out.append(head + "".join(difflib.unified_diff(
            old, new, f"a/{rel}", "/dev/null" if edit is None else f"b/{rel}")))
    for rel, text in (new_files or {}).items():
        new = text.splitlines(keepends=True)
        out.append(f"diff --git a/{rel} b/{rel}\nnew file mode 100644\n"
                   + "".join(difflib.unified_diff([], new, "/dev/null", f"b/{rel}")))
    return "".join(out)


def mail(subject: str, body: str, msgid: str, *, charset: str = "utf-8",
         encoding: str = "8bit", reply_to: str | None = None) -> bytes:
    """One message as git format-patch / lore write it (bytes; *encoding* 8bit or
    quoted-printable)."""
    import quopri
    raw = body.encode("utf-8")
    if encoding == "quoted-printable":
        raw = quopri.encodestring(raw)
    head = (f"From: A Developer <dev@example.org>\nSubject: {subject}\n"
            f"Date: Mon, 6 Jul 2026 10:00:00 +0100\nMessage-Id: <{msgid}>\n"
            + (f"In-Reply-To: <{reply_to}>\n" if reply_to else "")
            + f"MIME-Version: 1.0\nContent-Type: text/plain; charset=\"{charset}\"\n"
            f"Content-Transfer-Encoding: {encoding}\n\n")
    return head.encode() + raw


def mbox(messages: list[bytes], mboxrd: bool = False) -> bytes:
    """An mbox of *messages* (mboxrd escapes '>*From ' lines in bodies, as lore does)."""
    import re
    out = []
    for m in messages:
        if mboxrd:
            m = re.sub(rb"(?m)^(>*From )", rb">\1", m)
        sep = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" if mboxrd else \
            b"From 1234567890abcdef Mon Sep 17 00:00:00 2001\n"
        out.append(sep + m.rstrip(b"\n") + b"\n\n")
    return b"".join(out)
