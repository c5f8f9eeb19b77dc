# SPDX-License-Identifier: GPL-2.0-or-later
"""pytest plugin: run suites against one or more kernel trees.

Options: ``--kernel SPEC`` (repeatable; every kernel-using test runs once per
kernel, the test id names the kernel), ``--kernel-config CONFIG_X=y|n``,
``--ktap FILE``.  Fixtures: ``kernel``, ``mm``, ``expect_warn``, ``load_kernel``.
Marker: ``@pytest.mark.requires("sticky", ...)`` skips, naming the missing feature,
on trees that lack it.  A WARN in kernel code fails the test unless it is expected.
"""
from __future__ import annotations

import contextlib
import os

import pytest

from .errors import PyvmaError, wrap_shim_errors
from .tree import features

DEFAULT_KERNELS = ("debian:7.x", "debian:6.12")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pyvma")
    group.addoption("--kernel", action="append", default=None, metavar="SPEC",
                    help="kernel tree to test: DIR, DIR@REF, .deb, tarball or "
                         "debian:linux-source-X.Y (repeatable; default: "
                         f"{' '.join(DEFAULT_KERNELS)} or $PYVMA_KERNELS)")
    group.addoption("--kernel-config", action="append", default=[], metavar="CONFIG_X=y|n",
                    help="harness config option for every kernel (repeatable)")
    group.addoption("--kernel-sanitizer", default=None, choices=["ubsan", "asan", "coverage"],
                    help="build variant to test with (ubsan runs in-process; coverage is "
                         "gcov for `make coverage`)")
    group.addoption("--ktap", default=None, metavar="FILE", help="also write KTAP v1 results")
    group.addoption("--pyvma-results", default=None, metavar="FILE",
                    help="also write each test's kernel, outcome and WARN/BUG sites as JSON "
                         "(what `pyvma test --patch/--series` compares with the base)")
    group.addoption("--pyvma-first", default=None, metavar="FILE",
                    help="run the tests this selection names first and say their verdict "
                         "at once (written by `pyvma test`: the tests a change reaches)")
    group.addoption("--pyvma-first-only", action="store_true",
                    help="with --pyvma-first: run only those (`pyvma test --affected`)")
    group.addoption("--pyvma-funcmap", default=None, metavar="FILE",
                    help="on a coverage build: write which kernel functions each test "
                         "enters as JSON (what `pyvma test` selects the affected tests by)")
    group.addoption("--isolate", action="store_true",
                    help="run each test in a forked child: a crash or hang in kernel code "
                         "fails that test (with the signal and the WARNs before it) and the "
                         "run goes on")
    group.addoption("--isolate-timeout", type=float, default=120.0, metavar="SECONDS",
                    help="with --isolate, a test running longer is killed and failed")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(*features): skip on trees without them")
    config.addinivalue_line("markers", "allow_warn: WARNs in kernel code do not fail the test")
    config._pyvma = _Session(config)  # type: ignore[attr-defined]
    _hypothesis_home()
    from .digest import DigestWriter
    config.pluginmanager.register(DigestWriter(), "pyvma-digest")
    if config.getoption("--isolate"):
        from .isolate import Isolator
        config.pluginmanager.register(Isolator(config.getoption("--isolate-timeout")),
                                      "pyvma-isolate")
    if config.getoption("--pyvma-results"):
        from .results import ResultsWriter
        sess = config._pyvma  # type: ignore[attr-defined]
        config.pluginmanager.register(ResultsWriter(
            config.getoption("--pyvma-results"),
            {s: sess.kernel_id(s) for s in sess.specs}), "pyvma-results")
    if config.getoption("--pyvma-first"):
        from .first import FirstRunner
        sess = config._pyvma  # type: ignore[attr-defined]
        config.pluginmanager.register(FirstRunner(
            config, config.getoption("--pyvma-first"), config.getoption("--pyvma-first-only"),
            {s: sess.kernel_id(s) for s in sess.specs}), "pyvma-first")
    if config.getoption("--pyvma-funcmap"):
        from .funcmap import FuncMapRecorder
        config.pluginmanager.register(FuncMapRecorder(config.getoption("--pyvma-funcmap")),
                                      "pyvma-funcmap")
    if config.getoption("--ktap"):
        from .ktap import KtapWriter
        sess = config._pyvma  # type: ignore[attr-defined]
        config.pluginmanager.register(KtapWriter(config.getoption("--ktap"), [
            f"{sess.kernel_id(s)}: {sess.label(s)}" for s in sess.specs]), "pyvma-ktap")


