# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma diff``'s fast path: operation sequences run in C (csrc/entry_seq*.c).

An operation of :mod:`.ops` is encoded as a ``struct pyvma_seq_op`` (flags by
name as bits of :data:`FLAG_NAMES`, so one encoding means the same on every
tree), run by ``pyvma_seq_run()`` through the entry points ``ops.apply()`` uses,
and its outcome comes back as a fixed-size record: return value, layout (flags as
bits of a canonical name list, anon_vma/file identity as ids), the compared state,
WARN count, BUG.  Two trees' records compare as bytes; a record decodes to the
:class:`.ops.Outcome` ``ops.apply()`` gives.  Sequences are drawn in C too (a
seeded generator, valid by construction like :class:`.generator.OpGenerator`).
The encoding and the record's decoding are :mod:`.fast_codec`'s.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..api import Kernel
from . import callers
from .fast_codec import (
    CALLER_FLAGS,
    FLAG_NAMES,
    KIND,
    KINDS,
    MAX_LENGTH,
    NCLASSES,
    OBJECTS,
    check_kinds,
    class_name,
    decode_op,
    decode_record,
    encodable,
    encode_op,
    record_class,
    refusal,
)
from .ops import ALL_FAIL_SITES, ENTRY_OPS, FAIL_SITES, Op, Outcome

#: the codec's names, as fast.py has always offered them
__all__ = ["CALLER_FLAGS", "FLAG_NAMES", "KIND", "KINDS", "MAX_LENGTH", "OBJECTS", "FastDiff",
           "Runner", "available", "check_kinds", "decode_op", "encodable", "encode_op",
           "generate_decoded", "refusal", "run_decoded", "single_bit_names"]

def available(*kernels: Kernel) -> bool:
    """Whether every kernel's build has the C runner."""
    return all(hasattr(k.lib, "pyvma_seq_run") for k in kernels)


def single_bit_names(k: Kernel) -> set[str]:
    """The flag names a layout row shows (Kernel.names_of: single-bit flags)."""
    out = set()
    for n in k.flag_names:
        v = k.flag(n)
        if v & (v - 1) == 0:
            out.add(n)
    return out


