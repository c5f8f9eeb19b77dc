# SPDX-License-Identifier: GPL-2.0-or-later
"""Generate the header that stands in for a tree's mm/vma_internal.h.

Starting from the identifiers mm/vma.c (and vma.h, vma_init.c, vma_exec.c) use,
the generator takes the transitive closure of definitions from the tree's
headers, with ``#if`` branches decided against the harness config, and emits them
in an order C accepts.  A function the tree only declares becomes a stub made from
its prototype.  Names our prelude already provides are left alone; names our
csrc/override.h defines win over the tree's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import manifest, outside
from .config import HarnessConfig
from .cparse import parse_header
from .ctext import C_KEYWORDS, IDENT, split_params, strip_comments, used_identifiers
from .definition import Definition
from .index import HeaderIndex

SOURCES = ("mm/vma.c", "mm/vma_init.c", "mm/vma_exec.c")
# Our glue (csrc/*.c; entry_static.c is the one in the tree's translation unit) is
# sources: what it names is a root too.
LOCAL_HEADERS = ("mm/vma.h",)


@dataclass
class Stub:
    name: str
    proto: Definition
    text: str
    ret: str = ""
    hook: str = ""          # the harness hook its body calls ("" for none)
    matched: str = ""       # how the hook was found: "name", "arity" or "signature"
    call: str = ""          # the hook as its body has it, with the stub's parameter names

    @property
    def hook_function(self) -> str:
        """The pyvma_hook_* function its body calls, or (a hook that is an expression
        of the parameters) ``returns <expression>``."""
        m = re.search(r"\bpyvma_hook_\w+", self.call)
        return m.group(0) if m else f"returns {self.call}" if self.call else ""


def param_types(params: str) -> tuple[str, ...]:
    """``struct vm_area_struct *vma, unsigned long x`` -> ("struct vm_area_struct *",
    "unsigned long"): the types, names and qualifiers dropped, one spelling."""
    out = []
    for p in params.split(","):
        words = [w for w in p.replace("*", " * ").split() if w not in ("const", "__rcu")]
        if len(words) > 1 and words[-1] != "*" and words[-1] not in C_TYPE_WORDS:
            words = words[:-1]          # the parameter's name
        if words and words != ["void"]:
            out.append(" ".join(words).replace(" * *", " **").replace("* ", "*"))
    return tuple(out)


C_TYPE_WORDS = frozenset({"int", "long", "char", "short", "unsigned", "signed", "bool"})


def _hook_by_signature(name: str, params: str) -> str | None:
    """The hook of manifest.HOOK_SIGNATURES for a function of this name and parameters."""
    types = param_types(params)
    for pattern, want, hook in manifest.HOOK_SIGNATURES:
        if re.fullmatch(pattern, name) and types == param_types(", ".join(want)):
            return hook
    return None


@dataclass
class Shim:
    """A generated shim and the record of where each piece came from."""

    guard: str
    text: str
    extracted: list[Definition]
    stubs: list[Stub]
    unresolved: list[str]
    demoted: dict[str, str] = field(default_factory=dict)

    def line_owner(self, line: int) -> Definition | Stub | None:
        return self._lines.get(line)

    _lines: dict[int, Definition | Stub] = field(default_factory=dict)


def include_guard(tree: Path) -> str:
    """The include guard of the tree's own mm/vma_internal.h."""
    text = (tree / "mm" / "vma_internal.h").read_text(errors="replace")
    m = re.search(r"^\s*#\s*ifndef\s+(\w+)", text, re.M)
    if not m:
        raise ValueError("mm/vma_internal.h has no include guard")
    return m.group(1)


