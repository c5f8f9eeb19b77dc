# SPDX-License-Identifier: GPL-2.0-or-later
"""The fast path's encoding (pyvma/engine/fast.py runs it): an operation of
:mod:`.ops` as a ``struct pyvma_seq_op`` (its C kind, flags by name as bits of
:data:`FLAG_NAMES`, named objects by id; a caller operation's named argument by its
index in its spec's values), back again, what the C runner cannot express
(``refusal``), and a run's record as the :class:`.ops.Outcome` ``ops.apply()``
gives.  The caller operations' kinds are their spec's (callers_spec.SPECS), checked
against a build's PYVMA_SEQ_* numbers by ``check_kinds``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..api import Kernel
from ..api.constants import MERGE_STATES
from .callers_spec import SPECS as CALLER_SPECS
from .ops import ALL_FAIL_SITES, ANON, ENTRY_OPS, Op, Outcome
from .ops_paths import VM_OPS

#: operation names by their C kind (PYVMA_SEQ_* in csrc/pyvma_api.h): the
#: operations of ops.py, then the caller operations at their spec's kind
#: (callers_spec.SPECS); Runner checks a build's numbers against these
_OP_KINDS = ("map", "merge_new", "modify", "set_flags", "expand", "shrink", "split",
             "munmap", "mmap", "brk", "copy_vma", "vm_munmap", "fault", "insert", "fail",
             "mmap_file", "mmap_prepare", "mprotect", "name", "policy", "uffd", "extend",
             "stack", "special", "all_locks", "limit", "writenotify", "unmapped_area",
             "pagesize", "init_stack", "relocate")
KINDS = _OP_KINDS + tuple(sorted(CALLER_SPECS, key=lambda n: CALLER_SPECS[n].kind))
KIND = {n: i for i, n in enumerate(KINDS)}
assert all(KIND[n] == s.kind for n, s in CALLER_SPECS.items()), "callers_spec kinds"
#: the flags the caller operations test beyond FLAG_NAMES (cfg.caller_flags)
CALLER_FLAGS = ("VM_SEALED", "VM_LOCKONFAULT", "VM_ACCOUNT", "VM_HUGETLB", "VM_NORESERVE",
                "VM_MAYEXEC", "VM_DONTCOPY", "VM_WIPEONFORK", "VM_MERGEABLE", "VM_MIXEDMAP",
                "VM_DROPPABLE")
#: the flags an encoded operation can name (bit i: FLAG_NAMES[i])
FLAG_NAMES = ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE", "VM_DONTDUMP",
              "VM_MAYBE_GUARD", "VM_SOFTDIRTY", "VM_EXEC", "VM_SHARED", "VM_MAYSHARE",
              "VM_GROWSDOWN", "VM_LOCKED", "VM_IO", "VM_DONTEXPAND", "VM_PFNMAP")
_FLAG_BIT = {n: 1 << i for i, n in enumerate(FLAG_NAMES)}
#: the named objects (PYVMA_SEQ_AV0...): anon_vmas and files (f0, fc and the
#: ops_paths.FILE_KINDS, made in C as ops.World.file() makes them)
OBJECTS = {"av0": 1, "av1": 2, "f0": 3, "fc": 4, "fe": 5, "fm": 6, "fp": 7, "fpa": 8,
           "fpe": 9, "fph": 10, "fps": 11}
_OBJECT_NAME = {v: n for n, v in OBJECTS.items()}
_AVS = ("av0", "av1")
_FILES = tuple(n for n in OBJECTS if n not in _AVS)
_FILES_SORTED = tuple(sorted((n, OBJECTS[n]) for n in _FILES))
_FRESH = 100
#: a name operation's names (extra 0, 1, 2)
ANON_NAMES = (None, "heap", "buf")
#: a limit operation's limits (extra: Kernel.LIMITS' numbers)
LIMITS = ("as", "memlock", "stack", "commit")
#: longest sequence run in C (longer ones take the Python path)
MAX_LENGTH = 2048
_LIMIT = 1 << 40
(_RET_INT, _RET_STATE, _RET_NOVMA, _RET_INVALID, _RET_BUG, _RET_CALLER_NOMEM,
 _RET_RETURNED, _RET_WRITENOTIFY, _RET_ADDRESS) = range(9)
#: outcome classes (PYVMA_SEQ_CLASS_*): -errno in [_CLASS_ERRNO, _ERRNO_END), then
#: writenotify's four answers and an address
NCLASSES, _CLASS_ERRNO, _ERRNO_END, _CLASS_WRITENOTIFY, _CLASS_ADDRESS = 133, 10, 128, 128, 132
#: where an operation's flag names are in its tuple
_NAMES_AT = {"map": 4, "merge_new": 4, "insert": 4, "mmap": 4, "modify": 3, "set_flags": 2,
             "mmap_file": 4, "mmap_prepare": 4, "mprotect": 3, "uffd": 3, "special": 3}
#: operations whose errors come back as KernelError through ops.apply() (which
#: then reports no missing flags)
_RAISES = frozenset(("mprotect", "uffd", "special"))


def _int(x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or not -_LIMIT < x < _LIMIT:
        raise ValueError(x)
    return x


def _flags(names: Any) -> int:
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ValueError(names)
    v = 0
    for n in names:
        v |= _FLAG_BIT[n]
    return v


def _obj(name: Any, allowed: tuple[str, ...]) -> int:
    if name is None:
        return 0
    if name not in allowed:
        raise ValueError(name)
    return OBJECTS[name]


def _ops_extra(ops: Any) -> int:
    """Harness vm_ops by callback names as an operation's extra: 0 for None (none
    installed), else 1 + their PYVMA_OPS_* bits."""
    if ops is None:
        return 0
    if isinstance(ops, (list, tuple)) and len(set(ops)) == len(ops):
        return 1 + sum(1 << VM_OPS.index(n) for n in ops)
    raise ValueError(ops)


def _ops_names(extra: int) -> tuple[str, ...] | None:
    return None if not extra else tuple(n for i, n in enumerate(VM_OPS) if (extra - 1) >> i & 1)


def encode_op(op: Op) -> tuple[int, int, int, int, int, int, int, int]:
    """(kind, av, file, extra, a, b, c, flags) of *op*; ValueError/KeyError if the C
    runner cannot express it."""
    name, *a = op
    kind = KIND[name]
    if name in ("map", "merge_new", "insert"):
        s, e, pgoff, names, av, f = a
        # map's file "anon" (ops.ANON): an anonymous VMA, vm_ops NULL (extra 1)
        anon = name == "map" and f == ANON
        return (kind, _obj(av, _AVS), 0 if anon else _obj(f, _FILES), int(anon), _int(s),
                _int(e), _int(pgoff), _flags(names))
    if name in ("mmap", "mmap_file", "mmap_prepare"):
        s, e, pgoff, names, f = a
        return kind, 0, _obj(f, _FILES), 0, _int(s), _int(e), _int(pgoff), _flags(names)
    if name == "modify":
        s, e, names = a
        return kind, 0, 0, 0, _int(s), _int(e), 0, _flags(names)
    if name == "set_flags":
        page, names = a
        return kind, 0, 0, 0, _int(page), 0, 0, _flags(names)
    if name in ("expand", "shrink", "munmap", "vm_munmap", "brk"):
        s, e = a
        return kind, 0, 0, 0, _int(s), _int(e), 0, 0
    if name == "split":
        page, below = a
        if not isinstance(below, bool):
            raise ValueError(below)
        return kind, 0, 0, int(below), _int(page), 0, 0, 0
    if name == "copy_vma":
        page, dst, move = a
        if not isinstance(move, bool):
            raise ValueError(move)
        return kind, 0, 0, int(move), _int(page), _int(dst), 0, 0
    if name == "fault":
        (page,) = a
        return kind, 0, 0, 0, _int(page), 0, 0, 0
    if name == "fail":
        site, after = a
        after = _int(after)
        if not 0 <= after < 1 << 30:
            raise ValueError(after)
        # the site by its index in ops.ALL_FAIL_SITES (the one list of them; the C
        # runner's cfg maps it to the build's PYVMA_FAULT_* number)
        return kind, 0, 0, after, ALL_FAIL_SITES.index(site), 0, 0, 0
    if name == "mprotect":
        s, e, names = a
        return kind, 0, 0, 0, _int(s), _int(e), 0, _flags(names)
    if name == "name":
        s, e, anon_name = a
        return kind, 0, 0, ANON_NAMES.index(anon_name), _int(s), _int(e), 0, 0
    if name == "policy":
        s, e = a
        return kind, 0, 0, 0, _int(s), _int(e), 0, 0
    if name == "uffd":
        s, e, names, give_up = a
        if not isinstance(give_up, bool):
            raise ValueError(give_up)
        return kind, 0, 0, int(give_up), _int(s), _int(e), 0, _flags(names)
    if name in ("extend", "stack"):
        page, b = a
        return kind, 0, 0, 0, _int(page), _int(b), 0, 0
    if name == "special":
        s, e, names, ops = a
        return kind, 0, 0, _ops_extra(ops), _int(s), _int(e), 0, _flags(names)
    if name == "all_locks":
        if a:
            raise ValueError(a)
        return kind, 0, 0, 0, 0, 0, 0, 0
    if name == "writenotify":
        page, prot, ops, wb = a
        if not isinstance(wb, bool) or not 0 <= _int(prot):
            raise ValueError(a)
        return kind, 0, 0, _ops_extra(ops), _int(page), prot, int(wb), 0
    if name == "unmapped_area":
        length, low, high, align, topdown = a
        if not isinstance(topdown, bool) or not 0 < _int(align) < 1 << 29:
            raise ValueError(a)
        return kind, 0, 0, align << 1 | int(topdown), _int(length), _int(low), _int(high), 0
    if name in ("pagesize", "init_stack"):
        (page,) = a
        return kind, 0, 0, 0, _int(page), 0, 0, 0
    if name == "relocate":
        page, shift = a
        return kind, 0, 0, 0, _int(page), _int(shift), 0, 0
    if name in CALLER_SPECS:
        return _encode_caller(kind, name, a)
    if name == "limit":
        which, pages = a
        # (None: unlimited, -1 in C; a negative limit is ops.valid()'s to refuse)
        if pages is not None and _int(pages) < 0:
            raise ValueError(pages)
        return kind, 0, 0, LIMITS.index(which), -1 if pages is None else pages, 0, 0, 0
    raise KeyError(name)


def _encode_caller(kind: int, name: str, a: Sequence) -> tuple[int, int, int, int, int, int,
                                                               int, int]:
    """A caller operation: its pages as a, b; its named argument as extra (the index
    in its spec's values); mremap: c its new pages, extra how | (dst + 1) << 2."""
    spec = CALLER_SPECS[name]
    if len(a) != len(spec.args):
        raise ValueError(a)
    (at, names), = spec.values or ((0, ()),)
    extra = names.index(a[at - 1]) if names else 0
    if name == "mremap":
        s, e, new, dst, how = a
        if (dst is None) != (how == "resize") or not 0 < _int(new):
            raise ValueError(a)
        return kind, 0, 0, extra | (0 if dst is None else _int(dst) + 1) << 2, \
            _int(s), _int(e), new, 0
    if name == "mlockall":
        return kind, 0, 0, extra, 0, 0, 0, 0
    return kind, 0, 0, extra, _int(a[0]), _int(a[1]), 0, 0


def _decode_caller(name: str, c: Any) -> Op:
    spec = CALLER_SPECS[name]
    (at, names), = spec.values or ((0, ()),)
    if name == "mremap":
        dst = (int(c.extra) >> 2) - 1
        return (name, int(c.a), int(c.b), int(c.c), None if dst < 0 else dst,
                names[int(c.extra) & 3])
    if name == "mlockall":
        return (name, names[int(c.extra)])
    return (name, int(c.a), int(c.b), *((names[int(c.extra)],) if names else ()))


def refusal(ops: Sequence[Op]) -> str | None:
    """Why the C runner cannot run *ops* (None: it can): the first operation kind it
    lacks (``fail <site>`` for a fault site it does not know), ``<kind> arguments``
    for flags or objects it cannot name, or its length.  Never mapped to something
    near: such a sequence takes the Python path."""
    if len(ops) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} operations"
    for op in ops:
        if not op or op[0] not in KIND:
            return str(op[0]) if op else "empty operation"
        if op[0] == "fail" and len(op) == 3 and op[1] not in ALL_FAIL_SITES:
            return f"fail {op[1]}"
        try:
            encode_op(op)
        except (ValueError, KeyError, TypeError):
            return f"{op[0]} arguments"
    return None


