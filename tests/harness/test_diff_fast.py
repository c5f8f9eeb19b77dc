# SPDX-License-Identifier: GPL-2.0-or-later
"""`pyvma diff`'s fast path (csrc/entry_seq*.c, pyvma/engine/fast.py): operation
sequences run in C give, operation by operation, the Outcome ops.apply() gives
through the Python API (return value, layout, every compared state field, WARNs,
BUG) on each kernel; a one-line change planted in a scratch copy of a cached tree
is found by sequences the C generator drew, and the report's replay line (the
Python path) reproduces it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma.api import load
from pyvma.engine import fast
from pyvma.engine.corpus import corpus
from pyvma.engine.diff import diff, sequence
from pyvma.engine.report import report_text
from pyvma.engine.ops import ALL_FAIL_SITES, ENTRY_OPS, OP_FEATURES, enabled_ops, run
from pyvma.engine.ops_paths import MMAP_FILE_KINDS, PREPARE_KINDS
from pyvma.engine.ops_query import QUERY_FEATURES, query_corpus
from pyvma.tree import resolve

from .scratch import scratch_tree

REPO = Path(__file__).resolve().parents[2]
KERNELS = ("debian:7.x", "debian:6.12", "debian:linux-source-7.2")


def same_outcomes(k, ops, files: dict | None = None) -> list:
    """*ops* through the C runner and through ops.run: the first operation whose
    Outcomes differ (index, op, C's, Python's), or []; the C run ends at a BUG.
    *files*: each file name of the outcomes' "files" state -> its values seen."""
    k.reset_services()
    got = fast.run_decoded(k, ops)
    k.reset_services()
    want = run(k, ops)
    assert len(got) == len(ops) or got[-1].bug, (len(got), len(ops))
    if files is not None:
        for o in got:
            for name, *values in o.state["files"]:
                files.setdefault(name, set()).add(tuple(values))
    for i, (c, p) in enumerate(zip(got, want)):
        if c != p:
            return [i, ops[i], c, p]
    return []


@pytest.mark.parametrize("spec", KERNELS)
def test_c_runner_gives_what_ops_apply_gives(spec):
    k = load(spec)
    enabled = enabled_ops(k)[0]
    seen: set[str] = set()
    # a fail operation's site reaches C as the build's own PYVMA_FAULT_* number
    r = fast.Runner(k, (), False)
    assert r.cfg.n_fail_sites == len(ALL_FAIL_SITES)
    for i, site in enumerate(ALL_FAIL_SITES):
        assert r.cfg.fail_sites[i] == getattr(k.lib, "PYVMA_FAULT_" + site.upper()), site
    # sequences the C generator draws (decoded), then the Python generator's, the corpus
    for seed in range(120):
        ops, outs = fast.generate_decoded(k, 7_000 + seed, 30, enabled)
        assert fast.encodable(ops) and len(outs) == len(ops)
        seen.update(op[0] for op in ops)
        assert same_outcomes(k, ops) == [], (spec, "C sequence", seed)
    for i in range(30):
        ops = sequence(k, 11, i, 30, enabled)
        if not fast.encodable(ops):
            continue            # an operation kind the C runner lacks
        assert same_outcomes(k, ops) == [], (spec, "Python sequence", i)
    scenarios = [ops for ops in corpus() if all(op[0] in enabled for op in ops)
                 and fast.encodable(ops)]
    assert len(scenarios) > 100
    files: dict[str, set] = {}
    for n, ops in enumerate(scenarios):
        assert same_outcomes(k, ops, files) == [], (spec, "corpus", n)
    # the "files" state was compared for every file the scenarios name (f0, fc and
    # the ->mmap/->mmap_prepare kinds of the tree's operations), with real values
    named = {f for ops in scenarios for op in ops for f in op if f in fast.OBJECTS}
    named -= {"av0", "av1"}
    want_files = {"f0"} | ({"fc"} if "mmap" in enabled else set()) \
        | (set(MMAP_FILE_KINDS) if "mmap_file" in enabled else set()) \
        | (set(PREPARE_KINDS) if "mmap_prepare" in enabled else set())
    assert named >= want_files and set(files) == named, (spec, named, set(files))
    # (refs, rmap VMAs, writable maps): more than one VMA of f0, a shared writable one
    assert any(v[1] > 1 for v in files["f0"]), files["f0"]
    if "mmap" in enabled:
        assert any(v[2] > 0 for v in files["f0"]), files["f0"]
    if "mmap_file" in enabled:
        assert any(v[0] > 0 and v[1] > 0 for v in files["fm"]), files["fm"]
    # the generator draws every operation the tree has (else the above proves less)
    assert seen == set(enabled) & set(fast.KINDS), (spec, set(enabled) - seen)


