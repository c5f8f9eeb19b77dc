# SPDX-License-Identifier: GPL-2.0-or-later
"""Real patch series as kernel inputs: mail read as git am reads it, whole-tree scratch
copies, nothing written outside them, every failing hunk named, identity everywhere,
hooks that follow renamed functions, killable locks that fail.

Every series is made here, at test time, from a cached Debian tree (an edit, a diff, a
mail): no file of ../shared is read.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from pyvma.api import load_tree
from pyvma.cache import cache_dir
from pyvma.tree.archive import package_members
from pyvma.tree.spec import resolve
from pyvma.tree.mbox import SeriesError, read_series, split_mbox
from pyvma.tree.markers import PATCHES_MARKER as MARKER
from pyvma.tree.patches import PatchError, patched
from tests.harness.scratch import diff_of, mail, mbox
from tests.helpers import P, errno_of, rw, spans
from tests.paths.paths_helpers import place

REPO = Path(__file__).resolve().parents[2]

ANCHOR = "#include \"vma.h\""          # a line every tree's mm/vma.c has once


@pytest.fixture(scope="module")
def tree7():
    return resolve("debian:7.x")


def comment_after(anchor: str, text: str):
    """An edit adding a C comment line after the first line holding *anchor*."""
    def edit(src: str) -> str:
        i = src.index(anchor)
        j = src.index("\n", i) + 1
        return src[:j] + f"/* {text} */\n" + src[j:]
    return edit


def series_mail(tree: Path, n: int, total: int, subject: str, edits: dict, *,
                version: int = 1, msgid: str = "", log: str = "A change.",
                encoding: str = "8bit", new_files: dict | None = None) -> bytes:
    ver = f" v{version}" if version > 1 else ""
    body = f"{log}\n\nSigned-off-by: A Developer <dev@example.org>\n---\n" \
        + diff_of(tree, edits, new_files) + "-- \n2.47.0\n"
    return mail(f"[PATCH{ver} {n}/{total}] {subject}", body,
                msgid or f"v{version}-{n}@example.org", encoding=encoding)


def cover(total: int, title: str, version: int = 1) -> bytes:
    ver = f" v{version}" if version > 1 else ""
    return mail(f"[PATCH{ver} 0/{total}] {title}", "The cover letter.\n\nbase-commit: "
                "0123456789abcdef0123456789abcdef01234567\n", f"v{version}-0@example.org")


def vma_c(tree) -> str:
    return (tree.root / "mm/vma.c").read_text()


# -- reading mail -------------------------------------------------------------------

def test_thread_with_replies_applies_exactly_the_series(tree7, tmp_path):
    """A lore thread: v1 and v2 postings, a reply to the cover letter carrying an
    interdiff, a review reply to a patch: only v2's two patches apply."""
    r = tree7.root
    v1 = series_mail(r, 1, 2, "mm: one", {"mm/vma.c": comment_after(ANCHOR, "v1 one")})
    p1 = series_mail(r, 1, 2, "mm: one", {"mm/vma.c": comment_after(ANCHOR, "one")},
                     version=2)
    p2 = series_mail(r, 2, 2, "mm: two", {"mm/vma.h": comment_after("#define", "two")},
                     version=2)
    interdiff = mail("Re: [PATCH v2 0/2] mm: a series", "Interdiff against v1:\n"
                     + diff_of(r, {"mm/vma.c": comment_after(ANCHOR, "interdiff")}),
                     "reply-0@example.org", reply_to="v2-0@example.org")
    review = mail("Re: [PATCH v2 1/2] mm: one", "> " + "\n> ".join(
        diff_of(r, {"mm/vma.c": comment_after(ANCHOR, "quoted")}).splitlines())
        + "\nLooks good.\n", "reply-1@example.org", reply_to="v2-1@example.org")
    box = tmp_path / "thread.mbox"
    box.write_bytes(mbox([cover(2, "mm: a series"), v1, cover(2, "mm: a series", 2), p1,
                          interdiff, p2, review], mboxrd=True))
    tree = patched("debian:7.x", series=str(box))
    text = vma_c(tree)
    assert "/* one */" in text
    assert not re.search(r"/\* (v1 one|interdiff|quoted) \*/", text)
    assert "/* two */" in (tree.root / "mm/vma.h").read_text()
    assert tree.origin["label"] == f'{tree7.version_str} + "mm: a series" v2 [1-2]'
    record = json.loads((tree.root / MARKER).read_text())
    assert [p["message_id"] for p in record["patches"]] == ["v2-1@example.org",
                                                             "v2-2@example.org"]
    assert record["series"]["base_commit"].startswith("0123456789abcdef")
    assert "/* one */" not in vma_c(tree7), "the base tree was written"


