# SPDX-License-Identifier: GPL-2.0-or-later
"""Patch series from real mail: an mbox (``git format-patch``, lore, b4) read as bytes.

The mbox is split as ``git mailsplit`` splits it (a ``From `` line that carries a
date, mboxrd ``>From `` un-escaped when the file is mboxrd), each message parsed with
the ``email`` package and its patch taken byte-exact (8-bit, quoted-printable, base64,
``text/x-patch`` attachments).  From a whole thread only the ``[PATCH vN n/m]``
messages count (replies, ``Re:``, are ignored); the cover letter (n = 0) gives the
series' title.  Several versions in one mbox: the newest, unless one is asked for.
A gap or a duplicate is refused naming the numbers, unless a subset is chosen on
purpose (``--patches 1-8``, as b4's ``-P``).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SeriesError
from ..inputs import printable, read_regular

#: The most patches a series may number (``[PATCH 1/N]``), and the deepest MIME
#: nesting a message may have: mail beyond them is refused, not read.
MAX_PATCHES = 9999
MAX_DEPTH = 20

#: A line that starts a message, as git mailsplit's is_from_line() accepts it: ``From``,
#: a sender token, and a date with a time of day and a year.
_FROM_LINE = re.compile(rb"From \S+ +.*\d{1,2}:\d\d(?::\d\d)? .*\d{4}\s*$")
_MBOXRD_ESCAPE = re.compile(rb"^>(>*From )", re.M)
_TAG = re.compile(r"^\s*\[([^\]]*)\]\s*(.*)$", re.S)
_REPLY = re.compile(r"^\s*(re|fwd?|aw|sv)\s*:", re.I)
_DIFF_START = re.compile(rb"^(diff --git |--- (a/|/dev/null)|Index: )", re.M)


@dataclass(frozen=True)
class MailPatch:
    """One ``[PATCH vN n/m]`` message: its place in the series and its patch bytes."""

    number: int             # n of n/m (1 for a lone [PATCH])
    total: int              # m of n/m
    version: int            # N of vN (1 when absent)
    subject: str            # without the [PATCH ...] tag
    message_id: str
    text: bytes             # the body (and patch attachments) git apply reads

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text).hexdigest()

    @property
    def where(self) -> str:
        """``3/33 "subject"`` as a developer names a patch."""
        return f'{self.number}/{self.total} "{self.subject}"'


@dataclass(frozen=True)
class Series:
    """The patches of one version of a series, in order, as chosen."""

    source: str                     # the mbox's file name
    version: int
    total: int
    title: str                      # cover letter's subject, else the first patch's
    patches: tuple[MailPatch, ...]
    cover_message_id: str = ""
    base_commit: str = ""           # b4's base-commit: trailer of the cover letter
    chosen: tuple[int, ...] = field(default=())

    @property
    def numbers(self) -> list[int]:
        return [p.number for p in self.patches]

    def label(self) -> str:
        """``"title" v2 [1-8]`` (the numbers applied, as ranges)."""
        return f'"{self.title}" v{self.version} [{format_ranges(self.numbers)}]'


def format_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3,5"."""
    out: list[str] = []
    for n in sorted(set(numbers)):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = out[-1].split("-")[0] + f"-{n}"
        else:
            out.append(str(n))
    return ",".join(out)


def parse_ranges(text: str, total: int) -> list[int]:
    """b4's ``-P`` syntax: ``1-3,5,7-`` (an open end runs to the last patch)."""
    numbers: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:(-)\s*(\d*)\s*)?", part)
        if not m:
            raise SeriesError(f"--patches {text!r}: {part!r} is not N, N-M or N- "
                              "(e.g. --patches 1-8 or --patches 1,3,5-)")
        lo = int(m.group(1))
        hi = (int(m.group(3)) if m.group(3) else total) if m.group(2) else lo
        if lo < 1 or hi > total or lo > hi:
            raise SeriesError(f"--patches {text!r}: {part.strip()} is outside the "
                              f"series' patches 1-{total}")
        numbers.extend(range(lo, hi + 1))
    return sorted(set(numbers))


def split_mbox(data: bytes) -> list[bytes]:
    """The messages of an mbox, as git mailsplit cuts them (bytes, escapes undone)."""
    mboxrd = data.startswith(b"From mboxrd@")
    lines = data.splitlines(keepends=True)
    messages: list[list[bytes]] = []
    for line in lines:
        if line.startswith(b"From ") and _FROM_LINE.match(line):
            messages.append([])
            continue
        if not messages:
            if not line.strip():
                continue
            messages.append([])         # a lone message without a From line
        messages[-1].append(line)
    out = []
    for msg in messages:
        raw = b"".join(msg)
        if mboxrd:
            raw = _MBOXRD_ESCAPE.sub(rb"\1", raw)
        if raw.strip():
            out.append(raw)
    return out


def _header(msg, name: str) -> str:
    from email.header import decode_header, make_header
    value = msg.get(name)
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (LookupError, ValueError, UnicodeError):
        text = str(value)
    return printable(" ".join(text.split()))


def _leaves(msg, depth: int = 0) -> list:
    """The non-multipart parts of *msg*, in order (nesting bounded)."""
    if not msg.is_multipart():
        return [msg]
    if depth >= MAX_DEPTH:
        raise SeriesError(f"a message nests MIME parts more than {MAX_DEPTH} deep")
    payload = msg.get_payload()
    return [leaf for part in (payload if isinstance(payload, list) else [])
            for leaf in _leaves(part, depth + 1)]