def root_identifiers(tree: Path, glue: list[Path], parse_cache: Path | None = None
                     ) -> tuple[set[str], set[str], set[str]]:
    """(used names, used tags, names the sources define themselves); *glue*: the
    harness's C files (``Harness.glue_sources()``)."""
    used: set[str] = set()
    tags: set[str] = set()
    local: set[str] = set()
    for rel in SOURCES + LOCAL_HEADERS:
        path = tree / rel
        if not path.exists():
            continue
        text = strip_comments(path.read_text(errors="replace"))
        u, t, p = used_identifiers(text)
        used |= u
        tags |= t
        for d in parse_header(path, rel, parse_cache):
            local |= set(d.names) | set(d.tags)
    for unit in glue:
        u, t, _ = used_identifiers(strip_comments(unit.read_text()))
        used |= {n for n in u if not n.startswith(("pyvma_", "PYVMA_"))}
    # the entry points the tree keeps outside mm/vma*.c: their own unit defines them
    # (and their file's statics); what they use is a root
    for ex in outside.extract(tree, parse_cache):
        u, t = ex.uses()
        used |= u
        tags |= t
        local |= ex.names
    return used - local, tags - local, local


def source_prototypes(tree: Path, parse_cache: Path | None = None) -> list[Definition]:
    """The global functions the tree's mm/vma*.c define, for a translation unit of
    the glue that calls them without including those sources."""
    out: list[Definition] = []
    for rel in SOURCES:
        path = tree / rel
        if path.exists():
            out += [d for d in parse_header(path, rel, parse_cache) if d.kind == "function"
                    and not re.match(r"\s*(static|extern)\b", d.header())]
    return out


_PARAM_KEYWORDS = frozenset({"const", "volatile", "unsigned", "signed", "struct", "union",
                             "enum", "int", "long", "short", "char", "void", "bool", "_Bool",
                             "__user", "__rcu", "restrict", "__restrict", "double", "float"})


def _name_params(params: str) -> str:
    """Give every unnamed parameter of a prototype a name (C17 needs them)."""
    if params.strip() in ("", "void"):
        return "void"
    out: list[str] = []
    for i, item in enumerate(split_params(params)):
        item = item.strip()
        if item == "..." or "(*" in item.replace(" ", ""):
            out.append(item)
            continue
        toks = re.findall(r"[A-Za-z_]\w*|\S", re.sub(r"\b(struct|union|enum)\s+\w+", "TYPE", item))
        last = toks[-1] if toks else ""
        named = (len(toks) >= 2 and IDENT.fullmatch(last) is not None
                 and last not in _PARAM_KEYWORDS and last != "TYPE")
        out.append(item if named else f"{item} __pyvma_p{i}")
    return ", ".join(out)


def make_stub(proto: Definition) -> Stub:
    """A static inline function with the prototype's signature returning zero."""
    flat = " ".join(proto.text.rstrip().rstrip(";").split())
    if proto.kind == "function":
        flat = " ".join(proto.header().split())
    m = re.search(rf"\b{re.escape(proto.name)}\s*\(", flat)
    assert m, proto
    ret = flat[:m.start()]
    params = flat[m.end():]
    depth = 1
    for i, ch in enumerate(params):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            params = params[:i]
            break
    ret = re.sub(r"\b(extern|static|inline|__always_inline|__must_check|__init|__cold|"
                 r"noinline|__weak|asmlinkage|__printf\s*\([^)]*\)|__malloc|"
                 r"__attribute__\s*\(\(.*?\)\)|__alloc_size\s*\([^)]*\))\s*", "", ret).strip()
    body: str
    value = manifest.STUB_RETURNS.get(proto.name)
    named = _name_params(params)
    hook = manifest.STUB_HOOKS.get(proto.name)
    pnames = [re.findall(r"[A-Za-z_]\w*", p)[-1] for p in named.split(",")
              if p.strip() not in ("void", "...")]
    matched = "name" if hook is not None else ""
    if hook is None and proto.name in manifest.STUB_HOOKS_BY_ARITY:
        hook = manifest.STUB_HOOKS_BY_ARITY[proto.name].get(len(pnames))
        matched = "arity" if hook is not None else ""
    if hook is None and value is None:
        hook = _hook_by_signature(proto.name, params)
        matched = "signature" if hook is not None else ""
    call = ""
    if hook is not None:
        call = hook.format(*pnames)
        body = f"{{ {call}; }}" if ret == "void" else f"{{ return {call}; }}"
    elif ret == "void":
        body = "{ }"
    elif value is not None:
        body = f"{{ return {value}; }}"
    else:
        body = (f"{{ {ret} __pyvma_r; __builtin_memset(&__pyvma_r, 0, sizeof(__pyvma_r));"
                f" return __pyvma_r; }}")
    text = (f"static inline __attribute__((unused)) {ret} {proto.name}({named})"
            f"\n{body}")
    return Stub(proto.name, proto, text, ret, hook or "", matched, call)


