# SPDX-License-Identifier: GPL-2.0-or-later
"""Operations as data, run on any kernel build (their generator: ``generator.py``).

An operation is a tuple ``(name, *args)`` with addresses in pages and flags by name,
so the same sequence means the same thing on every tree (a flag a tree lacks is
reported by :func:`run`, not crashed on).  Running a sequence gives an
:class:`Outcome` per operation: return value/state, the layout after it, WARN
conditions and a BUG if one fired.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..api import MM, PAGE_SIZE, Kernel, KernelBug
from ..api.registry import WALK_ROWS
from ..errors import KernelError, PyvmaError, errno_of
from . import callers
from .callers import apply_caller
from .callers_spec import SPECS as CALLER_SPECS
from .callers_spec import lacking, valid_caller
from .ops_paths import (
    MORE_FAIL_SITES,
    PATH_FEATURES,
    apply_path,
    make_file,
    valid_path,
)
from .ops_query import QUERY_FEATURES, apply_query, valid_query

Op = tuple
BASE = ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
# extra flags the op generator mixes in: one that blocks merges, the sticky ones
GEN_FLAGS = ("VM_DONTDUMP", "VM_MAYBE_GUARD", "VM_SOFTDIRTY", "VM_EXEC")
GEN_PAGES = 24      # pages of address space the op generator works in
#: the file name a ``map`` gives for an anonymous VMA (vm_ops NULL)
ANON = "anon"

#: operation -> the tree feature it needs (None: every tree the harness builds); an
#: operation whose feature one tree of a diff lacks is left out for both
OP_FEATURES: dict[str, str | None] = {
    "map": None, "merge_new": None, "modify": None, "set_flags": None, "expand": None,
    "shrink": None, "split": None, "munmap": None,
    "mmap": "mmap_region", "brk": "do_brk_flags", "copy_vma": None,
    "vm_munmap": "vm_munmap", "fault": None, "insert": "insert_vm_struct", "fail": None,
    "mprotect": None,
    **PATH_FEATURES, **QUERY_FEATURES,
    # the system calls as callers perform them (callers_spec.SPECS: a flag may be needed)
    **{name: spec.feature for name, spec in CALLER_SPECS.items()},
}
#: the services a ``fail`` operation makes fail during the next operation (the
#: corpus arms each of these during each operation; MORE_FAIL_SITES in fewer)
FAIL_SITES = ("prealloc", "vma_alloc", "anon_vma_clone", "fatal_signal")
ALL_FAIL_SITES = FAIL_SITES + MORE_FAIL_SITES
#: the operations calling an entry point a kernel caller uses (apply_entry, apply_path)
ENTRY_OPS = frozenset(("mmap", "brk", "copy_vma", "vm_munmap", "fault", "insert", "fail",
                       "mprotect", *PATH_FEATURES, *QUERY_FEATURES, *CALLER_SPECS))
#: the compared state beyond the layout; anon_pgoff only where both trees have one
STATE_FIELDS = ("map_count", "avc", "vm_ops", "anon_pgoff", "close_calls", "counters",
                "committed", "locks", "files")
#: state a kernel keeps that no harness build can express, and why (named in reports)
STATE_NOT_EXPRESSIBLE = {
    "anon_name": "no harness accessor: compiled out by the default CONFIG_ANON_VMA_NAME=n "
                 "(every VMA's compares equal); with =y the merges compare names, diff "
                 "does not read them",
    "policy": "the harness has no mempolicies (vma_modify_policy() gets NULL; "
              "mpol_equal() is true)",
    "uffd_ctx": "the harness has no userfaultfd contexts (vma_modify_flags_uffd() gets "
                "a null one)",
}


def enabled_ops(*kernels: Kernel) -> tuple[frozenset[str], dict[str, str]]:
    """The operations every kernel can run, and the others with the feature lacking."""
    ok, left = set(), {}
    for op, feat in OP_FEATURES.items():
        need = lacking(op, kernels) if op in CALLER_SPECS else \
            None if feat is None or all(k.has(feat) for k in kernels) else feat
        if need is None:
            ok.add(op)
        else:
            left[op] = need
    return frozenset(ok), left


@dataclass
class Outcome:
    ret: object
    layout: tuple
    warns: tuple = ()
    bug: str = ""
    missing: tuple = ()
    #: STATE_FIELDS -> value: map_count, per VMA (in layout order) its anon_vma_chain
    #: length, vm_ops kind and anonymous page offset, ->close calls during the op, the
    #: mm's page counters and the pages the op committed (VM_ACCOUNT; negative: freed)
    state: dict = field(default_factory=dict)

    def key(self, ignore: frozenset = frozenset(), skip: frozenset = frozenset()) -> tuple:
        """What two trees must agree on: return value, layout (flags by name, less
        *ignore*: flags one of the trees lacks; anon_vmas as a canonical partition),
        the state fields less *skip* (fields one tree cannot express), how many WARNs,
        BUG or not.  WARN texts differ between trees (renamed variables, lines) and
        are only shown."""
        layout = tuple(r[:3] + (tuple(f for f in r[3] if f not in ignore),) + r[4:]
                       for r in self.layout) if ignore else self.layout
        state = tuple((n, v) for n, v in self.state.items() if n not in skip)
        return (self.ret, layout, state, len(self.warns), bool(self.bug))


@dataclass
class World:
    """One kernel's state while a sequence runs: the mm and the named objects."""

    k: Kernel
    mm: MM
    anon: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    #: a ``fail`` operation's (site, after): armed for the next operation only
    pending: tuple | None = None
    #: the layout apply() left (None: not known; valid() walks the tree then)
    last: tuple | None = None
    #: rmap locks mm_take_all_locks() held (an all_locks operation; else 0)
    peak_locks: int = 0
    #: this world's overcommit charge (vm_committed_as is library-wide: two worlds
    #: of one library, a self-diff, would otherwise see each other's under a limit)
    committed: int | None = None

    def __post_init__(self) -> None:
        if self.committed is None:
            self.committed = int(self.k.lib.pyvma_committed())

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
            # "fc": a file whose ->mmap installs vm_ops with ->open and ->close
            made = make_file(self, name)
            if made is None:
                made = (self.k.file(mmap=True, ops=("open", "close"))
                        if name == "fc" else self.k.file())
            self.files[name] = made
        return self.files[name]

    def counters(self) -> tuple[int, ...]:
        """The mm's page counters (MM.MM_COUNTERS order), read into one buffer."""
        buf = self.__dict__.get("_counters")
        if buf is None:
            buf = self.__dict__["_counters"] = self.k.ffi.new(
                "unsigned long[]", len(MM.MM_COUNTERS))
        self.k.lib.pyvma_mm_counters(self.mm.ptr, buf, len(MM.MM_COUNTERS))
        return tuple(buf)

    def services(self) -> tuple[int, int]:
        """The library-wide counts an operation's state is the change of: ->close
        calls and committed pages (shared by every mm of the library)."""
        return int(self.k.lib.pyvma_ops_stat(1)), int(self.k.lib.pyvma_committed())

    def state(self, before: tuple[int, int]) -> dict:
        """The compared state beyond the layout (see ``Outcome.state``)."""
        lib = self.k.lib
        n, buf = self.mm.objects.walk(self.mm.ptr)
        rows = [buf[i] for i in range(min(n, WALK_ROWS))]
        return {"map_count": int(lib.pyvma_mm_map_count(self.mm.ptr)),
                "avc": tuple(int(lib.pyvma_vma_avc_count(b.vma)) for b in rows),
                "vm_ops": tuple(int(lib.pyvma_vma_vm_ops(b.vma)) for b in rows),
                "anon_pgoff": tuple(int(b.anon_pgoff) for b in rows),
                "close_calls": int(lib.pyvma_ops_stat(1)) - before[0],
                "counters": self.counters(),
                "committed": int(lib.pyvma_committed()) - before[1],
                # rmap locks held after the op, and those mm_take_all_locks() held
                "locks": (int(lib.pyvma_locks_held()), self.peak_locks),
                # per named file: references, VMAs in its rmap tree, writable maps
                "files": tuple((n, f.refs, f.i_mmap_vmas, f.writable)
                               for n, f in sorted(self.files.items()))}

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
        known = self._ptr_names
        # objects the kernel made (anon_vma_prepare's, a copy's): named new1, new2...
        # in layout order, so which VMAs share one compares as a partition
        fresh: dict[int, str] = {}

        def name(ptr: int) -> str | None:
            if not ptr:
                return None
            got = known.get(ptr)
            if got is None:
                got = fresh.setdefault(ptr, f"new{len(fresh) + 1}")
            return got
        sorted_names = self.k.sorted_names_of
        n, buf = self.mm.objects.walk(self.mm.ptr)
        if n > WALK_ROWS:
            return tuple((r.start // PAGE_SIZE, r.end // PAGE_SIZE, r.pgoff,
                          sorted_names(r.flags), name(r.anon_vma), name(r.file))
                         for r in self.mm.layout())
        out = []
        for i in range(n):
            b = buf[i]
            out.append((b.start // PAGE_SIZE, b.end // PAGE_SIZE, b.pgoff, sorted_names(b.flags),
                        name(int(cast("uintptr_t", b.anon_vma))),
                        name(int(cast("uintptr_t", b.file)))))
        return tuple(out)