def _hypothesis_home() -> None:
    """hypothesis keeps its examples under pyvma's cache, not in the directory pytest
    runs in (a checkout, site-packages), unless $HYPOTHESIS_STORAGE_DIRECTORY says."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        return
    from .cache import cache_dir
    try:
        home = cache_dir() / "hypothesis"
    except PyvmaError:
        return                          # the kernels will say what is wrong with it
    with contextlib.suppress(ImportError):
        from hypothesis.configuration import set_hypothesis_home_dir
        set_hypothesis_home_dir(home)


class _Session:
    """Kernel specs, resolved trees and loaded builds for this pytest run."""

    def __init__(self, config: pytest.Config) -> None:
        specs = config.getoption("--kernel") or os.environ.get("PYVMA_KERNELS", "").split() \
            or list(DEFAULT_KERNELS)
        self.specs: list[str] = specs
        self.sanitizer = config.getoption("--kernel-sanitizer") or \
            os.environ.get("PYVMA_SANITIZER") or None
        from vma_internal.config import HarnessConfig
        self.config_items = config.getoption("--kernel-config")
        self._cfg_error: Exception | None = None
        try:
            with wrap_shim_errors():
                self.cfg = HarnessConfig.parse(self.config_items)
        except PyvmaError as exc:
            self._cfg_error = exc
            self.cfg = HarnessConfig.from_overrides()
        self._trees: dict[str, object] = {}
        self._kernels: dict[str, object] = {}
        self._errors: dict[str, str] = {}

    def tree(self, spec: str):
        if spec not in self._trees:
            from .tree import resolve
            try:
                self._trees[spec] = resolve(spec)
            except PyvmaError as exc:
                self._trees[spec] = exc
        return self._trees[spec]

    def label(self, spec: str) -> str:
        """The kernel as a developer names it: ``7.2.13 + "title" v2 [1-8]``."""
        tree = self.tree(spec)
        if isinstance(tree, Exception):
            return f"{spec} (not resolved: {tree})"
        return tree.origin.get("label") or tree.version_str

    def kernel_id(self, spec: str) -> str:
        """The kernel's part of a test id: its version, or with patches its name
        (``7.2.13+v2.1-8``)."""
        from .results import safe_id
        tree = self.tree(spec)
        if getattr(tree, "origin", {}).get("label"):
            return safe_id(tree.name)
        return safe_id(getattr(tree, "version_str", spec))

    def loaded(self, spec: str):
        """The kernel of *spec* if this run has loaded it (None otherwise)."""
        return self._kernels.get(spec)

    def kernel(self, spec: str):
        if self._cfg_error:
            pytest.fail(str(self._cfg_error), pytrace=False)
        if spec in self._errors:
            pytest.fail(f"kernel {spec} could not be loaded:\n{self._errors[spec]}",
                        pytrace=False)
        if spec not in self._kernels:
            from .api import load
            try:
                self._kernels[spec] = load(spec, self.cfg, sanitizer=self.sanitizer)
            except PyvmaError as exc:
                self._errors[spec] = str(exc)
            if spec in self._errors:
                pytest.fail(f"kernel {spec} could not be loaded:\n{self._errors[spec]}",
                            pytrace=False)
        return self._kernels[spec]


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Each kernel as a developer names it (a patched tree: its base and series), and
    the harness hooks of its build that bind nothing in the tree."""
    sess: _Session = config._pyvma  # type: ignore[attr-defined]
    from .sandbox import status
    lines = [f"pyvma sandbox: {status()}"]
    for spec in sess.specs:
        tree = sess.tree(spec)
        if isinstance(tree, Exception):
            lines.append(f"pyvma kernel {spec}: {tree}")
            continue
        lines.append(f"pyvma kernel {sess.kernel_id(spec)}: {sess.label(spec)} "
                     f"({tree.root})")
        try:
            k = sess.kernel(spec)
        except (Exception, pytest.fail.Exception):  # a build error fails the tests
            continue
        unused = k.build.info.get("manifest_unmatched", [])
        if unused:
            lines.append(f"  manifest hooks that bind nothing here: {', '.join(unused)}")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kernel_spec" in metafunc.fixturenames:
        sess: _Session = metafunc.config._pyvma  # type: ignore[attr-defined]
        ids = [sess.kernel_id(s) for s in sess.specs]
        if len(set(ids)) != len(ids):
            ids = [f"{i}:{s}" for i, s in zip(ids, sess.specs)]
        metafunc.parametrize("kernel_spec", sess.specs, ids=ids, scope="session")


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector, name, obj):
    """``@pytest.mark.requires`` names are checked against pyvma/tree/features.py: an unknown
    one is a collection error (not a skip on every kernel)."""
    result = yield
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, pytest.Item):
            for mark in item.iter_markers("requires"):
                for feat in mark.args:
                    try:
                        features.check(feat)
                    except features.UnknownFeature as exc:
                        raise collector.CollectError(
                            f"{item.nodeid}: @pytest.mark.requires: {exc}") from None
    return result


