# SPDX-License-Identifier: GPL-2.0-or-later
"""A series that stops calling a hooked function still builds (a 2026 series replaces
every vma_start_write() of mm/vma.c by vma_start_write_killable(), which the harness
hooks too), a fatal signal then reaches each converted caller; a call that would
reach a no-op stub is still refused, and no message asks the user to edit pyvma."""
from __future__ import annotations

import ast
import errno
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma.api import load_tree
from pyvma.tree.patches import patched
from pyvma.tree.spec import resolve
from tests.harness.scratch import diff_of
from tests.helpers import P, errno_of, rw
from tests.paths.paths_helpers import place
from vma_internal.definition import Definition
from vma_internal.generate import Shim, Stub
from vma_internal.hookdiff import lost_hooks

REPO = Path(__file__).resolve().parents[2]
EINTR = -errno.EINTR
CALL = re.compile(r"(\t+)vma_start_write\(([^;]*)\);")


def killable(text: str) -> tuple[str, list[str]]:
    """mm/vma.c as the series has it: each statement ``vma_start_write(x);`` becomes
    ``if (vma_start_write_killable(x))`` and its error path: ``return -EINTR`` in a
    function returning int (``goto out_unlock`` where it has that label: the locks
    taken so far are dropped), ``goto abort`` in one returning a merge result.
    Returns the text and the functions converted."""
    lines = text.split("\n")
    out: list[str] = []
    done: list[str] = []
    fn, ret_int, body = "", False, ""
    for i, line in enumerate(lines):
        if line == "{":
            j, head = i - 1, []
            while j >= 0 and lines[j].strip() and not lines[j].rstrip().endswith(
                    (";", "}", "*/")):
                head.insert(0, lines[j])
                j -= 1
            h = re.sub(r"\b(static|inline|__always_inline|__must_check)\b", "",
                       " ".join(head)).strip()
            ret_int = h.startswith("int ")
            m = re.search(r"(\w+)\s*\(", h)
            fn = m.group(1) if m else ""
            end = lines.index("}", i) if "}" in lines[i:] else len(lines)
            body = "\n".join(lines[i:end])
        m = CALL.fullmatch(line)
        if m:
            fail = ("goto out_unlock;" if "\nout_unlock:" in body else "return -EINTR;") \
                if ret_int else "goto abort;" if "\nabort:" in body else None
            if fail:
                out += [f"{m[1]}if (vma_start_write_killable({m[2]}))", f"{m[1]}\t{fail}"]
                done.append(fn)
                continue
        out.append(line)
    return "\n".join(out), done


@pytest.fixture(scope="module")
def series(kernel_spec, tmp_path_factory):
    """(base tree, the patch file, the functions it converts) for *kernel_spec*."""
    base = resolve(kernel_spec)
    if "vma_start_write_killable(" not in \
            (base.root / "include/linux/mmap_lock.h").read_text(errors="replace"):
        pytest.skip(f"{base.version_str} has no vma_start_write_killable()")
    text, done = killable((base.root / "mm/vma.c").read_text())
    assert done and "vma_start_write(" not in re.sub(r"/\*.*?\*/", "", text, flags=re.S), \
        "a vma_start_write() call of mm/vma.c was left unconverted"
    p = tmp_path_factory.mktemp("killable") / "0001-killable.patch"
    p.write_text("From: A Developer <dev@example.org>\nSubject: [PATCH] mm: replace "
                 "vma_start_write() with vma_start_write_killable()\n\n---\n"
                 + diff_of(base.root, {"mm/vma.c": lambda t: text}))
    return base, p, sorted(set(done))


@pytest.fixture(scope="module")
def killable_kernel(series, kernel_spec):
    return load_tree(patched(kernel_spec, [str(series[1])]))


def test_killable_series_builds_with_its_hook(killable_kernel):
    hooks = killable_kernel.build.info["hooks"]
    assert hooks.get("pyvma_hook_start_write_killable") == ["vma_start_write_killable"]
    assert "pyvma_hook_start_write" not in hooks      # no longer called: not lost
    assert "vma_start_write" in killable_kernel.build.info["manifest_unmatched"]
    # the listing shows hooks as the stub's body has them, no template text
    assert not any("{" in h or "{" in " ".join(n) for h, n in hooks.items())


