# SPDX-License-Identifier: GPL-2.0-or-later
"""``--isolate``: every test in a forked child, with a timeout.

Kernel code under test may crash (a segfault in a broken patch) or never return.
In the child, WARN and BUG sites are written to a file as they happen; when the
child dies by a signal or is killed at the timeout, the parent fails the test with
the signal (or the timeout) and those sites, and the run goes on.
"""
from __future__ import annotations

import os
import pickle
import signal
import tempfile
import time
from pathlib import Path

import pytest
from _pytest.reports import TestReport
from _pytest.runner import runtestprotocol


def _sanitizer_reports_to(prefix: str) -> None:
    """Under ASan (preloaded), send the child's reports to files the parent reads
    (pytest captures the child's stderr).  UBSan takes its report path from the
    options `pyvma test` gives it at exec (PYVMA_SANITIZER_LOG)."""
    try:
        import ctypes
        fn = ctypes.CDLL(None).__sanitizer_set_report_path
    except (OSError, AttributeError):
        return
    fn(prefix.encode())


class Isolator:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem) -> bool:
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        with tempfile.TemporaryDirectory(prefix="pyvma-isolate-") as tmp:
            warn_file = os.path.join(tmp, "warns")
            report_file = os.path.join(tmp, "reports")
            pid = os.fork()
            if pid == 0:                                    # the child
                code = 0
                try:
                    import faulthandler
                    faulthandler.disable()          # the parent reports the crash
                    os.environ["PYVMA_WARN_FILE"] = warn_file
                    _sanitizer_reports_to(os.path.join(tmp, "sanitizer"))
                    ran = runtestprotocol(item, log=False, nextitem=nextitem)
                    data = [item.config.hook.pytest_report_to_serializable(
                        config=item.config, report=r) for r in ran]
                    with open(report_file, "wb") as f:
                        pickle.dump(data, f)
                except BaseException:               # noqa: BLE001
                    code = 3
                finally:
                    os._exit(code)
            status, elapsed = self._wait(pid)
            reports: list[TestReport] | None = None
            if status == 0 and os.path.exists(report_file):
                with open(report_file, "rb") as f:
                    reports = [item.config.hook.pytest_report_from_serializable(
                        config=item.config, data=d) for d in pickle.load(f)]
            if reports is None:
                reports = [self._crash_report(item, status, elapsed, warn_file, pid)]
        for rep in reports:
            item.ihook.pytest_runtest_logreport(report=rep)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def _wait(self, pid: int) -> tuple[int | str, float]:
        t0 = time.monotonic()
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                if os.WIFSIGNALED(status):
                    return f"signal:{os.WTERMSIG(status)}", time.monotonic() - t0
                return os.WEXITSTATUS(status), time.monotonic() - t0
            if time.monotonic() - t0 > self.timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout", time.monotonic() - t0
            time.sleep(0.002)

    def _crash_report(self, item, status, elapsed: float, warn_file: str,
                      pid: int) -> TestReport:
        sites = []
        if os.path.exists(warn_file):
            with open(warn_file, errors="replace") as f:
                sites = [line.rstrip("\n") for line in f if line.strip()]
        if status == "timeout":
            what = "timed out (endless loop in kernel code?)"
        elif isinstance(status, str):
            signo = int(status.split(":")[1])
            what = f"crashed: {signal.Signals(signo).name} ({signal.strsignal(signo)})"
        else:
            what = f"the isolated child exited with status {status}"
        msg = f"{item.nodeid}: {what} after {elapsed:.2f} s"
        if sites:
            msg += "\nWARN/BUG sites recorded before it:\n" + "\n".join(f"  {s}" for s in sites)
        reports = sorted(Path(warn_file).parent.glob("sanitizer.*"))
        # UBSan's reports go where `pyvma test` told it at exec (PYVMA_SANITIZER_LOG)
        logged = os.environ.get("PYVMA_SANITIZER_LOG")
        if logged and os.path.exists(f"{logged}.{pid}"):
            reports.append(Path(f"{logged}.{pid}"))
        for report in reports:
            lines = report.read_text(errors="replace").splitlines()
            msg += "\nsanitizer report:\n" + "\n".join(f"  {l}" for l in lines[:40])
            if report.name.startswith(Path(logged or "-").name):
                report.unlink()             # told here: `pyvma test` need not repeat it
        return TestReport(item.nodeid, item.location, {}, "failed", msg, "call",
                          duration=elapsed)
