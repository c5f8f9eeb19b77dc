# SPDX-License-Identifier: GPL-2.0-or-later
"""Which calls that reached a harness hook in a base tree reach a no-op stub in a
patched tree.

A hooked function the patched tree no longer calls is not lost (a series that
replaces vma_start_write() by vma_start_write_killable() everywhere calls a
function the harness hooks as well).  What is lost is a call that now reaches a
stub without a hook: the same function with a prototype no hook fits, or a new
function called where the hooked one was (a rename with another signature).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import manifest
from .cparse import parse_header
from .generate import LOCAL_HEADERS, SOURCES, Shim, Stub


@dataclass(frozen=True)
class LostHook:
    """One hooked function of the base whose calls now reach a no-op stub."""

    hook: str                   # the base's hook function (pyvma_hook_i_mmap_root)
    name: str                   # the base function bound to it
    stubs: tuple[str, ...]      # the no-op stubs its calls reach now
    callers: tuple[str, ...]    # the functions making those calls

    def describe(self, base_version: str) -> str:
        if self.stubs == (self.name,):
            return (f"{self.hook}: bound in {base_version} to {self.name}; here "
                    f"{self.name}() has a prototype the hook does not fit and is a "
                    f"no-op stub (called by {', '.join(self.callers) or 'the glue'})")
        return (f"{self.hook}: bound in {base_version} to {self.name}; bound to nothing "
                f"here: {', '.join(self.callers)} now call {', '.join(self.stubs)}, a no-op "
                "stub, where they called it")


def callers(tree: Path, shim: Shim, parse_cache: Path | None = None) -> dict[str, set[str]]:
    """For every name: the functions (and macros) of the tree's mm/vma*.c, mm/vma.h and
    the shim's extracted definitions that use it directly."""
    defs = [d for d in shim.extracted if d.kind in ("function", "macro")]
    for rel in SOURCES + LOCAL_HEADERS:
        if (tree / rel).exists():
            defs += [d for d in parse_header(tree / rel, rel, parse_cache)
                     if d.kind in ("function", "macro")]
    out: dict[str, set[str]] = {}
    for d in defs:
        for name in d.uses:
            out.setdefault(name, set()).add(d.name)
    return out


def _noop(stub: Stub) -> bool:
    """A stub that does nothing a test could see: no hook, no chosen return value."""
    return not stub.hook and stub.name not in manifest.STUB_RETURNS


def lost_hooks(base: Shim, base_callers: dict[str, set[str]], new: Shim,
               new_callers: dict[str, set[str]]) -> list[LostHook]:
    """The base's hooked stubs whose calls reach a no-op stub in *new*."""
    base_stubs = {s.name: s for s in base.stubs}
    new_stubs = {s.name: s for s in new.stubs}
    # stubs the patched tree calls that the base did not stub: candidates for a
    # replacement of a hooked function
    fresh = {n: s for n, s in new_stubs.items() if n not in base_stubs and _noop(s)}
    out: list[LostHook] = []
    for s in sorted(base_stubs.values(), key=lambda s: s.name):
        if not s.hook:
            continue
        now = new_stubs.get(s.name)
        if now is not None:
            if _noop(now):
                out.append(LostHook(s.hook_function, s.name, (s.name,),
                                    tuple(sorted(new_callers.get(s.name, ())))))
            continue
        # no longer a stub: not called any more (or defined for real); lost only if
        # its callers now call a new no-op stub instead
        was = base_callers.get(s.name, set())
        repl = sorted(n for n in fresh if new_callers.get(n, set()) & was)
        if repl:
            who = sorted(set().union(*(new_callers[n] & was for n in repl)))
            out.append(LostHook(s.hook_function, s.name, tuple(repl), tuple(who)))
    return out
