# SPDX-License-Identifier: GPL-2.0-or-later
"""Operations as data, run on any kernel build, and a seeded generator of them.

An operation is a tuple ``(name, *args)`` with addresses in pages and flags by name,
so the same sequence means the same thing on every tree (a flag a tree lacks is
reported by :func:`run`, not crashed on).  Running a sequence gives an
:class:`Outcome` per operation: return value/state, the layout after it, WARN
conditions and a BUG if one fired.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..api import MM, PAGE_SIZE, Kernel, KernelBug
from ..api.registry import WALK_ROWS

Op = tuple
BASE = ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
# extra flags the op generator mixes in: one that blocks merges, the sticky ones
GEN_FLAGS = ("VM_DONTDUMP", "VM_MAYBE_GUARD", "VM_SOFTDIRTY", "VM_EXEC")
GEN_PAGES = 24      # pages of address space the op generator works in


@dataclass
class Outcome:
    ret: object
    layout: tuple
    warns: tuple = ()
    bug: str = ""
    missing: tuple = ()

    def key(self, ignore: frozenset = frozenset()) -> tuple:
        """What two trees must agree on: return value, layout (flags by name, less
        *ignore*: flags one of the trees lacks), how many WARNs, BUG or not.  WARN
        texts differ between trees (renamed variables, lines) and are only shown."""
        layout = tuple(r[:3] + (tuple(f for f in r[3] if f not in ignore),) + r[4:]
                       for r in self.layout) if ignore else self.layout
        return (self.ret, layout, len(self.warns), bool(self.bug))


@dataclass
class World:
    """One kernel's state while a sequence runs: the mm and the named objects."""

    k: Kernel
    mm: MM
    anon: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def flags(self, names: Sequence[str]) -> tuple[int, tuple[str, ...]]:
        value, missing = 0, []
        for n in names:
            if self.k.has_flag(n):
                value |= self.k.flag(n)
            else:
                missing.append(n)
        return value, tuple(missing)

    def av(self, name):
        if name is None:
            return None
        if name not in self.anon:
            self.anon[name] = self.k.anon_vma()
        return self.anon[name]

    def file(self, name):
        if name is None:
            return None
        if name not in self.files:
            self.files[name] = self.k.file()
        return self.files[name]

    def vma_at(self, page: int):
        for v in self.mm.vmas():
            if v.start <= page * PAGE_SIZE < v.end:
                return v
        return None

    def layout(self) -> tuple:
        if not hasattr(self, "_ptr_names"):
            self._ptr_names: dict[int, str] = {}
        cast = self.k.ffi.cast
        for n, a in self.anon.items():
            self._ptr_names.setdefault(int(cast("uintptr_t", a.ptr)), n)
        for n, f in self.files.items():
            self._ptr_names.setdefault(int(cast("uintptr_t", f.ptr)), n)
        names = self._ptr_names
        sorted_names = self.k.sorted_names_of
        n, buf = self.mm.objects.walk(self.mm.ptr)
        if n > WALK_ROWS:
            return tuple((r.start // PAGE_SIZE, r.end // PAGE_SIZE, r.pgoff,
                          sorted_names(r.flags),
                          names.get(r.anon_vma, "?") if r.anon_vma else None,
                          names.get(r.file, "?") if r.file else None)
                         for r in self.mm.layout())
        out = []
        for i in range(n):
            b = buf[i]
            av = int(cast("uintptr_t", b.anon_vma))
            f = int(cast("uintptr_t", b.file))
            out.append((b.start // PAGE_SIZE, b.end // PAGE_SIZE, b.pgoff, sorted_names(b.flags),
                        names.get(av, "?") if av else None, names.get(f, "?") if f else None))
        return tuple(out)