class Runner:
    """One kernel's C runner: its flag tables, options, and the buffers a sequence
    of up to MAX_LENGTH operations runs in."""

    def __init__(self, k: Kernel, names: Sequence[str], record_anon_pgoff: bool,
                 gen_ops: frozenset[str] = frozenset()) -> None:
        if len(names) > 128:
            raise ValueError("more than 128 flag names to compare")
        self.k = k
        ffi, lib = k.ffi, k.lib
        check_kinds(lib)
        #: the canonical flag names, sorted (a record's flag bits)
        self.names = tuple(names)
        cfg = self.cfg = ffi.new("struct pyvma_seq_cfg *")
        for i, n in enumerate(FLAG_NAMES):
            cfg.flag_values[i] = k.flag(n) if k.has_flag(n) else 0
        for i, n in enumerate(self.names):
            if k.has_flag(n):
                v = k.flag(n)
                if v & (v - 1) == 0:
                    b = v.bit_length() - 1
                    cfg.canon[b][i // 64] |= 1 << (i % 64)
        for i, n in enumerate(CALLER_FLAGS):
            cfg.caller_flags[i] = k.flag(n) if k.has_flag(n) else 0
        # a fail operation's sites: ops.ALL_FAIL_SITES (FAIL_SITES first) by number
        for i, n in enumerate(ALL_FAIL_SITES):
            cfg.fail_sites[i] = getattr(lib, "PYVMA_FAULT_" + n.upper())
        cfg.n_fail_sites, cfg.n_common_sites = len(ALL_FAIL_SITES), len(FAIL_SITES)
        cfg.opts = ((lib.PYVMA_SEQ_OPT_MMAP_CHECKS if k.has("mmap_region_checks") else 0)
                    | (lib.PYVMA_SEQ_OPT_ANON_PGOFF if k.has("anon_pgoff") else 0)
                    | (lib.PYVMA_SEQ_OPT_RECORD_ANON_PGOFF if record_anon_pgoff else 0)
                    | (lib.PYVMA_SEQ_OPT_MAYBE_GUARD if k.has("maybe_guard") else 0)
                    | (lib.PYVMA_SEQ_OPT_KEEP_SOURCE if k.has("copy_vma_keep_source")
                       else 0)
                    | (lib.PYVMA_SEQ_OPT_MULTI_MOVE if callers.multi_vma_moves(k) else 0))
        cfg.gen_kinds = sum(1 << KIND[n] for n in gen_ops if n in ENTRY_OPS and n in KIND)
        self.ops = ffi.new("struct pyvma_seq_op[]", MAX_LENGTH)
        self.recs = ffi.new("struct pyvma_seq_rec[]", MAX_LENGTH)
        self.rec_size = ffi.sizeof("struct pyvma_seq_rec")
        self.op_size = ffi.sizeof("struct pyvma_seq_op")
        self.counts = ffi.new("long[]", len(KINDS) * NCLASSES)
        self._site = ffi.new("struct pyvma_site *")

    def load(self, ops: Sequence[Op]) -> int:
        """Encode *ops* into the operation buffer (see ``encodable``): how many."""
        for i, op in enumerate(ops):
            o = self.ops[i]
            o.kind, o.av, o.file, o.extra, o.a, o.b, o.c, o.flags = encode_op(op)
        return len(ops)

    def copy_ops_from(self, other: Runner, n: int) -> None:
        """The first *n* encoded operations of *other*'s buffer (another tree's)."""
        self.k.ffi.memmove(self.ops, other.k.ffi.buffer(other.ops, n * other.op_size),
                           n * self.op_size)

    def run(self, n: int, generate: bool = False, seed: int = 0, count: bool = False) -> int:
        """pyvma_seq_run(): the operations run (a BUG's is the last), -1 when a layout
        outgrew a record.  A BUG's site is read (``bug``) and cleared."""
        ran = int(self.k.lib.pyvma_seq_run(self.cfg, self.ops, n, int(generate),
                                           seed & (1 << 64) - 1, self.recs,
                                           self.counts if count else self.k.ffi.NULL))
        self.bug = ""
        if ran > 0 and self.recs[ran - 1].bug:
            self.k.lib.pyvma_bug_get(self._site)
            self.bug = self.k.ffi.string(self._site.cond).decode()
        self.k.lib.pyvma_bug_clear()
        return ran

    def records(self, n: int) -> bytes:
        return self.k.ffi.buffer(self.recs, n * self.rec_size)[:]

    def decoded_ops(self, n: int) -> list[Op]:
        return [decode_op(self.ops[i]) for i in range(n)]

    def uncount(self, start: int, end: int) -> None:
        """Take records [start, end) of the last run out of the outcome counts (what
        pyvma_seq_run()'s seq_class() added for them)."""
        for j in range(start, end):
            self.counts[int(self.ops[j].kind) * NCLASSES + record_class(self.recs[j])] -= 1

    def exercised(self) -> dict[str, dict[str, int]]:
        """The outcome counts of the runs made with *count*, as Differ.exercised."""
        out: dict[str, dict[str, int]] = {}
        for i, v in enumerate(self.counts):
            if v:
                kind, cls = divmod(i, NCLASSES)
                per = out.setdefault(KINDS[kind], {})
                name = class_name(cls)
                per[name] = per.get(name, 0) + int(v)
        return out

    def outcome(self, i: int, op: Op) -> Outcome:
        """Record *i* (of the last run, *op* its operation) as ops.apply()'s Outcome."""
        return decode_record(self.k, self.names, self.recs[i], op, self.bug)


def run_decoded(k: Kernel, ops: Sequence[Op]) -> list[Outcome]:
    """*ops* run in C on a fresh mm of *k*, decoded (up to and with a BUG's
    operation): what ``ops.run`` gives, through the fast path."""
    runner = Runner(k, sorted(single_bit_names(k)), True)
    n = runner.load(ops)
    ran = runner.run(n)
    out = [runner.outcome(i, op) for i, op in zip(range(max(ran, 0)), ops)]
    k.clear_warnings()
    return out


def generate_decoded(k: Kernel, seed: int, length: int,
                     gen_ops: frozenset[str]) -> tuple[list[Op], list[Outcome]]:
    """A sequence drawn by the C generator on *k* and its decoded outcomes."""
    runner = Runner(k, sorted(single_bit_names(k)), True, gen_ops)
    ran = runner.run(length, generate=True, seed=seed)
    ops = runner.decoded_ops(max(ran, 0))
    out = [runner.outcome(i, op) for i, op in enumerate(ops)]
    k.clear_warnings()
    return ops, out


class FastDiff:
    """Two kernels' runners in lockstep: a sequence on A (given, or drawn by the C
    generator) and the same operations on B, their records compared as bytes."""

    def __init__(self, a: Kernel, b: Kernel, lacking: frozenset[str], skip: frozenset[str],
                 gen_ops: frozenset[str]) -> None:
        names = sorted((single_bit_names(a) | single_bit_names(b)) - lacking)
        record = "anon_pgoff" not in skip
        self.ra = Runner(a, names, record, gen_ops)
        self.rb = Runner(b, names, record, gen_ops)
        #: operations run per tree, and the kinds the C generator draws
        self.ops_run = 0
        #: ... of them in sequences the C generator drew
        self.gen_run = 0
        #: operations compared on both trees (up to and with a sequence's first
        #: divergence: what ran after it is not counted)
        self.ops_compared = 0
        self._last_a = 0
        self.gen_ops = frozenset(n for n in gen_ops if n in KIND)

    def _compare(self, n: int, generate: bool, seed: int, count: bool) -> int | None:
        ran_a = self.ra.run(n, generate, seed, count)
        self._last_a = max(ran_a, 0)
        if ran_a <= 0:
            return None if ran_a == 0 else -1
        self.rb.copy_ops_from(self.ra, ran_a)
        ran_b = self.rb.run(ran_a)
        self.ops_run += ran_a
        if generate:
            self.gen_run += ran_a
        if ran_b < 0:
            return -1
        m = min(ran_a, ran_b)
        ba, bb = self.ra.records(m), self.rb.records(m)
        if ba == bb and ran_a == ran_b:
            self.ops_compared += ran_a
            return None
        size = self.ra.rec_size
        at = next((i for i in range(m) if ba[i * size:(i + 1) * size]
                   != bb[i * size:(i + 1) * size]), m - 1)
        # what came after the first divergence ran but was not compared (as
        # Differ.lockstep stops there): neither counted as exercised nor compared
        self.ops_compared += at + 1
        if count:
            self.ra.uncount(at + 1, ran_a)
        return at

    def lockstep(self, ops: Sequence[Op], count: bool = True) -> int | None:
        """Index of the first diverging operation of *ops* (encodable), None if none;
        -1: a layout outgrew a record (run it the Python way)."""
        n = self.ra.load(ops)
        return self._compare(n, False, 0, count)

    def generated(self, seed: int, length: int) -> int | None:
        """A sequence drawn in C from *seed* on A, run on both: the first diverging
        index or None (-1: a layout outgrew a record); ``last_ops()`` decodes it."""
        return self._compare(min(length, MAX_LENGTH), True, seed, True)

    def last_ops(self) -> list[Op]:
        """The operations A ran last (up to a BUG), as ops.py tuples."""
        return self.ra.decoded_ops(self._last_a)

    def exercised(self) -> dict[str, dict[str, int]]:
        return self.ra.exercised()