class Generator:
    """Computes the closure of definitions for one tree and config."""

    def __init__(self, tree: Path, config: HarnessConfig, index: HeaderIndex,
                 available: set[str], glue: list[Path], force_stub: set[str] | None = None,
                 exclude: set[str] | None = None) -> None:
        self.tree = tree
        self.glue = glue
        self.config = config
        self.index = index
        self.available = available
        self.force_stub = set(manifest.FORCE_STUB) | (force_stub or set())
        self.exclude = exclude or set()
        # names worth a search of every header: what the tree's sources use directly
        self.wanted: set[str] = set()

    def closure(self) -> tuple[list[Definition], list[Stub], list[str]]:
        if not hasattr(self, "_roots"):
            self._roots = root_identifiers(self.tree, self.glue, self.index.parse_cache)
        used, tags, local = self._roots
        self.wanted = set(used)
        work = sorted(used | tags | self.index.own | set(manifest.API_ROOTS)
                      | set(manifest.TAG_ROOTS))
        seen: set[str] = set(local)
        chosen: dict[tuple[str, int], Definition] = {}
        stubs: dict[str, Stub] = {}
        unresolved: list[str] = []
        while work:
            name = work.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in self.available or name.startswith("CONFIG_") or name in self.exclude:
                continue
            cands = self.index.lookup(name, self.config)
            if not cands:
                cands = self.index.lookup_wide(name, self.config)
            if not cands:
                unresolved.append(name)
                continue
            own = cands[0].file.startswith("csrc/")
            if not own and (name in self.force_stub or all(d.kind == "prototype" for d in cands)):
                protos = [d for d in cands if d.kind in ("prototype", "function")]
                if protos:
                    stub = make_stub(protos[0])
                    stubs[name] = stub
                    _, st, sp = used_identifiers(stub.text)
                    u2, _, _ = used_identifiers(stub.text.split("{")[0])
                    work.extend(sorted((u2 | st | sp) - {name}))
                    continue
            for d in cands:
                if (d.file, d.line) in chosen:
                    continue
                d = self._undecided_conds(d)
                chosen[(d.file, d.line)] = d
                deps = set(d.uses) | set(d.tag_uses)
                for c in d.conds:
                    deps |= {i for i in IDENT.findall(c) if i not in C_KEYWORDS}
                work.extend(sorted(deps - seen))
        return list(chosen.values()), list(stubs.values()), sorted(unresolved)

    def _undecided_conds(self, d: Definition) -> Definition:
        """Drop the conditions the config decides (they are true here)."""
        keep = tuple(c for c in d.conds if self.config.evaluate(c) is None)
        if keep == d.conds:
            return d
        return Definition(d.kind, d.name, d.names, d.tags, d.text, d.file, d.line, keep,
                          d._analysis(), d.extra_uses)

    def generate(self) -> Shim:
        """The shim.  A tree helper whose body names a type nothing defines (pte_t:
        page tables are not emulated) cannot compile; it is demoted to a stub before
        the compiler has to say so, and recorded in ``predemoted``."""
        self.predemoted: dict[str, str] = {}
        for _ in range(4):
            defs, stubs, unresolved = self.closure()
            types = {u for u in unresolved if re.fullmatch(r"[a-z_][a-z0-9_]*_t", u)}
            bad = {}
            for d in defs:
                if d.kind == "function" and not d.file.startswith("csrc/") \
                        and d.name not in manifest.NEVER_DEMOTE and d.uses & types:
                    bad[d.name] = f"{d.where}: uses {', '.join(sorted(d.uses & types))}, " \
                                  "which nothing defines"
            for s in stubs:
                head = s.text.split("{")[0]
                hit = {t for t in types if re.search(rf"\b{t}\b", head)}
                if hit and s.name not in self.exclude:
                    self.exclude.add(s.name)
                    self.predemoted[s.name] = f"dropped: its signature uses {', '.join(hit)}"
            if not bad and not any(s.name in self.exclude for s in stubs):
                break
            self.force_stub |= set(bad)
            self.predemoted.update(bad)
        guard = include_guard(self.tree)
        has = [t for t in manifest.OPTIONAL_TYPES if self.index.lookup(t, self.config)]
        shim = emit(guard, defs, stubs, unresolved, self.tree, has, self.index.parse_cache)
        shim.demoted = dict(self.predemoted)
        return shim


