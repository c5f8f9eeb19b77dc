# SPDX-License-Identifier: GPL-2.0-or-later
"""The entry points a tree keeps outside mm/vma*.c, extracted into units of their own.

6.12 keeps mmap_region(), do_brk_flags(), expand_downwards(), insert_vm_struct(),
__install_special_mapping(), unmapped_area*() ... in mm/mmap.c; later trees moved
them into mm/vma.c (7.2 still keeps __install_special_mapping() in mm/mmap.c).  For
each file of ``manifest.OUTSIDE_ENTRY_POINTS`` this takes, from the tree's own text,
the entry points its mm/vma*.c lacks and, transitively, the static functions,
macros, types and data of that file they reach.  A global function of the file that
is not an entry point is not taken: the shim stubs it from its header prototype (or
hooks it: may_expand_vm()), as it does for every function the tree only declares.

What is taken is laid out in file order, each piece under its ``#if`` conditions
and a ``#line`` naming the tree's file (WARN sites and gcov say ``mm/mmap.c:N``),
after the shim, in a translation unit of its own as the kernel compiles that file
(its statics never meet mm/vma.c's).  A static entry point is made global there
(the only change to the text) so the glue in another unit can call it; the shim
declares every entry point taken.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import manifest
from .cparse import parse_header
from .ctext import C_KEYWORDS, IDENT
from .definition import Definition

_STATIC = re.compile(r"^(\s*)static\s+(?!inline\b|__always_inline\b)")


def _manifest_owned() -> frozenset[str]:
    """Names the manifest decides otherwise: stubbed, hooked, or taken into the shim."""
    return (manifest.FORCE_STUB | frozenset(manifest.STUB_HOOKS)
            | frozenset(manifest.STUB_HOOKS_BY_ARITY) | frozenset(manifest.STUB_RETURNS)
            | frozenset(n for names in manifest.SOURCE_DEFINITIONS.values() for n in names))


def is_static(d: Definition) -> bool:
    return bool(re.match(r"\s*static\b", d.header() if d.kind == "function" else d.text))


@dataclass
class Extraction:
    """What one file outside mm/vma*.c gives a tree's build."""

    source: str                                   # "mm/mmap.c"
    entries: list[Definition] = field(default_factory=list)   # entry points (definitions)
    pieces: list[Definition] = field(default_factory=list)    # all taken, file order

    @property
    def unit(self) -> str:
        """The generated translation unit's name (``pyvma_mm_mmap_tu.c``)."""
        return unit_name(self.source)

    @property
    def names(self) -> set[str]:
        """Every ordinary name and tag the taken pieces define."""
        return {n for d in self.pieces for n in (*d.names, *d.tags)}

    @property
    def entry_names(self) -> list[str]:
        return [d.name for d in self.entries]

    def uses(self) -> tuple[set[str], set[str]]:
        """(names, tags) the pieces use and do not define: the shim's roots."""
        own = self.names
        used: set[str] = set()
        tags: set[str] = set()
        for d in self.pieces:
            used |= set(d.uses)
            tags |= set(d.tag_uses) | set(d.ptr_tag_uses)
            for c in d.conds:
                used |= {i for i in IDENT.findall(c) if i not in C_KEYWORDS}
        return used - own, tags - own

    def prototypes(self) -> list[str]:
        """The entry points' declarations (made global), for every other unit."""
        return [global_text(d.header()).strip() + ";" for d in self.entries]


def unit_name(source: str) -> str:
    """The translation unit built from the tree's *source* (``mm/mmap.c`` ->
    ``pyvma_mm_mmap_tu.c``)."""
    return f"pyvma_{Path(source).with_suffix('').as_posix().replace('/', '_')}_tu.c"


def global_text(text: str) -> str:
    """*text* with a leading ``static`` dropped (a static entry point made global)."""
    return _STATIC.sub(r"\1", text, count=1)