def encodable(ops: Sequence[Op]) -> bool:
    """Whether the C runner can run every operation of *ops*."""
    return refusal(ops) is None


def _names(bits: int) -> tuple[str, ...]:
    return tuple(n for i, n in enumerate(FLAG_NAMES) if bits >> i & 1)


def decode_op(c: Any) -> Op:
    """The ops.py tuple of an encoded operation."""
    name = KINDS[c.kind]
    if name in CALLER_SPECS:
        return _decode_caller(name, c)
    s, e, pgoff, flags = int(c.a), int(c.b), int(c.c), _names(int(c.flags))
    av, f = _OBJECT_NAME.get(c.av), _OBJECT_NAME.get(c.file)
    if name in ("map", "merge_new", "insert"):
        return (name, s, e, pgoff, flags, av, ANON if name == "map" and c.extra else f)
    if name in ("mmap", "mmap_file", "mmap_prepare"):
        return (name, s, e, pgoff, flags, f)
    if name == "modify":
        return (name, s, e, flags)
    if name == "set_flags":
        return (name, s, flags)
    if name in ("expand", "shrink", "munmap", "vm_munmap", "brk"):
        return (name, s, e)
    if name == "split":
        return (name, s, bool(c.extra))
    if name == "copy_vma":
        return (name, s, e, bool(c.extra))
    if name == "fault":
        return (name, s)
    if name == "mprotect":
        return (name, s, e, flags)
    if name == "name":
        return (name, s, e, ANON_NAMES[c.extra])
    if name == "policy":
        return (name, s, e)
    if name == "uffd":
        return (name, s, e, flags, bool(c.extra))
    if name in ("extend", "stack"):
        return (name, s, e)
    if name == "special":
        return (name, s, e, flags, _ops_names(int(c.extra)))
    if name == "writenotify":
        return (name, s, e, _ops_names(int(c.extra)), bool(pgoff))
    if name == "unmapped_area":
        return (name, s, e, pgoff, int(c.extra) >> 1, bool(c.extra & 1))
    if name in ("pagesize", "init_stack"):
        return (name, s)
    if name == "relocate":
        return (name, s, e)
    if name == "all_locks":
        return (name,)
    if name == "limit":
        return (name, LIMITS[c.extra], None if s < 0 else s)
    return (name, ALL_FAIL_SITES[s], int(c.extra))