def test_gap_is_refused_and_a_subset_is_chosen_on_purpose(tree7, tmp_path):
    r = tree7.root
    box = tmp_path / "gap.mbox"
    box.write_bytes(mbox([
        series_mail(r, 1, 3, "mm: one", {"mm/vma.c": comment_after(ANCHOR, "one")}),
        series_mail(r, 3, 3, "mm: three", {"mm/vma.h": comment_after("#define", "three")})]))
    with pytest.raises(PatchError) as err:
        patched("debian:7.x", series=str(box))
    assert "lacks patch 2 of 3" in str(err.value)
    assert "--patches 1,3" in str(err.value)
    tree = patched("debian:7.x", series=str(box), chosen="1,3")
    assert "/* one */" in vma_c(tree)
    assert tree.origin["label"].endswith('"mm: one" v1 [1,3]')
    with pytest.raises(SeriesError, match="outside the series' patches 1-3"):
        read_series(box, "2-4")


def test_two_different_patches_with_one_number_are_refused(tree7, tmp_path):
    r = tree7.root
    box = tmp_path / "dup.mbox"
    box.write_bytes(mbox([
        series_mail(r, 1, 1, "mm: one", {"mm/vma.c": comment_after(ANCHOR, "a")}, msgid="a"),
        series_mail(r, 1, 1, "mm: one", {"mm/vma.c": comment_after(ANCHOR, "b")}, msgid="b")]))
    with pytest.raises(SeriesError, match="two different patches numbered 1 of 1"):
        read_series(box)


@pytest.mark.parametrize("encoding", ["8bit", "quoted-printable"])
@pytest.mark.parametrize("mboxrd", [False, True])
def test_utf8_body_survives_byte_exact(tree7, tmp_path, encoding, mboxrd):
    """A UTF-8 comment (8-bit, as git format-patch sends it, or quoted-printable)
    lands byte for byte; a 'From ' line in the log neither splits the message nor
    loses its text."""
    words = "Sébastien Ünïcode ✓ — ≥ 2"
    log = "From the merge code's point of view nothing changes.\n>From a quote."
    m = series_mail(tree7.root, 1, 1, "mm: utf-8", {"mm/vma.c": comment_after(ANCHOR, words)},
                    log=log, encoding=encoding, msgid=f"utf8-{encoding}-{mboxrd}")
    box = tmp_path / "utf8.mbox"
    box.write_bytes(mbox([m], mboxrd=mboxrd))
    assert len(split_mbox(box.read_bytes())) == 1
    series = read_series(box)
    assert b"From the merge code" in series.patches[0].text
    assert b"\n>From a quote." in series.patches[0].text
    tree = patched("debian:7.x", series=str(box))
    assert f"/* {words} */\n".encode() in (tree.root / "mm/vma.c").read_bytes()


def test_patch_attachment_counts(tree7, tmp_path):
    msg = EmailMessage()
    msg["Subject"] = "[PATCH] mm: attached"
    msg["From"] = "A Developer <dev@example.org>"
    msg["Message-Id"] = "<attached@example.org>"
    msg.set_content("The patch is attached.\n")
    msg.add_attachment(diff_of(tree7.root, {"mm/vma.c": comment_after(ANCHOR, "attached")})
                       .encode(), maintype="text", subtype="x-patch",
                       filename="0001-attached.patch")
    box = tmp_path / "attached.mbox"
    box.write_bytes(mbox([msg.as_bytes()]))
    assert "/* attached */" in vma_c(patched("debian:7.x", series=str(box)))


# -- nothing outside the scratch copy ------------------------------------------------

