# SPDX-License-Identifier: GPL-2.0-or-later
"""The build follows the tree: edits to kernel text change the module with no repo
change; WARN/BUG are reported with their sites; the user's tree is never written;
bad trees give one clear message and leave nothing half-built."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma import tree as ptree
from pyvma.api import KernelBug, load

from .scratch import insert_after, line_of, scratch_tree, tree_digest

REPO = Path(__file__).resolve().parents[2]
STICKY_7X = "#define VMA_STICKY_FLAGS mk_vma_flags(VMA_SOFTDIRTY_BIT, VMA_MAYBE_GUARD_BIT)"
BUG_ADDR = 0x6660000
WARN_ADDR = 0x7770000


@pytest.fixture(scope="module")
def tree7():
    tree = ptree.resolve("debian:7.x")
    if "sticky" not in tree.features:
        pytest.skip(f"{tree.version_str} lacks sticky VMA flags")
    return tree


@pytest.fixture(scope="module")
def edited_sticky_tree(tree7, tmp_path_factory):
    """7.x with VM_DONTDUMP added to VMA_STICKY_FLAGS in include/linux/mm.h."""
    dest = tmp_path_factory.mktemp("sticky-dontdump")
    return scratch_tree(tree7.root, dest, {
        "include/linux/mm.h": lambda t: t.replace(
            STICKY_7X, STICKY_7X.replace("VMA_MAYBE_GUARD_BIT)",
                                         "VMA_MAYBE_GUARD_BIT, VMA_DONTDUMP_BIT)")),
    })


def _merge_dontdump(k):
    """AA*  with A VM_DONTDUMP: does the new range merge into A?

    0123
    AA*    ->  AAA (merged) or AAB (not)
    """
    with k.mm() as mm:
        rw = k.flag("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
        mm.map(0, 0x2000, 0, rw | k.flag("VM_DONTDUMP"))
        vma, state = mm.merge_new_range(0x2000, 0x3000, 2, rw)
        return state, (vma.flags if vma else None)


def test_sticky_mask_edit_changes_behaviour(tree7, edited_sticky_tree):
    """Editing VMA_STICKY_FLAGS in a copy of mm.h changes the built module — no repo
    change — and both builds live in one process, each with its own behaviour."""
    orig = load(str(tree7.root))
    edited = load(str(edited_sticky_tree))
    assert orig.build.key != edited.build.key

    dontdump = orig.flag("VM_DONTDUMP")
    assert not orig.sticky_mask & dontdump
    assert edited.sticky_mask & dontdump
    assert edited.sticky_mask == orig.sticky_mask | dontdump

    assert _merge_dontdump(orig) == ("nomerge", None)
    state, flags = _merge_dontdump(edited)
    assert state == "success" and flags & dontdump
    # and the original still behaves as before with the other loaded (no cross-binding)
    assert _merge_dontdump(orig) == ("nomerge", None)


def test_user_tree_is_never_written(edited_sticky_tree):
    before = tree_digest(edited_sticky_tree)
    k = load(str(edited_sticky_tree))
    assert k.mm().close() == 0
    assert tree_digest(edited_sticky_tree) == before
    assert not (edited_sticky_tree / "tools" / "testing" / "shared" / "generated").exists()


@pytest.fixture(scope="module")
def bug_tree(tree7, tmp_path_factory):
    """7.x with a BUG_ON and a WARN_ON_ONCE planted at the top of vma_merge_new_range()."""
    dest = tmp_path_factory.mktemp("bug")
    anchor = "struct vm_area_struct *vma_merge_new_range(struct vma_merge_struct *vmg)"
    plant = (f"\tBUG_ON(vmg->start == {BUG_ADDR:#x}UL);\n"
             f"\tWARN_ON_ONCE(vmg->start == {WARN_ADDR:#x}UL);")
    return scratch_tree(tree7.root, dest, {
        "mm/vma.c": lambda t: t.replace(anchor + "\n{\n", anchor + "\n{\n" + plant + "\n", 1),
    })


def test_bug_on_raises_kernel_bug_with_site(bug_tree):
    k = load(str(bug_tree))
    line = line_of(bug_tree / "mm" / "vma.c", f"BUG_ON(vmg->start == {BUG_ADDR:#x}UL)")
    mm = k.mm()
    mm.map(0, 0x1000)
    with pytest.raises(KernelBug) as err:
        mm.merge_new_range(BUG_ADDR, BUG_ADDR + 0x1000)
    assert err.value.site.file.endswith("mm/vma.c")
    assert err.value.site.line == line
    assert "vmg->start ==" in err.value.site.cond
    # the process survives and the kernel keeps working
    vma, state = mm.merge_new_range(0x1000, 0x2000)
    assert state == "success" and (vma.start, vma.end) == (0, 0x2000)
    mm.close()


def test_warn_on_once_records_every_hit(bug_tree):
    k = load(str(bug_tree))
    k.clear_warnings()
    line = line_of(bug_tree / "mm" / "vma.c", f"WARN_ON_ONCE(vmg->start == {WARN_ADDR:#x}UL)")
    mm = k.mm()
    mm.map(0, 0x1000)
    for _ in range(3):
        mm.merge_new_range(WARN_ADDR, WARN_ADDR + 0x1000)
    warns = [w for w in k.warnings() if w.line == line]
    k.clear_warnings()
    mm.close()
    assert len(warns) == 3, "a WARN_ON_ONCE site must be recorded at every hit"
    assert warns[0].file.endswith("mm/vma.c")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyvma", *args], capture_output=True,
                          text=True, cwd=REPO, env=env)


def test_broken_vma_c_reports_compiler_file_line(tree7, tmp_path):
    dest = scratch_tree(tree7.root, tmp_path / "broken", {
        "mm/vma.c": insert_after("#include \"vma.h\"", "this is not C;"),
    })
    line = line_of(dest / "mm" / "vma.c", "this is not C;")
    cache = tmp_path / "cache"          # private: other runs may build meanwhile
    proc = run_cli("build", "--kernel", str(dest), env=dict(os.environ, PYVMA_CACHE=str(cache)))
    assert proc.returncode == 2
    assert re.search(rf"mm/vma\.c:{line}:\d+: error:", proc.stderr), proc.stderr
    assert proc.stderr.startswith("pyvma: error: ")
    builds = cache / "builds"
    assert not builds.exists() or not any(builds.iterdir()), \
        "a failed build left something in builds/"
    assert any((cache / "failed").iterdir()), "the failed build's generated files are kept"


@pytest.mark.parametrize("spec,expect", [
    ("/nonexistent/linux", "does not exist"),
    ("/tmp", "is not a Linux kernel tree"),
    ("garbage:thing", "kernel spec"),
])
def test_bad_kernel_spec_gives_one_clear_message(spec, expect):
    proc = run_cli("build", "--kernel", spec)
    assert proc.returncode == 2
    assert expect in proc.stderr
    assert "Traceback" not in proc.stderr


def test_tree_without_vma_c_is_refused(tmp_path):
    (tmp_path / "mm").mkdir()
    (tmp_path / "include").mkdir()
    (tmp_path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n")
    proc = run_cli("build", "--kernel", str(tmp_path))
    assert proc.returncode == 2
    assert "mm/vma.c" in proc.stderr and "6.1" in proc.stderr


def test_unknown_config_option_is_refused():
    proc = run_cli("build", "--kernel", "debian:7.x", "--kernel-config", "CONFIG_FOO=y")
    assert proc.returncode == 2
    assert "unknown config option 'CONFIG_FOO'" in proc.stderr


def test_shim_report_gives_tree_locations(tree7):
    proc = run_cli("shim", "--kernel", "debian:7.x", "--report")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"^include/linux/mm\.h:(\d+)\tmacro\tVMA_STICKY_FLAGS", proc.stdout, re.M)
    assert m, "VMA_STICKY_FLAGS not reported as extracted from include/linux/mm.h"
    text = (tree7.root / "include/linux/mm.h").read_text().splitlines()
    assert "#define VMA_STICKY_FLAGS" in text[int(m.group(1)) - 1]
    assert re.search(r"^mm/internal\.h:\d+\tstub\tanon_vma_clone\thook:", proc.stdout, re.M)


def test_6_12_links_vma_close_from_its_own_internal_h():
    """6.12.117+ mm/vma.c calls vma_close(), which upstream's own 6.12 test shim
    lacks; ours takes the tree's static inline."""
    tree = ptree.resolve("debian:6.12")
    proc = run_cli("shim", "--kernel", "debian:6.12", "--report")
    assert proc.returncode == 0, proc.stderr
    if "vma_close(" not in (tree.root / "mm/vma.c").read_text():
        pytest.skip(f"{tree.version_str}'s mm/vma.c does not call vma_close()")
    assert re.search(r"^mm/internal\.h:\d+\tfunction\tvma_close$", proc.stdout, re.M)
    k = load("debian:6.12")
    assert k.mm().close() == 0


