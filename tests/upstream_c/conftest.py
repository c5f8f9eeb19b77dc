# SPDX-License-Identifier: GPL-2.0-or-later
"""Upstream's C tests as pytest items: ``test_upstream_c.py::<C test>[<kernel>]``.

For every ``--kernel``, the tree's own ``tools/testing/vma`` harness is built by
:mod:`pyvma.upstream_c` (in a scratch copy under the cache, in a background thread
started when the run starts, beside pyvma's own build) and run once; each C test is an
item with its own verdict and, on failure, the harness's assertion output.
"""
from __future__ import annotations

import functools
import time

import pytest

from pyvma import upstream_c
from pyvma.errors import PyvmaError

SENTINEL = "UPSTREAM_C_TESTS"
_runs: dict[str, dict[str, upstream_c.CaseResult]] = {}


def kernel_ids(sess) -> list[str]:
    """The kernels' ids, as the plugin gives them to the Python suites."""
    ids = [sess.kernel_id(s) for s in sess.specs]
    if len(set(ids)) != len(ids):
        ids = [f"{i}:{s}" for i, s in zip(ids, sess.specs)]
    return ids


def pytest_pycollect_makeitem(collector, name, obj):
    if name != SENTINEL:
        return None
    sess = collector.config._pyvma
    items = []
    for spec, kid in zip(sess.specs, kernel_ids(sess)):
        for cname, call in _cases(sess, spec):
            item = pytest.Function.from_parent(collector, name=f"{cname}[{kid}]",
                                               callobj=call)
            item._pyvma_upstream_c = spec
            items.append(item)
    return items


def _cases(sess, spec: str):
    tree = sess.tree(spec)
    if isinstance(tree, PyvmaError):
        return [("tools_testing_vma", functools.partial(_fail, str(tree)))]
    if not upstream_c.present(tree.root):
        return [("tools_testing_vma", functools.partial(
            pytest.skip, f"kernel {tree.version_str} has no {upstream_c.HARNESS}"))]
    try:
        names = upstream_c.test_names(tree)
    except PyvmaError as exc:
        why = _one_line(str(exc))
        return [(n, functools.partial(pytest.skip, why))
                for n in upstream_c.source_test_names(tree.root) or ["tools_testing_vma"]]
    return [(n, functools.partial(_case, sess, spec, n, names)) for n in names]


def _fail(msg: str) -> None:
    pytest.fail(msg, pytrace=False)


def _one_line(text: str) -> str:
    """A skip reason on one line (KTAP and -rs print it so)."""
    return " | ".join(ln.strip() for ln in text.splitlines() if ln.strip())


def _case(sess, spec: str, name: str, names: list[str]) -> None:
    tree = sess.tree(spec)
    built = upstream_c.start(tree).result()
    where = f"{upstream_c.HARNESS} of {tree.version_str}"
    if not built.ok:
        tried = f" (pyvma supplied {', '.join(built.tried)})" if built.tried else ""
        pytest.skip(_one_line(f"upstream's {where} does not build under pyvma{tried}: "
                              f"{built.message} (log: {built.dir}/build.log)"))
    supplied = (f"pyvma supplied: {', '.join(built.supplied)}" if built.supplied
                else "built as the tree has it")
    if built.supplied:
        print(f"{where}: {supplied}")
    if built.key not in _runs:
        _runs[built.key] = upstream_c.run(built, names)
    res = _runs[built.key][name]
    if not res.passed:
        pytest.fail(f"upstream C test {name} FAILED on {tree.version_str} ({where}, "
                    f"./vma in {built.dir}; {supplied}):\n{res.output}", pytrace=False)


def pytest_collection_modifyitems(items: list) -> None:
    """The C tests run last (in their order): their build, which starts with the run,
    then overlaps pyvma's own build and the Python suites."""
    items.sort(key=lambda i: hasattr(i, "_pyvma_upstream_c"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Start the harness builds the selected items need, before any test runs."""
    if session.config.option.collectonly:
        return
    sess = session.config._pyvma
    for spec in dict.fromkeys(getattr(i, "_pyvma_upstream_c", None) for i in session.items):
        tree = sess.tree(spec) if spec else None
        if tree is not None and not isinstance(tree, PyvmaError) and \
                upstream_c.present(tree.root):
            session.config._pyvma_upstream_c_t0 = time.monotonic()
            upstream_c.start(tree)


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per harness build: how long, whether the run waited, what pyvma supplied."""
    for p in upstream_c.pending().values():
        if not p.done.is_set() or p.value is None:
            continue
        b = p.value
        # `pyvma test` starts the build before this process: found done, but made now
        made_now = b.cached and (b.dir / "RESULT.json").stat().st_mtime > \
            time.time() - (time.monotonic() - p.started) - b.seconds
        how = "cached" if b.cached and not made_now else \
            ("built beside the run by `pyvma test`" if made_now else "built") + \
            f" in {b.seconds:.1f} s" + (
            f" (reusing {len(b.reused)} objects of its last build: only mm/vma*.c changed)"
            if b.reused else "")
        what = (f"pyvma supplied {', '.join(b.supplied)}" if b.supplied else
                "as the tree has it" if b.ok else f"does not build: {_one_line(b.message)}")
        terminalreporter.write_line(
            f"upstream C harness {p.version}: {how}, the run waited {p.waited:.1f} s "
            f"for it; {what}")