def _defined_in_sources(tree: Path, cache: Path | None) -> set[str]:
    from .generate import SOURCES
    out: set[str] = set()
    for rel in SOURCES:
        if (tree / rel).is_file():
            out |= {d.name for d in parse_header(tree / rel, rel, cache) if d.kind == "function"}
    return out


def extract(tree: Path, cache: Path | None = None) -> list[Extraction]:
    """The extractions of *tree* (none where its mm/vma*.c has every entry point)."""
    have = _defined_in_sources(tree, cache)
    owned = _manifest_owned()
    out: list[Extraction] = []
    for rel, wanted in manifest.OUTSIDE_ENTRY_POINTS.items():
        path = tree / rel
        if not path.is_file():
            continue
        defs = [d for d in parse_header(path, rel, cache) if d.kind != "fwd"]
        by_name: dict[str, list[Definition]] = {}
        for d in defs:
            for n in (*d.names, *d.tags):
                by_name.setdefault(n, []).append(d)
        entries = [n for n in wanted if n not in have and n not in owned
                   and any(d.kind == "function" and d.name == n for d in by_name.get(n, ()))]
        if not entries:
            continue
        taken: set[int] = set()
        seen: set[str] = set()
        work = list(entries)
        while work:
            name = work.pop()
            if name in seen or name in have or name in owned:
                continue
            seen.add(name)
            cands = by_name.get(name, [])
            funcs = [d for d in cands if d.kind == "function"]
            if name not in entries and funcs and not all(is_static(d) for d in funcs):
                continue        # a global function: the shim stubs it from its prototype
            for d in cands:
                if d.kind == "prototype" and not re.match(r"\s*static\b", d.text):
                    continue    # a file-level macro call (core_param(), __setup(), ...)
                if id(d) in taken:
                    continue
                taken.add(id(d))
                work.extend(sorted(set(d.uses) | set(d.tag_uses) | set(d.ptr_tag_uses)))
                for c in d.conds:
                    work.extend(i for i in IDENT.findall(c) if i not in C_KEYWORDS)
        pieces = sorted((d for d in defs if id(d) in taken), key=lambda d: d.line)
        ex = Extraction(rel, [d for d in pieces if d.kind == "function" and d.name in entries],
                        pieces)
        out.append(ex)
    return out


def unit_text(tree: Path, ex: Extraction, shim_name: str) -> str:
    """The translation unit of *ex*: the shim (the prototypes of mm/vma*.c's and the
    shim's global functions, as the glue's second unit sees them), then the pieces."""
    src = tree / ex.source
    lines = [f"/* Generated by pyvma: the entry points the tree's {ex.source} keeps\n"
             f" * ({', '.join(ex.entry_names)}) and what they reach in that file,\n"
             " * taken from the tree's text: do not edit. */",
             "#define PYVMA_SHIM_PROTOTYPES_ONLY 1",
             f'#include "{shim_name}"']
    entries = {id(d) for d in ex.entries}
    entry_names = set(ex.entry_names)
    for d in ex.pieces:
        text = d.text
        if id(d) in entries or (d.kind == "prototype" and d.name in entry_names):
            text = global_text(text)
        if d.conds:
            lines.append(f"#if {' && '.join(d.conds)}")
        lines.append(f'#line {d.line} "{src}"')
        lines.append(text.rstrip())
        if d.conds:
            lines.append("#endif")
    return "\n".join(lines) + "\n"


def report_lines(tree: Path, cache: Path | None = None) -> list[str]:
    """``pyvma shim --report``'s section: every piece taken from a file outside
    mm/vma*.c (file:line kind name [#if ...]), entry points marked, by unit."""
    out: list[str] = []
    for ex in extract(tree, cache):
        out += ["", f"## taken from {ex.source} into {ex.unit} (entry points: "
                    f"{', '.join(ex.entry_names)})"]
        for d in ex.pieces:
            cond = f"  [#if {' && '.join(d.conds)}]" if d.conds else ""
            entry = "\tentry point" if d.name in ex.entry_names and d.kind == "function" else ""
            out.append(f"{d.where}\t{d.kind}\t{d.name}{entry}{cond}")
    return out