def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, _, files in os.walk(root / "mm"):
        for f in files:
            st = os.lstat(os.path.join(dirpath, f))
            out[os.path.join(dirpath, f)] = (st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def _hostile(tmp_path: Path, name: str, diff: str) -> Path:
    p = tmp_path / name
    p.write_text(f"From: x <x@example.org>\nSubject: [PATCH] {name}\n\n---\n{diff}")
    return p


def test_paths_out_of_the_scratch_copy_are_refused(tree7, tmp_path):
    """'..', absolute paths and a write through a symlink an earlier patch creates
    are refused before anything is touched - also after an earlier run hard-linked
    every base file (link count 2)."""
    ok = _hostile(tmp_path, "ok.patch", diff_of(tree7.root, {
        "mm/vma.c": comment_after(ANCHOR, "harmless")}))
    patched("debian:7.x", [str(ok)])           # base files now have hard links
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "f").write_text("mine\n")
    before = _snapshot(tree7.root)
    kernels_before = sorted(p.name for p in (cache_dir() / "kernels").iterdir())
    hunk = "@@ -1 +1 @@\n-mine\n+pwned\n"
    dotdot = _hostile(tmp_path, "dotdot.patch",
                      f"diff --git a/../../../{victim}/f b/../../../{victim}/f\n"
                      f"--- a/../../../{victim}/f\n+++ b/../../../{victim}/f\n{hunk}")
    absolute = _hostile(tmp_path, "absolute.patch",
                        f"--- {victim}/f\n+++ {victim}/f\n{hunk}")
    link = _hostile(tmp_path, "link.patch",
                    "diff --git a/mm/evil b/mm/evil\nnew file mode 120000\n"
                    f"--- /dev/null\n+++ b/mm/evil\n@@ -0,0 +1 @@\n+{victim}\n"
                    "\\ No newline at end of file\n")
    through = _hostile(tmp_path, "through.patch",
                       f"diff --git a/mm/evil/f b/mm/evil/f\n--- a/mm/evil/f\n+++ b/mm/evil/f\n"
                       f"{hunk}")
    for patches, why in (([dotdot], "a path with '..'"), ([absolute], "an absolute path"),
                         ([link, through], "through the symlink mm/evil")):
        with pytest.raises(PatchError) as err:
            patched("debian:7.x", [str(p) for p in patches])
        assert why in str(err.value) and "nothing was applied" in str(err.value)
    assert (victim / "f").read_text() == "mine\n"
    assert _snapshot(tree7.root) == before, "the base tree changed (bytes, modes or inodes)"
    assert sorted(p.name for p in (cache_dir() / "kernels").iterdir()) == kernels_before


def test_failing_patch_names_every_hunk_and_an_applied_one(tree7, tmp_path):
    text = vma_c(tree7)
    lines = text.splitlines(keepends=True)
    far = len(lines) // 2

    def two_hunks(src: str) -> str:
        ls = src.splitlines(keepends=True)
        ls.insert(far, "/* second */\n")
        return "".join(ls).replace(ANCHOR, ANCHOR + "\n/* first */", 1)
    good = diff_of(tree7.root, {"mm/vma.c": two_hunks})
    # the same hunks against context that is not in the tree: both fail
    stale = re.sub(r"(?m)^ (.+)$", lambda m: " " + m.group(1) + " /* gone */", good)
    bad = _hostile(tmp_path, "0001-stale.patch", stale)
    with pytest.raises(PatchError) as err:
        patched("debian:7.x", [str(bad)])
    msg = str(err.value)
    assert msg.startswith(f"patch 1/1 (0001-stale.patch) does not apply to {tree7.version_str}")
    hunks = re.findall(r"mm/vma\.c:(\d+) \(hunk #(\d)\)", msg)
    assert [h for _, h in hunks] == ["1", "2"], msg
    assert int(hunks[1][0]) > far - 5
    # a patch whose change the tree already has
    first = _hostile(tmp_path, "0001-good.patch", good)
    again = _hostile(tmp_path, "0002-again.patch", good)
    with pytest.raises(PatchError) as err:
        patched("debian:7.x", [str(first), str(again)])
    assert "patch 2/2 (0002-again.patch)" in str(err.value)
    assert "looks already applied" in str(err.value)


