# SPDX-License-Identifier: GPL-2.0-or-later
"""A reference model of VMA layouts, and a hypothesis state machine that holds the
real C to it.

The model states the documented merge rules, nothing more: a new range merges with
a neighbour that ends/starts exactly at it, has the same flags once the tree's
ignore-merge flags are set aside (VM_SOFTDIRTY before the sticky-flag series), the
same file and a contiguous pgoff, and is not VM_SPECIAL; the merged VMA keeps the
surviving VMA's flags plus the union of every participant's sticky flags (the mask
read from the built tree); unmapping and splitting keep pgoff linear and flags
as they were.  vma_modify_name/policy/flags_uffd() follow the existing-range rules
of a flags change (names, policies and userfaultfd contexts compare equal in the
harness); vma_merge_extend() is a new range after the VMA, which must merge with
it; a VM_GROWSDOWN stack grows down to a page at or above mmap_min_addr, its page
offset with it, unless an accessible VMA that is not a stack lies within the stack
guard gap below or it would go below page offset 0; a special mapping never merges
(VM_DONTEXPAND, page offset 0, VM_LOCKED dropped); mm_take_all_locks() changes
nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..api import PAGE_SIZE, Kernel
from .ops import BASE, Op, World, apply

# the state machine's address space (pages) and the extra flags it sets
MODEL_PAGES = 16
MODEL_FLAGS = ("VM_DONTDUMP", "VM_MAYBE_GUARD", "VM_SOFTDIRTY")
# the harness's mmap_min_addr and stack_guard_gap, in pages (vma_internal/manifest.py)
MIN_ADDR_PAGES = 1
GUARD_GAP_PAGES = 256
EFAULT, EPERM, ENOMEM = -14, -1, -12


@dataclass(frozen=True)
class MVma:
    start: int       # pages
    end: int
    pgoff: int
    flags: int
    file: str | None


class Model:
    """The layout the merge rules predict, for one kernel's flag values."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.vmas: list[MVma] = []
        self.sticky = k.sticky_mask
        ignore = k.ignore_merge_mask
        if not ignore and k.has_flag("VM_SOFTDIRTY"):
            ignore = k.flag("VM_SOFTDIRTY")      # the rule before VM_IGNORE_MERGE existed
        self.ignore = ignore
        self.special = k.mask("VM_SPECIAL")

    def _same(self, a: int, b: int) -> bool:
        return not ((a ^ b) & ~self.ignore)

    def _at(self, page: int) -> MVma | None:
        return next((v for v in self.vmas if v.start <= page < v.end), None)

    def _sorted(self) -> None:
        self.vmas.sort(key=lambda v: v.start)

    def map(self, s: int, e: int, pgoff: int, flags: int, file) -> None:
        self.vmas.append(MVma(s, e, pgoff, flags, file))
        self._sorted()

    def merge_new(self, s: int, e: int, pgoff: int, flags: int, file) -> str:
        prev = next((v for v in self.vmas if v.end == s), None)
        nxt = next((v for v in self.vmas if v.start == e), None)
        if flags & self.special:
            prev = nxt = None
        left = prev is not None and self._same(prev.flags, flags) and prev.file == file \
            and prev.pgoff + (s - prev.start) == pgoff
        right = nxt is not None and self._same(nxt.flags, flags) and nxt.file == file \
            and pgoff + (e - s) == nxt.pgoff
        if left and right and prev is not None and nxt is not None \
                and not self._same(prev.flags, nxt.flags):
            right = False
        sticky = flags & self.sticky
        if left and right and prev is not None and nxt is not None:
            self.vmas.remove(prev)
            self.vmas.remove(nxt)
            st = sticky | (prev.flags | nxt.flags) & self.sticky
            self.vmas.append(replace(prev, end=nxt.end, flags=prev.flags | st))
        elif left and prev is not None:
            self.vmas.remove(prev)
            self.vmas.append(replace(prev, end=e, flags=prev.flags | sticky))
        elif right and nxt is not None:
            self.vmas.remove(nxt)
            self.vmas.append(replace(nxt, start=s, pgoff=pgoff, flags=nxt.flags | sticky))
        else:
            self.vmas.append(MVma(s, e, pgoff, flags, file))
            self._sorted()
            return "nomerge"
        self._sorted()
        return "success"

    def modify(self, s: int, e: int, flags: int) -> str:
        """Pages [s, e) of the VMA holding s get *flags*, as mprotect does: the range
        merges with the VMA before it when it starts that VMA and with the one after
        it when it ends it (compatible as for a new range); the merged VMA keeps its
        flags plus the sticky flags of the request and of the neighbours merged.
        Otherwise the range is split off and takes exactly *flags*."""
        v = self._at(s)
        if v is None:
            return "novma"
        e = min(e, v.end)
        pgoff = v.pgoff + (s - v.start)
        prev = next((p for p in self.vmas if p.end == v.start), None) if s == v.start else None
        nxt = next((n for n in self.vmas if n.start == v.end), None) if e == v.end else None
        if (flags | v.flags) & self.special:
            prev = nxt = None
        left = prev is not None and self._same(prev.flags, flags) and prev.file == v.file \
            and prev.pgoff + (prev.end - prev.start) == pgoff
        right = nxt is not None and self._same(nxt.flags, flags) and nxt.file == v.file \
            and pgoff + (e - s) == nxt.pgoff
        sticky = flags & self.sticky
        if left and right and prev is not None and nxt is not None:
            self.vmas = [x for x in self.vmas if x not in (prev, v, nxt)]
            st = sticky | (prev.flags | nxt.flags) & self.sticky
            self.vmas.append(replace(prev, end=nxt.end, flags=prev.flags | st))
        elif left and prev is not None:
            self.vmas = [x for x in self.vmas if x not in (prev, v)]
            self.vmas.append(replace(prev, end=e, flags=prev.flags | sticky | prev.flags & self.sticky))
            if e < v.end:
                self.vmas.append(replace(v, start=e, pgoff=v.pgoff + (e - v.start)))
        elif right and nxt is not None:
            self.vmas = [x for x in self.vmas if x not in (v, nxt)]
            self.vmas.append(replace(nxt, start=s, pgoff=pgoff,
                                     flags=nxt.flags | sticky | nxt.flags & self.sticky))
            if s > v.start:
                self.vmas.append(replace(v, end=s))
        else:
            self.vmas.remove(v)
            if s > v.start:
                self.vmas.append(replace(v, end=s))
            self.vmas.append(replace(v, start=s, end=e, pgoff=pgoff, flags=flags))
            if e < v.end:
                self.vmas.append(replace(v, start=e, pgoff=v.pgoff + (e - v.start)))
            self._sorted()
            return "nomerge"
        self._sorted()
        return "success"

    def extend(self, page: int, delta: int) -> str:
        """vma_merge_extend(): [end, end + delta) of the VMA at *page* as a new range
        that must merge with it (and with what follows if it can); "nomerge": no
        change (mremap then fails)."""
        v = self._at(page)
        if v is None:
            return "novma"
        before = list(self.vmas)
        got = self.merge_new(v.end, v.end + delta, v.pgoff + (v.end - v.start), v.flags,
                             v.file)
        merged = self._at(v.end)
        if got != "success" or merged is None or merged.start != v.start:
            self.vmas = before
            return "nomerge"
        return got

    def stack(self, page: int, addr: int) -> int:
        """expand_downwards(vma at *page*, *addr*): 0 or -errno (limits aside)."""
        v = self._at(page)
        if v is None:
            return ENOMEM
        if not v.flags & self.k.flag("VM_GROWSDOWN"):
            return EFAULT
        if addr < MIN_ADDR_PAGES:
            return EPERM
        prev = next((p for p in reversed(self.vmas) if p.end <= v.start), None)
        access = self.k.flag("VM_READ", "VM_WRITE", "VM_EXEC")
        if prev is not None and not prev.flags & self.k.flag("VM_GROWSDOWN") \
                and prev.flags & access and addr - prev.end < GUARD_GAP_PAGES:
            return ENOMEM
        if addr >= v.start:
            return 0
        grow = v.start - addr
        if grow > v.pgoff:
            return ENOMEM
        self.vmas[self.vmas.index(v)] = replace(v, start=addr, pgoff=v.pgoff - grow)
        return 0

    def install_special(self, s: int, e: int, flags: int) -> int:
        """__install_special_mapping(): a VMA of its own, never merged: 0, or -ENOMEM
        over an existing VMA."""
        if any(v.start < e and s < v.end for v in self.vmas):
            return ENOMEM
        flags |= self.k.flag("VM_DONTEXPAND")
        if self.k.has_flag("VM_SOFTDIRTY"):
            flags |= self.k.flag("VM_SOFTDIRTY")
        flags &= ~self.k.mask("VM_LOCKED_MASK") if self.k.mask("VM_LOCKED_MASK") \
            else ~self.k.flag("VM_LOCKED")
        self.vmas.append(MVma(s, e, 0, flags, None))
        self._sorted()
        return 0

    def munmap(self, s: int, e: int) -> None:
        out = []
        for v in self.vmas:
            if v.end <= s or v.start >= e:
                out.append(v)
                continue
            if v.start < s:
                out.append(replace(v, end=s))
            if v.end > e:
                out.append(replace(v, start=e, pgoff=v.pgoff + (e - v.start)))
        self.vmas = sorted(out, key=lambda v: v.start)

    def split(self, page: int) -> None:
        v = self._at(page)
        if v is None or page == v.start:
            return
        self.vmas.remove(v)
        self.vmas += [replace(v, end=page), replace(v, start=page, pgoff=v.pgoff + page - v.start)]
        self._sorted()

    def set_flags(self, page: int, flags: int) -> None:
        v = self._at(page)
        if v is not None:
            self.vmas[self.vmas.index(v)] = replace(v, flags=v.flags | flags)

    def layout(self) -> list[tuple]:
        return [(v.start, v.end, v.pgoff, v.flags, v.file) for v in self.vmas]