@pytest.fixture(scope="session")
def kernel_spec(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def kernel(request: pytest.FixtureRequest, kernel_spec: str):
    """The loaded kernel build; skips by feature for ``@pytest.mark.requires``."""
    sess: _Session = request.config._pyvma  # type: ignore[attr-defined]
    k = sess.kernel(kernel_spec)
    for mark in request.node.iter_markers("requires"):
        for feat in mark.args:
            if not k.has(feat):
                pytest.skip(f"kernel {k.version} lacks {features.meaning(feat)}")
    warn_file = os.environ.get("PYVMA_WARN_FILE")
    if warn_file:
        k.lib.pyvma_set_warn_fd(os.open(warn_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    k.clear_warnings()
    k.lib.pyvma_anon_reset()
    k.reset_services()
    allow = request.node.get_closest_marker("allow_warn") is not None
    request.node._pyvma_accepted = set()
    yield k
    k.reset_services()
    warns = [w for i, w in enumerate(k.warnings()) if i not in request.node._pyvma_accepted]
    if warns and not allow:
        k.clear_warnings()
        pytest.fail(f"WARN in kernel code ({k.version}), {len(warns)} hit(s):\n"
                    + "\n".join(f"  {w}" for w in warns), pytrace=False)


@pytest.fixture
def load_kernel(request: pytest.FixtureRequest, kernel_spec: str):
    """load_kernel(config={...}) -> the same tree built with another harness config."""
    from .api import load
    sess: _Session = request.config._pyvma  # type: ignore[attr-defined]

    def _load(config=None):
        return load(kernel_spec, config, sanitizer=sess.sanitizer)
    return _load


@pytest.fixture
def mm(kernel):
    """A fresh address space, invariants checked after every operation and at the end
    (then also: no rmap lock left held)."""
    m = kernel.mm(check_each=True)
    yield m
    if m.ptr is not None:
        m.check_each = False
        m.check()
        m.close()
    held = kernel.locks_held
    if held:
        kernel.lib.pyvma_locks_reset()
        pytest.fail(f"kernel code left {held} rmap lock(s) (i_mmap_rwsem / anon_vma "
                    "rwsem) write-held", pytrace=False)


@pytest.fixture
def expect_warn(request: pytest.FixtureRequest, kernel):
    """``with expect_warn(): ...`` — the block must WARN; its WARNs do not fail the test."""
    @contextlib.contextmanager
    def _expect(count: int | None = None):
        before = len(kernel.warnings())
        yield
        got = kernel.warnings()[before:]
        request.node._pyvma_accepted.update(range(before, before + len(got)))
        if not got:
            pytest.fail("expected a WARN in kernel code, got none", pytrace=False)
        if count is not None and len(got) != count:
            pytest.fail(f"expected {count} WARN(s), got {len(got)}: "
                        + "; ".join(map(str, got)), pytrace=False)
    return _expect
