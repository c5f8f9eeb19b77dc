# SPDX-License-Identifier: GPL-2.0-or-later
"""C text at the level of its tokens: identifiers and keywords, comments and string
literals, the identifiers a piece of text uses, parameter lists."""
from __future__ import annotations

import re

IDENT = re.compile(r"[A-Za-z_]\w*")
C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while _Bool bool true false typeof __typeof__ __typeof
__inline__ __inline __asm__ asm __volatile__ __attribute__ __attribute _Static_assert
__extension__ __builtin_expect __builtin_constant_p NULL defined __always_inline
__must_check noinline __maybe_unused __pure __init __initdata __read_mostly __force __user
__rcu __private __bitwise __nocast __iomem __percpu __packed __aligned __noreturn
__cold __weak __ro_after_init __randomize_layout __randomize_layout_start __section
""".split())


_COMMENT_OR_STRING = re.compile(
    r'/\*.*?(?:\*/|\Z)|//[^\n]*|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?', re.S)


def strip_comments(text: str) -> str:
    """Remove comments (a block comment becomes a space and its newlines, so line
    numbers stay right); string and character literals are kept as they are."""
    def repl(m: re.Match) -> str:
        tok = m.group()
        if tok.startswith("/*"):
            return " " + "\n" * tok.count("\n")
        if tok.startswith("//"):
            return ""
        return tok
    return _COMMENT_OR_STRING.sub(repl, text)


STRING_LITERAL = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')


_DIRECTIVE_WORD = re.compile(
    r"^\s*#\s*(if|ifdef|ifndef|elif|else|endif|define|undef|error|warning)\b", re.M)
_MEMBER_SPACE = re.compile(r"\s*(->|\.)\s*")
_TAG_USE = re.compile(r"\b(struct|union|enum)\s+([A-Za-z_]\w*)(\s*\*)?")
_IDENT_USE = re.compile(r"(?<![\w.])(?<!->)[A-Za-z_]\w*")


def used_identifiers(text: str) -> tuple[set[str], set[str], set[str]]:
    """Ordinary identifiers, by-value tags and pointer-only tags used in *text*
    (members after ``.``/``->``, keywords and the tags' own names are not identifiers)."""
    text = STRING_LITERAL.sub(" ", text)
    text = _DIRECTIVE_WORD.sub(" ", text)
    text = _MEMBER_SPACE.sub(r"\1", text)
    tags: set[str] = set()
    ptr_tags: set[str] = set()
    for m in _TAG_USE.finditer(text):
        (ptr_tags if m.group(3) else tags).add(f"{m.group(1)} {m.group(2)}")
    text = _TAG_USE.sub(" ", text)
    idents = set(_IDENT_USE.findall(text)) - C_KEYWORDS - {"struct", "union", "enum"}
    ptr_tags -= tags
    return idents, tags, ptr_tags


def split_params(params: str) -> list[str]:
    """A parameter list's declarations, split at its top-level commas (none for an
    empty or ``void`` list)."""
    if params.strip() in ("", "void"):
        return []
    items: list[str] = []
    cur, depth = "", 0
    for ch in params:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    return items + [cur]


def header_params(head: str, name: str) -> list[str]:
    """The parameter declarations of the function *name*'s header *head*."""
    params = head[head.index(name) + len(name):]
    return split_params(params[params.index("(") + 1:params.rindex(")")])
