# SPDX-License-Identifier: GPL-2.0-or-later
"""A C preprocessor ``#if`` expression evaluator of its own (never ``eval``).

Integers (decimal, octal, hex; u/l suffixes), the names of *values*, ``!``,
``~``, unary ``-``/``+``, ``* / %``, ``+ -``, ``<< >>``, comparisons, ``== !=``,
``& ^ |``, ``&& ||`` (short-circuit) and ``?:``, with C's precedence and 64-bit
wrapping.  Anything else (an unknown name, a character literal, a division by
zero, a shift out of range, nesting deeper than MAX_DEPTH, a function-like
macro's value when it is needed) makes the answer None: the caller leaves that
condition to the compiler.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

MAX_DEPTH = 40
MAX_TOKENS = 10_000

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>0[xX][0-9a-fA-F]+|[0-9]+)(?P<suffix>[uUlL]*)(?![A-Za-z0-9_])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|<<|>>|[-+*/%<>!~&|^?:()])
)""", re.X | re.A)

# binary operators by precedence level, lowest first (?: and the unary ones apart)
_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", "<=", ">", ">="),
    ("<<", ">>"), ("+", "-"), ("*", "/", "%"),
)


class _Undecided(Exception):
    """The expression cannot be evaluated here."""


def _wrap(v: int) -> int:
    return ((v + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)


def _tokens(text: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _Undecided(f"unexpected {text[pos:pos + 10]!r}")
        pos = m.end()
        if m.group("num") is not None:
            digits = m.group("num")
            base = 16 if digits[:2].lower() == "0x" else 8 if digits.startswith("0") else 10
            try:
                out.append(("num", _wrap(int(digits, base))))
            except ValueError:       # 08, 09
                raise _Undecided(f"bad number {digits!r}") from None
        elif m.group("name") is not None:
            out.append(("name", m.group("name")))
        else:
            out.append(("op", m.group("op")))
        if len(out) > MAX_TOKENS:
            raise _Undecided("too long")
    return out


class _Parser:
    """Recursive descent to a tree of tuples: ("num", v) ("name", n) (op, a[, b[, c]])."""

    def __init__(self, tokens: list[tuple[str, object]]) -> None:
        self.toks = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> object:
        return self.toks[self.i][1] if self.i < len(self.toks) and \
            self.toks[self.i][0] == "op" else None

    def take(self, op: str) -> None:
        if self.peek() != op:
            raise _Undecided(f"expected {op!r}")
        self.i += 1

    def parse(self) -> tuple:
        tree = self.cond()
        if self.i != len(self.toks):
            raise _Undecided("trailing tokens")
        return tree

    def cond(self) -> tuple:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Undecided("nested too deeply")
        test = self.binary(0)
        if self.peek() == "?":
            self.i += 1
            a = self.cond()
            self.take(":")
            b = self.cond()
            test = ("?", test, a, b)
        self.depth -= 1
        return test

    def binary(self, level: int) -> tuple:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in _LEVELS[level]:
            op = self.peek()
            self.i += 1
            left = (op, left, self.binary(level + 1))
        return left

    def unary(self) -> tuple:
        op = self.peek()
        if op in ("!", "~", "-", "+"):
            self.i += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _Undecided("nested too deeply")
            tree = (op + "u", self.unary())
            self.depth -= 1
            return tree
        if op == "(":
            self.i += 1
            tree = self.cond()
            self.take(")")
            return tree
        if self.i >= len(self.toks) or self.toks[self.i][0] == "op":
            raise _Undecided("expected a value")
        tok = self.toks[self.i]
        self.i += 1
        if self.peek() == "(":      # a function-like macro: undecided if evaluated
            depth = 0
            while self.i < len(self.toks):
                op = self.peek()
                self.i += 1
                depth += (op == "(") - (op == ")")
                if depth == 0:
                    return ("call",)
            raise _Undecided("unbalanced call")
        return tok


def _eval(t: tuple, values: Mapping[str, int]) -> int:
    op = t[0]
    if op == "num":
        return t[1]
    if op == "name":
        if t[1] not in values:
            raise _Undecided(f"unknown name {t[1]}")
        return _wrap(int(values[t[1]]))
    if op == "call":
        raise _Undecided("function-like macro")
    if op == "?":
        return _eval(t[2] if _eval(t[1], values) else t[3], values)
    if op == "&&":
        return int(bool(_eval(t[1], values)) and bool(_eval(t[2], values)))
    if op == "||":
        return int(bool(_eval(t[1], values)) or bool(_eval(t[2], values)))
    a = _eval(t[1], values)
    if len(t) == 2:
        return {"!u": lambda: int(not a), "~u": lambda: ~a, "-u": lambda: _wrap(-a),
                "+u": lambda: a}[op]()
    b = _eval(t[2], values)
    if op in ("/", "%"):
        if b == 0:
            raise _Undecided("division by zero")
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)   # C truncates
        return _wrap(q) if op == "/" else _wrap(a - b * q)
    if op in ("<<", ">>"):
        if not 0 <= b < 64:
            raise _Undecided("shift out of range")
        return _wrap(a << b) if op == "<<" else a >> b
    return {"*": lambda: _wrap(a * b), "+": lambda: _wrap(a + b), "-": lambda: _wrap(a - b),
            "<": lambda: int(a < b), "<=": lambda: int(a <= b), ">": lambda: int(a > b),
            ">=": lambda: int(a >= b), "==": lambda: int(a == b), "!=": lambda: int(a != b),
            "&": lambda: a & b, "^": lambda: a ^ b, "|": lambda: a | b}[op]()


def evaluate(expr: str, values: Mapping[str, int] | None = None) -> int | None:
    """The value of the ``#if`` expression *expr* (names looked up in *values*),
    or None when it cannot be decided here."""
    try:
        return _eval(_Parser(_tokens(expr)).parse(), values or {})
    except (_Undecided, RecursionError):
        return None
