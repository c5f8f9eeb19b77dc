# SPDX-License-Identifier: GPL-2.0-or-later
"""The one registry of kernel features: what a tree's mm code has.

Each ``Feature`` has a name (what ``KernelTree.has()``, ``Kernel.has()`` and
``@pytest.mark.requires(...)`` take), a probe (a text test of the tree's files;
nothing is compiled), a one-line meaning (what a skip reason names) and the
kernel change that introduced it.  Where kernels behave differently, tests choose
the behaviour by one of these, never by a version number.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vma_internal.manifest import OUTSIDE_ENTRY_POINTS

#: Bump when a probe changes, so remembered probe results are redone.
PROBE_REVISION = 5

#: The files the probes read (relative to the tree's root).
PROBED_FILES: tuple[str, ...] = (
    "mm/vma.c", "mm/vma_init.c", "mm/vma_exec.c", "mm/vma.h",
    "include/linux/mm.h", "include/linux/mm_types.h", "mm/mremap.c", *OUTSIDE_ENTRY_POINTS,
)


class Tree:
    """The probed files of one tree, each read at most once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._text: dict[str, str] = {}

    def text(self, rel: str) -> str:
        """The file's text ("" if it is missing)."""
        if rel not in self._text:
            try:
                self._text[rel] = (self.root / rel).read_text(encoding="utf-8",
                                                              errors="replace")
            except OSError:
                self._text[rel] = ""
        return self._text[rel]

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    @property
    def vma_c(self) -> str:
        return self.text("mm/vma.c")

    @property
    def mm_h(self) -> str:
        return self.text("include/linux/mm.h")

    def home(self, fn: str) -> str:
        """The text of the file pyvma builds ``fn`` from: mm/vma*.c, or the file
        outside them the tree keeps it in (6.12's mm/mmap.c: the entry points of
        vma_internal.manifest.OUTSIDE_ENTRY_POINTS, which the build extracts);
        "" if none has it."""
        pat = _definition(fn)
        for rel in ("mm/vma.c", "mm/vma_init.c", "mm/vma_exec.c"):
            if pat.search(self.text(rel)):
                return self.text(rel)
        for rel, names in OUTSIDE_ENTRY_POINTS.items():
            if fn in names and pat.search(self.text(rel)):
                return self.text(rel)
        return ""


def macro_bodies(text: str, name_re: str) -> list[str]:
    """Return the bodies (continuations joined) of ``#define NAME ...``."""
    pat = re.compile(
        r"^[ \t]*#[ \t]*define[ \t]+(?:" + name_re + r")\b((?:[^\n]*\\\n)*[^\n]*)",
        re.M,
    )
    return [m.group(1).replace("\\\n", " ") for m in pat.finditer(text)]


def struct_body(text: str, tag: str) -> str | None:
    """Return the text between ``struct TAG {`` and its matching ``}``."""
    m = re.search(r"\bstruct[ \t]+" + re.escape(tag) + r"\s*\{", text)
    if not m:
        return None
    depth, i = 1, m.end()
    while i < len(text) and depth:
        c = text[i]
        depth += (c == "{") - (c == "}")
        i += 1
    return text[m.end() : i - 1]


def function_body(text: str, fn: str) -> str | None:
    """Return the body of the definition of ``fn`` (one starting a line), or None."""
    m = re.search(rf"^[A-Za-z_][\w \t\*]*?\b{re.escape(fn)}\s*\([^;{{]*\)\s*\{{", text, re.M)
    if not m:
        return None
    depth, i = 1, m.end()
    while i < len(text) and depth:
        depth += (text[i] == "{") - (text[i] == "}")
        i += 1
    return text[m.end() : i - 1]


def _definition(fn: str) -> re.Pattern[str]:
    """A definition of ``fn`` (it starts a line; calls are indented)."""
    return re.compile(rf"^[A-Za-z_][\w \t\*]*?\b{re.escape(fn)}\s*\(", re.M)


