# SPDX-License-Identifier: GPL-2.0-or-later
"""./vma run once; each C test's verdict and the output that is its."""

from __future__ import annotations

import os
import re
import subprocess

from .harness import Built, CaseResult


def run(built: Built, names: list[str], timeout: float = 600.0) -> dict[str, CaseResult]:
    """Run ./vma once and give each C test its verdict and the output that is its."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASAN_", "UBSAN_", "LSAN_", "LD_PRELOAD", "PYVMA_"))}
    env["UBSAN_OPTIONS"] = "print_stacktrace=1"
    env["ASAN_OPTIONS"] = "handle_abort=1"      # an abort shows its stack: the test
    try:
        proc = subprocess.run([str(built.binary)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=built.dir, errors="replace")
    except subprocess.TimeoutExpired:
        return {n: CaseResult(n, False, f"./vma ran longer than {timeout:.0f} s and was "
                                        "killed; no verdicts") for n in names}
    return parse(proc.stdout, proc.stderr, proc.returncode, names)


def parse(stdout: str, stderr: str, returncode: int, names: list[str]
          ) -> dict[str, CaseResult]:
    """Verdicts from ./vma's output.  A passing test prints nothing; a failing one
    prints its assertion lines then ``Test <name> FAILED``; a sanitizer report is
    the test's whose ``test_<name>`` frame it shows.  A run that ends without its
    summary line leaves the tests it did not reach failed, with the reason."""
    failed: dict[str, list[str]] = {}
    segment: list[str] = []
    known = set(names)

    def blame(lines: list[str]) -> None:
        text = "\n".join(lines)
        for n in dict.fromkeys(re.findall(r"#\d+ 0x[0-9a-f]+ in test_(\w+)\b", text)):
            if n in known:
                failed.setdefault(n, []).append(text)

    for line in stderr.splitlines():
        m = re.fullmatch(r"Test (\w+) FAILED", line.strip())
        if m:
            blame(segment)
            failed.setdefault(m.group(1), []).append("\n".join(segment))
            segment = []
        else:
            segment.append(line)
    blame(segment)
    tail = "\n".join(segment[-40:])
    summary = re.search(r"^(\d+) tests run, (\d+) passed, (\d+) failed\.$", stdout, re.M)
    out: dict[str, CaseResult] = {}
    if summary is None:
        how = (f"killed by signal {-returncode}" if returncode < 0
               else f"exit status {returncode}")
        reported = re.findall(r"^Test (\w+) FAILED$", stderr, re.M)
        crashed = [n for n in names if n in failed and n not in reported]
        stop = names.index(crashed[0]) if crashed else None
        # a test before the last one that said FAILED has run to its end
        ran = max((names.index(n) for n in reported if n in known), default=-1)
        for i, n in enumerate(names):
            if n in failed:
                out[n] = CaseResult(n, False, "\n".join(failed[n]).strip() +
                                    (f"\n./vma ended in this test ({how})" if i == stop else ""))
            elif i < ran or (stop is not None and i < stop):
                out[n] = CaseResult(n, True, "")
            else:
                out[n] = CaseResult(n, False, f"not run to the end: ./vma ended ({how}) "
                                    "before its summary line; its last output:\n" + tail)
        return out
    run_n, _, fail_n = (int(g) for g in summary.groups())
    for n in names:
        out[n] = CaseResult(n, n not in failed, "\n".join(failed.get(n, [])).strip())
    failed_lines = set(re.findall(r"^Test (\w+) FAILED$", stderr, re.M))
    if run_n != len(names) or fail_n != len(failed_lines):
        why = (f"./vma's summary ({summary.group(0)}) disagrees with what pyvma read: "
               f"{len(names)} tests compiled in, {len(failed_lines)} FAILED lines")
        for n in names:
            out[n] = CaseResult(n, False, (out[n].output + "\n" + why).strip())
    return out