def _patch_bytes(msg) -> bytes:
    """The inline body, plus patch attachments, byte-exact after transfer decoding."""
    parts = _leaves(msg)
    body = b""
    attached: list[bytes] = []
    for part in parts:
        ctype = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").lower()
        payload = part.get_payload(decode=True) or b""
        if ctype in ("text/x-patch", "text/x-diff", "text/x-diff-patch") or (
                "attachment" in disposition and _DIFF_START.search(payload)):
            attached.append(payload)
        elif ctype == "text/plain" and not body and "attachment" not in disposition:
            body = payload
    return b"\n".join([body, *attached]) if attached else body


def _parse_tag(subject: str) -> tuple[int, int, int, str] | None:
    """(n, m, version, rest) of ``[PATCH v2 3/8] rest``; None if not a PATCH subject."""
    tags = []
    rest = subject
    while (m := _TAG.match(rest)):         # "[PATCH] [RFC 1/2] x": every leading tag
        tags.append(m.group(1))
        rest = m.group(2)
    tag, rest = " ".join(tags), rest.strip()
    if not re.search(r"\bPATCH\b", tag, re.I):
        return None
    ver = re.search(r"\bv(\d+)\b", tag, re.I)
    nm = re.search(r"\b(\d+)\s*/\s*(\d+)\b", tag)
    for num in ([ver.group(1)] if ver else []) + (list(nm.groups()) if nm else []):
        if len(num) > len(str(MAX_PATCHES)) or int(num) > MAX_PATCHES:
            raise SeriesError(f"the subject {printable(subject[:80])!r} numbers "
                              f"{num[:12]}{'...' if len(num) > 12 else ''}: pyvma reads "
                              f"series of at most {MAX_PATCHES} patches (and versions)")
    n, total = (int(nm.group(1)), int(nm.group(2))) if nm else (1, 1)
    return n, total, int(ver.group(1)) if ver else 1, rest


def read_series(path: Path, patches: str | None = None, version: int | None = None) -> Series:
    """The series in the mbox at *path* (newest version unless *version*), complete, or
    the subset *patches* (``1-8``) chosen on purpose."""
    import email
    import email.policy
    data = read_regular(path, "series", error=SeriesError)
    found: dict[int, list[tuple[MailPatch, str]]] = {}
    covers: dict[int, tuple[str, str, str]] = {}
    untagged: list[MailPatch] = []
    for raw in split_mbox(data):
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        except RecursionError:
            raise SeriesError(f"series {printable(str(path))}: a message nests MIME parts "
                              f"more than {MAX_DEPTH} deep") from None
        subject = _header(msg, "Subject")
        mid = _header(msg, "Message-ID").strip("<>")
        if _REPLY.match(subject):
            continue                # a reply (review, interdiff): never a patch
        try:
            body = _patch_bytes(msg)
            tag = _parse_tag(subject)
        except SeriesError as exc:
            raise SeriesError(f"series {printable(str(path))}: {exc}") from None
        if tag is None:
            if _DIFF_START.search(body) and subject:
                untagged.append(MailPatch(len(untagged) + 1, 0, 1, subject, mid, body))
            continue
        n, total, ver, rest = tag
        if n == 0:
            base = re.search(rb"^base-commit: *([0-9a-f]{7,40})", body, re.M)
            covers[ver] = (rest, mid, base.group(1).decode() if base else "")
            continue
        if not _DIFF_START.search(body):
            continue                # a [PATCH] message that carries no diff
        found.setdefault(ver, []).append((MailPatch(n, total, ver, rest, mid, body), subject))
    if not found and untagged:
        total = len(untagged)
        found[1] = [(MailPatch(p.number, total, 1, p.subject, p.message_id, p.text),
                     p.subject) for p in untagged]
    if not found:
        raise SeriesError(f"series {path} holds no patch: no [PATCH] message with a diff "
                          "(is it an mbox of the series, e.g. from `b4 am` or lore's "
                          "t.mbox.gz, uncompressed?)")
    versions = sorted(found)
    if version is None:
        version = versions[-1]
    elif version not in found:
        raise SeriesError(f"series {path} has no v{version} (it has "
                          f"{', '.join(f'v{v}' for v in versions)})")
    msgs = found[version]
    totals = sorted({p.total for p, _ in msgs})
    if len(totals) > 1:
        raise SeriesError(f"series {path} v{version} mixes patch counts "
                          f"({', '.join(f'n/{t}' for t in totals)}): two postings in one "
                          "mbox? Keep one of them")
    total = totals[0]
    by_number: dict[int, list[MailPatch]] = {}
    for p, _ in msgs:
        by_number.setdefault(p.number, []).append(p)
    dups = sorted(n for n, ps in by_number.items() if len({q.sha256 for q in ps}) > 1)
    if dups:
        raise SeriesError(f"series {path} v{version} has two different patches numbered "
                          f"{format_ranges(dups)} of {total}: keep one posting of each")
    if patches is not None:
        chosen = parse_ranges(patches, total)
    else:
        chosen = list(range(1, total + 1))
    missing = [n for n in chosen if n not in by_number]
    if missing:
        how = "" if patches is not None else (
            f"; to apply the others on purpose, choose them: --patches "
            f"{format_ranges([n for n in chosen if n in by_number])}")
        raise SeriesError(f"series {path} v{version} lacks patch "
                          f"{format_ranges(missing)} of {total}{how}")
    cover = covers.get(version)
    chosen_patches = tuple(by_number[n][0] for n in chosen)
    title = cover[0] if cover else chosen_patches[0].subject
    return Series(source=path.name, version=version, total=total, title=title,
                  patches=chosen_patches, cover_message_id=cover[1] if cover else "",
                  base_commit=cover[2] if cover else "",
                  chosen=tuple(chosen) if patches is not None else ())
