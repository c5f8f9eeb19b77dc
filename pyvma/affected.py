# SPDX-License-Identifier: GPL-2.0-or-later
"""Affected tests first: which kernel-suite tests reach the functions a change touches.

Once per base tree content (and harness config), a run of the kernel suites on the
coverage build records which functions of ``mm/vma*.c``, ``mm/vma.h`` and the
generated shim each test enters (:mod:`pyvma.funcmap`), with the base's sources cut
into functions and the digest of every file the build reads.  Kept under the cache
as ``affected/<build key>.json`` (the build key of the base's ordinary build) and, per
tree root, a pointer to the last map recorded for it (a checkout edited in place).

On a changed tree the difference against the recorded base is taken by function
(comments and white space aside): a test whose run on the base entered none of the
changed functions runs the same code on the changed tree, so the tests that entered
one run first.  What cannot be attributed -- a changed file other than those, a change
outside a function (a struct, macro, declaration, ``#include``), a new function, a
test or harness file changed since the recording -- runs everything first.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import PACKAGE, TESTS

MAP_VERSION = "affected-v1"
#: the tree's files whose changes are attributed by function
FUNC_FILES = ("mm/vma.c", "mm/vma_init.c", "mm/vma_exec.c", "mm/vma.h")
FILE_SCOPE = "<file scope>"
#: set by ``pyvma test`` when pytest's output is kept for later: the verdict to stderr
STDERR_VAR = "PYVMA_FIRST_TO_STDERR"
#: the maps the run selected by (files, ``:``-separated): the digest names entry points
MAPS_VAR = "PYVMA_FUNCMAPS"
_FUNC_START = re.compile(r"^(?:[A-Za-z_][\w\s\*]*?[\s\*])?\**([A-Za-z_]\w*)\s*\(")
_ATTRIBUTE = re.compile(r"__attribute__\s*\(\(.*?\)\)")
_HEAD_PREFIX = re.compile(r"^[A-Za-z_][\w\s\*]*$")


def _strip(text: str) -> str:
    """The text without comments and white space (what a compiler reads)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r"\s+", "", text)


def split_functions(text: str) -> dict[str, str]:
    """A C file's function definitions by name, as the kernel writes them (the head at
    column 0, the closing brace at column 0), comments and white space stripped;
    everything between them under FILE_SCOPE."""
    out: dict[str, list[str]] = {}
    scope: list[str] = []
    cur: str | None = None
    pending: list[str] = []         # a head's lines until its body opens (or a ';')
    name = ""
    for line in text.split("\n"):
        if cur is not None:
            out[cur].append(line)
            if line.startswith("}"):
                cur = None
            continue
        if pending:
            pending.append(line)
            if "{" in line and not line.lstrip().startswith("#"):
                cur = name
                out.setdefault(cur, []).extend(pending)
                pending = []
                if line.startswith("}"):
                    cur = None
            elif ";" in line or len(pending) > 12:
                scope.extend(pending)
                pending = []
            continue
        head = _ATTRIBUTE.sub(" ", line)
        if _FUNC_START.match(head) and not line.startswith(("typedef", "#")) \
                and not line.rstrip().endswith(";"):
            pending = [line]
            name = _FUNC_START.match(head).group(1)  # type: ignore[union-attr]
            if scope and _HEAD_PREFIX.match(scope[-1]):     # `static inline` on its own line
                pending.insert(0, scope.pop())
            if "{" in line:
                cur = name
                out.setdefault(cur, []).extend(pending)
                pending = []
                if line.rstrip().endswith("}"):
                    cur = None
            continue
        scope.append(line)
    scope.extend(pending)
    got = {n: _strip("\n".join(v)) for n, v in out.items()}
    got[FILE_SCOPE] = _strip("\n".join(scope))
    return got


def _sources(root: Path) -> dict[str, dict[str, str]]:
    out = {}
    for rel in FUNC_FILES:
        p = root / rel
        if p.is_file():
            out[rel] = split_functions(p.read_text(errors="replace"))
    return out


def test_digests() -> tuple[str, dict[str, str]]:
    """What a test's path through the kernel depends on besides the tree: the suites'
    support files and the API (one digest), and each test module (by path)."""
    support = hashlib.sha256(MAP_VERSION.encode())
    modules: dict[str, str] = {}
    for p in sorted(TESTS.rglob("*.py")):
        rel = f"tests/{p.relative_to(TESTS)}"
        if p.name.startswith("test_"):
            modules[rel] = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        else:
            support.update(rel.encode() + b"\0" + p.read_bytes())
    for sub in ("api", "engine"):
        for p in sorted((PACKAGE / sub).glob("*.py")):
            support.update(p.name.encode() + b"\0" + p.read_bytes())
    support.update((PACKAGE / "pytest_plugin.py").read_bytes())
    return support.hexdigest()[:16], modules


def _inputs(tree) -> dict[str, str]:
    from vma_internal.inputs import shim_inputs

    from .cache import file_digest
    return {rel: file_digest(tree.root / rel)
            for rel in tree.hashed_files(shim_inputs(tree.root))}


