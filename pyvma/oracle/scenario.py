# SPDX-License-Identifier: GPL-2.0-or-later
"""The oracle's scenario files: a documented JSON format, its loader and writer.

A file holds ``{"format": "pyvma-oracle 1", "scenarios": [SCENARIO, ...]}``, a
bare list of scenarios, or one scenario.  A scenario is::

    {"name": "merge/mprotect_unfaulted_left",          # unique in the file
     "mirrors": "selftests/mm/merge.c merge.mprotect_unfaulted_left",  # optional
     "window": 32,                                      # optional: pages (default:
                                                        # the highest page used + 1)
     "tags": ["small"],                                 # optional
     "ops": [["mmap", 1, 11, "rw", "anon-noreserve", 0], ...]}

Pages are relative to the window (page 0 is its first).  Operations:

- ``["mmap", s, e, prot, backing, pgoff]`` (MAP_FIXED_NOREPLACE; backing ``anon``,
  ``anon-noreserve``, ``memfd-private``, ``memfd-shared``; pgoff: the memfd page
  offset, ignored for anonymous ones); ``["mmap_fixed", ...]``: the same with
  MAP_FIXED (replacing what is there)
- ``["mprotect", s, e, prot]`` (prot ``""``, ``r``, ``w``, ``rw``, ``rx``, ``rwx``)
- ``["munmap", s, e]``
- ``["mremap", s, e, new_s]``: a move (MREMAP_MAYMOVE|MREMAP_FIXED, same length);
  ``["mremap_dontunmap", s, e, new_s]``: the same with MREMAP_DONTUNMAP;
  ``["mremap_resize", s, e, new_e]``: in place (no MREMAP_MAYMOVE)
- ``["madvise", s, e, ADVICE]`` (``DONTFORK``, ``DOFORK``, ``WIPEONFORK``,
  ``KEEPONFORK``, ``GUARD_INSTALL``, ``GUARD_REMOVE``, ``MERGEABLE``, ``UNMERGEABLE``)
- ``["ksm_merge_any", 1]`` (0: off): prctl(PR_SET_MEMORY_MERGE)
- ``["touch", s, e]``: MADV_POPULATE_WRITE (a write fault on each page)
- ``["mlock", s, e]``, ``["mlock_onfault", s, e]``, ``["munlock", s, e]``
- ``["mseal", s, e]``; ``["fork"]`` (the rest runs in the child)
- ``["expect", s, e]``: a checkpoint, the selftest's assertion: one VMA spans
  exactly pages [s, e) now (its return is 0 or what covers page s, compared like
  any other); ``["expect_flag", p, "VM_X", 1]``: the VMA at page p has VM_X (0: has
  not); the tree failing a checkpoint is a disagreement

A scenario may also give ``"returns"``: the return of each operation the mirrored
test asserts (0 or an errno name; ``null``: not asserted; for a checkpoint,
``"NO-VMA"`` asserts nothing is mapped there); the tree's must match;
and ``"feature"``: a feature (pyvma/tree/features.py) the mirrored assertions come
with -- a tree without it has its checkpoints and returns not asserted (still
compared with the running kernel).

Both sides are compared after every operation (ranges, flags by name, offsets,
backing, returns).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PyvmaError

FORMAT = "pyvma-oracle 1"
BACKINGS = ("anon", "anon-noreserve", "memfd-private", "memfd-shared")
PROTS = ("", "r", "w", "rw", "rx", "rwx")
ADVICE = ("DONTFORK", "DOFORK", "WIPEONFORK", "KEEPONFORK", "GUARD_INSTALL", "GUARD_REMOVE",
          "MERGEABLE", "UNMERGEABLE")
MAX_WINDOW = 1 << 16                # pages (256 MiB of address space, reserved PROT_NONE)

_P, _PROT, _BACK, _ADV, _N, _FLAG = "page", "prot", "backing", "advice", "count", "flag"
#: operation -> argument kinds
OPS: dict[str, tuple[str, ...]] = {
    "mmap": (_P, _P, _PROT, _BACK, _N), "mmap_fixed": (_P, _P, _PROT, _BACK, _N),
    "mprotect": (_P, _P, _PROT), "munmap": (_P, _P),
    "mremap": (_P, _P, _P), "mremap_dontunmap": (_P, _P, _P), "mremap_resize": (_P, _P, _P),
    "madvise": (_P, _P, _ADV), "touch": (_P, _P), "mlock": (_P, _P),
    "mlock_onfault": (_P, _P), "munlock": (_P, _P), "mseal": (_P, _P), "fork": (),
    "ksm_merge_any": (_N,),
    "expect": (_P, _P), "expect_flag": (_P, _FLAG, _N),
}


class ScenarioError(PyvmaError):
    """A scenario file cannot be read or holds an invalid scenario."""


@dataclass(frozen=True)
class Scenario:
    name: str
    ops: tuple
    needs: frozenset = frozenset()      # live.probe() names this needs
    window: int = 32                    # pages
    mirrors: str = ""
    tags: frozenset = field(default_factory=frozenset)
    returns: tuple | None = None        # the asserted return of each op (None: not)
    feature: str = ""                   # the checkpoints hold where the tree has it

    def to_json(self) -> dict:
        d: dict = {"name": self.name}
        if self.mirrors:
            d["mirrors"] = self.mirrors
        d["window"] = self.window
        if self.tags:
            d["tags"] = sorted(self.tags)
        d["ops"] = [list(o) for o in self.ops]
        if self.returns is not None:
            d["returns"] = list(self.returns)
        if self.feature:
            d["feature"] = self.feature
        return d


def needs_of(ops: list) -> frozenset:
    """The live.probe() names the operations need."""
    out = set()
    for op in ops:
        name = op[0]
        if name == "mseal":
            out.add("mseal")
        elif name in ("mlock", "mlock_onfault", "munlock"):
            out.add("mlock")
        elif name == "touch":
            out.add("populate_write")
        elif name == "madvise" and op[3].startswith("GUARD"):
            out.add("guard")
        elif name == "madvise" and op[3] == "WIPEONFORK":
            out.add("wipeonfork")
        elif name == "ksm_merge_any" or (name == "madvise" and "MERGEABLE" in op[3]):
            out.add("ksm")
        if name in ("mmap", "mmap_fixed") and op[4].startswith("memfd"):
            out.add("memfd")
    return frozenset(out)


def check_op(op: object, window: int | None, where: str) -> list:
    """*op* validated (a list), pages inside [0, window] where a window is given."""
    if not isinstance(op, list) or not op or not isinstance(op[0], str):
        raise ScenarioError(f"{where}: an operation is a JSON list [NAME, ARGS...], got "
                            f"{json.dumps(op)[:80]}")
    kinds = OPS.get(op[0])
    if kinds is None:
        raise ScenarioError(f"{where}: unknown operation {op[0]!r} (known: "
                            f"{', '.join(OPS)})")
    if len(op) - 1 != len(kinds):
        raise ScenarioError(f"{where}: {op[0]} takes {len(kinds)} argument(s), got "
                            f"{len(op) - 1}")
    allowed = {_PROT: PROTS, _BACK: BACKINGS, _ADV: ADVICE}
    for i, (kind, val) in enumerate(zip(kinds, op[1:]), 1):
        if kind in (_P, _N):
            if not isinstance(val, int) or isinstance(val, bool) or val < 0 or \
                    (kind == _P and window is not None and val > window):
                lim = f"0..{window}" if window is not None and kind == _P else ">= 0"
                raise ScenarioError(f"{where}: {op[0]} argument {i} must be an integer "
                                    f"page {lim}, got {json.dumps(val)}")
        elif kind == _FLAG:
            if not isinstance(val, str) or not val.startswith("VM_"):
                raise ScenarioError(f"{where}: {op[0]} argument {i} must be a VM_* flag "
                                    f"name, got {json.dumps(val)}")
        elif val not in allowed[kind]:
            raise ScenarioError(f"{where}: {op[0]} argument {i}: {json.dumps(val)} is no "
                                f"{kind} ({', '.join(repr(a) for a in allowed[kind])})")
    if len(kinds) >= 2 and kinds[1] == _P and not op[1] < op[2]:
        raise ScenarioError(f"{where}: {op[0]} range {op[1]}-{op[2]} is empty")
    return op


def max_page(ops: list) -> int:
    return max([0] + [v for op in ops for k, v in zip(OPS[op[0]], op[1:]) if k == _P]
               + [op[3] + op[2] - op[1] for op in ops
                  if op[0] in ("mremap", "mremap_dontunmap")])


def from_json(d: object, where: str) -> Scenario:
    if not isinstance(d, dict):
        raise ScenarioError(f"{where}: a scenario is a JSON object, got {type(d).__name__}")
    unknown = set(d) - {"name", "mirrors", "window", "tags", "ops", "returns", "feature"}
    if unknown:
        raise ScenarioError(f"{where}: unknown key {sorted(unknown)[0]!r} (keys: name, "
                            "mirrors, window, tags, ops, returns, feature)")
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{where}: a scenario needs a \"name\" string")
    where = f"{where} ({name})"
    ops = d.get("ops")
    if not isinstance(ops, list):
        raise ScenarioError(f"{where}: \"ops\" must be a list of operations")
    window = d.get("window")
    if window is not None and (not isinstance(window, int) or isinstance(window, bool)
                               or not 1 <= window <= MAX_WINDOW):
        raise ScenarioError(f"{where}: \"window\" must be 1..{MAX_WINDOW} pages")
    ops = [check_op(op, window, f"{where} op {i + 1}") for i, op in enumerate(ops)]
    if window is None:
        window = min(MAX_WINDOW, max(1, max_page(ops)))
    if max_page(ops) > window:
        raise ScenarioError(f"{where}: an mremap target runs past the window "
                            f"({max_page(ops)} > {window} pages)")
    tags = d.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ScenarioError(f"{where}: \"tags\" must be a list of strings")
    mirrors = d.get("mirrors", "")
    if not isinstance(mirrors, str):
        raise ScenarioError(f"{where}: \"mirrors\" must be a string")
    rets = d.get("returns")
    if rets is not None and (not isinstance(rets, list) or len(rets) != len(ops) or not all(
            r is None or r == 0 or (isinstance(r, str) and r.isupper()) for r in rets)):
        raise ScenarioError(f"{where}: \"returns\" must list one return per operation "
                            "(0, an errno name like \"ENOMEM\", or null)")
    feature = d.get("feature", "")
    from ..tree.features import REGISTRY
    if feature and feature not in REGISTRY:
        raise ScenarioError(f"{where}: \"feature\" {feature!r} is not one of pyvma's "
                            "(pyvma/tree/features.py lists them)")
    return Scenario(name, tuple(tuple(o) for o in ops), needs_of(ops), window, mirrors,
                    frozenset(tags), tuple(rets) if rets is not None else None, feature)


def parse(text: str, where: str) -> list[Scenario]:
    """The scenarios of a file's *text* (*where*: its name, for messages)."""
    try:
        d = json.loads(text)
    except ValueError as exc:
        raise ScenarioError(f"{where}: not JSON ({exc}): see README's oracle section for "
                            "the scenario format") from None
    if isinstance(d, dict) and "scenarios" in d:
        if d.get("format", FORMAT) != FORMAT:
            raise ScenarioError(f"{where}: format {d.get('format')!r} is not {FORMAT!r}")
        items = d["scenarios"]
    elif isinstance(d, dict):
        items = [d]
    else:
        items = d
    if not isinstance(items, list) or not items:
        raise ScenarioError(f"{where}: no scenario in the file")
    out = [from_json(s, f"{where}: scenario {i + 1}") for i, s in enumerate(items)]
    seen: set[str] = set()
    for s in out:
        if s.name in seen:
            raise ScenarioError(f"{where}: scenario name {s.name!r} twice")
        seen.add(s.name)
    return out


def load(path: str | Path) -> list[Scenario]:
    """The scenarios of the file at *path* (or of *path* itself where it is JSON
    text: a ``[`` or ``{`` first, as the reproducing lines of --random print)."""
    if isinstance(path, str) and path[:1] in ("{", "["):
        return parse(path, "--scenarios JSON")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario file {str(p)!r}: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, str(p))


def dumps(scenarios: list[Scenario]) -> str:
    """A file :func:`parse` reads back."""
    body = ",\n".join(" " + json.dumps(s.to_json()) for s in scenarios)
    return f'{{"format": "{FORMAT}", "scenarios": [\n{body}\n]}}\n'
