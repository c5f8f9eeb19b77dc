# SPDX-License-Identifier: GPL-2.0-or-later
"""The entry points a tree keeps outside mm/vma*.c (6.12's mm/mmap.c: mmap_region(),
do_brk_flags(), expand_downwards(), insert_vm_struct(), ...; 7.2's
__install_special_mapping()): taken from the tree's own text into a translation unit
of their own (vma_internal/outside.py), probed where the tree has them
(pyvma/tree/features.py), and run as the tree's code: a WARN/BUG names mm/mmap.c, a
change planted in mm/mmap.c changes what runs, gcov counts them."""
from __future__ import annotations

import errno
import re

import pytest

from pyvma import tree as ptree
from pyvma.api import KernelBug, load
from pyvma.api.load import load_tree
from pyvma.build import build
from pyvma.build.coverage import units
from pyvma.tree import features
from tests.helpers import P, errno_of, rw, spans
from vma_internal import manifest, outside
from vma_internal.ctext import strip_comments

from .scratch import scratch_tree

KERNELS = ("debian:6.12", "debian:linux-source-7.2", "debian:7.x")
#: feature -> the entry point it names (what features.defines() probes)
ENTRY_FEATURES = {"mmap_region_checks": "mmap_region", "do_brk_flags": "do_brk_flags",
                  "expand_downwards": "expand_downwards", "vm_munmap": "__vm_munmap",
                  "insert_vm_struct": "insert_vm_struct",
                  "install_special_mapping": "__install_special_mapping",
                  "relocate_vma_down": "relocate_vma_down"}
#: functions of 6.12's mm/mmap.c the build must not take (hooked, stubbed, taken into
#: the shim, or global functions no entry point is: stubbed from their prototypes)
NOT_TAKEN = ("may_expand_vm", "mlock_future_ok", "vma_set_page_prot", "vm_stat_account",
             "find_vma", "find_vma_intersection", "do_mmap", "vm_brk_flags", "exit_mmap",
             "SYSCALL_DEFINE1", "mmap_init", "vm_munmap", "do_munmap")
# insert_vm_struct(): an anonymous VMA's page offset set to its address (6.12's mm/mmap.c)
PGOFF = "vma->vm_pgoff = vma->vm_start >> PAGE_SHIFT;"


def _defines(text: str, fn: str) -> bool:
    return features.function_body(text, fn) is not None


@pytest.mark.parametrize("spec", KERNELS)
def test_what_a_tree_keeps_outside_mm_vma_c_is_taken_and_probed(spec: str) -> None:
    """An entry point is taken from mm/mmap.c exactly when the tree defines it there and
    its mm/vma*.c does not; each feature naming one is what the tree has, wherever."""
    tree = ptree.resolve(spec)
    vma = "".join((tree.root / s).read_text(errors="replace")
                  for s in ("mm/vma.c", "mm/vma_init.c", "mm/vma_exec.c")
                  if (tree.root / s).is_file())
    taken = {ex.source: ex.entry_names for ex in outside.extract(tree.root)}
    for rel, names in manifest.OUTSIDE_ENTRY_POINTS.items():
        text = (tree.root / rel).read_text(errors="replace")
        want = [fn for fn in names if _defines(text, fn) and not _defines(vma, fn)]
        assert sorted(taken.get(rel, [])) == sorted(want), rel
    for feat, fn in ENTRY_FEATURES.items():
        where = _defines(vma, fn) or any(fn in v for v in taken.values())
        assert tree.has(feat) == where, (feat, fn)
        assert "in mm/vma.c" not in features.meaning(feat)
    if tree.has("vma_exec.c"):          # 7.x: nothing left outside but 7.2's special mapping
        assert set(taken.get("mm/mmap.c", [])) <= {"__install_special_mapping"}


def test_6_12_has_the_entry_points_and_lacks_only_what_it_lacks() -> None:
    tree = ptree.resolve("debian:6.12")
    for feat in (*ENTRY_FEATURES, "mmap_region", "unmapped_area"):
        assert tree.has(feat), feat
    for feat in ("sticky", "vma_flags_t", "anon_pgoff", "mmap_prepare",
                 "mmap_file_without_mmap_op"):
        assert not tree.has(feat), feat
    assert ptree.resolve("debian:linux-source-7.2").has("install_special_mapping")
    assert ptree.resolve("debian:7.x").has("mmap_file_without_mmap_op")


def test_the_unit_is_the_trees_own_text() -> None:
    """Each piece is the tree's text at the line its #line names (comments blanked);
    only a static entry point loses its ``static``; nothing the manifest stubs, hooks
    or takes elsewhere, and no other global function of the file, is taken."""
    tree = ptree.resolve("debian:6.12")
    (ex,) = outside.extract(tree.root)
    src = tree.root / ex.source
    lines = strip_comments(src.read_text(errors="replace")).splitlines()
    unit = outside.unit_text(tree.root, ex, "pyvma_shim.h")
    taken = {d.name for d in ex.pieces}
    assert not taken & set(NOT_TAKEN), taken & set(NOT_TAKEN)
    for d in ex.pieces:
        assert d.file == ex.source
        own = "\n".join(lines[d.line - 1:d.line - 1 + d.text.count("\n") + 1])
        assert own.strip() == d.text.strip(), d.where
        # an entry point (and its forward declaration) is made global
        entry = d.name in ex.entry_names
        shown = outside.global_text(d.text) if entry else d.text
        assert f'#line {d.line} "{src}"\n{shown.rstrip()}\n' in unit, d.where
        if entry:
            assert not re.match(r"\s*static\b", shown)
    assert len(re.findall(r"^#line ", unit, re.M)) == len(ex.pieces)
    # every entry point is declared for the other units, as the unit defines it
    assert [p.split("(")[0].split()[-1].lstrip("*") for p in ex.prototypes()] == ex.entry_names