# How each converted caller is reached, with a fatal signal pending from the start
# (after=0) or after the first check (mm_take_all_locks() checks signal_pending()
# before it locks).  Each returns what it observed.
def _split(k, mm):
    a = place(mm, 0, 4 * P, 0, rw(k))
    k.fail("fatal_signal")
    return errno_of(mm.split, a, 2 * P)


def _merge_existing(k, mm):
    place(mm, 0, 2 * P, 0, rw(k))
    b = place(mm, 2 * P, 4 * P, 2, rw(k) | k.flag("VM_EXEC"))
    k.fail("fatal_signal")
    return mm.merge_existing(b, 2 * P, 3 * P, rw(k), prev=mm.vmas()[0])[1]


def _expand(k, mm):
    a = place(mm, 0, 2 * P, 0, rw(k))
    k.fail("fatal_signal")
    return errno_of(mm.expand, a, 0, 4 * P)


def _shrink(k, mm):
    a = place(mm, 0, 4 * P, 0, rw(k))
    k.fail("fatal_signal")
    return errno_of(mm.shrink, a, 0, 2 * P)


def _munmap(k, mm):
    place(mm, 0, 4 * P, 0, rw(k))
    k.fail("fatal_signal")
    return errno_of(mm.munmap, 0, 4 * P)


def _link(k, mm):
    v = mm.alloc(0, 4 * P, 0, rw(k))
    k.fail("fatal_signal")
    return errno_of(mm.link, v)


def _take_all_locks(k, mm):
    a = place(mm, 0, 4 * P, 0, rw(k))
    a.reset_write()
    k.fail("fatal_signal", after=1)
    return errno_of(mm.take_all_locks), a.write_locked


def _mmap_new(k, mm):
    k.fail("fatal_signal")
    return errno_of(mm.mmap_region, 0x10 * P, 4 * P, rw(k))


def _brk(k, mm):
    k.fail("fatal_signal")
    return errno_of(mm.brk, None, 0x10 * P, 4 * P)


def _expand_downwards(k, mm):
    v = place(mm, 0x100 * P, 0x104 * P, 0x100, rw(k) | k.flag("VM_GROWSDOWN"))
    k.fail("fatal_signal")
    return errno_of(mm.expand_downwards, v, 0xfe * P)


# caller -> (scenario, what the killable tree gives)
SCENARIOS = {
    "__split_vma": (_split, EINTR),
    "vma_merge_existing_range": (_merge_existing, "nomem"),
    "vma_expand": (_expand, EINTR),
    "vma_shrink": (_shrink, EINTR),
    "vms_gather_munmap_vmas": (_munmap, EINTR),
    "vma_link": (_link, EINTR),
    "mm_take_all_locks": (_take_all_locks, (EINTR, False)),
    "__mmap_new_vma": (_mmap_new, EINTR),
    "do_brk_flags": (_brk, EINTR),
    "expand_downwards": (_expand_downwards, EINTR),
}
# converted but not built for x86 (CONFIG_STACK_GROWSUP)
NOT_BUILT = {"expand_upwards"}


def _observe(k, scenario):
    k.reset_services()
    mm = k.mm()
    try:
        got = scenario(k, mm)
        hits = k.fault_hits("fatal_signal")
        layout = [(v.start, v.end) for v in mm.vmas()]
    finally:
        k.fail("fatal_signal", False)
        mm.close()
        k.reset_services()
        k.clear_warnings()
    return got, hits, layout


def test_fatal_signal_reaches_each_converted_caller(series, killable_kernel, kernel):
    """On the killable tree each converted caller fails as the series makes it fail
    (-EINTR; a merge aborts); on the base the same call does not (it never asks)."""
    done = set(series[2])
    assert done - NOT_BUILT <= set(SCENARIOS), \
        f"callers without a scenario: {sorted(done - NOT_BUILT - set(SCENARIOS))}"
    reached = []
    for caller in sorted(done - NOT_BUILT):
        scenario, want = SCENARIOS[caller]
        got, hits, after = _observe(killable_kernel, scenario)
        base_got, _, base_after = _observe(kernel, scenario)
        assert got == want, f"{caller}: {got!r} on the killable tree, expected {want!r}"
        assert hits >= 1, f"{caller}: the fatal signal was never asked for"
        assert base_got != want, f"{caller}: the base gives {base_got!r} too"
        reached.append(caller)
    assert reached