def test_files_outside_the_cached_subtrees_come_from_the_package(tree7, tmp_path):
    """A series that also edits MAINTAINERS (not in the cached tree) and
    tools/testing/vma applies as git am applies it to the whole tree."""
    if tree7.origin.get("kind") != "debian":
        pytest.skip("the default kernel is not a Debian package tree")
    whole = tmp_path / "whole"
    got = package_members(tree7, ["MAINTAINERS"], whole)
    assert got == ["MAINTAINERS"]
    assert not (tree7.root / "MAINTAINERS").exists()
    vma_tests = sorted((tree7.root / "tools/testing/vma").rglob("*.c"))
    edits = {"MAINTAINERS": comment_after("MEMORY MAPPING", "maintainers edit")}
    diff = diff_of(whole, edits)
    if vma_tests:
        rel = str(vma_tests[0].relative_to(tree7.root))
        diff += diff_of(tree7.root, {rel: lambda t: t + "/* vma test edit */\n"})
    p = _hostile(tmp_path, "0001-whole-tree.patch", diff)
    tree = patched("debian:7.x", [str(p)])
    assert "/* maintainers edit */" in (tree.root / "MAINTAINERS").read_text()
    if vma_tests:
        assert (tree.root / rel).read_text().endswith("/* vma test edit */\n")
        assert not vma_tests[0].read_text().endswith("/* vma test edit */\n")
    assert json.loads((tree.root / MARKER).read_text())["from_package"] == ["MAINTAINERS"]


# -- hooks follow the code -----------------------------------------------------------

def _i_mmap_insert(tree) -> tuple[str, list[str]]:
    """The function mm/vma.c inserts a file VMA into i_mmap with, and the files
    (mm/vma.c, the headers declaring it) that name it."""
    m = re.search(r"\b(\w+)_insert\(vma, (?:&mapping->i_mmap|mapping)\);", vma_c(tree))
    assert m, "no i_mmap insertion found in mm/vma.c"
    name = m.group(1)
    files = ["mm/vma.c"] + [str(p.relative_to(tree.root)) for p in
                            (tree.root / "include/linux").glob("*.h")
                            if f"{name}_insert(" in p.read_text(errors="replace")]
    return name, files


@pytest.mark.parametrize("spec", ["debian:7.x", "debian:6.12"])
def test_renamed_hooked_function_keeps_its_hook(spec, tmp_path):
    """A series renames the i_mmap tree functions (as v1 of a 2026 series did): the
    copy of a file VMA is still seen entering the file's rmap tree."""
    base = resolve(spec)
    name, files = _i_mmap_insert(base)
    new = "renamed_i_mmap_tree"
    p = _hostile(tmp_path, "0001-rename.patch", diff_of(base.root, {
        f: (lambda t: re.sub(rf"\b{name}_(insert|remove)\b", rf"{new}_\1", t)) for f in files}))
    k = load_tree(patched(spec, [str(p)]))
    assert f"{new}_insert (by signature)" in " ".join(
        n for names in k.build.info["hooks"].values() for n in names)
    f = k.file()
    with k.mm() as mm:
        a = place(mm, 0, 2 * P, 0x30, rw(k), file=f)
        mm.copy_vma(a, 8 * P, 2 * P, 0x30)
        assert spans(mm) == [(0, 2, 0x30), (8, 10, 0x30)]
        assert f.i_mmap_vmas == 2


