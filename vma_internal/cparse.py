# SPDX-License-Identifier: GPL-2.0-or-later
"""Split kernel C headers into top-level definitions.

This is not a C parser: it is a scanner that knows enough about the shape of
kernel headers (preprocessor conditionals, macros, inline functions, structs,
enums, typedefs, prototypes) to cut a header into named pieces and to record
under which ``#if`` conditions each piece lives.  The pieces are later chosen by
name and emitted again, so the text always comes from the tree under test.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

TYPE_ATTRS = frozenset({"__private", "__bitwise", "__aligned", "__packed", "__randomize_layout",
                        "__attribute__"})

# Identifiers that look like a call in a declaration header but are attributes.
ATTRIBUTE_CALL = re.compile(
    r"^(__attribute__|__attribute|__printf|__scanf|__alloc_size|__aligned|__section|"
    r"__diagnose_as|__malloc|__must_hold|__acquires|__releases|__cond_acquires|"
    r"__cond_releases|__acquire|__release|__no_context_analysis|__assumes?_ctx\w*|"
    r"__cond_lock\w*|__guarded_by|__pt_guarded_by|__counted_by\w*|__realloc_size|"
    r"__returns_ctx\w*|__must_not_hold|__cond_acquires_shared|__acquires_shared|"
    r"__releases_shared|__must_hold_shared|__no_sanitize\w*|__nocfi|__alias|__designated_init|"
    r"__SC_\w+|__TRACE\w*|__cacheline_aligned\w*|____cacheline_aligned\w*)$")


@dataclass
class Definition:
    """One top-level piece of a header.

    What it uses is worked out from its text on first use: most of a header's
    definitions are never chosen, so most are never analysed."""

    kind: str                 # macro function prototype struct union enum typedef var fwd
    name: str                 # primary name ("struct foo" for tags)
    names: tuple[str, ...]    # every ordinary identifier it defines
    tags: tuple[str, ...]     # every struct/union/enum tag it defines ("struct foo")
    text: str                 # the definition, comments stripped
    file: str                 # path relative to the tree root
    line: int                 # first line in that file
    conds: tuple[str, ...] = ()   # enclosing #if conditions (C expressions)
    # (uses, tag_uses, ptr_tag_uses), computed from text when first asked for
    analysis: tuple[frozenset[str], frozenset[str], frozenset[str]] | None = \
        field(default=None, compare=False, repr=False)
    extra_uses: tuple[str, ...] = ()   # uses the text does not show (enum macro items)

    @property
    def uses(self) -> frozenset[str]:
        """Ordinary identifiers used."""
        return self._analysis()[0]

    @property
    def tag_uses(self) -> frozenset[str]:
        """Tags ("struct foo") used by value."""
        return self._analysis()[1]

    @property
    def ptr_tag_uses(self) -> frozenset[str]:
        """Tags used only through pointers."""
        return self._analysis()[2]

    def _analysis(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        if self.analysis is None:
            self.analysis = _analyse(self)
        return self.analysis

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def header(self) -> str:
        """For a function definition, the text before its body."""
        depth = 0
        for i, ch in enumerate(self.text):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "{" and depth == 0:
                return self.text[:i].rstrip()
        return self.text


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


_SIGNIFICANT = re.compile(r"[{}();]")
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')


_DIRECTIVE_WORD = re.compile(
    r"^\s*#\s*(if|ifdef|ifndef|elif|else|endif|define|undef|error|warning)\b", re.M)
_MEMBER_SPACE = re.compile(r"\s*(->|\.)\s*")
_TAG_USE = re.compile(r"\b(struct|union|enum)\s+([A-Za-z_]\w*)(\s*\*)?")
_IDENT_USE = re.compile(r"(?<![\w.])(?<!->)[A-Za-z_]\w*")


def used_identifiers(text: str) -> tuple[set[str], set[str], set[str]]:
    """Ordinary identifiers, by-value tags and pointer-only tags used in *text*
    (members after ``.``/``->``, keywords and the tags' own names are not identifiers)."""
    text = _STRINGS.sub(" ", text)
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


_DEFINE_HEAD = re.compile(r"^#\s*define\s+\w+(\([^)]*\))?")


def _analyse(d: Definition) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """What *d* uses: a macro's parameters, a definition's own names and tags, and a
    function's own name (parameters and locals resolve to nothing) are left out."""
    if d.kind == "macro":
        head = _DEFINE_HEAD.match(d.text)
        uses, tag_uses, ptr_uses = used_identifiers(d.text[head.end():] if head else d.text)
        if head and head.group(1):
            uses -= set(IDENT.findall(head.group(1)))
        uses.discard(d.name)
        return frozenset(uses), frozenset(tag_uses), frozenset(ptr_uses)
    uses, tag_uses, ptr_uses = used_identifiers(d.text)
    uses -= set(d.names)
    if d.kind == "function":
        uses.discard(d.name)
    uses |= set(d.extra_uses)
    own = set(d.tags)
    return frozenset(uses), frozenset(tag_uses - own), frozenset(ptr_uses - own)


# patterns of the scanner's hot paths, compiled once
_HEAD_TOKEN = re.compile(r"[A-Za-z_]\w*|[()]")
_TYPEDEF_TAG = re.compile(r"typedef\s+(struct|union|enum)\s+(\w+)\s*\{")
_FUNC_PTR_NAME = re.compile(r"\(\s*\*\s*(\w+)\s*\)\s*\(")
_ATTR_OR_ARRAY = re.compile(r"__attribute__\s*\(\(.*?\)\)|\[[^\]]*\]")
_FWD_DECL = re.compile(r"(struct|union|enum)\s+(\w+)\s*;$")
_STRUCT_HEAD = re.compile(r"(struct|union)\s+(?:__\w+\s+)*(\w+)\s*\{")
_STRUCT_TAIL = re.compile(r"\}\s*(__\w+(\(\(.*?\)\))?\s*)*;$")
_ENUM_BODY = re.compile(r"enum\s*(\w+)?\s*(?:__\w+\s*)?\{(.*)\}\s*;$")
_DIRECTIVE_REST = re.compile(r"#\s*\w+.*")
_ENUM_ITEM = re.compile(r"(\w+)\s*(\((.*)\))?", re.S)
_ALL_CAPS = re.compile(r"[A-Z_0-9]+")
_FUNC_BODY_START = re.compile(r"[^={]*\)\s*(__\w+(\(.*?\))?\s*)*\{")
_ARRAY_DIM = re.compile(r"\[[^\]]*\]")
_DIRECTIVE = re.compile(r"#\s*(\w+)\s*(.*)", re.S)
_DEFINE_NAME = re.compile(r"#\s*define\s+(\w+)")
_COND_DIRECTIVE = re.compile(r"#\s*(if|ifdef|ifndef|elif|else|endif)\b")
_PARAMS_END = re.compile(r"\)\s*(__\w+(\s*\(.*\))?\s*)*$")
_TAG_ONLY_HEAD = re.compile(r"\s*(typedef\s+)?(struct|union|enum)(\s+\w+)?\s*")
_MACRO_CALL = re.compile(r"\s*[A-Z][A-Z0-9_]*\s*\(.*\)\s*", re.S)


def _function_name(head: str) -> str | None:
    """Name of the function declared by *head* (text up to the parameter list)."""
    depth = 0
    for m in _HEAD_TOKEN.finditer(head):
        tok = m.group()
        if tok == "(":
            depth += 1
            continue
        if tok == ")":
            depth -= 1
            continue
        if depth:
            continue
        rest = head[m.end():].lstrip()
        if rest.startswith("(") and not ATTRIBUTE_CALL.match(tok) and tok not in C_KEYWORDS:
            return tok
    return None


def _classify(text: str) -> tuple[str, str, tuple[str, ...], tuple[str, ...]] | None:
    """(kind, name, names, tags) for a top-level chunk, or None to ignore it."""
    body = text.strip()
    if not body:
        return None
    flat = " ".join(body.split())
    if flat.startswith("typedef "):
        tags: tuple[str, ...] = ()
        m = _TYPEDEF_TAG.match(flat)
        if m:
            tags = (f"{m.group(1)} {m.group(2)}",)
        m = _FUNC_PTR_NAME.search(flat)
        if m and "{" not in flat:
            name = m.group(1)
        else:
            tail = flat[flat.rfind("}") + 1:] if "}" in flat else flat
            tail = _ATTR_OR_ARRAY.sub(" ", tail.rstrip("; "))
            ids = [i for i in IDENT.findall(tail) if i != "typedef" and i not in TYPE_ATTRS]
            if not ids:
                return None
            name = ids[-1]
        return "typedef", name, (name,), tags
    m2 = _FWD_DECL.match(flat)
    if m2:
        return "fwd", f"{m2.group(1)} {m2.group(2)}", (), ()
    m = _STRUCT_HEAD.match(flat)
    if m and flat.rstrip().endswith(";") and _STRUCT_TAIL.search(flat):
        tag = f"{m.group(1)} {m.group(2)}"
        return m.group(1), tag, (), (tag,)
    m = _ENUM_BODY.match(flat)
    if m:
        tags = (f"enum {m.group(1)}",) if m.group(1) else ()
        names: list[str] = []
        depth = 0
        item = ""
        for ch in m.group(2) + ",":
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            if ch == "," and depth == 0:
                item = _DIRECTIVE_REST.sub("", item).strip()
                im = _ENUM_ITEM.match(item)
                if im and im.group(2) and _ALL_CAPS.fullmatch(im.group(1)):
                    names.append(f"@{im.group(1)}@{im.group(3)}")
                elif im:
                    names.append(im.group(1))
                item = ""
            else:
                item += ch
        # enumerators declared through a macro such as DECLARE_VMA_BIT(READ, 0)
        return "enum", (tags[0] if tags else f"enum@{names[0] if names else '?'}"), tuple(names), tags
    if "{" in flat and not flat.rstrip().endswith(";") or _FUNC_BODY_START.match(flat) and flat.endswith("}"):
        head = flat[:flat.index("{")]
        if "=" not in head:
            name = _function_name(head)
            if name:
                return "function", name, (name,), ()
        return None
    if flat.endswith(";") and "(" in flat and "=" not in flat.split("(")[0]:
        name = _function_name(flat)
        if name and not _ALL_CAPS.fullmatch(name):
            return "prototype", name, (name,), ()
        return None
    if flat.startswith("extern ") and flat.endswith(";"):
        tail = _ARRAY_DIM.sub("", flat.rstrip(";"))
        ids = IDENT.findall(tail)
        if ids:
            return "var", ids[-1], (ids[-1],), ()
    return None


class _CondStack:
    """Tracks the #if nesting as a list of C conditions."""

    def __init__(self) -> None:
        self.frames: list[list[str]] = []   # per level: conditions of the branches so far
        self.current: list[str] = []        # per level: the active branch condition

    def directive(self, line: str) -> None:
        m = _DIRECTIVE.match(line.strip())
        if not m:
            return
        word, rest = m.group(1), " ".join(m.group(2).replace("\\\n", " ").split())
        if word in ("if", "ifdef", "ifndef"):
            if word == "ifdef":
                cond = f"defined({rest.split()[0]})" if rest else "1"
            elif word == "ifndef":
                cond = f"!defined({rest.split()[0]})" if rest else "1"
            else:
                cond = rest or "0"
            self.frames.append([cond])
            self.current.append(f"({cond})")
        elif word == "elif" and self.frames:
            prev = " && ".join(f"!({c})" for c in self.frames[-1])
            self.frames[-1].append(rest)
            self.current[-1] = f"{prev} && ({rest})"
        elif word == "else" and self.frames:
            self.current[-1] = " && ".join(f"!({c})" for c in self.frames[-1])
        elif word == "endif" and self.frames:
            self.frames.pop()
            self.current.pop()

    def snapshot(self) -> tuple[str, ...]:
        return tuple(self.current)


def _logical_lines(text: str):
    """Yield (lineno, line) with directive continuation lines joined."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        if line.lstrip().startswith("#"):
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line + "\n" + lines[i]
        yield start + 1, line
        i += 1


_PARSE_CACHE_VERSION = "5"


def parse_header(path: Path, relname: str, cache: Path | None = None) -> list[Definition]:
    """Cut one header into definitions (include guard dropped from conditions).

    Results are cached by content in the directory *cache*, if given."""
    raw = path.read_text(errors="replace")
    if cache is None:
        return _parse_text(raw, relname)
    import hashlib
    import json
    import os
    h = hashlib.sha256(f"{_parser_key()}\0{relname}\0".encode())
    h.update(raw.encode())
    digest = h.hexdigest()
    entry = cache / f"{digest[:24]}.json"
    try:
        # JSON, shape-checked and naming what it is the parse of: the cache is
        # data, never code (no pickle); a damaged entry is parsed again
        data = json.loads(entry.read_bytes())
        if isinstance(data, dict) and data.get("key") == digest:
            return _defs_from_json(data["defs"])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    defs = _parse_text(raw, relname)
    try:
        if cache not in _made_dirs:
            cache.mkdir(parents=True, exist_ok=True)
            _made_dirs.add(cache)
        tmp = entry.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"key": digest, "defs": [_def_to_json(d) for d in defs]}))
        tmp.replace(entry)
    except OSError:
        pass
    return defs


_STR_FIELDS = ("kind", "name", "text", "file")
_TUPLE_FIELDS = ("names", "tags", "conds", "extra_uses")


def _def_to_json(d: Definition) -> dict:
    out = {f: getattr(d, f) for f in (*_STR_FIELDS, *_TUPLE_FIELDS, "line")}
    out["analysis"] = None if d.analysis is None else [sorted(x) for x in d.analysis]
    return out


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise TypeError("not a list of strings")
    return tuple(value)


def _defs_from_json(data: object) -> list[Definition]:
    """Definitions from a parse cache entry; TypeError/KeyError if it is damaged."""
    if not isinstance(data, list):
        raise TypeError("not a list")
    out = []
    for item in data:
        if not isinstance(item, dict) or not all(isinstance(item[f], str) for f in _STR_FIELDS) \
                or type(item["line"]) is not int:
            raise TypeError("not a definition")
        an = item["analysis"]
        if an is not None and (not isinstance(an, list) or len(an) != 3):
            raise TypeError("bad analysis")
        fields: dict[str, Any] = {f: item[f] for f in _STR_FIELDS}
        fields.update({f: _strs(item[f]) for f in _TUPLE_FIELDS})
        fields["analysis"] = None if an is None else tuple(frozenset(_strs(x)) for x in an)
        out.append(Definition(line=item["line"], **fields))
    return out


_made_dirs: set[Path] = set()
_parser_keys: list[str] = []


def _parser_key() -> str:
    """The cache version and this scanner's own source: a change to either
    invalidates every cached parse."""
    if not _parser_keys:
        import hashlib
        digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
        _parser_keys.append(f"{_PARSE_CACHE_VERSION}:{digest}")
    return _parser_keys[0]


def _parse_text(raw: str, relname: str) -> list[Definition]:
    text = strip_comments(raw)
    defs: list[Definition] = []
    conds = _CondStack()
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
        got = _classify(body)
        if got is None:
            return
        kind, name, names, tags = got
        defs.append(Definition(kind, name, names, tags, body.strip(), relname, line,
                               tuple(c for c in cnds if c != guard_cond)))

    for lineno, line in _logical_lines(text):
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
        masked = _STRINGS.sub(lambda m: m.group()[0] + " " * (len(m.group()) - 2) + m.group()[0],
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
    _expand_enum_macro_items(defs)
    return defs


def _expand_enum_macro_items(defs: list[Definition]) -> None:
    """Enumerators declared through a macro (``DECLARE_VMA_BIT(READ, 0)``) get their
    real names by pasting the arguments into that macro's body."""
    macros = {d.name: d.text for d in defs if d.kind == "macro"}
    for i, d in enumerate(defs):
        if d.kind != "enum" or not any(n.startswith("@") for n in d.names):
            continue
        names: list[str] = []
        used: set[str] = set()
        for n in d.names:
            if not n.startswith("@"):
                names.append(n)
                continue
            _, mac, args = n.split("@", 2)
            used.add(mac)
            body = macros.get(mac)
            pm = re.match(r"#\s*define\s+\w+\(([^)]*)\)\s*(.*)", body or "", re.S)
            if not pm:
                continue
            params = [p.strip() for p in pm.group(1).split(",")]
            vals = [a.strip() for a in args.split(",")]
            expansion = pm.group(2)
            for p, v in zip(params, vals):
                expansion = re.sub(rf"\b{re.escape(p)}\b", v, expansion)
            expansion = re.sub(r"\s*##\s*", "", expansion)
            em = IDENT.search(expansion)
            if em:
                names.append(em.group())
        defs[i] = Definition(d.kind, d.name, tuple(names), d.tags, d.text, d.file, d.line,
                             d.conds, extra_uses=tuple(sorted(used)))


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
