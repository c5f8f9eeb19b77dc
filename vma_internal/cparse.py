# SPDX-License-Identifier: GPL-2.0-or-later
"""Split kernel C headers into top-level definitions: the scanner.

This is not a C parser: it is a scanner that knows enough about the shape of
kernel headers (preprocessor conditionals, macros, inline functions, structs,
enums, typedefs, prototypes) to cut a header into named pieces and to record
under which ``#if`` conditions each piece lives.  The pieces are later chosen by
name and emitted again, so the text always comes from the tree under test.

The scanner finds where each top-level piece ends (braces, parentheses and ``;``
outside string literals, directives at the top level); ``classify`` names what a
piece defines, ``conditionals`` tracks the ``#if`` nesting, ``ctext`` holds the
token-level helpers, ``definition`` the result and what it uses, ``parsecache``
the cache of parses.
"""
from __future__ import annotations

import re
from pathlib import Path

from .classify import classify, expand_enum_macro_items
from .conditionals import CondStack, logical_lines
from .ctext import STRING_LITERAL, strip_comments
from .definition import Definition

__all__ = ["Definition", "parse_header"]

_SIGNIFICANT = re.compile(r"[{}();]")
_DEFINE_NAME = re.compile(r"#\s*define\s+(\w+)")
_COND_DIRECTIVE = re.compile(r"#\s*(if|ifdef|ifndef|elif|else|endif)\b")
_PARAMS_END = re.compile(r"\)\s*(__\w+(\s*\(.*\))?\s*)*$")
_TAG_ONLY_HEAD = re.compile(r"\s*(typedef\s+)?(struct|union|enum)(\s+\w+)?\s*")
_MACRO_CALL = re.compile(r"\s*[A-Z][A-Z0-9_]*\s*\(.*\)\s*", re.S)

_PARSE_CACHE_VERSION = "5"
# the modules whose code decides a parse (their source is in the cache key)
_SCANNER_MODULES = ("cparse", "classify", "conditionals", "ctext", "definition")


def parse_header(path: Path, relname: str, cache: Path | None = None) -> list[Definition]:
    """Cut one header into definitions (include guard dropped from conditions).

    Results are cached by content in the directory *cache*, if given."""
    raw = path.read_text(errors="replace")
    if cache is None:
        return _parse_text(raw, relname)
    from .parsecache import cached_parse
    return cached_parse(raw, relname, cache, _parser_key(), _parse_text)


_parser_keys: list[str] = []


def _parser_key() -> str:
    """The cache version and the scanner's own source: a change to either
    invalidates every cached parse."""
    if not _parser_keys:
        import hashlib
        h = hashlib.sha256()
        for mod in _SCANNER_MODULES:
            h.update((Path(__file__).parent / f"{mod}.py").read_bytes())
        _parser_keys.append(f"{_PARSE_CACHE_VERSION}:{h.hexdigest()[:16]}")
    return _parser_keys[0]


def _parse_text(raw: str, relname: str) -> list[Definition]:
    text = strip_comments(raw)
    defs: list[Definition] = []
    conds = CondStack()
    guard: str | None = None
    m = re.search(r"^\s*#\s*ifndef\s+(\w+)\s*\n\s*#\s*define\s+(\w+)", text, re.M)
    if m and m.group(1) == m.group(2) and not text[:m.start()].strip():
        guard = m.group(1)
    guard_cond = f"(!defined({guard}))"
    chunk: list[str] = []
    filled = False          # the chunk holds more than white space
    chunk_line = 0
    chunk_conds: tuple[str, ...] = ()
    depth = 0
    paren = 0
    macro_call = False

    def emit(body: str, line: int, cnds: tuple[str, ...]) -> None:
        got = classify(body)
        if got is None:
            return
        kind, name, names, tags = got
        defs.append(Definition(kind, name, names, tags, body.strip(), relname, line,
                               tuple(c for c in cnds if c != guard_cond)))

    for lineno, line in logical_lines(text):
        stripped = line.strip()
        if stripped.startswith("#") and depth == 0 and paren == 0:
            dm = _DEFINE_NAME.match(stripped)
            if dm and not filled:
                name = dm.group(1)
                if name != guard:
                    defs.append(Definition("macro", name, (name,), (), stripped, relname, lineno,
                                           tuple(c for c in conds.snapshot()
                                                 if c != guard_cond)))
                continue
            if _COND_DIRECTIVE.match(stripped):
                conds.directive(stripped)
                continue
            if not filled:
                continue
        if stripped.startswith("#"):
            chunk.append(line + "\n")
            filled = filled or bool(stripped)
            continue
        if macro_call and stripped:
            if not stripped.startswith("{"):
                chunk = []
                filled = False
            macro_call = False
        if not filled:
            chunk_line = lineno
            chunk_conds = conds.snapshot()
        # scan characters to find the end of the chunk (string contents masked)
        start = 0
        masked = STRING_LITERAL.sub(lambda m: m.group()[0] + " " * (len(m.group()) - 2) + m.group()[0],
                              line) if ("'" in line or '"' in line) else line
        for sm in _SIGNIFICANT.finditer(masked):
            i, ch = sm.start(), sm.group()
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0 and paren == 0:
                    sofar = "".join(chunk) + line[start:i + 1]
                    head = sofar[:sofar.find("{")]
                    is_func = (_PARAMS_END.search(head.strip())
                               and "=" not in head
                               and not _TAG_ONLY_HEAD.fullmatch(head))
                    if is_func:
                        emit(sofar, chunk_line, chunk_conds)
                        chunk = []
                        filled = False
                        start = i + 1
                        chunk_line = lineno
                        chunk_conds = conds.snapshot()
            elif ch == "(":
                paren += 1
            elif ch == ")":
                paren -= 1
            elif ch == ";" and depth == 0 and paren == 0:
                emit("".join(chunk) + line[start:i + 1], chunk_line, chunk_conds)
                chunk = []
                filled = False
                start = i + 1
                chunk_line = lineno
                chunk_conds = conds.snapshot()
        rest = line[start:]
        if rest.strip():
            chunk.append(rest + "\n")
            filled = True
        elif chunk:
            chunk.append(rest + "\n")
        if depth < 0:
            depth = 0
        # a top-level macro invocation with no ';' (DEFINE_LOCK_GUARD_0(...)) ends here,
        # unless a body follows (SYSCALL_DEFINE2(...) { ... }): decided at the next line
        macro_call = filled and depth == 0 and paren == 0 and \
            bool(_MACRO_CALL.fullmatch("".join(chunk)))
    expand_enum_macro_items(defs)
    return defs