def valid(w: World, op: Op) -> bool:
    """Whether *op* is one a kernel caller could make in this layout (shrinking a
    sequence can leave operations that no longer are)."""
    name, *a = op
    lay = [(r[0], r[1]) for r in w.layout()]

    def free(s: int, e: int) -> bool:
        return 0 <= s < e and not any(x < e and s < y for x, y in lay)

    def within(p: int):
        return next(((x, y) for x, y in lay if x <= p < y), None)
    if name in ("map", "merge_new"):
        return free(a[0], a[1])
    if name == "modify":
        v = within(a[0])
        return v is not None and a[0] < a[1] <= v[1]
    if name == "split":
        v = within(a[0])
        return v is not None and v[0] < a[0] < v[1]
    if name == "expand":
        v = within(a[0])
        return v is not None and a[1] > v[1] and free(v[1], a[1])
    if name == "shrink":
        v = within(a[0])
        return v is not None and v[0] < a[1] < v[1]
    if name == "munmap":
        return a[0] < a[1]
    return True


def apply(w: World, op: Op) -> Outcome:
    """Run one operation on *w*; never raises for kernel-side trouble."""
    k, mm = w.k, w.mm
    name, *a = op
    if not valid(w, op):
        return Outcome("invalid", w.layout())
    before = len(k.warnings())
    missing: tuple = ()
    ret: object = None
    bug = ""
    try:
        if name == "map":
            s, e, pgoff, names, av, f = a
            flags, missing = w.flags(names)
            mm.account(mm.map(s * PAGE_SIZE, e * PAGE_SIZE, pgoff, flags, w.av(av), w.file(f)))
            ret = 0
        elif name == "merge_new":
            s, e, pgoff, names, av, f = a
            flags, missing = w.flags(names)
            vma, state = mm.merge_new_range(s * PAGE_SIZE, e * PAGE_SIZE, pgoff, flags, w.av(av),
                                      w.file(f))
            if vma is None and state == "nomerge":
                vma = mm.map(s * PAGE_SIZE, e * PAGE_SIZE, pgoff, flags, w.av(av), w.file(f))
            if vma is not None:
                # what mmap_region() accounts: the new range only
                mm.k.lib.pyvma_account_range(mm.ptr, flags, e - s)
            ret = state
        elif name == "modify":
            s, e, names = a
            vma = w.vma_at(s)
            flags, missing = w.flags(names)
            ret = modify_flags(w, vma, s, e, flags) if vma else "novma"
        elif name == "set_flags":
            page, names = a
            vma = w.vma_at(page)
            flags, missing = w.flags(names)
            if vma:
                vma.set_flags(vma.flags | flags)
            ret = 0 if vma else "novma"
        elif name == "expand":
            page, e = a
            vma = w.vma_at(page)
            ret = mm.expand(vma, vma.start, e * PAGE_SIZE) if vma else "novma"
        elif name == "shrink":
            page, e = a
            vma = w.vma_at(page)
            ret = mm.shrink(vma, vma.start, e * PAGE_SIZE) if vma else "novma"
        elif name == "split":
            page, below = a
            vma = w.vma_at(page)
            ret = mm.split(vma, page * PAGE_SIZE, below) if vma else "novma"
        elif name == "munmap":
            s, e = a
            ret = mm.munmap(s * PAGE_SIZE, e * PAGE_SIZE)
        else:
            raise ValueError(f"unknown operation {name!r}")
    except KernelBug as exc:
        bug = exc.site.cond
        ret = "BUG"
    warns = tuple(w_.cond for w_ in k.warnings()[before:])
    return Outcome(ret, w.layout(), warns, bug, missing)


