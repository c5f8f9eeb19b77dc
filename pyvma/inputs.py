# SPDX-License-Identifier: GPL-2.0-or-later
"""Untrusted input at the edges: files read with a bound (never a FIFO or a device,
never blocking), and text from inputs made safe to print.

A mail subject, a patch's file name or a tree's name reaches the terminal through
``printable()``: control characters (C0, DEL, C1) and Unicode format characters
(bidi overrides, zero-width) become ``\\xNN`` / ``\\uNNNN`` escapes, so no escape
sequence an input carries reaches a terminal raw.
"""
from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

from .errors import PyvmaError

#: The most a --patch file or a --series mbox may hold (a whole lore thread of a
#: large series is a few MiB).
MAX_INPUT = 256 << 20


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def printable(text: str, keep_newlines: bool = False) -> str:
    """*text* with every control and format character escaped (``\\x1b``, ``\\u202e``);
    newlines kept when *keep_newlines* (a multi-line message), tabs always kept."""
    out = []
    for ch in text:
        if ch == "\t" or (ch == "\n" and keep_newlines):
            out.append(ch)
        elif ch.isprintable() and unicodedata.category(ch) != "Cf":
            out.append(ch)
        else:
            out.append(_escape(ch))
    return "".join(out)


def read_regular(path: Path | str, what: str, limit: int = MAX_INPUT,
                 error: type[PyvmaError] = PyvmaError) -> bytes:
    """The bytes of the regular file at *path* (a symlink to one is fine), at most
    *limit*; a FIFO, device or directory is refused without blocking on it."""
    path = str(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} {printable(path)} is not a regular file "
                        f"({_kind(st.st_mode)}): give a file")
        if st.st_size > limit:
            raise error(f"{what} {printable(path)} is {st.st_size >> 20} MiB, more than "
                        f"pyvma reads ({limit >> 20} MiB)")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise error(f"{what} {printable(path)}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):     # swapped since the stat
            raise error(f"{what} {printable(path)} is not a regular file: give a file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what} {printable(path)} holds more than pyvma reads "
                    f"({limit >> 20} MiB)")
    return data


def _kind(mode: int) -> str:
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "a directory"
            if stat.S_ISDIR(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