def _writenotify(ret: int) -> str:
    """ops_query.apply_query()'s writenotify answer of a record's ret."""
    return f"writenotify {ret >> 1 & 1} dirty_tracking {ret & 1}"


def class_name(cls: int) -> str:
    """An outcome class of pyvma_seq_run()'s counts as Differ.exercised names it."""
    if cls >= _CLASS_ADDRESS:
        return "address"
    if cls >= _CLASS_WRITENOTIFY:
        return _writenotify(cls - _CLASS_WRITENOTIFY)
    if cls >= _CLASS_ERRNO:
        return (str(_CLASS_ERRNO - cls) if cls < _ERRNO_END - 1
                else f"-errno>{_ERRNO_END - 1 - _CLASS_ERRNO}")
    if cls == 9:
        return "returned"
    if cls >= 5:
        return MERGE_STATES[cls - 5]
    return ("ok", "BUG", "invalid", "novma", "caller nomem")[cls]


def record_class(r: Any) -> int:
    """A record's outcome class (csrc/entry_seq.c seq_class())."""
    kind, ret = int(r.ret_kind), int(r.ret)
    if kind == _RET_INT:
        if ret >= 0:
            return 0
        return _CLASS_ERRNO - ret if -ret < _ERRNO_END - _CLASS_ERRNO else _ERRNO_END - 1
    if kind == _RET_STATE:
        return 5 + (ret & 3)
    if kind == _RET_WRITENOTIFY:
        return _CLASS_WRITENOTIFY + (ret & 3)
    if kind == _RET_ADDRESS:
        return _CLASS_ADDRESS
    return {_RET_BUG: 1, _RET_INVALID: 2, _RET_NOVMA: 3, _RET_RETURNED: 9}.get(kind, 4)