def modify_flags(w: World, vma, s: int, e: int, flags: int):
    """Change the flags of pages [s, e) of *vma*, as mprotect would: try the
    existing-range merge first, else split and set (vma_modify's fallback)."""
    mm = w.mm
    e = min(e, vma.end // PAGE_SIZE)
    vmas = mm.vmas()
    i = vmas.index(vma)
    # mprotect_fixup()'s convention: prev is the VMA itself when the range starts
    # inside it, else the VMA before it
    if s * PAGE_SIZE > vma.start:
        prev = vma
    else:
        prev = vmas[i - 1] if i > 0 and vmas[i - 1].end == vma.start else None
    merged, state = mm.merge_existing(vma, s * PAGE_SIZE, e * PAGE_SIZE, flags, prev=prev)
    if merged is not None or state == "nomem":
        return state
    if s * PAGE_SIZE > vma.start:
        if mm.split(vma, s * PAGE_SIZE, False):
            return "nomem"
        vma = w.vma_at(s)
    if e * PAGE_SIZE < vma.end:
        if mm.split(vma, e * PAGE_SIZE, True):
            return "nomem"
        vma = w.vma_at(s)
    vma.set_flags(flags)
    return state


def run(k: Kernel, ops: Sequence[Op]) -> list[Outcome]:
    """Run a whole sequence on a fresh mm of *k*."""
    k.clear_warnings()
    with k.mm() as mm:
        w = World(k, mm)
        out = [apply(w, op) for op in ops]
    k.clear_warnings()
    return out


class OpGenerator:
    """Seeded random operation sequences, valid by construction against the layout
    the sequence builds (computed on a reference kernel as it goes)."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def _flags(self) -> tuple[str, ...]:
        extra = [f for f in GEN_FLAGS if self.rnd.random() < 0.2]
        return BASE + tuple(extra)

    def _gap(self, layout) -> tuple[int, int] | None:
        used = [(r[0], r[1]) for r in layout]
        free = [p for p in range(GEN_PAGES) if not any(s <= p < e for s, e in used)]
        if not free:
            return None
        p = self.rnd.choice(free)
        s = p
        while s - 1 >= 0 and s - 1 in free and self.rnd.random() < 0.5:
            s -= 1
        e = p + 1
        while e in free and self.rnd.random() < 0.5:
            e += 1
        return s, e

    def _pgoff(self, layout, s: int) -> int:
        left = [r for r in layout if r[1] == s]
        if left and self.rnd.random() < 0.8:
            r = left[0]
            return r[2] + (s - r[0])
        return s if self.rnd.random() < 0.8 else s + self.rnd.randint(1, 5)

    def next_op(self, layout) -> Op:
        r = self.rnd.random()
        av = self.rnd.choice([None, None, "av0", "av1"])
        f = None if self.rnd.random() < 0.85 else "f0"
        if not layout or r < 0.35:
            gap = self._gap(layout)
            if gap is None:
                s = self.rnd.randrange(GEN_PAGES)
                return ("munmap", s, min(GEN_PAGES, s + self.rnd.randint(1, 4)))
            s, e = gap
            kind = "map" if not layout or self.rnd.random() < 0.3 else "merge_new"
            return (kind, s, e, self._pgoff(layout, s), self._flags(), av, f)
        vma = self.rnd.choice(layout)
        s, e = vma[0], vma[1]
        if r < 0.55:
            a = self.rnd.randint(s, e - 1)
            b = self.rnd.randint(a + 1, e)
            return ("modify", a, b, self._flags())
        if r < 0.62:
            return ("set_flags", s, (self.rnd.choice(GEN_FLAGS),))
        if r < 0.72 and e - s > 1:
            return ("split", self.rnd.randint(s + 1, e - 1), self.rnd.random() < 0.5)
        if r < 0.80:
            nxt = min([x[0] for x in layout if x[0] >= e] + [GEN_PAGES])
            if nxt > e:
                return ("expand", s, self.rnd.randint(e + 1, nxt))
        if r < 0.86 and e - s > 1:
            return ("shrink", s, self.rnd.randint(s + 1, e - 1))
        a = self.rnd.randrange(GEN_PAGES)
        return ("munmap", a, min(GEN_PAGES, a + self.rnd.randint(1, 4)))
