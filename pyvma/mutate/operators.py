# SPDX-License-Identifier: GPL-2.0-or-later
"""Mutation operators: one-line changes a kernel bug would look like.

Each operator takes a mutable line (sites.Line: its text and its code with comments
blanked) and yields ``(operator, new_text)`` for every place it applies; one change
a mutant.  The operators:

``rel``     a relational operator or boundary changed (``<`` <-> ``<=``, ``>`` <-> ``>=``,
            ``==`` <-> ``!=``)
``logic``   ``&&`` <-> ``||``
``negate``  an ``if``/``while`` condition negated
``drop-*``  a statement dropped: ``drop-acct`` (an accounting update), ``drop-unlock``,
            ``drop-return`` (an error return or ``goto`` to an error path),
            ``drop-assign``, ``drop-call``
``swap``    a variable swapped for its sibling (prev/next, start/end, vm_start/vm_end,
            pgoff/anon_pgoff, true/false)
``flag``    a VMA flag swapped for a related one (VM_SHARED/VM_MAYSHARE, ...)
``errno``   an error code changed
``mask``    a flag dropped from a VMA flag mask of include/linux/mm.h
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from .sites import Line

_REL = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_OPS = re.compile(r"->|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||[<>]")

SIBLINGS = {
    "prev": "next", "next": "prev", "start": "end", "end": "start",
    "vm_start": "vm_end", "vm_end": "vm_start", "pgoff": "anon_pgoff",
    "anon_pgoff": "pgoff", "vm_pgoff": "anon_pgoff", "true": "false", "false": "true",
}

_FLAG_PAIRS = (
    ("SHARED", "MAYSHARE"), ("ACCOUNT", "NORESERVE"), ("LOCKED", "LOCKONFAULT"),
    ("GROWSDOWN", "GROWSUP"), ("READ", "WRITE"), ("MAYBE_GUARD", "SOFTDIRTY"),
    ("MAYREAD", "MAYWRITE"), ("DONTEXPAND", "DONTCOPY"), ("PFNMAP", "MIXEDMAP"),
    ("STACK", "GROWSDOWN"), ("HUGETLB", "PFNMAP"), ("EXEC", "MAYEXEC"),
)
FLAGS: dict[str, str] = {}
for _a, _b in _FLAG_PAIRS:
    for _pre, _suf in (("VM_", ""), ("VMA_", "_BIT")):
        FLAGS.setdefault(f"{_pre}{_a}{_suf}", f"{_pre}{_b}{_suf}")
        FLAGS.setdefault(f"{_pre}{_b}{_suf}", f"{_pre}{_a}{_suf}")
FLAGS.update({"VMA_STICKY_FLAGS": "VMA_SPECIAL_FLAGS", "VM_STICKY": "VM_SPECIAL",
              "VM_IGNORE_MERGE": "VM_SPECIAL", "VMA_IGNORE_MERGE_FLAGS": "VMA_SPECIAL_FLAGS"})

ERRNOS = {"ENOMEM": "EINVAL", "EINVAL": "ENOMEM", "EAGAIN": "ENOMEM", "EFAULT": "EINVAL",
          "EINTR": "EAGAIN", "EPERM": "EACCES", "EACCES": "EPERM", "EEXIST": "EINVAL",
          "ENODEV": "EINVAL", "EBUSY": "EAGAIN", "ENOENT": "EINVAL"}

_ACCT = re.compile(r"\b(vm_stat_account|vm_unacct_memory|vm_acct_memory|"
                   r"security_vm_enough_memory\w*|mm_populate|"
                   r"(total_vm|locked_vm|stack_vm|data_vm|exec_vm|pinned_vm|map_count|"
                   r"hiwater_vm|charged|nr_pages|nr_accounted)\b)")
_UNLOCK = re.compile(r"\b\w*(unlock\w*|up_write|up_read|_end_write|drop_all_locks)\s*\(")
_DECL = re.compile(r"^\s*(?:(?:const|static|unsigned|signed|struct|enum|union|int|long|"
                   r"bool|char|void|u8|u16|u32|u64|size_t|pgoff_t|vm_flags_t|vma_flags_t|"
                   r"gfp_t|pgprot_t)\b|[A-Za-z_]\w*\s+\**\s*[A-Za-z_]\w*\s*(?:=|;|\[|,))")
_WORD = re.compile(r"[A-Za-z_]\w*")


def _balanced(code: str) -> bool:
    return code.count("(") == code.count(")")


def _stmt_start(prev_code: str) -> bool:
    """Whether a line after *prev_code* starts a statement."""
    p = prev_code.rstrip()
    return not p or p.endswith((";", "{", "}", ":")) or \
        bool(re.match(r"^\s*(?:}\s*)?(?:else|if\b.*\)|for\b.*\)|while\b.*\))\s*$", p))


def _drop_kind(code: str) -> str | None:
    s = code.strip()
    if not s.endswith(";") or not _balanced(s) or s == ";":
        return None
    if re.match(r"return\s+-E[A-Z]+\s*;|goto\s+\w+\s*;", s):
        return "drop-return"
    if s.startswith(("return", "break", "continue")) or _DECL.match(s):
        return None
    if _UNLOCK.search(s):
        return "drop-unlock"
    if _ACCT.search(s):
        return "drop-acct"
    if re.match(r"[\w\->.\[\]*()\s]+(?:[-+|&^]?=|\+\+|--)", s) and "==" not in s.split("=")[0]:
        return "drop-assign"
    if re.match(r"[\w\->.]+\s*\(", s):
        return "drop-call"
    return None


def _cond_span(code: str) -> tuple[int, int] | None:
    """The inside of the parentheses of a one-line ``if (...)``/``while (...)``."""
    m = re.search(r"\b(?:if|while)\s*\(", code)
    if not m:
        return None
    depth, i = 1, m.end()
    while i < len(code) and depth:
        depth += (code[i] == "(") - (code[i] == ")")
        i += 1
    return (m.end(), i - 1) if depth == 0 else None


def mutations(line: Line, prev_code: str = "") -> Iterator[tuple[str, str]]:
    """Every one-change mutation of *line*: (operator, new text)."""
    text, code = line.text, line.code
    if line.function.isupper() or line.file.endswith(".h"):     # a mask definition
        yield from _mask(line, prev_code)
        return
    for m in _OPS.finditer(code):
        op = m.group(0)
        if op in _REL:
            yield "rel", text[:m.start()] + _REL[op] + text[m.end():]
        elif op in ("&&", "||"):
            yield "logic", text[:m.start()] + ("||" if op == "&&" else "&&") + text[m.end():]
    span = _cond_span(code)
    if span:
        a, b = span
        yield "negate", text[:a] + "!(" + text[a:b] + ")" + text[b:]
    if _stmt_start(prev_code):
        kind = _drop_kind(code)
        if kind:
            indent = text[:len(text) - len(text.lstrip())]
            yield kind, indent + ";"
    for m in _WORD.finditer(code):
        w = m.group(0)
        before = code[:m.start()].rstrip()
        if w in SIBLINGS and not before.endswith(("struct", "enum")):
            yield "swap", text[:m.start()] + SIBLINGS[w] + text[m.end():]
        elif w in FLAGS:
            yield "flag", text[:m.start()] + FLAGS[w] + text[m.end():]
        elif w in ERRNOS and before.endswith("-"):
            yield "errno", text[:m.start()] + ERRNOS[w] + text[m.end():]


def _mask(line: Line, prev_code: str) -> Iterator[tuple[str, str]]:
    """Drop one flag of a mask: ``A | B`` -> ``A | 0``; ``mk_vma_flags(A, B)`` -> without B."""
    text, code = line.text, line.code
    for m in re.finditer(r"\b(VMA?_[A-Z0-9_]+)\b", code):
        name = m.group(1)
        if name == line.function:
            continue
        if name.endswith("_BIT"):
            # an argument of mk_vma_flags(): drop it with its comma
            after = re.match(r"\s*,[ \t]*", code[m.end():])
            before = re.search(r",\s*$", code[:m.start()])
            if after:
                yield "mask", text[:m.start()] + text[m.end() + len(after.group(0)):]
            elif before:
                yield "mask", text[:before.start()] + text[m.end():]
            elif name in FLAGS:     # the only argument: another flag instead
                yield "flag", text[:m.start()] + FLAGS[name] + text[m.end():]
        elif re.search(r"\|\s*$", code[:m.start()]) or re.match(r"\s*\|", code[m.end():]) \
                or (not code[:m.start()].strip()
                    and prev_code.rstrip().rstrip("\\").rstrip().endswith("|")):
            yield "mask", text[:m.start()] + "0" + text[m.end():]
        elif name in FLAGS:
            yield "flag", text[:m.start()] + FLAGS[name] + text[m.end():]
