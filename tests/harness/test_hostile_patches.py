# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile patches and mail (issue 20): nothing pyvma writes follows a link a patch
made, a patch makes no link out of the tree (the rule archives follow), malformed
patches and mail give one line and exit 2 (bounded memory, no hang), the sections
pyvma checks are the ones git applies, and escape sequences never reach a terminal.
Also (issue 23, item 4): a failing patch names what it adds that the tree has.

Every tree and patch is made here, at test time (a small placeholder tree: no
kernel is needed to refuse a patch).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pyvma.inputs import printable
from pyvma.tree.links import link_problem
from pyvma.tree.markers import PATCHES_MARKER
from pyvma.tree.patches import PatchError, check_paths, patched, read_patches

from .test_source import make_fake_tree
from .test_untrusted import cache, one_line_error, run, state  # noqa: F401  (cache: a fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return make_fake_tree(tmp_path / "linux", 7, 3, 4)


@pytest.fixture()
def victim(tmp_path: Path) -> Path:
    d = tmp_path / "victim"
    d.mkdir()
    (d / "profile").write_text("# mine\n")
    return d


def patch_file(tmp_path: Path, name: str, diff: str | bytes,
               subject: str = "mm: a change") -> Path:
    p = tmp_path / name
    head = f"From: x <x@example.org>\nSubject: [PATCH] {subject}\n\n---\n".encode()
    p.write_bytes(head + (diff.encode() if isinstance(diff, str) else diff))
    return p


def new_link(rel: str, target: str) -> str:
    return (f"diff --git a/{rel} b/{rel}\nnew file mode 120000\nindex 0000000..1111111\n"
            f"--- /dev/null\n+++ b/{rel}\n@@ -0,0 +1 @@\n+{target}\n"
            "\\ No newline at end of file\n")


GOOD = ("diff --git a/mm/vma.c b/mm/vma.c\n--- a/mm/vma.c\n+++ b/mm/vma.c\n"
        "@@ -1 +1,2 @@\n /* placeholder vma.c */\n+/* added */\n")


def build(capsys: pytest.CaptureFixture, tree: Path, *args: str) -> str:
    """``pyvma build`` of *tree* with *args*: must fail with one line, exit 2."""
    rc, _, err = run(capsys, "build", "--kernel", str(tree), *args)
    line = one_line_error(err)
    assert rc == 2, err
    return line


# -- defect 2: nothing pyvma writes follows a link a patch made ------------------------