def valid(w: World, op: Op) -> bool:
    """Whether *op* is one a kernel caller could make in this layout (shrinking a
    sequence can leave operations that no longer are)."""
    name, *a = op
    lay = [(r[0], r[1]) for r in (w.last if w.last is not None else w.layout())]

    def free(s: int, e: int) -> bool:
        return 0 <= s < e and not any(x < e and s < y for x, y in lay)

    def within(p: int):
        return next(((x, y) for x, y in lay if x <= p < y), None)
    if name in ("map", "merge_new"):
        return free(a[0], a[1])
    if name in ("modify", "mprotect"):
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
    if name in ("munmap", "vm_munmap", "mmap"):
        return 0 <= a[0] < a[1]
    if name in ("brk", "insert"):
        return free(a[0], a[1])
    if name == "fault":
        return within(a[0]) is not None
    if name == "copy_vma":
        v = within(a[0])
        return v is not None and free(a[1], a[1] + v[1] - v[0])
    if name == "fail":
        return a[0] in ALL_FAIL_SITES
    if name in CALLER_SPECS:
        return bool(valid_caller(name, a))
    ok = (valid_query if name in QUERY_FEATURES else valid_path)(name, a, free, within)
    return ok if ok is not None else name in OP_FEATURES


def apply(w: World, op: Op) -> Outcome:
    """Run one operation on *w*; never raises for kernel-side trouble."""
    k, mm = w.k, w.mm
    name, *a = op
    if w.committed is not None:
        k.lib.pyvma_set_committed(w.committed)
    w.peak_locks = 0
    close_before = w.services()
    if not valid(w, op):
        w.pending = None
        w.last = w.layout()
        return Outcome("invalid", w.last, state=w.state(close_before))
    if name == "fail":
        w.pending = (a[0], a[1])
        w.last = w.layout()
        return Outcome(0, w.last, state=w.state(close_before))
    armed, w.pending = w.pending, None
    if armed:
        # fatal_signal stays pending for the whole operation; ENOMEM sites fail once
        k.fail(armed[0], True, after=armed[1], times=0 if armed[0] == "fatal_signal" else 1)
    before = len(k.warnings())
    missing: tuple = ()
    ret: object = None
    bug = ""
    try:
        if name == "map":
            s, e, pgoff, names, av, f = a
            flags, missing = w.flags(names)
            # file "anon": an anonymous VMA (vma_set_anonymous(): vm_ops NULL), as
            # mmap makes one on trees whose mmap path is not in mm/vma.c
            made = mm.map(s * PAGE_SIZE, e * PAGE_SIZE, pgoff, flags, w.av(av),
                          None if f == ANON else w.file(f))
            if f == ANON:
                made.set_vm_ops(None)
            mm.account(made)
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
            ret = errno_of(mm.expand, vma, vma.start, e * PAGE_SIZE) if vma else "novma"
        elif name == "shrink":
            page, e = a
            vma = w.vma_at(page)
            ret = errno_of(mm.shrink, vma, vma.start, e * PAGE_SIZE) if vma else "novma"
        elif name == "split":
            page, below = a
            vma = w.vma_at(page)
            ret = errno_of(mm.split, vma, page * PAGE_SIZE, below) if vma else "novma"
        elif name == "munmap":
            s, e = a
            ret = errno_of(mm.munmap, s * PAGE_SIZE, e * PAGE_SIZE)
        else:
            ret, missing = apply_entry(w, op)
    except KernelBug as exc:
        bug = exc.site.cond
        ret = "BUG"
    except KernelError as exc:
        # a harness step failing as the kernel's would (vma_link under a fault)
        ret = exc.ret
    except PyvmaError as exc:
        # the harness's own allocation failing under an armed fault (the caller's
        # vm_area_alloc(): a caller's -ENOMEM)
        if not armed:
            raise
        ret = "caller nomem" if "alloc" in str(exc) else f"error {exc}"
    finally:
        if armed:
            k.fail(armed[0], False)
    warns = tuple(w_.cond for w_ in k.warnings()[before:])
    w.committed = int(k.lib.pyvma_committed())
    w.last = w.layout()
    return Outcome(ret, w.last, warns, bug, missing, w.state(close_before))


