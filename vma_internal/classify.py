# SPDX-License-Identifier: GPL-2.0-or-later
"""What a top-level chunk of header text defines: its kind (function, prototype,
struct, union, enum, typedef, extern variable, forward declaration) and names."""
from __future__ import annotations

import re

from .ctext import C_KEYWORDS, IDENT
from .definition import Definition

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


# patterns of the classifier (the scanner's hot path), compiled once
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


def function_name(head: str) -> str | None:
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


def classify(text: str) -> tuple[str, str, tuple[str, ...], tuple[str, ...]] | None:
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
            name = function_name(head)
            if name:
                return "function", name, (name,), ()
        return None
    if flat.endswith(";") and "(" in flat and "=" not in flat.split("(")[0]:
        name = function_name(flat)
        if name and not _ALL_CAPS.fullmatch(name):
            return "prototype", name, (name,), ()
        return None
    if flat.startswith("extern ") and flat.endswith(";"):
        tail = _ARRAY_DIM.sub("", flat.rstrip(";"))
        ids = IDENT.findall(tail)
        if ids:
            return "var", ids[-1], (ids[-1],), ()
    return None


def expand_enum_macro_items(defs: list[Definition]) -> None:
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