def real_layout(w: World) -> list[tuple]:
    return [(r.start // PAGE_SIZE, r.end // PAGE_SIZE, r.pgoff, r.flags,
             None if not r.file else "f0") for r in w.mm.layout()]


class Checker:
    """Runs the same operations on the real kernel and on the model."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.model = Model(k)
        self.mm = k.mm(check_each=True)
        self.w = World(k, self.mm)
        self.ops: list[Op] = []
        k.clear_warnings()

    def flags(self, extra: tuple[str, ...]) -> tuple[str, ...]:
        return BASE + tuple(n for n in extra if self.k.has_flag(n))

    def step(self, op: Op) -> None:
        """Apply *op* to both; raise AssertionError with both diagrams on a difference."""
        self.ops.append(op)
        try:
            self._step(op)
        except AssertionError:
            Checker.last_failure = list(self.ops)
            raise

    last_failure: list | None = None

    def _step(self, op: Op) -> None:
        name, *a = op
        out = apply(self.w, op)
        if out.ret == "invalid":
            self.ops.pop()
            return
        m = self.model
        if name == "map":
            m.map(a[0], a[1], a[2], self.w.flags(a[3])[0], a[5])
        elif name == "merge_new":
            want = m.merge_new(a[0], a[1], a[2], self.w.flags(a[3])[0], a[5])
            assert out.ret == want, self.explain(f"merge_new returned {out.ret}, model {want}")
        elif name == "modify":
            want = m.modify(a[0], a[1], self.w.flags(a[2])[0])
            assert out.ret == want, self.explain(f"modify returned {out.ret}, model {want}")
        elif name == "munmap":
            m.munmap(a[0], a[1])
        elif name == "split":
            m.split(a[0])
        elif name == "set_flags":
            m.set_flags(a[0], self.w.flags(a[1])[0])
        elif name in ("name", "policy", "uffd"):
            # the existing-range rules of a flags change; name and policy keep flags
            v = m._at(a[0])
            if v is not None:
                m.modify(a[0], a[1], v.flags if name != "uffd" else self.w.flags(a[2])[0])
            assert out.ret == 0, self.explain(f"{name} returned {out.ret}, model 0")
        elif name == "extend":
            state = m.extend(a[0], a[1])
            got = "success" if out.ret == 0 else out.ret
            assert got == state, self.explain(f"extend returned {out.ret}, model {state}")
        elif name in ("stack", "special"):
            ret = (m.stack(a[0], a[1]) if name == "stack"
                   else m.install_special(a[0], a[1], self.w.flags(a[2])[0]))
            assert out.ret == ret, self.explain(f"{name} returned {out.ret}, model {ret}")
        elif name == "all_locks":
            assert out.ret == 0 and out.state["locks"][0] == 0, \
                self.explain(f"all_locks returned {out.ret}, locks {out.state['locks']}")
        assert not out.warns, self.explain(f"WARN: {'; '.join(out.warns)}")
        assert not out.bug, self.explain(f"BUG: {out.bug}")
        assert real_layout(self.w) == m.layout(), self.explain("layouts differ")

    def explain(self, what: str) -> str:
        from ..api.diagram import side_by_side
        from .report import layout_diagram
        names = self.k.sorted_names_of
        real = tuple((s, e, p, names(f), None, fl) for s, e, p, f, fl in real_layout(self.w))
        model = tuple((s, e, p, names(f), None, fl) for s, e, p, f, fl in self.model.layout())
        return (f"{what} after {len(self.ops)} operation(s) on {self.k.version}:\n"
                + "\n".join(f"  {op}" for op in self.ops) + "\n"
                + side_by_side(layout_diagram(real), layout_diagram(model), ("kernel", "model"))
                + f"\nreplay: pyvma replay --kernel {self.k.tree.root} --ops "
                  f"'{json.dumps(self.ops)}'")

    def close(self) -> None:
        self.mm.check_each = False
        self.mm.close()


def make_state_machine(k: Kernel):
    """A hypothesis RuleBasedStateMachine holding kernel *k* to the model."""
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, rule

    pages = st.integers(0, MODEL_PAGES - 1)
    extras = st.lists(st.sampled_from(MODEL_FLAGS), max_size=2, unique=True).map(tuple)

    class VmaModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.c = Checker(k)

        def teardown(self) -> None:
            self.c.close()

        def _free(self, s: int, e: int) -> bool:
            return not any(v.start < e and s < v.end for v in self.c.model.vmas)

        @rule(s=pages, n=st.integers(1, 3), extra=extras, file=st.sampled_from([None, "f0"]),
              jump=st.sampled_from([0, 0, 0, 3]))
        def map(self, s, n, extra, file, jump):
            e = min(MODEL_PAGES, s + n)
            if self._free(s, e):
                self.c.step(("map", s, e, s + jump if file else s, self.c.flags(extra), None, file))

        @rule(s=pages, n=st.integers(1, 3), extra=extras, file=st.sampled_from([None, "f0"]),
              jump=st.sampled_from([0, 0, 0, 3]))
        def merge_new(self, s, n, extra, file, jump):
            e = min(MODEL_PAGES, s + n)
            if self._free(s, e):
                self.c.step(("merge_new", s, e, s + jump if file else s, self.c.flags(extra),
                             None, file))

        def _keep(self, v: MVma, flags: tuple[str, ...]) -> tuple[str, ...]:
            # mprotect and friends never take VM_GROWSDOWN from a stack or
            # VM_DONTEXPAND from a special mapping
            return flags + tuple(n for n in ("VM_GROWSDOWN", "VM_DONTEXPAND")
                                 if k.has_flag(n) and v.flags & k.flag(n))

        @rule(s=pages, n=st.integers(1, 3), extra=extras)
        def modify(self, s, n, extra):
            v = self.c.model._at(s)
            if v is not None:
                self.c.step(("modify", s, min(v.end, s + n), self._keep(v, self.c.flags(extra))))

        @rule(s=pages, n=st.integers(1, 4))
        def munmap(self, s, n):
            self.c.step(("munmap", s, min(MODEL_PAGES, s + n)))

        @rule(page=pages)
        def split(self, page):
            self.c.step(("split", page, False))

        @rule(page=pages, extra=st.sampled_from(MODEL_FLAGS))
        def set_flags(self, page, extra):
            if self.c.k.has_flag(extra):
                self.c.step(("set_flags", page, (extra,)))

        @rule(s=pages, n=st.integers(1, 3), which=st.sampled_from(["name", "policy", "uffd"]),
              extra=extras, label=st.sampled_from([None, "heap"]), whole=st.booleans())
        def modify_other(self, s, n, which, extra, label, whole):
            v = self.c.model._at(s)
            if v is None:
                return
            s, e = (v.start, v.end) if whole else (s, min(v.end, s + n))
            if which == "name":
                self.c.step(("name", s, e, label))
            elif which == "policy":
                self.c.step(("policy", s, e))
            else:
                self.c.step(("uffd", s, e, self._keep(v, self.c.flags(extra)), False))

        @rule(page=pages, n=st.integers(1, 3))
        def extend(self, page, n):
            self.c.step(("extend", page, n))

        @rule()
        def all_locks(self):
            self.c.step(("all_locks",))

        if k.has("expand_downwards"):
            @rule(s=st.integers(0, MODEL_PAGES - 2), n=st.integers(1, 3), extra=extras,
                  readable=st.booleans())
            def map_stack(self, s, n, extra, readable):
                e = min(MODEL_PAGES, s + n)
                flags = self.c.flags(extra + ("VM_GROWSDOWN",))
                if not readable:   # an inaccessible stack: no guard gap below the next
                    flags = tuple(f for f in flags if f not in ("VM_READ", "VM_WRITE"))
                if self._free(s, e):
                    self.c.step(("map", s, e, s, flags, None, None))

            @rule(page=pages, down=st.integers(1, 4))
            def stack(self, page, down):
                v = self.c.model._at(page)
                if v is not None:
                    self.c.step(("stack", v.start, max(0, v.start - down)))

        if k.has("install_special_mapping"):
            @rule(s=pages, n=st.integers(1, 3),
                  extra=st.sampled_from([(), ("VM_LOCKED",), ("VM_DONTDUMP",)]))
            def special(self, s, n, extra):
                self.c.step(("special", s, min(MODEL_PAGES, s + n), self.c.flags(extra),
                             ("close",)))

    return VmaModel


def save_regression(k: Kernel, ops: list[Op], directory: Path) -> Path:
    """Keep a fuzz finding as a regression case (replayed by tests/model)."""
    directory.mkdir(parents=True, exist_ok=True)
    import hashlib
    digest = hashlib.sha256(json.dumps(ops).encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "._+~=-" else "_" for c in k.version)[:80]
    path = directory / f"{safe}-{digest}.json"
    path.write_text(json.dumps({"kernel": k.version, "ops": ops}, indent=1) + "\n")
    return path