def test_hook_that_loses_its_target_fails_the_build_by_name(tmp_path):
    """Renamed with another signature (an extra parameter), the hook cannot follow:
    the build fails naming it instead of a silent no-op."""
    base = resolve("debian:7.x")
    name, files = _i_mmap_insert(base)

    def edit(extra: str):
        def do(t: str) -> str:
            return re.sub(rf"\b{name}_(insert|remove)\(([^;]*?)\)",
                          rf"other_\1(\2, {extra})", t)
        return do
    p = _hostile(tmp_path, "0001-resignature.patch", diff_of(base.root, {
        f: edit("0" if f.endswith(".c") else "int extra") for f in files}))
    proc = subprocess.run([sys.executable, "-m", "pyvma", "build", "--kernel", "debian:7.x",
                           "--patch", str(p)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "lost harness hooks" in proc.stderr
    assert re.search(rf"pyvma_hook_i_mmap\w*: bound in {re.escape(base.version_str)} to "
                     rf"{name}_insert", proc.stderr), proc.stderr


# -- error paths are reachable -------------------------------------------------------

def test_fatal_signal_takes_the_error_path_of_a_killable_lock(tmp_path):
    """A series makes __split_vma() take the VMA write lock killably before it
    allocates: with a fatal signal pending the split fails with -EINTR and changes
    nothing; without one it splits."""
    base = resolve("debian:7.x")
    headers = (base.root / "include/linux/mmap_lock.h").read_text()
    if "vma_start_write_killable(" not in headers:
        pytest.skip(f"{base.version_str} has no vma_start_write_killable()")
    text = vma_c(base)
    m = re.search(r"__split_vma\(struct vma_iterator \*vmi[^{]*\{.*?"
                  r"\tWARN_ON\(vma->vm_end <= addr\);\n", text, re.S)
    assert m, "__split_vma() does not check its address first"
    p = _hostile(tmp_path, "0001-killable.patch", diff_of(base.root, {"mm/vma.c": lambda t: (
        t.replace(m.group(0), m.group(0) + "\tif (vma_start_write_killable(vma))\n"
                  "\t\treturn -EINTR;\n", 1))}))
    k = load_tree(patched("debian:7.x", [str(p)]))
    with k.mm() as mm:
        a = place(mm, 0, 4 * P, 0, rw(k))
        k.fail("fatal_signal")
        assert errno_of(mm.split, a, 2 * P) == -4            # -EINTR
        k.fail("fatal_signal", False)
        assert spans(mm) == [(0, 4, 0)]
        mm.split(a, 2 * P)
        assert spans(mm) == [(0, 2, 0), (2, 4, 2)]
    k.reset_services()


# -- identity and what the series changed --------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyvma", *args], capture_output=True,
                          text=True, cwd=REPO)


@pytest.fixture(scope="module")
def two_versions(tree7, tmp_path_factory):
    """v1 drops the sticky set of the existing-range merge, v2 keeps it."""
    d = tmp_path_factory.mktemp("versions")
    sticky = "vma_set_flags_mask(vmg->target, sticky_flags);"
    if sticky not in vma_c(tree7):
        pytest.skip(f"{tree7.version_str} has no sticky set in vma_merge_existing_range()")
    r = tree7.root
    v1 = d / "v1.mbox"
    v1.write_bytes(mbox([cover(1, "mm: sticky rework"), series_mail(
        r, 1, 1, "mm: rework", {"mm/vma.c": lambda t: t.replace("\t" + sticky + "\n", "", 1)})]))
    v2 = d / "v2.mbox"
    v2.write_bytes(mbox([cover(1, "mm: sticky rework", 2), series_mail(
        r, 1, 1, "mm: rework", {"mm/vma.c": comment_after(ANCHOR, "reworked")}, version=2)]))
    return v1, v2


def test_diff_of_two_series_versions_names_both_and_replays(two_versions):
    v1, v2 = two_versions
    proc = run_cli("diff", "debian:7.x", "debian:7.x", "--a-series", str(v1), "--b-series",
                   str(v2), "--sequences", "60")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"mm: sticky rework" v1 [1]' in proc.stdout
    assert '"mm: sticky rework" v2 [1]' in proc.stdout
    line = next(l for l in proc.stdout.splitlines() if "replay: pyvma replay" in l)
    argv = shlex.split(line.split("replay: pyvma ", 1)[1])
    replay = run_cli(*argv)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "v1 [1]" in replay.stdout and "v2 [1]" in replay.stdout


def test_pyvma_test_opens_with_what_the_series_changed(two_versions, tmp_path):
    v1, v2 = two_versions
    suite = str(REPO / "tests" / "sticky" / "test_sticky_existing_range.py")
    broken = run_cli("test", "--kernel", "debian:7.x", "--series", str(v1), "--", suite)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    head = broken.stdout.split("\n\n", 1)[0]
    assert "changed against" in head and "newly failing (" in head, head
    assert re.search(r"newly failing \(\d+\):\n    tests/sticky/test_sticky_existing_range"
                     r"\.py::\w+", head), head
    ktap = tmp_path / "results.ktap"
    fine = run_cli("test", "--kernel", "debian:7.x", "--series", str(v2), "--", suite,
                   "--ktap", str(ktap))
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert "reused" in fine.stdout
    assert "no test changed its outcome" in fine.stdout
    # the run and its KTAP name the series
    assert '"mm: sticky rework" v2 [1]' in fine.stdout
    assert re.search(r'^# pyvma kernel \S+\+v2\.1: \S+ \+ "mm: sticky rework" v2 \[1\]$',
                     ktap.read_text(), re.M), ktap.read_text()[:400]


def test_three_way_merge_where_the_base_repository_has_the_blobs(tree7, tmp_path):
    """A patch made against an older commit of the developer's checkout does not apply
    to its head; its pre-image blob is in the repository, so --3way merges it (as
    git am -3 would), and the checkout is left as it was."""
    from pyvma.tree.scratch import link_copy
    repo = tmp_path / "linux"
    link_copy(tree7.root, repo)
    vma = repo / "mm/vma.c"
    text = vma.read_text()
    vma.unlink()                                  # a file of its own, not the cache's
    vma.write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-f", "mm/vma.c"], check=True)
    subprocess.run([*git, "commit", "-qm", "A"], check=True)
    vma.write_text(comment_after(ANCHOR, "added")(text))
    diff = subprocess.run([*git, "diff"], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^index [0-9a-f]+\.\.", diff, re.M)
    lines = text.splitlines(keepends=True)
    at = next(i for i, l in enumerate(lines) if ANCHOR in l) + 3   # in the hunk's context
    lines[at] = lines[at].rstrip("\n") + " /* changed since */\n"
    vma.write_text("".join(lines))
    subprocess.run([*git, "commit", "-qam", "B"], check=True)
    head = vma.read_bytes()
    p = _hostile(tmp_path, "0001-old-base.patch", diff)
    with pytest.raises(PatchError) as err:
        patched(str(repo), [str(p)])
    assert "--3way tries a 3-way merge" in str(err.value)
    tree = patched(str(repo), [str(p)], three_way=True)
    merged = vma_c(tree)
    assert "/* added */" in merged and "/* changed since */" in merged
    assert json.loads((tree.root / MARKER).read_text())["three_way_merged"] == [1]
    assert vma.read_bytes() == head


def test_a_removed_line_that_looks_like_a_file_header_stays_in_its_hunk():
    """'--- x' inside a hunk is a removed '-- x', not a new file section: the paths a
    patch touches are read as git apply reads them (hunk line counts)."""
    from pyvma.tree.patches import changes
    text = (b"diff --git a/mm/a.c b/mm/a.c\n--- a/mm/a.c\n+++ b/mm/a.c\n@@ -1,3 +1,2 @@\n"
            b" keep\n--- /etc/passwd\n keep\n"
            b"diff --git a/mm/b.c b/mm/b.c\nnew file mode 100644\n--- /dev/null\n"
            b"+++ b/mm/b.c\n@@ -0,0 +1 @@\n+new\n")
    got = [(c.old, c.new, c.hunks) for c in changes(text)]
    assert got == [("mm/a.c", "mm/a.c", (1,)), (None, "mm/b.c", (0,))]


def test_a_cache_on_another_filesystem_gets_copies(tree7, tmp_path):
    """--patch with the cache on another filesystem than the tree (here tmpfs): hard
    links cannot cross it, so the scratch copy is made of copies; the tree is
    untouched."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tree7.root).st_dev:
        pytest.skip("no second filesystem (/dev/shm on another device) here")
    cache = Path(__import__("tempfile").mkdtemp(prefix="pyvma-xdev-", dir=shm))
    try:
        p = _hostile(tmp_path, "0001-xdev.patch", diff_of(tree7.root, {
            "mm/vma.c": comment_after(ANCHOR, "across filesystems")}))
        before = _snapshot(tree7.root)
        tree = patched(str(tree7.root), [str(p)], cache=cache)
        assert "/* across filesystems */" in vma_c(tree)
        vma_h = tree.root / "mm/vma.h"
        assert os.stat(vma_h).st_dev != os.stat(tree7.root / "mm/vma.h").st_dev
        assert vma_h.read_bytes() == (tree7.root / "mm/vma.h").read_bytes()
        assert _snapshot(tree7.root) == before
    finally:
        import shutil
        shutil.rmtree(cache, ignore_errors=True)
