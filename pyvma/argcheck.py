# SPDX-License-Identifier: GPL-2.0-or-later
"""Validation of the ``pyvma`` command line: every bad argument is one line on
stderr and exit status 2 (never a traceback, never a silent no-op).

The functions are argparse ``type=`` callables: they return the converted value or
raise ``argparse.ArgumentTypeError`` with what is wrong and what is accepted.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from .engine.callers_spec import OP_ARGS as CALLER_OP_ARGS

#: the user address space the operations work in, in pages (47-bit, 4 KiB pages)
MAX_PAGE = 1 << 35
#: file offsets of mappings, in pages
MAX_PGOFF = 1 << 40
MAX_OPS = 100_000
MAX_OPS_TEXT = 16 << 20

# operation name -> the type of each argument after the name
_PAGE, _PGOFF, _FLAGS, _NAME, _BOOL = "page", "pgoff", "flags", "name", "bool"
OP_ARGS: dict[str, tuple[str, ...]] = {
    "map": (_PAGE, _PAGE, _PGOFF, _FLAGS, _NAME, _NAME),
    "merge_new": (_PAGE, _PAGE, _PGOFF, _FLAGS, _NAME, _NAME),
    "modify": (_PAGE, _PAGE, _FLAGS),
    "set_flags": (_PAGE, _FLAGS),
    "expand": (_PAGE, _PAGE),
    "shrink": (_PAGE, _PAGE),
    "split": (_PAGE, _BOOL),
    "munmap": (_PAGE, _PAGE),
    "mmap": (_PAGE, _PAGE, _PGOFF, _FLAGS, _NAME),
    "brk": (_PAGE, _PAGE),
    "copy_vma": (_PAGE, _PAGE, _BOOL),
    "vm_munmap": (_PAGE, _PAGE),
    "fault": (_PAGE,),
    "insert": (_PAGE, _PAGE, _PGOFF, _FLAGS, _NAME, _NAME),
    "fail": (_NAME, _PAGE),
    "mprotect": (_PAGE, _PAGE, _FLAGS),
    # pyvma/engine/ops_paths.py's
    "name": (_PAGE, _PAGE, _NAME),
    "policy": (_PAGE, _PAGE),
    "uffd": (_PAGE, _PAGE, _FLAGS, _BOOL),
    "extend": (_PAGE, _PAGE),
    "stack": (_PAGE, _PAGE),
    "special": (_PAGE, _PAGE, _FLAGS, "names"),
    "all_locks": (),
    "mmap_file": (_PAGE, _PAGE, _PGOFF, _FLAGS, _NAME),
    "mmap_prepare": (_PAGE, _PAGE, _PGOFF, _FLAGS, _NAME),
    "limit": (_NAME, "count"),
    # pyvma/engine/ops_query.py's
    "writenotify": (_PAGE, "count", "names", _BOOL),
    "unmapped_area": ("count", _PAGE, _PAGE, "count", _BOOL),
    "pagesize": (_PAGE,),
    "init_stack": (_PAGE,),
    "relocate": (_PAGE, "count"),
    # pyvma/engine/callers_spec.py's system calls, from their specs
    **CALLER_OP_ARGS,
}
#: operations whose first two page arguments are not a start and an end
_NOT_RANGES = ("expand", "shrink", "copy_vma", "extend", "stack")
_FLAG = re.compile(r"VM_[A-Z0-9_]{1,40}")
_OBJ = re.compile(r"[A-Za-z0-9_.-]{1,40}")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block), exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {one_line(message)} "
                         f"(see `{self.prog} --help`)\n")
        sys.exit(2)


def one_line(text: str) -> str:
    """*text* with control characters and line breaks escaped (``\\n``, ``\\x1b``)."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _int(text: str, what: str) -> int:
    try:
        return int(text.strip(), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}: {text!r} is not an integer") from None


def int_range(lo: int, hi: int, what: str = "value") -> Callable[[str], int]:
    """An integer in [lo, hi]."""
    def check(text: str) -> int:
        v = _int(text, what)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{what} {v} is out of range: give {lo} to {hi}")
        return v
    check.__name__ = "integer"
    return check