def test_soft_dirty_config_changes_sticky_mask(tree7):
    on = load("debian:7.x", {"CONFIG_MEM_SOFT_DIRTY": True})
    off = load("debian:7.x", {"CONFIG_MEM_SOFT_DIRTY": False})
    assert on.build.key != off.build.key
    soft = on.flag("VM_SOFTDIRTY")
    assert on.sticky_mask & soft
    assert not off.sticky_mask & soft
    assert not off.has_flag("VM_SOFTDIRTY"), "VM_SOFTDIRTY is VM_NONE without the config"
    assert on.sticky_mask & on.flag("VM_MAYBE_GUARD")
    assert off.sticky_mask & off.flag("VM_MAYBE_GUARD")


def test_unresolvable_name_says_where_it_was_looked_for(tree7, tmp_path):
    """A tree whose mm/vma.c calls something no header defines: the message names it
    and where the shim generator looked."""
    dest = scratch_tree(tree7.root, tmp_path / "unresolved", {
        "mm/vma.c": lambda t: t.replace(
            "struct vm_area_struct *vma_merge_new_range(struct vma_merge_struct *vmg)\n{\n",
            "struct vm_area_struct *vma_merge_new_range(struct vma_merge_struct *vmg)\n{\n"
            "\tpyvma_no_such_helper(vmg);\n", 1)})
    line = line_of(dest / "mm" / "vma.c", "pyvma_no_such_helper(vmg);")
    proc = run_cli("build", "--kernel", str(dest),
                   env=dict(os.environ, PYVMA_CACHE=str(tmp_path / "cache")))
    assert proc.returncode == 2
    assert f"mm/vma.c:{line}:" in proc.stderr
    assert "no definition of pyvma_no_such_helper was found" in proc.stderr
    assert re.search(r"looked in the \d+ headers indexed from mm/vma_internal.h and the "
                     r"manifest \(include/linux/",
                     proc.stderr), proc.stderr


