# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel trees with patches applied: ``--patch FILE`` (repeatable) or ``--series MBOX``.

The patches are applied with ``git apply`` to a scratch copy in the cache
(``kernels/patched-<hash>/``): every file is hard-linked from the base tree except
the files the patches touch, which are real copies, so the base tree is never
written.  A patch that does not apply stops with which patch, which file and which
hunk; nothing half-applied is kept.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .cache import atomic_dir, cache_dir, file_lock
from .errors import PyvmaError
from .source import KernelTree, resolve

SUBTREES = ("Makefile", "mm", "include", "lib", "tools/include", "tools/lib",
            "tools/testing/shared", "tools/arch/x86/include", "scripts")


class PatchError(PyvmaError):
    """A patch or series could not be read or applied."""


@dataclass(frozen=True)
class Patch:
    name: str       # where it came from (file name, or "series.mbox [2/3] subject")
    text: str


def read_patch(path: Path) -> Patch:
    if not path.is_file():
        raise PatchError(f"patch {path} does not exist")
    return Patch(path.name, path.read_text(errors="replace"))


def read_series(path: Path) -> list[Patch]:
    """The patches of a git format-patch / lore mbox, in order, cover letter skipped."""
    if not path.is_file():
        raise PatchError(f"series {path} does not exist")
    import email            # only a series needs it (10 ms of imports)
    import email.policy
    raw = path.read_text(errors="replace")
    chunks = [c for c in re.split(r"(?m)^From [^\n]*\n", raw) if c.strip()]
    patches: list[tuple[int, Patch]] = []
    for i, chunk in enumerate(chunks):
        msg = email.message_from_string(chunk, policy=email.policy.default)
        subject = " ".join(str(msg.get("Subject", "")).split())
        body = msg.get_body(("plain",)) if msg.is_multipart() else msg
        text = body.get_content() if body is not None else chunk
        if "\ndiff --git " not in "\n" + text and "\n--- a/" not in "\n" + text:
            continue        # cover letter, or a reply without a diff
        m = re.search(r"\[[^\]]*?(\d+)/(\d+)\]", subject)
        order = int(m.group(1)) if m else i
        patches.append((order, Patch(f"{path.name} [{order}] {subject}", text)))
    if not patches:
        raise PatchError(f"series {path} holds no patch (no message with a diff)")
    return [p for _, p in sorted(patches, key=lambda t: t[0])]


def touched_files(patch: Patch) -> list[str]:
    files = set()
    for m in re.finditer(r"^(?:---|\+\+\+) [ab]/(\S+)", patch.text, re.M):
        files.add(m.group(1))
    for m in re.finditer(r"^diff --git a/(\S+) b/(\S+)", patch.text, re.M):
        files.update(m.groups())
    return sorted(files)


def patches_hash(patches: list[Patch]) -> str:
    h = hashlib.sha256()
    for p in patches:
        h.update(p.text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def link_copy(src: Path, dest: Path) -> None:
    """Hard-link the subtrees a build reads from *src* into *dest*."""
    for rel in SUBTREES:
        s = src / rel
        d = dest / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d, copy_function=os.link, symlinks=True)
        elif s.exists():
            os.link(s, d)


def _apply(dest: Path, patches: list[Patch]) -> None:
    for n, patch in enumerate(patches, 1):
        for rel in touched_files(patch):
            f = dest / rel
            if f.is_file() and f.stat().st_nlink > 1:     # break the hard link first
                data = f.read_bytes()
                f.unlink()
                f.write_bytes(data)
        proc = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], cwd=dest,
                              input=patch.text, capture_output=True, text=True,
                              env=dict(os.environ, GIT_DIR=os.devnull))
        if proc.returncode != 0:
            where = re.findall(r"error: patch failed: (\S+:\d+)", proc.stderr)
            what = where[0] if where else proc.stderr.strip().splitlines()[-1:]
            raise PatchError(
                f"patch {n}/{len(patches)} ({patch.name}) does not apply to the tree: "
                f"hunk at {what} fails.\n"
                + "\n".join("  " + l for l in proc.stderr.strip().splitlines()[:8])
                + "\nRebase the patch on this tree, or pick the tree it was made against.")


def patched(spec: str, patch_files: list[str] | None = None, series: str | None = None,
            cache: Path | None = None) -> KernelTree:
    """Resolve *spec* and apply the patches; the result is cached by its patches' hash."""
    base = resolve(spec, cache)
    patches = [read_patch(Path(p)) for p in patch_files or []]
    if series:
        patches += read_series(Path(series))
    if not patches:
        return base
    key = f"patched-{base.content_hash()[:12]}-{patches_hash(patches)}"
    root = cache_dir(cache)
    final = root / "kernels" / key
    with file_lock(root / "locks" / f"{key}.lock"):
        if not (final / "mm" / "vma.c").exists():
            with atomic_dir(final) as tmp:
                link_copy(base.root, Path(tmp))
                _apply(Path(tmp), patches)
    tree = resolve(str(final), cache)
    origin = dict(base.origin, patched_from=str(base.root),
                  patches=[p.name for p in patches])
    return dataclasses.replace(tree, origin=origin, name=f"{base.name}+{len(patches)}p")