def finite_range(lo: float, hi: float, what: str = "value") -> Callable[[str], float]:
    """A finite number in (lo, hi]."""
    def check(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: {text!r} is not a number") from None
        if not math.isfinite(v) or not lo < v <= hi:
            raise argparse.ArgumentTypeError(
                f"{what} {text!r} is out of range: give a number above {lo:g} and at most "
                f"{hi:g}")
        return v
    check.__name__ = "number"
    return check


def kernel_spec(text: str) -> str:
    """A kernel spec's syntax (whether it exists is for pyvma.tree to say)."""
    if not text:
        raise argparse.ArgumentTypeError("empty kernel spec: give a directory, DIR@REF, a "
                                         "linux-source .deb/tarball or debian:X.Y")
    if text != text.strip():
        raise argparse.ArgumentTypeError(
            f"kernel spec {text!r} has leading or trailing white space: give "
            f"{text.strip()!r}")
    if not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"kernel spec {one_line(text)!r} has control characters or line breaks: "
            "rename the file or directory")
    if text.startswith("debian:"):
        from .tree.debian import spec_problem
        why = spec_problem(text)
        if why:
            raise argparse.ArgumentTypeError(why)
    return text


def config_item(text: str) -> str:
    """``CONFIG_X=y|n`` naming an option the harness can vary."""
    from vma_internal.config import ConfigError, HarnessConfig
    try:
        HarnessConfig.parse([text])
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


class Once(argparse.Action):
    """An option that may be given once: a second one is an error, not a silent
    replacement of the first."""

    def __call__(self, parser, namespace, value, option_string=None):
        if getattr(namespace, f"_once_{self.dest}", False):
            parser.error(f"{option_string} given twice: give it once")
        setattr(namespace, f"_once_{self.dest}", True)
        setattr(namespace, self.dest, value)


class ConfigItems(argparse.Action):
    """``--kernel-config CONFIG_X=y|n``, repeatable: the same option set both ways is
    an error (not the last one silently winning)."""

    def __call__(self, parser, namespace, value, option_string=None):
        items = list(getattr(namespace, self.dest, None) or [])
        name, _, setting = value.partition("=")
        for old in items:
            oname, _, osetting = old.partition("=")
            if oname == name and osetting.lower() != setting.lower():
                parser.error(f"{option_string} {value} contradicts {option_string} {old}: "
                             f"give {name} once")
        if value not in items:
            items.append(value)
        setattr(namespace, self.dest, items)


def flag_names(ops: list[tuple]) -> list[str]:
    """Every flag name the operations of an ``ops_json`` list use, in order."""
    names: list[str] = []
    for op in ops:
        for kind, v in zip(OP_ARGS[op[0]], op[1:]):
            if kind == _FLAGS:
                names += [n for n in v if n not in names]
    return names


def _check_arg(kind: str, v: Any, where: str) -> None:
    if kind in (_PAGE, _PGOFF):
        hi = MAX_PAGE if kind == _PAGE else MAX_PGOFF
        if type(v) is not int or not 0 <= v < hi:
            raise argparse.ArgumentTypeError(
                f"{where}: {json.dumps(v)} is not a {kind} number (an integer 0 to {hi - 1})")
    elif kind == _FLAGS:
        if not isinstance(v, list) or not all(isinstance(f, str) and _FLAG.fullmatch(f)
                                              for f in v):
            raise argparse.ArgumentTypeError(
                f"{where}: {json.dumps(v)[:80]} is not a list of flag names like \"VM_READ\"")
    elif kind == _NAME:
        if v is not None and not (isinstance(v, str) and _OBJ.fullmatch(v)) and \
                not (type(v) is int and 0 <= v < 1 << 31):
            raise argparse.ArgumentTypeError(
                f"{where}: {json.dumps(v)[:80]} is not an object name (null, a small "
                "integer or a short name)")
    elif kind == _BOOL and not isinstance(v, bool):
        raise argparse.ArgumentTypeError(f"{where}: {json.dumps(v)[:80]} is not true/false")
    elif kind == "names" and v is not None and not (
            isinstance(v, list) and len(v) < 16
            and all(isinstance(n, str) and _OBJ.fullmatch(n) for n in v)):
        raise argparse.ArgumentTypeError(
            f"{where}: {json.dumps(v)[:80]} is not null or a list of short names")
    elif kind == "count" and v is not None and not (type(v) is int and 0 <= v < MAX_PAGE):
        raise argparse.ArgumentTypeError(
            f"{where}: {json.dumps(v)[:80]} is not null or a page count (0 to {MAX_PAGE - 1})")