@pytest.mark.parametrize("spec", ("debian:7.x", "debian:6.12"))
def test_query_ops_run_in_c_as_ops_apply_runs_them(spec):
    """ops_query's operations (writenotify, unmapped_area, pagesize, init_stack,
    relocate) run in C where the tree has their feature: the corpus's scenarios and
    sequences the C generator draws with them give ops.apply()'s Outcomes, every
    answer kind among them (writenotify's four, a page, an -errno, the wrapped
    search's address, exec's stack moved and refused); a tree without the feature
    (6.12: no create_init_stack_vma()) neither runs nor draws them."""
    k = load(spec)
    enabled = enabled_ops(k)[0]
    query = set(QUERY_FEATURES) & enabled
    assert query == {n for n, f in QUERY_FEATURES.items() if f is None or k.has(f)}
    rets: dict[str, set] = {}
    for n, ops in enumerate(query_corpus(ALL_FAIL_SITES)):
        if not all(op[0] in enabled for op in ops):
            continue
        assert fast.refusal(ops) is None, ops
        assert same_outcomes(k, ops) == [], (spec, "query corpus", n)
        for op, o in zip(ops, fast.run_decoded(k, ops)):
            rets.setdefault(op[0], set()).add(o.ret)
    assert set(rets) & set(QUERY_FEATURES) == query, (spec, set(rets))
    assert {f"writenotify {w} dirty_tracking {d}" for w in (0, 1) for d in (0, 1)} \
        <= rets["writenotify"]
    if "unmapped_area" in query:
        got = rets["unmapped_area"]
        assert -12 in got and any(isinstance(r, int) and r > 0 for r in got), got
        assert any(isinstance(r, str) and r.startswith("address 0xffff") for r in got), got
    if "init_stack" in query:
        assert {0, -14} <= rets["init_stack"] and {0, -14} <= rets["relocate"], rets
    drawn: set[str] = set()
    for seed in range(60):
        ops, outs = fast.generate_decoded(k, 9_000 + seed, 30, frozenset(query))
        drawn.update(op[0] for op in ops)
        assert same_outcomes(k, ops) == [], (spec, "C sequence", seed)
    assert drawn & set(QUERY_FEATURES) == query, (spec, drawn)
    # the report's outcome names of the C records are ops.apply()'s answers
    runner = fast.Runner(k, sorted(fast.single_bit_names(k)), True)
    ops = [("map", 0, 4, 0, ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE",
                             "VM_SHARED", "VM_MAYSHARE"), None, "f0"),
           ("writenotify", 1, 0, None, True)]
    assert runner.run(runner.load(ops), count=True) == 2
    assert runner.exercised()["writenotify"] == {"writenotify 1 dirty_tracking 1": 1}
    k.clear_warnings()


@pytest.mark.parametrize("spec", ("debian:7.x", "debian:linux-source-7.2"))
def test_a_bug_ends_the_c_sequence_at_its_operation(spec):
    """insert_vm_struct() of a VMA with an anon_vma preset: a BUG on trees without
    feature insert_vm_struct_warns (7.2), a WARN on the others; C and Python agree."""
    k = load(spec)
    if not k.has("insert_vm_struct"):
        pytest.skip(f"kernel {k.version} lacks insert_vm_struct")
    base = ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
    ops = [("map", 0, 2, 0, base, None, None), ("insert", 2, 4, 2, base, "av0", None),
           ("munmap", 0, 4)]
    k.reset_services()
    got = fast.run_decoded(k, ops)
    if k.has("insert_vm_struct_warns"):
        assert len(got) == 3 and len(got[1].warns) == 1 and not got[1].bug
    else:
        assert len(got) == 2 and got[1].ret == "BUG" and got[1].bug
    assert same_outcomes(k, ops) == []


