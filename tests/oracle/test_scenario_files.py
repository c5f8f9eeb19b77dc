# SPDX-License-Identifier: GPL-2.0-or-later
"""The oracle's scenario format (loader, errors), the built-in files, the random
sequences, the shrinker, and ``pyvma oracle --scenarios`` / ``--random``."""
import json
import os
import shlex
import subprocess
import sys

import pytest

from pyvma.oracle import compare, corpus, live, randseq, runner, scenario, shrink

LIVE = sys.platform == "linux" and os.uname().machine == "x86_64"


def test_builtin_files_load_and_the_corpus_keeps_its_240():
    assert len(corpus.scenarios(which="corpus")) == 240
    small = corpus.scenarios(small=True, which="corpus")
    assert len(small) == 30 and all("small" in s.tags for s in small)
    for p in corpus.files():
        again = scenario.parse(scenario.dumps(scenario.load(p)), "x")
        assert [s.ops for s in again] == [s.ops for s in scenario.load(p)]


def test_window_is_per_scenario_and_inferred():
    (s,) = scenario.parse(json.dumps({"name": "a", "ops": [["mmap", 0, 2, "rw", "anon", 0],
                                                           ["mremap", 0, 2, 1500]]}), "f")
    assert s.window == 1502
    (s,) = scenario.parse(json.dumps({"name": "a", "window": 3000,
                                      "ops": [["munmap", 0, 1]]}), "f")
    assert s.window == 3000


@pytest.mark.parametrize("bad, msg", [
    ("{", r"f: not JSON"),
    ('{"name": "a", "ops": [["mmap", 0, 2, "rw", "tmpfs", 0]]}', r"\(a\) op 1: mmap argument 4"),
    ('{"name": "a", "ops": [["frob", 0, 2]]}', r"unknown operation 'frob'"),
    ('{"name": "a", "ops": [["munmap", 3, 3]]}', r"range 3-3 is empty"),
    ('{"name": "a", "window": 4, "ops": [["munmap", 0, 9]]}', r"page 0\.\.4"),
    ('{"name": "a", "window": 4, "ops": [["mremap", 0, 2, 3]]}', r"past the window"),
    ('{"name": "a", "ops": [], "colour": 1}', r"unknown key 'colour'"),
    ('{"name": "a", "ops": [["munmap", 0, 1]], "returns": [0, 0]}', r"one return per"),
    ('{"name": "a", "ops": [], "feature": "nope"}', r"\"feature\" 'nope'"),
    ('[{"name": "a", "ops": []}, {"name": "a", "ops": []}]', r"name 'a' twice"),
])
def test_bad_scenarios_are_refused_naming_where(bad, msg):
    with pytest.raises(scenario.ScenarioError, match=msg):
        scenario.parse(bad, "f")


def test_random_sequences_are_seeded_and_valid():
    a = [randseq.sequence(7, i) for i in range(50)]
    assert a == [randseq.sequence(7, i) for i in range(50)]
    assert a != [randseq.sequence(8, i) for i in range(50)]
    for ops in a:
        assert len(ops) == 8
        for op in ops:
            scenario.check_op(op, 24, "random")
    names = {op[0] for ops in a for op in ops}
    assert {"mmap", "mprotect", "mremap", "touch", "madvise"} <= names


def test_shrink_finds_the_smallest_failing_subsequence():
    ops = [["mmap", 0, 4, "rw", "anon", 0], ["touch", 0, 4], ["mprotect", 1, 3, "r"],
           ["munmap", 0, 1], ["mprotect", 0, 4, "rw"]]

    def still(cand):
        return any(o[0] == "touch" for o in cand) and any(o[0] == "munmap" for o in cand)
    got = shrink.shrink(ops, still)
    assert [o[0] for o in got] == ["touch", "munmap"]
    assert got[0][1:] == [0, 1] or got[0][2] - got[0][1] == 1      # narrowed to a page


@pytest.mark.skipif(not LIVE, reason="the oracle's system calls are x86-64 Linux ones")
@pytest.mark.requires("mmap_region")
def test_random_run_agrees_and_a_disagreement_is_shrunk_and_reproducible(kernel, tmp_path):
    ctx = compare.Context.make(kernel)
    if ctx.allowed.get("procmap_query"):
        pytest.skip(f"live half: {ctx.allowed['procmap_query']}")
    out: list = []
    counts, saved, nops = runner.random_run(ctx, 40, None, 11, 24, 8, tmp_path,
                                            lambda sc: "cmd", out.append)
    assert sum(counts[s] for s in ("agree", "explained", "disagree", "skipped", "error")) == 40
    assert nops == 320
    assert counts["disagree"] == 0 and counts["error"] == 0, "\n".join(out)
    # a planted difference: the tree's mprotect made to refuse (a pyvma bug stand-in)
    sc = scenario.Scenario("planted", (("mmap", 0, 4, "rw", "anon", 0), ("touch", 0, 4),
                                       ("munmap", 3, 4), ("mprotect", 0, 2, "r")),
                           window=8)
    lr = live.run([list(o) for o in sc.ops], sc.window, steps=True)
    from pyvma.oracle import harness
    hr = harness.run(kernel, [list(o) for o in sc.ops], steps=True)
    hr.rets[3] = "EACCES"
    v = compare.compare(ctx, sc, lr, hr)
    assert v.status == "disagree" and v.step == 3 and "returns differ" in v.why
    line = runner.reproduce("debian:7.x", [], sc)
    assert line.startswith("python3 -m pyvma oracle --kernel debian:7.x --scenarios '{")
    (back,) = scenario.load(shlex.split(line)[-1])
    assert back.ops == sc.ops


def test_cli_refuses_a_bad_scenario_file_with_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "a", "ops": [["mmap", 0, 2]]}')
    r = subprocess.run([sys.executable, "-m", "pyvma", "oracle", "--no-sandbox",
                        "--scenarios", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.json" in lines[0] and "mmap takes 5" in lines[0]
    assert "Traceback" not in r.stderr