def test_wide_scan_reads_only_what_the_build_key_covers(tree7):
    """The fallback scan of include/linux (names mm/vma_internal.h's headers lack)
    reads only files the tree's content hash covers: an edit there rebuilds."""
    from vma_internal.index import WIDE_GLOBS, wide_map
    hashed = set(tree7.hashed_files())
    scanned = {str(p.relative_to(tree7.root)) for pat in WIDE_GLOBS
               for p in tree7.root.glob(pat)}
    assert "include/linux/refcount.h" in scanned
    assert scanned <= hashed, sorted(scanned - hashed)[:5]
    wide = wide_map(tree7.root)
    assert "include/linux/refcount.h" in wide["REFCOUNT_MAX"]
    assert set(f for files in wide.values() for f in files) <= scanned


@pytest.mark.parametrize("spec", ["debian:7.x", "debian:6.12"])
def test_process_exits_cleanly_after_maple_tree_work(spec):
    """The library stays mapped until the process is gone: liburcu's call_rcu
    thread frees maple nodes through it while the interpreter exits."""
    code = (
        "import sys; from pyvma.api import load\n"
        f"k = load({spec!r}); mm = k.mm()\n"
        "rw = k.flag('VM_READ', 'VM_WRITE', 'VM_MAYREAD', 'VM_MAYWRITE')\n"
        "mm.map(0, 0x1000, 0, rw); mm.map(0x2000, 0x3000, 2, rw)\n"
        "for _ in range(1000):\n"
        "    mm.merge_new_range(0x1000, 0x2000, 1, rw); mm.munmap(0x1000, 0x2000)\n"
        "ops = 0\n"
        "for _ in range(1000):\n"
        "    mm.merge_new_range(0x1000, 0x2000, 1, rw); mm.munmap(0x1000, 0x2000); ops += 2\n"
        "print(ops)\n")
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                              text=True)
        assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
        assert proc.stdout.strip() == "2000"


@pytest.mark.parametrize("rel, old, new", [
    # a body the shim takes from mm/mmap.c (manifest.SOURCE_DEFINITIONS)
    ("mm/mmap.c", "find_vma_prev() - Find the VMA", "find_vma_prev() - find the VMA"),
    # a uapi header the manifest indexes
    ("include/uapi/asm-generic/mman-common.h", "#define PROT_READ", "#define  PROT_READ"),
    # a tools/testing/shared header the compiles include
    ("tools/testing/shared/linux/bug.h", "#include <stdio.h>", "#include <stdio.h>\n"),
])
def test_build_key_covers_every_file_the_build_reads(tree7, tmp_path, rel, old, new):
    """An edit to any file the shim generator or the compiles read gives another
    build key (else a cached build of the old text would be reused)."""
    from pyvma.build import tree_key
    from vma_internal.inputs import shim_inputs
    assert old in (tree7.root / rel).read_text()
    dest = scratch_tree(tree7.root, tmp_path / "edited", {rel: lambda t: t.replace(old, new, 1)})
    base = ptree.resolve(str(scratch_tree(tree7.root, tmp_path / "same", {})))
    edited = ptree.resolve(str(dest))
    assert tree_key(base) != tree_key(edited)
    assert rel in set(edited.hashed_files(shim_inputs(dest)))