def test_encoding_round_trips_and_refuses_what_c_lacks():
    refused = set()
    for ops in corpus():
        for op in ops:
            why = fast.refusal([op])
            if why is not None:
                if why.endswith(" arguments"):
                    # only flags or objects the C runner cannot name
                    names = {x for a in op[1:] for x in (a if isinstance(a, tuple) else (a,))
                             if isinstance(x, str)}
                    assert names - set(fast.FLAG_NAMES) - set(fast.OBJECTS), (op, why)
                else:
                    refused.add(op[0] if op[0] != "fail" else op[1])
                continue
            back = fast.decode_op(_encoded(op))
            assert back[0] == op[0] and _norm(back) == _norm(op), (op, back)
    # what the C runner lacks is refused, never mapped to something else: the
    # operations it has no kind for (none now), fault sites it does not know, names
    # and files it cannot express
    assert refused == set(OP_FEATURES) - set(fast.KINDS), refused
    for site in ("uffd_unmap_prep", "shmem_zero_setup", "no_such_site"):
        assert fast.refusal([("fail", site, 0)]) == f"fail {site}"
    assert fast.refusal([("name", 0, 1, "stack")]) == "name arguments"
    assert fast.refusal([("map", 0, 1, 0, ("VM_READ",), None, "f1")]) == "map arguments"
    assert fast.refusal([("limit", "as", -1)]) == "limit arguments"
    assert fast.refusal([("special", 0, 1, ("VM_READ",), ("close", "close"))]) \
        == "special arguments"
    assert fast.refusal([("no_such_op", 1)]) == "no_such_op"
    assert not fast.encodable([("map", 0, 2, 0, ("VM_READ", "VM_HUGEPAGE"), None, None)])
    assert fast.encodable([("set_flags", 0, ("VM_PFNMAP",))])
    assert fast.refusal([("writenotify", 0, 0, ("close", "close"), True)]) \
        == "writenotify arguments"
    assert fast.refusal([("unmapped_area", 1, 0, 4, 0, False)]) == "unmapped_area arguments"
    assert not fast.encodable([("map", 0, 2, 0, ("VM_READ",), "av9", None)])
    assert not fast.encodable([("no_such_op", 1)])
    assert not fast.encodable([("munmap", 0, 1)] * (fast.MAX_LENGTH + 1))
    # the C runner's kinds are ops.py's (one it lacks takes the Python path)
    assert set(fast.KINDS) <= set(OP_FEATURES)


def _encoded(op):
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("struct o { int kind, av, file, extra; long a, b, c; unsigned long flags; };")
    o = ffi.new("struct o *")
    o.kind, o.av, o.file, o.extra, o.a, o.b, o.c, o.flags = fast.encode_op(op)
    return o


def _norm(op):
    return tuple(tuple(sorted(x)) if isinstance(x, tuple) else x for x in op)


# -- a planted change, found by the C generator's sequences --------------------------

# copy_vma(): an unfaulted anonymous VMA's copy keeps the source's page offset
COPY_PGOFF = "\t\t\tpgoff = anon_pgoff;\n"


@pytest.fixture(scope="module")
def broken7(tmp_path_factory):
    tree = resolve("debian:7.x")
    if (tree.root / "mm/vma.c").read_text().count(COPY_PGOFF) != 1:
        pytest.skip(f"{tree.version_str}'s mm/vma.c lacks the planted line {COPY_PGOFF!r}")
    dest = tmp_path_factory.mktemp("fastplant")
    scratch_tree(tree.root, dest, {"mm/vma.c": lambda t: t.replace(COPY_PGOFF, "", 1)})
    return load(str(dest))


def test_planted_change_found_by_c_sequences_and_replayed(broken7):
    base = load("debian:7.x")
    divs, stats = diff(base, broken7, seed=2, sequences=0, fast_sequences=400, length=25,
                       seconds=120, use_corpus=False)
    assert stats["sequences"] == 0 and stats["fast_sequences"] > 0
    assert not stats.get("fast_unreproduced")
    hits = [d for d in divs if d.ops[-1][0] == "copy_vma"]
    assert hits, [d.ops for d in divs]
    d = min(hits, key=lambda x: len(x.ops))
    assert "C sequence" in d.origin and len(d.ops) <= d.shrunk_from
    # the copy's page offset is what differs
    assert [r[2] for r in d.a.layout] != [r[2] for r in d.b.layout], (d.a, d.b)
    text = report_text(base, broken7, divs, stats)
    assert "random sequences generated and run in C" in text
    # the fast sequences' operations are in what the report says was exercised: those
    # compared, up to and with each sequence's first divergence, no more
    assert sum(stats["exercised"]["copy_vma"].values()) > 0
    c = stats["ran_in"]["c"]
    assert sum(sum(x.values()) for x in stats["exercised"].values()) == c["operations"]
    assert c["operations"] < 400 * 25
    args = [*base.replay_args, *broken7.replay_args, "--ops", json.dumps(d.ops)]
    got = subprocess.run([sys.executable, "-m", "pyvma", "replay", *args],
                         capture_output=True, text=True, cwd=REPO)
    assert got.returncode == 1, got.stdout + got.stderr


def test_self_diff_counts_both_kinds_of_sequences():
    k = load("debian:6.12")
    divs, stats = diff(k, k, seed=5, sequences=4, fast_sequences=200, length=20,
                       use_corpus=False)
    assert divs == [] and stats["sequences"] == 4 and stats["fast_sequences"] == 200
    ran = sum(sum(c.values()) for c in stats["exercised"].values())
    assert ran >= 200 * 10, ran
    # 6.12 lacks these entry points: neither generator draws them
    assert not set(stats["exercised"]) & (ENTRY_OPS - enabled_ops(k)[0])
    # each sequence ran on one path, counted there; the Python one says why
    c, py = stats["ran_in"]["c"], stats["ran_in"]["python"]
    assert c["sequences"] + py["sequences"] == 204 and c["sequences"] >= 200
    assert sum(py["why"].values()) == py["sequences"]
    assert c["operations"] >= 200 * 10 and py["corpus"] == 0
    assert "ran in C: " in report_text(k, k, divs, stats)


def test_sequences_the_c_runner_lacks_take_the_python_path():
    """An operation kind the C runner lacks, or a fault site it does not know, sends
    the sequence to ops.apply(): counted there with the reason, never run in C."""
    from pyvma.engine.diff import Differ, divergence, fast_differ
    k = load("debian:7.x")
    d = Differ(k, k)
    fd = fast_differ(d)
    assert fd is not None
    base = ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
    head = [("map", 0, 4, 0, base, None, None)]
    stats: dict = {"ran_in": {"c": {"sequences": 0, "operations": 0},
                              "python": {"corpus": 0, "sequences": 0, "operations": 0,
                                         "why": {}}}}
    for tail in ([("fail", "shmem_zero_setup", 0), ("munmap", 1, 2)],
                 [("name", 1, 2, "stack")],
                 [("fail", "mas_store", 0), ("munmap", 1, 2)]):
        divergence(d, fd, head + tail, "t", {}, stats)
    assert stats["ran_in"]["python"]["why"] == {"fail shmem_zero_setup": 1,
                                                "name arguments": 1}
    assert stats["ran_in"]["c"]["sequences"] == 1 and fd.ops_run == 3
    # (a fault site ops.valid() does not know: invalid there)
    assert d.py_ops == 5 and d.exercised["fail"] == {"invalid": 1}


def test_each_tree_keeps_its_own_overcommit_charge_in_c():
    """A self-diff's two sides share one library (one vm_committed_as): each C run
    starts from a zero charge and runs its whole sequence alone, so under an
    overcommit limit B is charged what A was, as ops.World.committed keeps it."""
    from pyvma.engine.diff import Differ, fast_differ
    k = load("debian:7.x")
    fd = fast_differ(Differ(k, k))
    assert fd is not None
    base = ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
    ops = [("limit", "commit", 3), ("mmap", 0, 2, 0, base, None),
           ("mmap", 4, 6, 4, base, None)]
    assert fd.lockstep(ops) is None
    a = [fd.ra.outcome(i, op) for i, op in enumerate(ops)]
    b = [fd.rb.outcome(i, op) for i, op in enumerate(ops)]
    # the second mapping exceeds the limit on each side alike
    assert [o.ret for o in a] == [o.ret for o in b] == [0, 0, -12], (a, b)
    assert a[1].state["committed"] == b[1].state["committed"] == 2


def test_c_outcome_counts_are_taken_back_exactly():
    """record_class() is seq_class(): the counts of a run's records taken back
    (what a divergence does for the operations after it) leave nothing."""
    from pyvma.engine.diff import Differ, fast_differ
    k = load("debian:7.x")
    fd = fast_differ(Differ(k, k))
    assert fd is not None
    for seed in range(40):
        assert fd.generated(seed, 30) is None
        ran = fd._last_a
        assert sum(sum(c.values()) for c in fd.exercised().values()) == ran
        fd.ra.uncount(0, ran)
        assert fd.exercised() == {}, seed
    assert fd.ops_compared == fd.ops_run