def apply_entry(w: World, op: Op) -> tuple[object, tuple]:
    """The operations that call an mm/vma.c entry point a kernel caller uses (mmap,
    brk, mremap's copy_vma, munmap(2), a first fault, insert_vm_struct): (return
    value, flags the tree lacks)."""
    k, mm = w.k, w.mm
    name, *a = op
    missing: tuple = ()
    if name in ("mmap", "mmap_file", "mmap_prepare"):
        # mmap_region() (MAP_FIXED: whatever is there is unmapped first); "fc": a
        # file whose ->mmap installs ->open/->close; the others: ops_paths.FILE_KINDS
        s, e, pgoff, names, f = a
        flags, missing = w.flags(names)
        call = mm.mmap if k.has("mmap_region_checks") else mm.mmap_region
        ret = errno_of(call, s * PAGE_SIZE, (e - s) * PAGE_SIZE, flags, pgoff, file=w.file(f))
        return (ret // PAGE_SIZE if ret >= 0 else ret), missing
    if name == "brk":
        # do_brk_flags() with the VMA ending at the break as brk's vma
        s, e = a
        prev = w.vma_at(s - 1) if s > 0 else None
        if prev is not None and prev.end != s * PAGE_SIZE:
            prev = None
        return errno_of(mm.brk, prev, s * PAGE_SIZE, (e - s) * PAGE_SIZE, 0), missing
    if name == "copy_vma":
        # mremap's move of the whole VMA at *page* to *dst*: copy_vma(), then (move)
        # the source range unmapped as move_vma() does
        page, dst, move = a
        vma = w.vma_at(page)
        s, e, pgoff = vma.start, vma.end, vma.pgoff
        # mremap passes the source's anonymous offset where the tree keeps one
        anon = vma.anon_pgoff if k.has("anon_pgoff") else None
        new, _, _ = mm.copy_vma(vma, dst * PAGE_SIZE, e - s, pgoff, anon)
        if new is None:
            return "nomem", missing
        if move:
            return errno_of(mm.munmap, s, e), missing
        return 0, missing
    if name == "vm_munmap":
        s, e = a
        return errno_of(mm.vm_munmap, s * PAGE_SIZE, (e - s) * PAGE_SIZE), missing
    if name == "fault":
        # a first write fault: anon_vma_prepare() (shares a neighbour's when it may)
        return errno_of(mm.anon_vma_prepare, w.vma_at(a[0])), missing
    if name == "insert":
        # insert_vm_struct() of a new VMA (anonymous unless *f*; *av* preset: the
        # misuse 7.2 BUGs on and later trees WARN about)
        s, e, pgoff, names, av, f = a
        flags, missing = w.flags(names)
        vma = mm.alloc(s * PAGE_SIZE, e * PAGE_SIZE, pgoff, flags)
        if f is None:
            vma.set_vm_ops(None)
        else:
            mm.objects.remember_file(w.file(f))
            k.lib.pyvma_vma_set_file(vma.ptr, w.file(f).ptr)
        if av is not None:
            vma.set_anon_vma(w.av(av))
        ret = errno_of(mm.insert_vm_struct, vma)
        if ret:
            k.lib.pyvma_vma_free(vma.ptr)
        return ret, missing
    if name == "mprotect":
        return apply_mprotect(w, op)
    if name in CALLER_SPECS:
        return apply_caller(w, op)
    return (apply_query if name in QUERY_FEATURES else apply_path)(w, op)


def apply_mprotect(w: World, op: Op) -> tuple[object, tuple]:
    """One VMA's part of mprotect(2): pages [s, e) of the VMA at *s* to the flags
    named, through callers.fixup() (mprotect_fixup(): nothing when the flags are
    the VMA's, else vma_modify_flags() with prev as its loop passes it and the
    flags it left set).  0 when the VMA returned covers [s, e), -errno
    (KernelError) when vma_modify_flags() fails."""
    mm = w.mm
    _, s, e, names = op
    flags, missing = w.flags(names)
    vma = w.vma_at(s)
    if vma is None:
        return "novma", missing
    e = min(e, vma.end // PAGE_SIZE)
    got = callers.fixup(w.k, mm, callers.prev_of(mm, vma, s * PAGE_SIZE), vma,
                        s * PAGE_SIZE, e * PAGE_SIZE, flags)
    if got.start <= s * PAGE_SIZE and e * PAGE_SIZE <= got.end:
        return 0, missing
    return f"returned {got.start // PAGE_SIZE:#x}-{got.end // PAGE_SIZE:#x}", missing


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
        if errno_of(mm.split, vma, s * PAGE_SIZE, False):
            return "nomem"
        vma = w.vma_at(s)
    if e * PAGE_SIZE < vma.end:
        if errno_of(mm.split, vma, e * PAGE_SIZE, True):
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
