# SPDX-License-Identifier: GPL-2.0-or-later
"""The caller operations on `pyvma diff`'s fast path (csrc/entry_seq_callers.c):
their C kinds are callers_spec's and a build that disagrees is refused by name;
they encode and decode through the spec's values; and, operation by operation,
the C runner gives the Outcome engine/callers.py gives through ops.apply() (return
value, layout, every compared state field, WARNs, BUG) on 7.3, 7.2 and 6.12 --
for sequences the C generator draws (every caller operation among them, with
successes and errors), for the Python generator's and for the caller corpus."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from pyvma.api import load
from pyvma.argcheck import ops_json_text
from pyvma.engine import fast
from pyvma.engine.callers_spec import SPECS, caller_corpus, valid_caller
from pyvma.engine.diff import diff, sequence
from pyvma.engine.ops import enabled_ops

from .test_diff_fast import same_outcomes

KERNELS = ("debian:7.x", "debian:linux-source-7.2", "debian:6.12")


def test_caller_kinds_are_the_specs_and_a_disagreeing_build_is_refused():
    for name, spec in SPECS.items():
        assert fast.KIND[name] == spec.kind
    k = load("debian:7.x")
    fast.check_kinds(k.lib)
    assert int(k.lib.PYVMA_SEQ_NKINDS) == len(fast.KINDS)
    # a build whose header numbers mseal otherwise: named, not run
    consts = {f"PYVMA_SEQ_{n.upper()}": i for i, n in enumerate(fast.KINDS)}
    consts["PYVMA_SEQ_NKINDS"] = len(fast.KINDS)
    consts["PYVMA_SEQ_MSEAL"] = 40
    with pytest.raises(ValueError, match=r"PYVMA_SEQ_MSEAL is 40.*says 36"):
        fast.check_kinds(SimpleNamespace(**consts))
    consts["PYVMA_SEQ_NKINDS"] = 36
    with pytest.raises(ValueError, match="has 36 operation kinds"):
        fast.check_kinds(SimpleNamespace(**consts))


def _encoded(op):
    kind, av, f, extra, a, b, c, flags = fast.encode_op(op)
    return SimpleNamespace(kind=kind, av=av, file=f, extra=extra, a=a, b=b, c=c, flags=flags)


def test_caller_operations_round_trip_and_bad_arguments_are_refused():
    ops = [op for sc in caller_corpus() for op in sc if op[0] in SPECS]
    ops += [("mremap", 2, 5, 1, None, "resize"), ("mremap", 2, 5, 3, 9, "dontunmap"),
            ("mlockall", "munlockall"), ("mseal", 0, 3), ("map", 0, 2, 0, ("VM_READ",),
                                                           None, "anon")]
    # every named value of every spec (PROT_NONE among them: "none", never "")
    for name, spec in SPECS.items():
        for at, names in spec.values:
            for v in names:
                op = list(next(o for o in ops if o[0] == name))
                op[at] = v
                if valid_caller(name, op[1:]):
                    ops.append(tuple(op))
    assert {op[0] for op in ops} >= set(SPECS)
    for op in ops:
        assert fast.refusal([op]) is None, op
        assert fast.decode_op(_encoded(op)) == tuple(op), op
        # and the replay line's --ops takes it
        ops_json_text(json.dumps([op]))
    for bad in (("mremap", 2, 5, 3, None, "fixed"), ("mremap", 2, 5, 3, 9, "resize"),
                ("mremap", 2, 5, 0, None, "resize"), ("madvise", 0, 2, "DONTNEED"),
                ("mlock", 0, 2, "lock"), ("mprotect_prot", 0, 2, "x")):
        assert fast.refusal([bad]) == f"{bad[0]} arguments", bad


@pytest.mark.parametrize("spec", KERNELS)
def test_c_caller_operations_give_what_callers_py_gives(spec):
    k = load(spec)
    enabled = enabled_ops(k)[0]
    callers = set(SPECS) & enabled
    outcomes: dict[str, set] = {n: set() for n in callers}
    for seed in range(150):
        ops, outs = fast.generate_decoded(k, 21_000 + seed, 30, enabled)
        for op, o in zip(ops, outs):
            if op[0] in callers:
                outcomes[op[0]].add("ok" if o.ret == 0 or (isinstance(o.ret, int) and
                                                           o.ret > 0) else str(o.ret))
        assert same_outcomes(k, ops) == [], (spec, "C sequence", seed)
    # every caller operation was drawn in C and applied; those a layout can refuse
    # (a hole, a flag) came back both ways
    for name in callers:
        assert "ok" in outcomes[name], (name, outcomes[name])
    for name in callers & {"mremap", "mprotect_prot", "madvise", "mlock"}:
        assert len(outcomes[name]) > 1, (name, outcomes[name])
    # mremap moved (an address back), failed and refused in C
    assert {"-12", "-14"} & outcomes["mremap"], outcomes["mremap"]
    for i in range(40):
        ops = sequence(k, 17, i, 30, enabled)
        assert fast.refusal(ops) is None, fast.refusal(ops)
        assert same_outcomes(k, ops) == [], (spec, "Python sequence", i)
    ran = 0
    for n, ops in enumerate(caller_corpus()):
        if all(op[0] in enabled for op in ops) and fast.refusal(ops) is None:
            assert same_outcomes(k, ops) == [], (spec, "caller corpus", n)
            ran += 1
    assert ran >= 40


def test_diff_runs_the_caller_operations_in_c():
    """A self-diff draws caller operations in C: counted there, none sent to the
    Python path for lacking a C kind."""
    k = load("debian:7.x")
    divs, stats = diff(k, k, seed=3, sequences=10, length=20, use_corpus=False,
                       only=frozenset(SPECS))
    assert not divs
    assert set(SPECS) <= set(stats["fast_operations"])
    why = stats["ran_in"]["python"]["why"]
    assert not any(w in SPECS for w in why), why
    assert sum(sum(stats["exercised"].get(n, {}).values()) for n in SPECS) > 500