def _stub(name: str, hook: str = "", params: str = "struct vm_area_struct *vma") -> Stub:
    proto = Definition("prototype", name, (name,), (), f"void {name}({params});",
                       "include/linux/x.h", 1)
    call = hook.format("vma") if hook else ""
    return Stub(name, proto, f"static inline void {name}({params})\n{{ }}", "void", hook,
                "name" if hook else "", call)


def _shim(*stubs: Stub) -> Shim:
    return Shim("G", "", [], list(stubs), [])


def test_lost_is_only_a_call_reaching_a_no_op_stub():
    base = _shim(_stub("vma_start_write", "pyvma_hook_start_write({0})"),
                 _stub("old_insert", "pyvma_hook_i_mmap_root({0})"))
    callers = {"vma_start_write": {"__split_vma"}, "old_insert": {"vma_link_file"}}
    # the hooked function is no longer called; what replaced it is hooked: not lost
    new = _shim(_stub("vma_start_write_killable", "pyvma_hook_start_write_killable({0})"),
                _stub("old_insert", "pyvma_hook_i_mmap_root({0})"))
    assert lost_hooks(base, callers, new, {"vma_start_write_killable": {"__split_vma"},
                                           "old_insert": {"vma_link_file"}}) == []
    # its caller now calls a function the harness does not know: lost, named
    new = _shim(_stub("vma_start_write", "pyvma_hook_start_write({0})"),
                _stub("other_insert", "", "struct vm_area_struct *vma, int x"))
    lost = lost_hooks(base, callers, new, {"vma_start_write": {"__split_vma"},
                                           "other_insert": {"vma_link_file"}})
    assert [(h.hook, h.name, h.stubs, h.callers) for h in lost] == \
        [("pyvma_hook_i_mmap_root", "old_insert", ("other_insert",), ("vma_link_file",))]
    assert "vma_link_file now call other_insert" in lost[0].describe("7.3.4")
    # the same function with a prototype no hook fits: lost
    new = _shim(_stub("vma_start_write", ""), _stub("old_insert", "pyvma_hook_i_mmap_root({0})"))
    lost = lost_hooks(base, callers, new, callers)
    assert [(h.name, h.stubs) for h in lost] == [("vma_start_write", ("vma_start_write",))]


def test_refusal_names_the_callers_and_asks_no_edit_of_pyvma(tmp_path):
    """A hooked function renamed with an extra parameter: refused, naming what its
    callers call now; nothing asks the user to edit pyvma."""
    base = resolve("debian:7.x")
    text = (base.root / "mm/vma.c").read_text()
    m = re.search(r"\b(\w+)_insert\(vma, (?:&mapping->i_mmap|mapping)\);", text)
    assert m, "no i_mmap insertion found in mm/vma.c"
    name = m.group(1)
    files = ["mm/vma.c"] + [str(p.relative_to(base.root)) for p in
                            (base.root / "include/linux").glob("*.h")
                            if f"{name}_insert(" in p.read_text(errors="replace")]

    def edit(extra: str):
        return lambda t: re.sub(rf"\b{name}_(insert|remove)\(([^;]*?)\)",
                                rf"other_\1(\2, {extra})", t)
    p = tmp_path / "0001-resignature.patch"
    p.write_text("From: A Developer <dev@example.org>\nSubject: [PATCH] rename\n\n---\n"
                 + diff_of(base.root, {f: edit("0" if f.endswith(".c") else "int extra")
                                       for f in files}))
    proc = subprocess.run([sys.executable, "-m", "pyvma", "build", "--kernel", "debian:7.x",
                           "--patch", str(p)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert "lost harness hooks" in proc.stderr
    assert re.search(rf"bound in {re.escape(base.version_str)} to {name}_insert; bound to "
                     r"nothing here: [\w, ]+ now call other_insert", proc.stderr), proc.stderr
    assert "manifest" not in proc.stderr and "Traceback" not in proc.stderr


def test_no_message_asks_to_edit_pyvma():
    """No string of pyvma/ or vma_internal/ tells the user to edit pyvma's files."""
    bad = []
    for path in [*(REPO / "pyvma").rglob("*.py"), *(REPO / "vma_internal").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(
                    r"manifest\.py|(?:add|edit)\b.*\bin (?:vma_internal|pyvma)/",
                    node.value, re.I):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value[:60]!r}")
    assert not bad, "\n".join(bad)