@dataclass
class Selection:
    """The tests to run first, and why."""

    tests: set[str] = field(default_factory=set)     # neutral node ids (results.neutral)
    functions: list[str] = field(default_factory=list)
    unattributed: str = ""          # why everything runs first (empty: attributed)
    modules: set[str] = field(default_factory=set)   # test modules changed: all first

    def as_json(self) -> dict[str, Any]:
        return {"tests": sorted(self.tests), "functions": self.functions,
                "unattributed": self.unattributed, "modules": sorted(self.modules)}


def _store(cache=None) -> Path:
    from .cache import subdir
    return subdir("affected", cache)


def map_file(build_key: str, cache=None) -> Path:
    return _store(cache) / f"{build_key}.json"


def _pointer(root: Path, cfg_key: str, cache=None) -> Path:
    h = hashlib.sha256(f"{root}\0{cfg_key}".encode()).hexdigest()[:20]
    return _store(cache) / "roots" / f"{h}.json"


def load_map(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != MAP_VERSION or \
            not isinstance(data.get("tests"), dict):
        return None
    data["path"] = str(path)
    return data


def find_map(tree, cfg_key: str, build_key: str, base=None, base_key: str | None = None,
             cache=None) -> dict[str, Any] | None:
    """The map to diff *tree* against: its own content's, its base's (a patched
    tree), or the last one recorded for its root (a checkout edited in place)."""
    m = load_map(map_file(build_key, cache))
    if m is not None:
        # this content's map: the base of this root's next edits too
        _point(Path(tree.root), cfg_key, build_key, cache)
        return m
    if base_key:
        m = load_map(map_file(base_key, cache))
        if m is not None:
            return m
    try:
        ptr = json.loads(_pointer(Path(tree.root), cfg_key, cache).read_text())
        return load_map(map_file(str(ptr["key"]), cache))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def select(fmap: dict[str, Any], tree) -> Selection:
    """The tests that reach what changed between the map's base and *tree*."""
    sel = Selection()
    support, modules = test_digests()
    if support != fmap.get("support"):
        sel.unattributed = "the suites' support files or pyvma's API changed since the " \
                           "recording"
        return sel
    rec_modules = fmap.get("modules", {})
    sel.modules = {m for m, h in modules.items() if rec_modules.get(m) != h}
    inputs = _inputs(tree)
    base_inputs = fmap.get("inputs", {})
    other = sorted(r for r in set(inputs) | set(base_inputs)
                   if inputs.get(r) != base_inputs.get(r) and r not in FUNC_FILES)
    if other:
        more = f" and {len(other) - 3} more" if len(other) > 3 else ""
        sel.unattributed = f"{', '.join(other[:3])}{more} changed (not attributed by function)"
        return sel
    now, base = _sources(Path(tree.root)), fmap.get("sources", {})
    changed: list[str] = []
    for rel in FUNC_FILES:
        a, b = base.get(rel), now.get(rel)
        if a == b:
            continue
        if a is None or b is None:
            sel.unattributed = f"{rel} {'added' if a is None else 'removed'}"
            return sel
        if a.get(FILE_SCOPE) != b.get(FILE_SCOPE):
            sel.unattributed = f"{rel} changed outside a function (a struct, macro, " \
                               "declaration or #include)"
            return sel
        new = sorted(set(b) - set(a))
        if new:
            sel.unattributed = f"{rel}: new function {', '.join(f'{n}()' for n in new[:3])}"
            return sel
        changed += [f"{rel}:{n}" for n in sorted(a) if a[n] != b.get(n)]
    sel.functions = changed
    want = set(changed)
    # "*": a test skipped while recording (see funcmap.ANY) runs first on any change
    sel.tests = {t for t, fns in fmap["tests"].items() if want & set(fns) or "*" in fns}
    return sel


def function_names(functions: list[str], limit: int = 4) -> str:
    names = [f"{f.split(':', 1)[1]}()" for f in functions]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def save_map(tree, cfg_key: str, build_key: str, tests: dict[str, list[str]],
             cache=None) -> Path:
    """Keep *tests* (neutral node id -> functions entered) as the map of *tree*."""
    from .cache import write_json_atomic
    support, modules = test_digests()
    data = {"version": MAP_VERSION, "kernel": tree.version_str, "root": str(tree.root),
            "support": support, "modules": modules, "inputs": _inputs(tree),
            "sources": _sources(Path(tree.root)), "tests": tests}
    path = map_file(build_key, cache)
    write_json_atomic(path, data)
    _point(Path(tree.root), cfg_key, build_key, cache)
    return path


def _point(root: Path, cfg_key: str, build_key: str, cache=None) -> None:
    """Make the map of *build_key* the one *root*'s next edits are diffed against."""
    from .cache import write_json_atomic
    ptr = _pointer(root, cfg_key, cache)
    try:
        if json.loads(ptr.read_text()).get("key") == build_key:
            return
    except (OSError, ValueError, AttributeError):
        pass
    ptr.parent.mkdir(exist_ok=True)
    write_json_atomic(ptr, {"key": build_key})
