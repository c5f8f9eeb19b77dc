# SPDX-License-Identifier: GPL-2.0-or-later
"""csrc/'s glue is layered and calls go one way: runtime -> hooks -> objects ->
entry points, the file in mm/vma.c's translation unit on top.  No file names a
function defined in a file above it (calls and function pointers alike), every
glue file has its place, and the build compiles them in that order."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CSRC = REPO / "csrc"

# bottom up: a file may use functions of its own and of the files before it
LAYERS = (
    "runtime.c",        # WARN/BUG records, forced failures, limits, accounting
    "hooks.c",          # the pyvma_hook_* the generated shim calls
    "hooks_file.c",     # hooks of files and of the harness's vm_operations
    "flags.c",          # objects: the tree's flags and vma_flags_t helpers
    "objects.c",        # objects: mm_struct, VMA, anon_vma, file lifetimes and accessors
    "requests.c",       # objects: long-lived merge requests and iterators
    "entry_merge.c",    # entry points: merge, expand, shrink, modify, copy
    "entry_mmap.c",     # entry points: mmap, munmap, brk, gaps, rmap locks, ...
    "entry_static.c",   # entry points that need mm/vma.c's statics (its unit)
    "entry_seq.c",      # operation sequences in C: the world, one operation, its record
    "entry_seq_callers.c",  # operation sequences in C: the caller operations
    "entry_seq_gen.c",  # operation sequences in C: the generator
    "entry_seq_run.c",  # operation sequences in C: the loop (second unit, on top)
)

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_LITERAL = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
_PREPROC = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.MULTILINE)
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_MEMBER = re.compile(r"(?:\.|->)\s*[A-Za-z_]\w*")


def _code(text: str) -> str:
    """C text without comments, literals and preprocessor lines."""
    text = _COMMENT.sub(" ", text)
    text = _LITERAL.sub('""', text)
    return _PREPROC.sub("", text)


def definitions(text: str) -> set[str]:
    """Names of the functions a C file defines: a top-level ``{`` whose header
    ends in ``)`` opens a function body; its name precedes the header's first ``(``."""
    code = _code(text)
    names: set[str] = set()
    depth, start = 0, 0
    for i, ch in enumerate(code):
        if ch == "{":
            if depth == 0:
                header = code[start:i].strip()
                if header.endswith(")"):
                    m = re.search(r"(\w+)\s*\(", header)
                    if m:
                        names.add(m.group(1))
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                start = i + 1
        elif ch == ";" and depth == 0:
            start = i + 1
    return names


def references(text: str) -> set[str]:
    """Every identifier a C file names (calls, function pointers, declarations),
    struct members (``.x``, ``->x``) aside."""
    return set(_IDENT.findall(_MEMBER.sub(" ", _code(text))))


def violations(files: dict[str, str], order: tuple[str, ...]) -> list[str]:
    """'a.c names f() of b.c above it' for each use against the order (bottom up)."""
    owner: dict[str, str] = {}
    out = []
    for name in order:
        for fn in definitions(files[name]):
            if fn in owner and fn != "main":
                out.append(f"{fn}() defined in both {owner[fn]} and {name}")
            owner.setdefault(fn, name)
    rank = {name: i for i, name in enumerate(order)}
    for name in order:
        for ident in sorted(references(files[name])):
            where = owner.get(ident)
            if where is not None and rank[where] > rank[name]:
                out.append(f"csrc/{name} uses {ident}() of csrc/{where}, a layer above it")
    return out


def test_checker_sees_a_call_upwards_and_a_pointer_upwards():
    files = {
        "low.c": "static int helper(void) { return 1; }\nint low(void) { return top(); }\n",
        "mid.c": "/* top() in a comment */\nconst struct ops o = { .f = top2 };\n"
                 "void *member(struct s *p) { return p->top; }\n"
                 "int mid(int x)\n{\n\tif (x) { return low(); }\n\treturn helper();\n}\n",
        "top.c": "#define X(a) mid(a)\nint top(void) { return mid(0) + low(); }\n"
                 "void top2(void) { }\nstruct s { int a; };\n",
    }
    assert definitions(files["mid.c"]) == {"mid", "member"}
    assert definitions(files["top.c"]) == {"top", "top2"}
    assert violations(files, ("low.c", "mid.c", "top.c")) == [
        "csrc/low.c uses top() of csrc/top.c, a layer above it",
        "csrc/mid.c uses top2() of csrc/top.c, a layer above it",
    ]
    assert violations(files, ("low.c", "mid.c", "top.c"))[0].startswith("csrc/low.c")


def test_every_glue_file_has_a_layer():
    on_disk = sorted(p.name for p in CSRC.glob("*.c"))
    assert on_disk == sorted(LAYERS)


def test_no_glue_file_uses_a_function_of_a_file_above_it():
    files = {name: (CSRC / name).read_text() for name in LAYERS}
    assert all(definitions(t) for t in files.values())
    assert violations(files, LAYERS) == []


def test_the_build_compiles_the_layers_in_order_and_not_the_bench():
    from pyvma.paths import GLUE_FIRST_UNIT, GLUE_SECOND_UNIT, GLUE_TOP_UNITS
    from vma_internal.shim import second_tu_text, tu_text
    top = len(GLUE_TOP_UNITS)
    assert GLUE_SECOND_UNIT[-top:] == GLUE_TOP_UNITS
    assert (*GLUE_SECOND_UNIT[:-top], GLUE_FIRST_UNIT, *GLUE_TOP_UNITS) == LAYERS
    second = second_tu_text(GLUE_SECOND_UNIT)
    units = second + tu_text(CSRC, GLUE_FIRST_UNIT)
    assert "bench" not in units and not list(CSRC.rglob("*bench*"))
    assert [n for n in re.findall(r'#include "(\w+\.c)"', second)] == list(GLUE_SECOND_UNIT)


@pytest.mark.parametrize("name", ["pyvma_bench_native", "pyvma_write_lock_count"])
def test_the_library_api_lacks(name):
    """The bench loop is built by the bench only; the dead write-lock count is gone."""
    assert name not in (CSRC / "pyvma_api.h").read_text()
