# SPDX-License-Identifier: GPL-2.0-or-later
"""The parse cache: a header's definitions stored as shape-checked JSON by (the
scanner's own key, file name, content).  Data, never code (no pickle); a damaged
entry is parsed again."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .definition import Definition

_made_dirs: set[Path] = set()


def cached_parse(raw: str, relname: str, cache: Path, key: str,
                 parse: Callable[[str, str], list[Definition]]) -> list[Definition]:
    """*parse*(raw, relname), or the entry of the directory *cache* that holds it
    (*key*: the scanner's, so that a changed scanner parses again)."""
    h = hashlib.sha256(f"{key}\0{relname}\0".encode())
    h.update(raw.encode())
    digest = h.hexdigest()
    entry = cache / f"{digest[:24]}.json"
    try:
        # JSON, shape-checked and naming what it is the parse of: the cache is
        # data, never code (no pickle); a damaged entry is parsed again
        data = json.loads(entry.read_bytes())
        if isinstance(data, dict) and data.get("key") == digest:
            return _defs_from_json(data["defs"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    defs = parse(raw, relname)
    try:
        if cache not in _made_dirs:
            cache.mkdir(parents=True, exist_ok=True)
            _made_dirs.add(cache)
        tmp = entry.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"key": digest, "defs": [_def_to_json(d) for d in defs]}))
        tmp.replace(entry)
    except OSError:
        pass
    return defs


_STR_FIELDS = ("kind", "name", "text", "file")
_TUPLE_FIELDS = ("names", "tags", "conds", "extra_uses")


def _def_to_json(d: Definition) -> dict:
    out = {f: getattr(d, f) for f in (*_STR_FIELDS, *_TUPLE_FIELDS, "line")}
    out["analysis"] = None if d.analysis is None else [sorted(x) for x in d.analysis]
    return out


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise TypeError("not a list of strings")
    return tuple(value)


def _defs_from_json(data: object) -> list[Definition]:
    """Definitions from a parse cache entry; TypeError/KeyError if it is damaged."""
    if not isinstance(data, list):
        raise TypeError("not a list")
    out = []
    for item in data:
        if not isinstance(item, dict) or not all(isinstance(item[f], str) for f in _STR_FIELDS) \
                or type(item["line"]) is not int:
            raise TypeError("not a definition")
        an = item["analysis"]
        if an is not None and (not isinstance(an, list) or len(an) != 3):
            raise TypeError("bad analysis")
        fields: dict[str, Any] = {f: item[f] for f in _STR_FIELDS}
        fields.update({f: _strs(item[f]) for f in _TUPLE_FIELDS})
        fields["analysis"] = None if an is None else tuple(frozenset(_strs(x)) for x in an)
        out.append(Definition(line=item["line"], **fields))
    return out
