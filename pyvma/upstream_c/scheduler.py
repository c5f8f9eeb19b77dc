# SPDX-License-Identifier: GPL-2.0-or-later
"""Harness builds in background threads, started when the run starts."""

from __future__ import annotations

import threading
import time

from ..cache import subdir
from ..tree import KernelTree
from .build import build, load_built
from .harness import Built, harness_key


class Pending:
    """A harness build under way in a background thread."""

    def __init__(self, tree: KernelTree) -> None:
        self.version = tree.version_str
        self.final = subdir("upstream-c", tree.cache) / harness_key(tree)
        self.done = threading.Event()
        self.value: Built | None = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.waited = 0.0
        self.thread = threading.Thread(target=self._run, args=(tree,), daemon=True,
                                       name=f"upstream-c {tree.version_str}")
        self.thread.start()

    def _run(self, tree: KernelTree) -> None:
        try:
            self.value = build(tree)
        except BaseException as exc:       # handed to whoever waits
            self.error = exc
        finally:
            self.done.set()

    def result(self) -> Built:
        t0 = time.monotonic()
        while not self.done.wait(0.2):
            if not self.thread.is_alive():
                # a forked child (--isolate): the parent's thread builds; its lock
                # is this process's too, so wait for the result, not the lock
                if (self.final / "RESULT.json").is_file():
                    return load_built(self.final, True)
        self.waited += time.monotonic() - t0
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


_pending: dict[str, Pending] = {}
_lock = threading.Lock()


def start(tree: KernelTree) -> Pending:
    """Start building *tree*'s harness in the background (once per process)."""
    key = harness_key(tree)
    with _lock:
        if key not in _pending:
            _pending[key] = Pending(tree)
        return _pending[key]


def pending() -> dict[str, Pending]:
    """The builds this process started, by key."""
    return dict(_pending)