@pytest.mark.parametrize("name", [PATCHES_MARKER, "PYVMA_SOURCE.json"])
def test_a_record_name_made_a_link_is_refused(name: str, tmp_path: Path, cache: Path,
                                              tree: Path, victim: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """A patch creating pyvma's record as a symlink (absolute, or relative and
    walking out) is refused; the file it points at is untouched."""
    before = state(victim)
    rel_out = os.path.relpath(victim / "profile", cache / "kernels" / "x")
    for target in (str(victim / "profile"), rel_out):
        p = patch_file(tmp_path, "evil.patch", GOOD + new_link(name, target),
                       subject="$(touch /tmp/pwned)")
        refused = None
        try:
            patched(str(tree), [str(p)])
        except PatchError as exc:
            refused = str(exc)
        assert state(victim) == before, f"{victim / 'profile'} was written through a link"
        assert refused and "pyvma keeps for its own records" in refused
    line = build(capsys, tree, "--patch", str(p))
    assert "pyvma keeps for its own records" in line and "nothing was applied" in line
    assert state(victim) == before
    assert not list((cache / "kernels").glob("patched-*"))


def test_the_record_is_written_through_no_link(tmp_path: Path, cache: Path,
                                               tree: Path, victim: Path) -> None:
    """Below the refusal: the record replaces whatever entry has its name (a link a
    tree or patch left) instead of writing where it points."""
    from pyvma.tree.patches import write_record
    d = tmp_path / "scratch"
    d.mkdir()
    os.symlink(victim / "profile", d / PATCHES_MARKER)
    write_record(d, PATCHES_MARKER, '{"label": "$(touch /tmp/x)"}\n')
    assert (victim / "profile").read_text() == "# mine\n"
    assert not (d / PATCHES_MARKER).is_symlink()
    assert "touch" in (d / PATCHES_MARKER).read_text()


# -- defect 8: a patch makes no link out of the tree (the archive rule) ----------------

@pytest.mark.parametrize("target", ["/etc", "../../..", "../include/../../x"])
def test_a_link_out_of_the_tree_is_refused(target: str, tmp_path: Path, cache: Path,
                                           tree: Path, capsys: pytest.CaptureFixture) -> None:
    p = patch_file(tmp_path, "link.patch", GOOD + new_link("mm/out", target))
    line = build(capsys, tree, "--patch", str(p))
    assert "a link out of the tree" in line and "nothing was applied" in line
    assert link_problem("mm/out", target) is not None


def test_a_link_inside_the_tree_applies(tmp_path: Path, cache: Path, tree: Path) -> None:
    p = patch_file(tmp_path, "link.patch", GOOD + new_link("mm/in", "../include/linux"))
    t = patched(str(tree), [str(p)])
    assert os.readlink(t.root / "mm/in") == "../include/linux"


def test_a_chain_of_links_leading_out_is_refused(tmp_path: Path, cache: Path,
                                                 tree: Path, capsys) -> None:
    """Each link stays inside by itself, read from its own directory; together they
    lead out (``mm/d -> .`` makes ``mm/x -> d/../..`` leave): refused after applying,
    before the tree is kept."""
    p = patch_file(tmp_path, "chain.patch",
                   GOOD + new_link("mm/d", ".") + new_link("mm/x", "d/../.."))
    line = build(capsys, tree, "--patch", str(p))
    assert "a link out of the tree" in line and "'mm/x'" in line
    assert not list((cache / "kernels").glob("patched-*"))


# -- defect 7: malformed patches and mail, oversized and blocking inputs ---------------

MALFORMED = {
    "mode not octal": "diff --git a/mm/n.c b/mm/n.c\nnew file mode 100699\n"
                      "--- /dev/null\n+++ b/mm/n.c\n@@ -0,0 +1 @@\n+x\n",
    "huge mode": "diff --git a/mm/vma.c b/mm/vma.c\nold mode 100644\nnew mode "
                 + "7" * 400 + "\n",
    "5000-digit count": "diff --git a/mm/vma.c b/mm/vma.c\n--- a/mm/vma.c\n+++ b/mm/vma.c\n"
                        f"@@ -1,{'9' * 5000} +1,2 @@\n /* placeholder vma.c */\n+x\n",
    "bad quoted name": 'diff --git "a/\\N" "b/\\N"\nnew file mode 100644\n'
                       'index 0000000..e69de29\n',
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_patch_one_line(case: str, tmp_path: Path, cache: Path, tree: Path,
                                  capsys: pytest.CaptureFixture) -> None:
    p = patch_file(tmp_path, "bad.patch", MALFORMED[case])
    line = build(capsys, tree, "--patch", str(p))
    assert "malformed" in line and "bad.patch" in line


def _mail(subject: str, body: bytes, extra: bytes = b"") -> bytes:
    return (b"From 1234 Mon Sep 17 00:00:00 2001\nFrom: x <x@example.org>\n"
            b"Subject: " + subject.encode() + b"\nMessage-Id: <m@example.org>\n" + extra
            + b"\n" + body)


def _nested(depth: int) -> bytes:
    head = b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b0\"\n"
    body = b""
    for i in range(depth):
        body += (f"--b{i}\nContent-Type: multipart/mixed; boundary=\"b{i + 1}\"\n\n"
                 .encode())
    body += f"--b{depth}\nContent-Type: text/plain\n\n".encode() + GOOD.encode()
    return _mail("[PATCH] mm: deep", body, head)


@pytest.mark.parametrize("case", ["5000 digits", "1000000000", "3000-deep", "v5000 digits"])
def test_hostile_mail_one_line_bounded(case: str, tmp_path: Path, cache: Path, tree: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    box = tmp_path / "series.mbox"
    diff = ("---\n" + GOOD).encode()
    box.write_bytes({
        "5000 digits": _mail(f"[PATCH 1/{'9' * 5000}] mm: x", diff),
        "1000000000": _mail("[PATCH 1/1000000000] mm: x", diff),
        "v5000 digits": _mail(f"[PATCH v{'9' * 5000} 1/1] mm: x", diff),
        "3000-deep": _nested(3000)}[case])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    line = build(capsys, tree, "--series", str(box))
    assert "series" in line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 200 * 1024  # KiB


@pytest.mark.parametrize("flag", ["--patch", "--series"])
@pytest.mark.parametrize("what", ["/dev/zero", "fifo", "directory"])
def test_inputs_that_are_not_files_are_refused_at_once(
        flag: str, what: str, tmp_path: Path, cache: Path, tree: Path,
        capsys: pytest.CaptureFixture) -> None:
    """``--patch /dev/zero`` (endless), a FIFO no one writes (blocks forever): refused
    without reading them, one line."""
    path = what
    if what == "fifo":
        path = str(tmp_path / "p.fifo")
        os.mkfifo(path)
    elif what == "directory":
        path = str(tmp_path)
    result: list = []
    t = threading.Thread(target=lambda: result.append(
        run(capsys, "build", "--kernel", str(tree), flag, path)), daemon=True)
    t.start()
    t.join(30)
    if t.is_alive():        # unblock the reader, then fail
        with open(path, "wb", buffering=0) if what == "fifo" else open(os.devnull) as _:
            pass
        pytest.fail(f"{flag} {what} blocked")
    rc, _, err = result[0]
    assert rc == 2 and "not a regular file" in one_line_error(err)


def test_an_oversized_input_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyvma import inputs
    p = tmp_path / "big.patch"
    p.write_bytes(b"x" * 4096)
    monkeypatch.setattr(inputs, "MAX_INPUT", 1024)
    with pytest.raises(PatchError, match="more than pyvma reads"):
        inputs.read_regular(p, "patch", limit=1024, error=PatchError)


# -- defect 8: the sections pyvma checks are the ones git applies ----------------------

def _check(tmp_path: Path, base: Path, diff: str) -> str:
    p = patch_file(tmp_path, "s.patch", diff)
    with pytest.raises(PatchError) as err:
        check_paths(read_patches([str(p)]), base)
    return str(err.value)


def test_a_hunkless_section_with_a_space_is_checked(tmp_path: Path, tree: Path) -> None:
    """An empty file created at ``mm/a b/../../../x`` (no hunk: its name only on the
    ``diff --git`` line, with spaces)."""
    name = "mm/a b/../../../../x"
    msg = _check(tmp_path, tree, f"diff --git a/{name} b/{name}\nnew file mode 100644\n"
                                 "index 0000000..e69de29\n")
    assert "a path with '..'" in msg


def test_a_form_feed_hides_no_section(tmp_path: Path, tree: Path) -> None:
    """A ``\\x0c`` in a hunk's last '+' line: the next section is still read (lines end
    at newlines only, as git reads them)."""
    from pyvma.tree.patches import changes
    diff = ("diff --git a/mm/vma.c b/mm/vma.c\n--- a/mm/vma.c\n+++ b/mm/vma.c\n"
            "@@ -1 +1,2 @@\n /* placeholder vma.c */\n+x\x0cy\n"
            "diff --git a/PYVMA_PATCHES.json b/PYVMA_PATCHES.json\nnew file mode 120000\n"
            "--- /dev/null\n+++ b/PYVMA_PATCHES.json\n@@ -0,0 +1 @@\n+/root/.profile\n"
            "\\ No newline at end of file\n")
    assert [c.new for c in changes(diff.encode())] == ["mm/vma.c", "PYVMA_PATCHES.json"]
    assert "pyvma keeps for its own records" in _check(tmp_path, tree, diff)


def test_every_section_git_reads_is_read(tmp_path: Path) -> None:
    """The sections of odd but valid patches (quoted names, spaces, renames, mode-only,
    hunk-less, removed '--- ' lines) are the ones ``git apply --numstat`` lists."""
    from pyvma.tree.patches import changes
    diff = ('diff --git "a/mm/t\\303\\251st.c" "b/mm/t\\303\\251st.c"\n'
            'new file mode 100644\nindex 0000000..e69de29\n'
            "diff --git a/mm/a b.c b/mm/a b.c\nold mode 100644\nnew mode 100755\n"
            "diff --git a/mm/old.c b/mm/new.c\nsimilarity index 100%\n"
            "rename from mm/old.c\nrename to mm/new.c\n"
            "diff --git a/mm/vma.c b/mm/vma.c\n--- a/mm/vma.c\n+++ b/mm/vma.c\n"
            "@@ -1,3 +1,2 @@\n keep\n--- /etc/passwd\n keep\n"
            "diff --git a/mm/x y.c b/mm/x y.c\nnew file mode 100644\n--- /dev/null\n"
            "+++ b/mm/x y.c\t\n@@ -0,0 +1 @@\n+new\n").encode()
    git = subprocess.run(["git", "apply", "--numstat", "-z", "-"], input=diff,
                         capture_output=True, env={**os.environ, "GIT_DIR": os.devnull})
    assert git.returncode == 0, git.stderr
    by_git = [r.split(b"\t", 2)[2].decode() for r in git.stdout.split(b"\0") if r]
    assert [c.new for c in changes(diff)] == by_git


# -- defect 8: escape sequences never reach the terminal -------------------------------

def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable("a\x1b[2Jb\x07\x9b\u202e") == "a\\x1b[2Jb\\x07\\x9b\\u202e"
    assert printable("Sébastien ✓\ttab") == "Sébastien ✓\ttab"
    assert printable("two\nlines") == "two\\x0alines"


def test_escape_sequences_in_a_subject_reach_no_terminal(
        tmp_path: Path, cache: Path, tree: Path, capsys: pytest.CaptureFixture) -> None:
    """A subject (MIME-encoded, as a mailer sends it) with ESC and BEL: the record,
    the label, ``cache list`` and the error lines hold escapes, not the bytes."""
    subject = "=?utf-8?q?mm=3A_x=1B]0;pwned=07=1B[2J?="
    box = tmp_path / "s.mbox"
    box.write_bytes(_mail(f"[PATCH 1/1] {subject}", ("---\n" + GOOD).encode()))
    t = patched(str(tree), series=str(box))
    assert "\x1b" not in t.origin["label"] and "\\x1b]0;pwned" in t.origin["label"]
    assert b"\x1b" not in (t.root / PATCHES_MARKER).read_bytes()
    rc, out, err = run(capsys, "cache", "list")
    assert rc == 0 and "\x1b" not in out + err and "\\x1b" in out
    bad = tmp_path / "bad.mbox"
    bad.write_bytes(_mail(f"[PATCH 1/1] {subject}", ("---\n" + GOOD.replace(
        "placeholder vma.c", "not there")).encode()))
    rc, _, err = run(capsys, "build", "--kernel", str(tree), "--series", str(bad))
    assert rc == 2 and "\x1b" not in err and "\x07" not in err and "\\x1b" in err


def test_cache_list_escapes_a_recorded_label(cache: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    """A record an older pyvma wrote with the raw subject: ``cache list`` prints
    its label escaped."""
    import json
    d = cache / "kernels" / "patched-0123456789ab-0123456789abcdef"
    d.mkdir(parents=True)
    (d / PATCHES_MARKER).write_text(json.dumps(
        {"label": "7.3.4 + \x1b]0;pwned\x07 v1 [1]", "args": [], "base": {}}))
    os.chmod(cache, 0o700)
    rc, out, err = run(capsys, "cache", "list")
    assert rc == 0, err
    assert "\x1b" not in out and "\\x1b]0;pwned\\x07" in out, out


# -- issue 23, item 4: what a failing patch adds that the tree already has -------------

REVISED = """/* placeholder vma.c */
static int helper(void)
{
	return 1;
}

static inline bool foo(struct vm_area_struct *vma,
		       unsigned long flags)
{
	return vma->vm_flags & flags;	/* the revised body */
}
#define VMA_FOO_MASK (1UL << 3)
"""


def test_failing_patch_names_definitions_the_tree_has(tmp_path: Path, cache: Path) -> None:
    """A patch adding foo() and VMA_FOO_MASK (its first version) to a tree that has
    merged a revised foo() and the macro: the message names both, at file:line; a
    function the patch only edits (helper()) is not named."""
    base = make_fake_tree(tmp_path / "merged", 7, 3, 4)
    (base / "mm/vma.c").write_text(REVISED)
    diff = ("diff --git a/mm/vma.c b/mm/vma.c\n--- a/mm/vma.c\n+++ b/mm/vma.c\n"
            "@@ -1,5 +1,11 @@\n /* placeholder vma.c */\n"
            "-static int helper(void)\n+static int helper(int x)\n {\n"
            "-\treturn 1;\n+\treturn x;\n }\n"
            "+\n+static inline bool foo(struct vm_area_struct *vma, unsigned long flags)\n"
            "+{\n+\treturn (vma->vm_flags & flags) != 0;\n+}\n"
            "+#define VMA_FOO_MASK (1UL << 3)\n")
    p = patch_file(tmp_path, "0001-foo.patch", diff, "mm: add foo()")
    with pytest.raises(PatchError) as err:
        patched(str(base), [str(p)])
    msg = str(err.value)
    assert "It adds what the tree already has: foo() at mm/vma.c:7, " \
           "VMA_FOO_MASK at mm/vma.c:12" in msg, msg
    assert "helper()" not in msg.split("already has")[1]
    # the same patch on a tree without them: nothing is claimed
    plain = make_fake_tree(tmp_path / "plain", 7, 3, 4)
    (plain / "mm/vma.c").write_text(REVISED.split("static inline")[0] + "/* other */\n")
    with pytest.raises(PatchError) as err:
        patched(str(plain), [str(p)])
    assert "already has" not in str(err.value)


def test_definitions_found_in_a_header_of_the_tree(tmp_path: Path, cache: Path) -> None:
    """A definition the patch adds to mm/vma.c that the tree has in a header."""
    base = make_fake_tree(tmp_path / "hdr", 7, 3, 4)
    (base / "include/linux/mm_foo.h").write_text(
        "#ifndef X\n#define X\nstatic inline int vma_bar(int a)\n{\n\treturn a;\n}\n#endif\n")
    diff = ("diff --git a/mm/vma.c b/mm/vma.c\n--- a/mm/vma.c\n+++ b/mm/vma.c\n"
            "@@ -1 +1,5 @@\n /* not the context */\n+int vma_bar(int a)\n+{\n"
            "+\treturn a + 1;\n+}\n")
    p = patch_file(tmp_path, "0001-bar.patch", diff)
    with pytest.raises(PatchError) as err:
        patched(str(base), [str(p)])
    assert "vma_bar() at include/linux/mm_foo.h:3" in str(err.value)


def test_run_as_a_command(tmp_path: Path, cache: Path, tree: Path) -> None:
    """The CLI in its own process: a malformed patch, one line on stderr, exit 2."""
    p = patch_file(tmp_path, "bad.patch", MALFORMED["bad quoted name"])
    proc = subprocess.run([sys.executable, "-m", "pyvma", "build", "--kernel", str(tree),
                           "--patch", str(p)], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYVMA_CACHE": str(cache)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr

