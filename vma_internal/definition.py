# SPDX-License-Identifier: GPL-2.0-or-later
"""One top-level definition of a header (``Definition``) and what it uses, worked
out from its text on first use."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .ctext import IDENT, used_identifiers


@dataclass
class Definition:
    """One top-level piece of a header.

    What it uses is worked out from its text on first use: most of a header's
    definitions are never chosen, so most are never analysed."""

    kind: str                 # macro function prototype struct union enum typedef var fwd
    name: str                 # primary name ("struct foo" for tags)
    names: tuple[str, ...]    # every ordinary identifier it defines
    tags: tuple[str, ...]     # every struct/union/enum tag it defines ("struct foo")
    text: str                 # the definition, comments stripped
    file: str                 # path relative to the tree root
    line: int                 # first line in that file
    conds: tuple[str, ...] = ()   # enclosing #if conditions (C expressions)
    # (uses, tag_uses, ptr_tag_uses), computed from text when first asked for
    analysis: tuple[frozenset[str], frozenset[str], frozenset[str]] | None = \
        field(default=None, compare=False, repr=False)
    extra_uses: tuple[str, ...] = ()   # uses the text does not show (enum macro items)

    @property
    def uses(self) -> frozenset[str]:
        """Ordinary identifiers used."""
        return self._analysis()[0]

    @property
    def tag_uses(self) -> frozenset[str]:
        """Tags ("struct foo") used by value."""
        return self._analysis()[1]

    @property
    def ptr_tag_uses(self) -> frozenset[str]:
        """Tags used only through pointers."""
        return self._analysis()[2]

    def _analysis(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        if self.analysis is None:
            self.analysis = _analyse(self)
        return self.analysis

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def header(self) -> str:
        """For a function definition, the text before its body."""
        depth = 0
        for i, ch in enumerate(self.text):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "{" and depth == 0:
                return self.text[:i].rstrip()
        return self.text


_DEFINE_HEAD = re.compile(r"^#\s*define\s+\w+(\([^)]*\))?")


def _analyse(d: Definition) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """What *d* uses: a macro's parameters, a definition's own names and tags, and a
    function's own name (parameters and locals resolve to nothing) are left out."""
    if d.kind == "macro":
        head = _DEFINE_HEAD.match(d.text)
        uses, tag_uses, ptr_uses = used_identifiers(d.text[head.end():] if head else d.text)
        if head and head.group(1):
            uses -= set(IDENT.findall(head.group(1)))
        uses.discard(d.name)
        return frozenset(uses), frozenset(tag_uses), frozenset(ptr_uses)
    uses, tag_uses, ptr_uses = used_identifiers(d.text)
    uses -= set(d.names)
    if d.kind == "function":
        uses.discard(d.name)
    uses |= set(d.extra_uses)
    own = set(d.tags)
    return frozenset(uses), frozenset(tag_uses - own), frozenset(ptr_uses - own)