@pytest.fixture(scope="module")
def k612():
    return load("debian:6.12")


def test_the_build_runs_mm_mmap_c(k612) -> None:
    """The library's insert_vm_struct() is 6.12's own: its BUG_ON names mm/mmap.c at the
    line of the tree that holds it; do_brk_flags() expands the brk VMA."""
    assert k612.build.info["outside"]["mm/mmap.c"] == [
        d.name for d in outside.extract(k612.tree.root)[0].entries]
    mm = k612.mm()
    try:
        a = mm.alloc(0, 2 * P, 0, rw(k612))
        a.set_vm_ops(None)
        a.set_anon_vma(k612.anon_vma())
        with pytest.raises(KernelBug) as bug:
            mm.insert_vm_struct(a)
        site = bug.value.site
        assert site.file.endswith("mm/mmap.c")
        line = (k612.tree.root / "mm/mmap.c").read_text().splitlines()[site.line - 1]
        assert "BUG_ON(vma->anon_vma)" in line
    finally:
        mm.close()
    mm = k612.mm()
    try:
        mm.brk(None, 0x100 * P, 2 * P)
        (b,) = mm.vmas()
        mm.brk(b, 0x102 * P, 3 * P)
        assert spans(mm) == [(0x100, 0x105, 0x100)]
        assert mm.vmas()[0].ptr == b.ptr          # grown in place
    finally:
        mm.close()


def test_a_file_without_mmap_never_reaches_an_unchecked_call(k612) -> None:
    """6.12's __mmap_region() calls ->mmap unconditionally (do_mmap() refuses such a
    file first): -ENODEV, nothing mapped, no reference taken, nothing crashed."""
    mm = k612.mm()
    try:
        f = k612.file()
        assert errno_of(mm.mmap, 0, 4 * P, rw(k612), 0, file=f) == -errno.ENODEV
        assert errno_of(mm.mmap_region, 0, 4 * P, rw(k612), 0, file=f) == -errno.ENODEV
        assert (mm.map_count, f.refs) == (0, 0)
        g = k612.file(mmap=True)
        assert mm.mmap(0, 4 * P, rw(k612), 0, file=g) == 0
        assert (g.mmap_calls, g.refs) == (1, 1)
    finally:
        mm.close()


def test_a_change_planted_in_mm_mmap_c_is_built(k612, tmp_path) -> None:
    """mm/mmap.c is read at build time: a one-line change there rebuilds and runs
    (insert_vm_struct() gives an anonymous VMA its address + 1 as page offset)."""
    text = (k612.tree.root / "mm/mmap.c").read_text()
    if text.count(PGOFF) != 1:
        pytest.skip(f"{k612.version}'s mm/mmap.c lacks the planted line {PGOFF!r}")
    dest = scratch_tree(k612.tree.root, tmp_path / "planted",
                        {"mm/mmap.c": lambda t: t.replace(
                            PGOFF, "vma->vm_pgoff = (vma->vm_start >> PAGE_SHIFT) + 1;", 1)})
    planted = load_tree(ptree.resolve(str(dest)))
    assert planted.build.key != k612.build.key
    got = []
    for k in (k612, planted):
        mm = k.mm()
        try:
            a = mm.alloc(4 * P, 6 * P, 0, rw(k))
            a.set_vm_ops(None)
            mm.insert_vm_struct(a)
            got.append(mm.vmas()[0].pgoff)
        finally:
            mm.close()
    assert got == [4, 5]


def test_coverage_reads_mm_mmap_c_from_its_own_unit() -> None:
    """A coverage build names the unit of mm/mmap.c beside mm/vma*.c's."""
    tree = ptree.resolve("debian:6.12")
    b = build(tree, sanitizer="coverage")
    assert units(b) == ["pyvma_tu", "pyvma_mm_mmap_tu"]
    assert (b.dir / "obj" / "pyvma_mm_mmap_tu.gcno").is_file()


@pytest.mark.parametrize("spec", ("debian:6.12", "debian:7.x"))
def test_the_glue_and_the_feature_agree_on_files_without_mmap(spec: str) -> None:
    """The C glue refuses a file without ->mmap (PYVMA_MMAP_NEEDS_F_OP_MMAP, derived by
    vma_internal/tables.py) exactly on the trees the feature says cannot map one."""
    k = load(spec)
    tables = (k.build.dir / "gen" / "pyvma_tables.h").read_text()
    assert ("PYVMA_MMAP_NEEDS_F_OP_MMAP" in tables) == (not k.has("mmap_file_without_mmap_op"))


def test_the_report_lists_what_was_taken_from_mm_mmap_c() -> None:
    tree = ptree.resolve("debian:6.12")
    lines = outside.report_lines(tree.root)
    assert lines[1].startswith("## taken from mm/mmap.c into pyvma_mm_mmap_tu.c")
    assert any(re.fullmatch(r"mm/mmap\.c:\d+\tfunction\tdo_brk_flags\tentry point", ln)
               for ln in lines), lines
    assert any(re.fullmatch(r"mm/mmap\.c:\d+\tfunction\tacct_stack_growth", ln)
               for ln in lines), lines
    assert outside.report_lines(ptree.resolve("debian:7.x").root) == []
