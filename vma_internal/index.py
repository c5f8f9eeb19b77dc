# SPDX-License-Identifier: GPL-2.0-or-later
"""An index of the definitions a kernel tree's headers offer, by name."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .cparse import Definition, parse_header
from .config import HarnessConfig
from . import manifest

wide_cache_dir: Path | None = None     # set by the build: <cache>/widemap


def headers_of(tree: Path) -> list[str]:
    """The headers to index: what the tree's own mm/vma_internal.h includes, then extras."""
    out: list[str] = []
    vi = tree / "mm" / "vma_internal.h"
    text = vi.read_text(errors="replace") if vi.exists() else ""
    for m in re.finditer(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]', text, re.M):
        inc = m.group(2)
        if m.group(1) == '"':
            out.append(f"mm/{inc}")
        elif inc.startswith("linux/"):
            out.append(f"include/{inc}")
    for extra in manifest.EXTRA_HEADERS:
        if extra not in out:
            out.append(extra)
    return [h for h in out if (tree / h).is_file()]


@dataclass
class HeaderIndex:
    """Definitions by ordinary name and by tag, overrides first."""

    by_name: dict[str, list[Definition]] = field(default_factory=lambda: defaultdict(list))
    by_tag: dict[str, list[Definition]] = field(default_factory=lambda: defaultdict(list))
    files: list[str] = field(default_factory=list)
    tree: Path | None = None
    _wide: dict[str, list[str]] | None = None
    _parsed: set[str] = field(default_factory=set)

    def add(self, defs: list[Definition]) -> None:
        for d in defs:
            if d.kind == "fwd":
                continue
            for n in d.names:
                self.by_name[n].append(d)
            for t in d.tags:
                self.by_tag[t].append(d)

    @classmethod
    def build(cls, tree: Path, override_files: list[Path]) -> "HeaderIndex":
        idx = cls(tree=tree)
        for path in override_files:
            idx.add(parse_header(path, f"csrc/{path.name}"))
            idx.files.append(f"csrc/{path.name}")
        overridden = set(idx.by_name) | set(idx.by_tag)
        for rel in headers_of(tree):
            defs = parse_header(tree / rel, rel)
            idx.add([d for d in defs
                     if not (set(d.names) | set(d.tags)) & overridden])
            idx.files.append(rel)
            idx._parsed.add(rel)
        for rel, names in manifest.SOURCE_DEFINITIONS.items():
            if (tree / rel).is_file():
                idx.add([d for d in parse_header(tree / rel, rel)
                         if d.kind == "function" and d.name in names])
                idx.files.append(rel)
        return idx

    def _wide_map(self) -> dict[str, list[str]]:
        """name -> headers under include/ that define it as a macro or inline function
        (cached by the listing of include/linux: paths, sizes, mtimes)."""
        if self._wide is None and wide_cache_dir is not None:
            assert self.tree is not None
            import hashlib
            import json
            h = hashlib.sha256(str(self.tree).encode())
            for path in sorted((self.tree / "include" / "linux").rglob("*.h")):
                st = path.stat()
                h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            entry = wide_cache_dir / f"{h.hexdigest()[:24]}.json"
            if entry.exists():
                self._wide = defaultdict(list, json.loads(entry.read_text()))
            else:
                self._wide = self._scan_wide()
                wide_cache_dir.mkdir(parents=True, exist_ok=True)
                tmp = entry.with_suffix(".tmp")
                tmp.write_text(json.dumps(self._wide))
                tmp.replace(entry)
        if self._wide is None:
            self._wide = self._scan_wide()
        return self._wide

    def _scan_wide(self) -> dict[str, list[str]]:
        wide: dict[str, list[str]] = defaultdict(list)
        assert self.tree is not None
        pat = re.compile(r"^\s*#\s*define\s+(\w+)|^static\s+(?:__always_)?inline\b[^;{]*?\b(\w+)\s*\(",
                         re.M)
        for path in sorted((self.tree / "include" / "linux").rglob("*.h")):
            rel = str(path.relative_to(self.tree))
            text = path.read_text(errors="replace")
            for m in pat.finditer(text):
                wide[m.group(1) or m.group(2)].append(rel)
        return wide

    def lookup_wide(self, name: str, config: HarnessConfig) -> list[Definition]:
        """Like lookup(), searching every include/linux header for a macro or inline."""
        if " " in name or self.tree is None:
            return []
        for rel in self._wide_map().get(name, []):
            if rel in self._parsed:
                continue
            self._parsed.add(rel)
            self.files.append(rel)
            self.add(parse_header(self.tree / rel, rel))
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