def check_kinds(lib: Any) -> None:
    """The build's PYVMA_SEQ_* kind numbers are KINDS' (ValueError naming the first
    that is not: csrc/pyvma_api.h and callers_spec.py disagree)."""
    if int(lib.PYVMA_SEQ_NKINDS) != len(KINDS):
        raise ValueError(f"csrc/pyvma_api.h has {int(lib.PYVMA_SEQ_NKINDS)} operation "
                         f"kinds, pyvma.engine.fast {len(KINDS)}")
    for i, n in enumerate(KINDS):
        got = getattr(lib, f"PYVMA_SEQ_{n.upper()}", None)
        if got != i:
            raise ValueError(f"csrc/pyvma_api.h: PYVMA_SEQ_{n.upper()} is {got}, "
                             f"pyvma.engine.fast (callers_spec) says {i}")


def decode_record(k: Kernel, names: Sequence[str], r: Any, op: Op, bug: str) -> Outcome:
    """A record (*op* its operation, *names* the canonical flag names of its bits,
    *bug* the BUG's condition) as ops.apply()'s Outcome.  The WARN texts are read
    from the kernel's WARN log, as the run left it."""
    kind = int(r.ret_kind)
    ret: object
    if kind == _RET_INT:
        ret = int(r.ret)
    elif kind == _RET_STATE:
        ret = MERGE_STATES.get(int(r.ret), "?")
    elif kind == _RET_RETURNED:
        ret = f"returned {int(r.ret) >> 20:#x}-{int(r.ret) & 0xfffff:#x}"
    elif kind == _RET_WRITENOTIFY:
        ret = _writenotify(int(r.ret))
    elif kind == _RET_ADDRESS:
        ret = f"address {int(r.ret) & (1 << 64) - 1:#x}"
    else:
        ret = {_RET_NOVMA: "novma", _RET_INVALID: "invalid", _RET_BUG: "BUG",
               _RET_CALLER_NOMEM: "caller nomem"}[kind]
    rows = [r.rows[j] for j in range(int(r.nrows))]

    def name(ident: int) -> str | None:
        if not ident:
            return None
        return _OBJECT_NAME.get(ident) or f"new{ident - _FRESH}"

    def flag_names(row: Any) -> tuple[str, ...]:
        bits = int(row.flags[0]) | int(row.flags[1]) << 64
        return tuple(n for j, n in enumerate(names) if bits >> j & 1)
    layout = tuple((int(b.start), int(b.end), int(b.pgoff), flag_names(b), name(b.anon),
                    name(b.file)) for b in rows)
    warns: tuple = ()
    if r.warns:
        first = int(r.warn_first)
        warns = tuple(s.cond for s in k.warnings()[first:first + int(r.warns)])
    missing: tuple = ()
    at = _NAMES_AT.get(op[0])
    # what ops.apply() reports: not for an invalid operation, nor an entry-point
    # one that BUGged or failed the caller's allocation before it returned them
    if at is not None and kind != _RET_INVALID and not (
            op[0] in ENTRY_OPS and kind in (_RET_BUG, _RET_CALLER_NOMEM)) and not (
            op[0] in _RAISES and kind == _RET_INT and int(r.ret) < 0):
        missing = tuple(n for n in op[at] if not k.has_flag(n))
    state = {"map_count": int(r.map_count),
             "avc": tuple(int(b.avc) for b in rows),
             "vm_ops": tuple(int(b.vm_ops) for b in rows),
             "anon_pgoff": tuple(int(b.anon_pgoff) for b in rows),
             "close_calls": int(r.close_calls),
             "counters": tuple(int(x) for x in r.counters),
             "committed": int(r.committed),
             "locks": (int(r.locks_held), int(r.peak_locks)),
             "files": tuple((n, int(r.file_refs[i]), int(r.file_i_mmap[i]),
                             int(r.file_writable[i]))
                            for n, i in _FILES_SORTED if r.files_named >> i & 1)}
    return Outcome(ret, layout, warns, bug if r.bug else "", missing, state)