def defines(fn: str) -> Callable[[Tree], bool]:
    """Probe: the tree has ``fn`` where pyvma builds it from (``Tree.home``: mm/vma.c,
    or 6.12's mm/mmap.c for the entry points kept there)."""
    return lambda t: bool(t.home(fn))


def in_body(fn: str, regex: str) -> Callable[[Tree], bool]:
    """Probe: ``fn``'s body, where the tree has it (``Tree.home``), matches ``regex``."""
    pat = re.compile(regex)
    return lambda t: bool(pat.search(function_body(t.home(fn), fn) or ""))


def _sticky(t: Tree) -> list[str]:
    return macro_bodies(t.mm_h, r"VMA_STICKY_FLAGS|VM_STICKY")


def _vmg_field(field: str) -> Callable[[Tree], bool]:
    pat = re.compile(rf"\*\s*{field}\s*;")
    return lambda t: bool(pat.search(struct_body(t.text("mm/vma.h"), "vma_merge_struct") or ""))


@dataclass(frozen=True)
class Feature:
    """One capability of a tree's mm code."""

    name: str
    meaning: str
    change: str
    probe: Callable[[Tree], bool]


_ALL: tuple[Feature, ...] = (
    Feature("vma.c", "mm/vma.c",
            "VMA code moved out of mm/mmap.c into mm/vma.c (v6.11)",
            lambda t: t.exists("mm/vma.c")),
    Feature("vma_init.c", "mm/vma_init.c",
            "VMA allocation/init moved into mm/vma_init.c",
            lambda t: t.exists("mm/vma_init.c")),
    Feature("vma_exec.c", "mm/vma_exec.c",
            "exec-time VMA setup moved into mm/vma_exec.c",
            lambda t: t.exists("mm/vma_exec.c")),
    Feature("vma_flags_t", "the vma_flags_t bitmap",
            "VMA flags as a bitmap type vma_flags_t (include/linux/mm_types.h)",
            lambda t: bool(re.search(
                r"\}\s*vma_flags_t\s*;|\btypedef\b[^;{}]*\bvma_flags_t\s*;",
                t.text("include/linux/mm_types.h")))),
    Feature("sticky", "sticky VMA flags (VMA_STICKY_FLAGS / VM_STICKY)",
            "sticky VMA flags kept across merges (VM_STICKY in include/linux/mm.h)",
            lambda t: bool(_sticky(t))),
    Feature("soft_dirty_sticky", "soft-dirty in the sticky set",
            "VM_SOFTDIRTY made a sticky flag (under CONFIG_MEM_SOFT_DIRTY)",
            lambda t: any(re.search(r"SOFT_?DIRTY", b) for b in _sticky(t))),
    Feature("copy_on_fork", "VM_COPY_ON_FORK",
            "VM_COPY_ON_FORK: flags whose page tables fork() always copies",
            lambda t: bool(macro_bodies(t.mm_h, r"VM_COPY_ON_FORK"))),
    Feature("maybe_guard", "VM_MAYBE_GUARD",
            "VM_MAYBE_GUARD: a VMA that may hold guard regions",
            lambda t: bool(macro_bodies(t.mm_h, r"VM_MAYBE_GUARD"))),
    Feature("vmg_middle", "vmg->middle",
            "vma_merge_struct's vma renamed middle",
            _vmg_field("middle")),
    Feature("vmg_vma", "vmg->vma",
            "vma_merge_struct names the VMA being modified vmg->vma",
            _vmg_field("vma")),
    Feature("vmg_target", "vmg->target",
            "vma_merge_struct gains target (the VMA a merge expands)",
            _vmg_field("target")),
    Feature("anon_pgoff", "a separate anonymous page offset (vma_start_anon_pgoff)",
            "a VMA's anonymous page offset kept apart from vm_pgoff "
            "(vma_start_anon_pgoff() in include/linux/mm.h)",
            lambda t: bool(re.search(r"\bvma_start_anon_pgoff\s*\(", t.mm_h))),
    Feature("mmap_region", "__mmap_region()",
            "mmap_region()'s body split out as __mmap_region() (mm/mmap.c in 6.12, "
            "then mm/vma.c)",
            lambda t: bool(re.search(r"^(?:static\s+)?unsigned\s+long\s+__mmap_region\s*\(",
                                     t.home("__mmap_region"), re.M))),
    Feature("mmap_region_checks", "mmap_region() (MDWE, arch and writable-file checks)",
            "mmap_region() checks, then calls __mmap_region() (mm/mmap.c in 6.12, "
            "then mm/vma.c)",
            defines("mmap_region")),
    Feature("mergeable_anon_vma_pair",
            "is_mergeable_anon_vma(anon_vma1, anon_vma2, vma)",
            "is_mergeable_anon_vma() compares two anon_vmas",
            lambda t: bool(re.search(
                r"\bis_mergeable_anon_vma\s*\(\s*struct\s+anon_vma\s*\*", t.vma_c))),
    Feature("mergeable_anon_vma_vmg",
            "is_mergeable_anon_vma() on the merge request (vmg)",
            "is_mergeable_anon_vma() takes the merge request (vma_merge_struct)",
            lambda t: bool(re.search(
                r"\bis_mergeable_anon_vma\s*\(\s*struct\s+vma_merge_struct\s*\*", t.vma_c))),
    Feature("do_brk_flags", "do_brk_flags()",
            "do_brk_flags() (mm/mmap.c in 6.12, then mm/vma.c)",
            defines("do_brk_flags")),
    Feature("unmapped_area", "unmapped_area() / unmapped_area_topdown()",
            "unmapped_area{,_topdown}() (mm/mmap.c in 6.12, then mm/vma.c)",
            lambda t: bool(t.home("unmapped_area") and t.home("unmapped_area_topdown"))),
    Feature("expand_downwards", "expand_downwards()",
            "stack expansion, expand_downwards() (mm/mmap.c in 6.12, then mm/vma.c)",
            defines("expand_downwards")),
    Feature("vm_munmap", "__vm_munmap()",
            "__vm_munmap() (mm/mmap.c in 6.12, then mm/vma.c)",
            defines("__vm_munmap")),
    Feature("insert_vm_struct", "insert_vm_struct()",
            "insert_vm_struct() (mm/mmap.c in 6.12, then mm/vma.c)",
            defines("insert_vm_struct")),
    Feature("insert_vm_struct_warns",
            "insert_vm_struct() WARNs (not BUG_ON) on an anonymous VMA with an anon_vma",
            "insert_vm_struct(): BUG_ON(vma->anon_vma) turned into WARN_ON_ONCE",
            in_body("insert_vm_struct", r"\bWARN_ON(?:_ONCE)?\s*\(\s*vma->anon_vma\s*\)")),
    Feature("copy_vma_self_merge_warns",
            "copy_vma() WARNs (not VM_BUG_ON) on a disallowed self-merge (can_self_merge)",
            "copy_vma(): VM_BUG_ON_VMA(faulted_in_anon_vma) became "
            "VM_WARN_ON_ONCE_VMA(!can_self_merge)",
            in_body("copy_vma", r"\bVM_WARN_ON(?:_ONCE)?_VMA\s*\(\s*!\s*can_self_merge")),
    Feature("copy_vma_keep_source",
            "copy_vma(..., keep_source) (MREMAP_DONTUNMAP: no self-merge of the source)",
            "copy_vma() gained keep_source so an MREMAP_DONTUNMAP move never merges the "
            "kept source with its copy (a stable fix, 6.12.115 / 7.2.11 in Debian)",
            lambda t: bool(re.search(r"\bcopy_vma\s*\([^;{)]*\bbool\s+keep_source\b",
                                     t.vma_c))),
    Feature("remap_move",
            "mremap() moves every VMA of a range (remap_move() in mm/mremap.c)",
            "mremap() learned to move a range spanning several VMAs (and gaps) as one "
            "MREMAP_FIXED move; before, a move of more than one VMA was -EFAULT",
            lambda t: bool(re.search(r"\bremap_move\s*\(", t.text("mm/mremap.c")))),
    Feature("ksm_flags_before_merge",
            "mmap's path applies ksm_vma_flags() before it merges (mm/vma.c)",
            "the mmap path sets VM_MERGEABLE of a merge-any mm (prctl "
            "PR_SET_MEMORY_MERGE) before merging, so a new mapping merges with its "
            "KSM neighbours; before, ksm_add_vma() set it after, on the VMA made",
            lambda t: bool(re.search(r"\bksm_vma_flags\s*\(", t.vma_c))),
    Feature("mmap_prepare_unaccounts",
            "__mmap_region() gives the charge back when ->mmap_prepare() fails",
            "__mmap_region(): a failed ->mmap_prepare() goes to unacct_error, not "
            "abort_munmap (the VM_ACCOUNT charge leaked before; Debian 7.2.9 has the fix)",
            lambda t: bool(re.search(
                r"call_mmap_prepare\s*\([^;]*\);\s*if\s*\(\s*error\s*\)\s*goto\s+unacct_error",
                t.vma_c))),
    Feature("install_special_mapping", "__install_special_mapping()",
            "__install_special_mapping() (mm/mmap.c in 6.12 and 7.2, then mm/vma.c)",
            defines("__install_special_mapping")),
    Feature("vma_mmu_pagesize", "vma_mmu_pagesize() in mm/vma.c",
            "vma_mmu_pagesize() moved from mm/hugetlb.c into mm/vma.c",
            defines("vma_mmu_pagesize")),
    Feature("vma_modify_name", "vma_modify_name() (a name-only modify)",
            "vma_modify_name() for prctl(PR_SET_VMA_ANON_NAME)",
            defines("vma_modify_name")),
    Feature("relocate_vma_down", "relocate_vma_down()",
            "relocate_vma_down(), exec's stack move (mm/mmap.c in 6.12, then "
            "mm/vma_exec.c)",
            defines("relocate_vma_down")),
    Feature("assert_sane_pgoff",
            "a WARN when an anonymous VMA's page offset is set away from its address "
            "(assert_sane_pgoff())",
            "assert_sane_pgoff() in mm/vma.h: vma_set_pgoff() checks an anonymous VMA's "
            "page offset",
            lambda t: bool(_definition("assert_sane_pgoff").search(t.text("mm/vma.h")))),
    Feature("mmap_file_without_mmap_op",
            "__mmap_region() maps a file that has no ->mmap (it tests f_op->mmap)",
            "__mmap_region() tests for a file's ->mmap (a ->mmap_prepare() file has "
            "none); before, it called ->mmap unconditionally and do_mmap() refused a "
            "file without one (-ENODEV)",
            lambda t: any(re.search(r"!\s*[\w>.-]*\bf_op\s*->\s*mmap\s*\)",
                                    function_body(t.home("__mmap_region"), fn) or "")
                          for fn in ("__mmap_region", "__mmap_new_file_vma"))),
    Feature("mmap_prepare", "f_op->mmap_prepare() called from mm/vma.c",
            "the f_op->mmap_prepare() hook, called by __mmap_region()",
            lambda t: bool(re.search(r"->\s*mmap_prepare\b", t.vma_c))),
)

#: name -> Feature, in registry order.
REGISTRY: dict[str, Feature] = {f.name: f for f in _ALL}

#: All feature names a probe can report.
NAMES: frozenset[str] = frozenset(REGISTRY)


class UnknownFeature(ValueError):
    """A feature name that is not in the registry."""


def check(name: str) -> Feature:
    """Return the registry entry of ``name``; an unknown name raises, naming close ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        import difflib
        near = difflib.get_close_matches(name, REGISTRY, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise UnknownFeature(f"unknown kernel feature {name!r}{hint}; the known ones are "
                             "listed in pyvma/tree/features.py") from None


def meaning(name: str) -> str:
    """The one-line meaning of ``name`` (what a skip reason names)."""
    return check(name).meaning


def probe(root: Path) -> frozenset[str]:
    """Run every probe on the tree at ``root``; return the names found."""
    tree = Tree(root)
    return frozenset(f.name for f in _ALL if f.probe(tree))