def ops_json(text: str) -> list[tuple]:
    """The JSON operation list of a diff report: ``[["map", 0, 4, 0, ["VM_READ"],
    null, null], ["munmap", 1, 2], ...]``, every operation and argument checked."""
    if len(text) > MAX_OPS_TEXT:
        raise argparse.ArgumentTypeError(f"more than {MAX_OPS_TEXT >> 20} MiB of JSON")
    try:
        data = json.loads(text, parse_constant=lambda c: c)
    except (ValueError, RecursionError) as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e})") from None
    if not isinstance(data, list) or not data:
        raise argparse.ArgumentTypeError(
            "expected a non-empty JSON list of operations like [[\"munmap\", 0, 4]]")
    if len(data) > MAX_OPS:
        raise argparse.ArgumentTypeError(f"more than {MAX_OPS} operations")
    ops = []
    for i, op in enumerate(data, 1):
        where = f"operation {i}"
        if not isinstance(op, list) or not op or not isinstance(op[0], str):
            raise argparse.ArgumentTypeError(
                f"{where}: {json.dumps(op)[:80]} is not a list [\"name\", args...]")
        kinds = OP_ARGS.get(op[0])
        if kinds is None:
            raise argparse.ArgumentTypeError(
                f"{where}: unknown operation {op[0][:40]!r}: use one of "
                f"{', '.join(OP_ARGS)}")
        if len(op) - 1 != len(kinds):
            raise argparse.ArgumentTypeError(
                f"{where}: {op[0]} takes {len(kinds)} arguments ({', '.join(kinds)}), "
                f"got {len(op) - 1}")
        for n, (kind, v) in enumerate(zip(kinds, op[1:]), 1):
            _check_arg(kind, v, f"{where} ({op[0]}) argument {n}")
        if len(kinds) >= 2 and kinds[:2] == (_PAGE, _PAGE) and op[0] not in _NOT_RANGES \
                and not op[1] < op[2]:
            raise argparse.ArgumentTypeError(
                f"{where}: {op[0]} pages {op[1]}-{op[2]}: the end must be above the start")
        ops.append(tuple(tuple(a) if isinstance(a, list) else a for a in op))
    return ops


def ops_json_text(text: str) -> str:
    """``ops_json``'s check, the text kept as it is (the command parses it)."""
    ops_json(text)
    return text


#: pytest's options (its own, its plugins' installed with pyvma, pyvma's) that take a
#: value: the word after them is that value, never a test path
PYTEST_VALUE_OPTIONS = frozenset("""
    --assert --basetemp --cache-show --capture --code-highlight --color --confcutdir
    --config-file --debug --deselect --dist --doctest-glob --doctest-report --durations
    --durations-min --hypothesis-profile --hypothesis-seed --hypothesis-verbosity --ignore
    --ignore-glob --import-mode --isolate-timeout --junit-prefix --junit-xml --junitxml
    --kernel --kernel-config --kernel-sanitizer --ktap --last-failed-no-failures --lfnf
    --log-auto-indent --log-cli-date-format --log-cli-format --log-cli-level
    --log-date-format --log-disable --log-file --log-file-date-format --log-file-format
    --log-file-level --log-file-mode --log-format --log-level --max-worker-restart
    --maxfail --maxprocesses --maxschedchunk --numprocesses --override-ini --pastebin
    --pdbcls --px --pythonwarnings --pyvma-results --rootdir --rsyncdir --rsyncignore
    --show-capture --tb --testrunuid --tx --verbosity --benchmark-calibration-precision
    --benchmark-columns --benchmark-compare --benchmark-compare-fail --benchmark-cprofile
    --benchmark-cprofile-dump --benchmark-cprofile-loops --benchmark-cprofile-top
    --benchmark-group-by --benchmark-histogram --benchmark-json --benchmark-max-time
    --benchmark-min-rounds --benchmark-min-time --benchmark-name --benchmark-netrc
    --benchmark-save --benchmark-sort --benchmark-storage --benchmark-time-unit
    --benchmark-timer --benchmark-warmup --benchmark-warmup-iterations
""".split())
#: the short ones (``-k EXPR`` or ``-kEXPR``)
PYTEST_VALUE_SHORT = frozenset("Wckmnopr")


def pytest_paths(args: list[str]) -> list[str]:
    """The test paths (and node ids) among pytest arguments: every word that is not an
    option or an option's value (``--ktap out.ktap``, ``-k expr``, ``-xk expr``);
    everything after a lone ``--`` is a path."""
    paths: list[str] = []
    value_next = False
    for i, a in enumerate(args):
        if value_next:
            value_next = False
        elif a == "--":
            paths += args[i + 1:]
            break
        elif a.startswith("--"):
            value_next = "=" not in a and a in PYTEST_VALUE_OPTIONS
        elif a.startswith("-") and len(a) > 1:
            for j, c in enumerate(a[1:], 1):
                if c in PYTEST_VALUE_SHORT:
                    value_next = j == len(a) - 1      # else the rest is the value
                    break
        else:
            paths.append(a)
    return paths

