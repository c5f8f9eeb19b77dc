# SPDX-License-Identifier: GPL-2.0-or-later
"""An index of the definitions a kernel tree's headers offer, by name."""
from __future__ import annotations

import re
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from . import manifest
from .config import HarnessConfig
from .cparse import parse_header
from .definition import Definition
from .inputs import WIDE_GLOBS, headers_of  # noqa: F401 (re-exported)


@dataclass
class HeaderIndex:
    """Definitions by ordinary name and by tag, overrides first."""

    by_name: dict[str, list[Definition]] = field(default_factory=lambda: defaultdict(list))
    by_tag: dict[str, list[Definition]] = field(default_factory=lambda: defaultdict(list))
    files: list[str] = field(default_factory=list)
    tree: Path | None = None
    _wide: dict[str, list[str]] | None = None
    wide_future: Future[dict[str, list[str]]] | None = None   # wide_map() running, if it is
    wide_entry: Path | None = None             # where the wide map is cached
    _parsed: set[str] = field(default_factory=set)
    own: set[str] = field(default_factory=set)  # names and tags csrc/ overrides define
    parse_cache: Path | None = None             # where parse_header caches

    def add(self, defs: list[Definition]) -> None:
        for d in defs:
            if d.kind == "fwd":
                continue
            for n in d.names:
                self.by_name[n].append(d)
            for t in d.tags:
                self.by_tag[t].append(d)

    @classmethod
    def build(cls, tree: Path, override_files: list[Path],
              parse_cache: Path | None = None) -> HeaderIndex:
        idx = cls(tree=tree, parse_cache=parse_cache)
        for path in override_files:
            defs = [d for d in parse_header(path, f"csrc/{path.name}", parse_cache) if d.kind != "fwd"]
            idx.add(defs)
            idx.own |= {n for d in defs for n in (*d.names, *d.tags)}
            idx.files.append(f"csrc/{path.name}")
        overridden = set(idx.by_name) | set(idx.by_tag)
        for rel in headers_of(tree):
            defs = parse_header(tree / rel, rel, parse_cache)
            idx.add([d for d in defs
                     if not (set(d.names) | set(d.tags)) & overridden])
            idx.files.append(rel)
            idx._parsed.add(rel)
        for rel, names in manifest.SOURCE_DEFINITIONS.items():
            if (tree / rel).is_file():
                idx.add([d for d in parse_header(tree / rel, rel, parse_cache)
                         if d.kind == "function" and d.name in names])
                idx.files.append(rel)
        return idx

    def _wide_map(self) -> dict[str, list[str]]:
        """name -> headers under include/linux that define it as a macro or inline
        function (computed by :func:`wide_map`, maybe already in another process)."""
        if self._wide is None:
            assert self.tree is not None
            future = self.wide_future
            self._wide = defaultdict(list, future.result() if future is not None
                                     else wide_map(self.tree, self.wide_entry))
        return self._wide

    def save_wide(self) -> None:
        """Write the wide map to its cache entry, if one was computed and named
        (the build calls this while the compiler runs)."""
        if self._wide is not None and self.wide_entry is not None:
            save_wide_map(self._wide, self.wide_entry)

    def lookup_wide(self, name: str, config: HarnessConfig) -> list[Definition]:
        """Like lookup(), searching every include/linux header for a macro or inline."""
        if " " in name or self.tree is None:
            return []
        for rel in self._wide_map().get(name, []):
            if rel in self._parsed:
                continue
            self._parsed.add(rel)
            self.files.append(rel)
            self.add(parse_header(self.tree / rel, rel, self.parse_cache))
        return self.lookup(name, config)

    def lookup(self, name: str, config: HarnessConfig) -> list[Definition]:
        """Live candidates for *name* (tag or ordinary), dead config branches dropped."""
        cands = self.by_tag.get(name, []) if " " in name else self.by_name.get(name, [])
        live = [d for d in cands if all(config.evaluate(c) is not False for c in d.conds)]
        if not live:
            return []
        # an override file wins over the tree
        own = [d for d in live if d.file.startswith("csrc/")]
        if own:
            return own
        # the first file with a real definition wins (vma_internal.h order)
        real = [d for d in live if d.kind != "prototype"]
        pick = real or live
        first = pick[0].file
        return [d for d in pick if d.file == first]


_WIDE_DEF = re.compile(
    r"^\s*#\s*define\s+(\w+)|^static\s+(?:__always_)?inline\b[^;{]*?\b(\w+)\s*\(", re.M)
# the same two shapes for grep -P, printing only the name (\K) after the file name
_WIDE_GREP = (r"(?m)^[ \t]*#[ \t]*define[ \t]+\K\w+"
              r"|^static\s+(?:__always_)?inline\b[^;{]*?\b\K\w+(?=\s*\()")


def wide_map(tree: Path, entry: Path | None = None) -> dict[str, list[str]]:
    """Every macro and inline function of include/linux, by name (files in path
    order), read from the cache *entry* when it exists.  grep -P does the scan when
    it can (a tenth of the time of Python's re over the 1,200 headers)."""
    import json
    if entry is not None and entry.exists():
        try:
            data = json.loads(entry.read_text())
            if isinstance(data, dict) and data and all(
                    isinstance(k, str) and isinstance(v, list)
                    and all(isinstance(x, str) for x in v) for k, v in data.items()):
                return data
        except (OSError, ValueError):
            pass
    paths = sorted(p for pattern in WIDE_GLOBS for p in tree.glob(pattern))
    wide = _wide_grep(tree, paths)
    if wide is None:
        wide = defaultdict(list)
        for path in paths:
            rel = str(path.relative_to(tree))
            for m in _WIDE_DEF.finditer(path.read_text(errors="replace")):
                wide[m.group(1) or m.group(2)].append(rel)
    return wide


def save_wide_map(wide: dict[str, list[str]], entry: Path) -> None:
    """Keep a wide map for the next build of the same tree (atomically)."""
    import json
    import os
    if entry.exists():
        return
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(wide))
    tmp.replace(entry)


def _wide_grep(tree: Path, paths: list[Path]) -> dict[str, list[str]] | None:
    """wide_map's scan by ``grep -P`` (None if this grep cannot do it)."""
    import subprocess
    rels = [str(p.relative_to(tree)) for p in paths]
    try:
        proc = subprocess.run(["grep", "-PzoH", "--", _WIDE_GREP, *rels], cwd=tree,
                              capture_output=True)
    except OSError:
        return None
    if proc.returncode > 1:         # 1: no match at all; 2: an error (no -P support)
        return None
    wide: dict[str, list[str]] = defaultdict(list)
    for rec in proc.stdout.decode(errors="replace").split("\0"):
        rel, _, name = rec.rpartition(":")
        if name:
            wide[name].append(rel)
    return wide