def _order_types(types: list[Definition]) -> list[Definition]:
    """Topological order: a type after the types it holds by value or names."""
    provides: dict[str, Definition] = {}
    for d in types:
        for n in d.names + d.tags:
            provides.setdefault(n, d)
    order: list[Definition] = []
    state: dict[int, int] = {}

    def visit(d: Definition) -> None:
        if state.get(id(d)) == 2:
            return
        if state.get(id(d)) == 1:
            return  # a cycle through pointers; file order decides
        state[id(d)] = 1
        for dep in sorted(d.uses | d.tag_uses):
            other = provides.get(dep)
            if other is not None and other is not d:
                visit(other)
        state[id(d)] = 2
        order.append(d)

    for d in sorted(types, key=lambda x: (x.file, x.line)):
        visit(d)
    return order


def _wrap(d: Definition | Stub, text: str) -> str:
    conds = d.conds if isinstance(d, Definition) else ()
    where = d.where if isinstance(d, Definition) else f"stub of {d.proto.where}"
    body = f"/* {where} */\n{text}\n"
    if conds:
        return f"#if {' && '.join(conds)}\n{body}#endif\n"
    return body


def emit(guard: str, defs: list[Definition], stubs: list[Stub], unresolved: list[str],
         tree: Path, has_types: list[str], parse_cache: Path | None = None) -> Shim:
    """Lay the pieces out in an order C accepts and record which line is whose."""
    parts: list[tuple[Definition | Stub | None, str]] = []
    parts.append((None, f"/* Generated by pyvma from the kernel tree {tree}: do not edit.\n"
                        f" * Stands in for mm/vma_internal.h; every definition below was\n"
                        f" * extracted from the tree (file:line given) or stubbed from a\n"
                        f" * prototype found there. */\n"
                        f"#ifndef {guard}\n#define {guard}\n#include \"pyvma_prelude.h\"\n"
                        + "".join(f"#define PYVMA_HAS_TYPE_{t} 1\n" for t in has_types)))
    macros = sorted((d for d in defs if d.kind == "macro"), key=lambda x: (x.file, x.line))
    types = [d for d in defs if d.kind in ("struct", "union", "enum", "typedef")]
    funcs = sorted((d for d in defs if d.kind == "function"), key=lambda x: (x.file, x.line))
    decls = sorted((d for d in defs if d.kind in ("var", "prototype")),
                   key=lambda x: (x.file, x.line))
    tags = sorted({t for d in defs for t in (d.tag_uses | d.ptr_tag_uses | set(d.tags))}
                  | {t for s in stubs for t in re.findall(r"\b(?:struct|union|enum) \w+", s.text)})
    parts.append((None, "".join(f"{t};\n" for t in tags)))
    # "#define foo foo" only marks that foo exists; emitted ahead of its #ifndef-guarded
    # definition it would hide it, and the function name does the job anyway
    macros = [d for d in macros if not re.fullmatch(rf"#\s*define\s+{d.name}\s+{d.name}\s*", d.text)]
    own_first = sorted(macros, key=lambda x: not x.file.startswith("csrc/"))
    for d in own_first:
        parts.append((d, _wrap(d, d.text)))
    for d in _order_types(types):
        parts.append((d, _wrap(d, d.text)))
    for d in decls:
        text = d.text
        if d.kind == "var":
            # a tentative definition: the harness owns the kernel's globals
            text += f"\n__typeof__({d.name}) {d.name} __attribute__((weak));"
        parts.append((d, _wrap(d, text)))
    for d in funcs:
        head = d.header()
        parts.append((d, _wrap(d, head + ";")))
    for s in stubs:
        parts.append((s, _wrap(s, s.text.split("\n")[0] + ";")))
    # the tree's own mm/vma.h: its types are what the kernel's internal.h prototypes
    # use; vma.c's own include of it is then a no-op (include guard)
    parts.append((None, '#include "vma.h"\n'))
    # the entry points a unit of their own defines (vma_internal/outside.py), for
    # every unit: declared as that unit makes them (global)
    for ex in outside.extract(tree, parse_cache):
        for d, proto in zip(ex.entries, ex.prototypes()):
            parts.append((d, _wrap(d, proto)))
    # a unit of the glue without the sources sees their global functions' prototypes
    parts.append((None, "#ifdef PYVMA_SHIM_PROTOTYPES_ONLY\n"))
    for d in source_prototypes(tree, parse_cache):
        parts.append((d, _wrap(d, d.header() + ";")))
    parts.append((None, "#endif /* PYVMA_SHIM_PROTOTYPES_ONLY */\n"))
    parts.append((None, "".join(f"#define {name}(...) {hook}(__VA_ARGS__)\n"
                                for name, hook in manifest.LOCAL_WRAPS.items())))
    for s in stubs:
        parts.append((s, _wrap(s, s.text)))
    for d in funcs:
        text = d.text
        if d.file.endswith(".c"):
            # a global function taken from a .c file (manifest.SOURCE_DEFINITIONS) is
            # defined once: a second translation unit sees only its prototype
            text = f"#ifndef PYVMA_SHIM_PROTOTYPES_ONLY\n{text}\n#endif"
        parts.append((d, _wrap(d, text)))
    inits = [f"\t{d.name} = {manifest.VAR_VALUES[d.name]};\n" for d in decls
             if d.kind == "var" and d.name in manifest.VAR_VALUES and not d.conds]
    parts.append((None, "static inline void pyvma_init_vars(void)\n{\n" + "".join(inits) + "}\n"))
    parts.append((None, f"#endif /* {guard} */\n"))
    lines: dict[int, Definition | Stub] = {}
    out: list[str] = []
    lineno = 1
    for owner, text in parts:
        n = text.count("\n")
        if owner is not None:
            for i in range(lineno, lineno + n):
                lines[i] = owner
        out.append(text)
        lineno += n
    shim = Shim(guard, "".join(out), defs, stubs, unresolved)
    shim._lines = lines
    return shim


def hook_bindings(shim: Shim) -> dict[str, list[str]]:
    """Which tree functions each harness hook is bound to in this shim
    (``{"pyvma_hook_i_mmap": ["mapping_rmap_tree_insert", ...]}``), with how each was
    matched when not by its name (``"mapping_interval_tree_insert (by signature)"``)."""
    out: dict[str, list[str]] = {}
    for s in shim.stubs:
        if s.hook:
            how = f" (by {s.matched})" if s.matched not in ("name", "") else ""
            out.setdefault(s.hook_function, []).append(s.name + how)
    return {k: sorted(v) for k, v in sorted(out.items())}


def unmatched_entries(shim: Shim) -> list[str]:
    """Manifest hooks and stub values (by name) that bind nothing in this shim: entries
    for other trees (mapping_rmap_tree_insert on 7.2), or entries a patch made stale."""
    have = {s.name for s in shim.stubs}
    names = set(manifest.STUB_HOOKS) | set(manifest.STUB_HOOKS_BY_ARITY) \
        | set(manifest.STUB_RETURNS)
    return sorted(names - have)
