# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel trees with patches applied: ``--patch FILE`` (repeatable) or ``--series MBOX``
(``--patches 1-8`` to choose a subset on purpose).

A patched tree is the whole base tree as ``git am`` sees it, in the cache
(``kernels/patched-<base>-<patches>/``): the subtrees the build reads are hard links
to the base tree; every file a patch modifies, creates, renames or deletes — anywhere
in the tree — is a private copy (from the base tree, or, for a Debian tree that holds
only the build's subtrees, from the same package).  Nothing is written outside the
scratch copy: every path a patch names -- as pyvma reads it (patchparse, git's rules)
and as git's own --numstat lists it -- is checked before anything is touched
(absolute, ``..``, ``.git``, pyvma's ``PYVMA_*`` names, through a symlink of the tree
or one an earlier patch creates: all refused), and no symlink may lead out of the tree
(links.py, the rule archives follow).  A patch that does not apply names itself,
every failing hunk (``file:line``), whether it looks already applied, and what it adds
that the tree already has (patchdefs).  The patched tree records what it holds
(``PYVMA_PATCHES.json``: base, each patch's subject, message-id, sha256), written as
a fresh file renamed into place: never through a link.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..cache import atomic_dir, cache_dir, file_lock, subdir
from ..errors import PatchError
from ..inputs import printable, read_regular
from .kernel_tree import KernelTree
from .links import MAX_DEPTH, escaping_links, link_problem
from .markers import PATCHES_MARKER, recorded_identity  # noqa: F401  (recorded_identity: re-exported)
from .mbox import Series, read_series
from .patchdefs import already_has
from .patchparse import Change, Malformed, changes, unquote_name
from .scratch import SUBTREES, _from_package, _marker, _write_private, link_copy
from .spec import resolve

#: Subtrees a Debian/tarball/git-archive base tree holds whole (a file missing under
#: them is missing from the package too).
PARTIAL_KINDS = ("debian", "deb", "tarball", "git")
_GIT_ENV = {"GIT_DIR": os.devnull, "LC_ALL": "C", "LANG": "C", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull}

@dataclass(frozen=True)
class Patch:
    """One patch to apply: where it came from and its bytes."""

    name: str           # "0001-foo.patch", or '"mm: subject"' of a series
    text: bytes
    subject: str = ""
    message_id: str = ""
    where: str = ""     # "2/3 (0002-foo.patch)", '9/33 "mm: subject"' (series numbering)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text).hexdigest()


@dataclass(frozen=True)
class PatchSet:
    """What is applied to a base tree, in order, and how to name and repeat it."""

    patches: tuple[Patch, ...]
    files: tuple[str, ...] = ()         # --patch files, absolute
    series: Series | None = None
    series_path: str = ""               # --series mbox, absolute
    chosen: str | None = None           # --patches as given
    three_way: bool = False             # --3way: fall back to a 3-way merge

    def label(self) -> str:
        """``"title" v2 [1-8]`` or ``0001-a.patch + 0002-b.patch``."""
        parts = [Path(f).name for f in self.files]
        if self.series is not None:
            parts.append(self.series.label())
        return " + ".join(parts)

    def short(self) -> str:
        """A test-id-safe tag: ``v2.1-8``, ``2patches``."""
        tags = [f"{len(self.files)}patch{'es' if len(self.files) > 1 else ''}"] \
            if self.files else []
        if self.series is not None:
            from .mbox import format_ranges
            tags.append(f"v{self.series.version}.{format_ranges(self.series.numbers)}")
        return "+".join(tags)

    def args(self) -> list[str]:
        """The command-line arguments that apply the same patches again."""
        out: list[str] = []
        for f in self.files:
            out += ["--patch", f]
        if self.series_path:
            out += ["--series", self.series_path]
            if self.chosen:
                out += ["--patches", self.chosen]
        if self.three_way:
            out.append("--3way")
        return out

    def key(self) -> str:
        h = hashlib.sha256(b"3way\0" if self.three_way else b"")
        for p in self.patches:
            h.update(p.text)
            h.update(b"\0")
        return h.hexdigest()[:16]


def read_patches(patch_files: list[str] | None = None, series: str | None = None,
                 chosen: str | None = None, three_way: bool = False) -> PatchSet:
    """The patches of ``--patch`` files (in order) then of ``--series`` (its subset)."""
    patches: list[Patch] = []
    files = []
    for f in patch_files or []:
        path = Path(f).expanduser()
        text = read_regular(path, "patch", error=PatchError)
        if not re.search(rb"^(diff --git |--- )", text, re.M):
            raise PatchError(f"patch {printable(f)} holds no diff (no 'diff --git' or "
                             "'---' line)")
        files.append(str(path.absolute()))
        subject = re.search(rb"^Subject: *(?:\[[^\]]*\] *)?(.*)$", text, re.M)
        name = printable(path.name)
        patches.append(Patch(name, text,
                             printable(subject.group(1).decode(errors="replace"))
                             if subject else "",
                             where=f"{len(patches) + 1}/{len(patch_files or [])} ({name})"))
    ser = None
    if chosen is not None and not series:
        raise PatchError("--patches chooses patches of a --series; give the series' mbox")
    if series:
        from .mbox import SeriesError
        try:
            ser = read_series(Path(series).expanduser(), chosen)
        except SeriesError as exc:
            raise PatchError(str(exc)) from None
        patches += [Patch(f'"{p.subject}"', p.text, p.subject, p.message_id,
                          f"{p.where} ({ser.source})") for p in ser.patches]
    return PatchSet(tuple(patches), tuple(files), ser,
                    str(Path(series).expanduser().absolute()) if series else "", chosen,
                    three_way)


# --------------------------------------------------------------------------
# What a patch touches, and whether it may

def sections(patch: Patch) -> list[Change]:
    """The file sections of *patch* (patchparse.changes), a malformed one refused."""
    try:
        return changes(patch.text)
    except Malformed as exc:
        raise PatchError(f"patch {patch.where} is malformed: {printable(str(exc))}; "
                         "nothing was applied") from None


def touched_files(patch: Patch) -> list[str]:
    """Every path the patch reads or writes (old and new names)."""
    return sorted({p for c in sections(patch) for p in (c.old, c.new) if p})


def git_names(patch: Patch) -> list[str]:
    """Every path git apply itself reads from *patch* (its --numstat), so no section
    pyvma's reading missed goes unchecked."""
    proc = _git_apply(Path("/"), patch.text, "--numstat", "-z")
    if proc.returncode != 0:
        err = [l for l in proc.stderr.decode(errors="replace").splitlines() if l.strip()]
        raise PatchError(f"patch {patch.where} is malformed: git apply reads "
                         f"{printable(err[0] if err else 'nothing')!s}; nothing was applied")
    out = []
    for rec in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        parts = rec.split("\t", 2)
        if len(parts) == 3 and parts[2]:
            out.append(parts[2])
    return out


def _bad_path(rel: str) -> str | None:
    """Why *rel* may not be written in a scratch tree, or None."""
    if not rel or "\0" in rel:
        return "an empty path"
    p = PurePosixPath(rel)
    if p.is_absolute():
        return "an absolute path"
    if any(part == ".." for part in p.parts):
        return "a path with '..'"
    if any(part == ".git" for part in p.parts):
        return "a path into .git"
    if len(p.parts) > MAX_DEPTH:
        return f"a path {len(p.parts)} directories deep"
    if p.parts and p.parts[0].upper().startswith("PYVMA_"):
        return "a name pyvma keeps for its own records"
    return None


def check_paths(ps: PatchSet, base: Path) -> None:
    """Refuse the whole set before anything is touched: absolute, ``..``, pyvma's own
    names, through a symlink (of the base tree, or one an earlier patch creates), or a
    symlink out of the tree -- every path as pyvma reads the patch and as git does."""
    links: set[str] = set()
    out_link = ""
    for patch in ps.patches:
        secs = sections(patch)
        names = [p for c in secs for p in (c.old, c.new) if p] + git_names(patch)
        for rel in dict.fromkeys(names):
            why = _bad_path(rel)
            parents = PurePosixPath(rel).parents
            via = next((str(d) for d in list(parents)[:-1]
                        if str(d) in links or (base / d).is_symlink()), None)
            if why is None and via is not None:
                why = f"a path through the symlink {via}"
            if why:
                raise PatchError(f"patch {patch.where} names {printable(repr(rel))}: {why}. "
                                 "pyvma writes only inside its scratch copy; nothing was "
                                 "applied")
        for c in secs:
            if not c.new:
                continue
            if c.new_mode is not None and stat.S_ISLNK(c.new_mode):
                links.add(c.new)
                target = "".join(c.added[:1])
                why = link_problem(c.new, target) if c.added else None
                if why and not out_link:
                    out_link = (f"patch {patch.where} creates {printable(repr(c.new))}, "
                                f"{printable(why)}: a tree may hold no link out of it "
                                "(an archive may not either); nothing was applied")
            elif c.old and (c.old in links or (base / c.old).is_symlink()):
                links.add(c.new)        # a renamed or copied symlink
    if out_link:
        raise PatchError(out_link)


def _privatise(base: KernelTree, dest: Path, ps: PatchSet) -> list[str]:
    """Give every path any patch touches a private copy in *dest* (or none where the
    base has no such file); returns the paths fetched from the base's package."""
    wanted = sorted({p for patch in ps.patches for p in touched_files(patch)})
    partial = _marker(base.root).get("kind") in PARTIAL_KINDS
    outside: list[str] = []
    for rel in wanted:
        src = base.root / rel
        if src.is_file() and not src.is_symlink():
            _write_private(dest, rel, src.read_bytes(), src.stat().st_mode)
        elif src.is_symlink():
            target = os.readlink(src)
            (dest / rel).unlink(missing_ok=True)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, dest / rel)
        elif partial and not any(rel == s or rel.startswith(s + "/") for s in SUBTREES):
            outside.append(rel)
    return sorted(_cached_members(base, outside, dest)) if outside else []


def _cached_members(base: KernelTree, rels: list[str], dest: Path) -> set[str]:
    """_from_package, through a per-base store in the cache (``members/<base>/``): a
    series retried with other patches does not read the package again."""
    store = subdir("members", base.cache) / base.root.name
    absent_file = store / "ABSENT.json"
    with file_lock(subdir("locks", base.cache) / f"members-{base.root.name}.lock"):
        try:
            absent = set(json.loads(absent_file.read_text()))
        except (OSError, ValueError, TypeError):
            absent = set()
        unknown = [r for r in rels if r not in absent and not (store / r).is_file()]
        if unknown:
            got = _from_package(base, unknown, store)
            absent |= set(unknown) - got
            store.mkdir(parents=True, exist_ok=True)
            absent_file.write_text(json.dumps(sorted(absent)))
    found = set()
    for rel in rels:
        src = store / rel
        if rel not in absent and src.is_file() and not src.is_symlink():
            _write_private(dest, rel, src.read_bytes(), src.stat().st_mode)
            found.add(rel)
    return found


# --------------------------------------------------------------------------
# Applying, and saying why not

def _git_apply(dest: Path, text: bytes, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "apply", "--whitespace=nowarn", *extra, "-"], cwd=dest,
                          input=text, capture_output=True,
                          env=dict(os.environ, **_GIT_ENV))


def _failing_hunks(dest: Path, patch: Patch) -> list[str]:
    """``file:line`` of every hunk that does not apply (git apply --reject, run in the
    scratch copy that is thrown away), and the files that are missing or in the way."""
    proc = _git_apply(dest, patch.text, "--reject", "--verbose")
    err = proc.stderr.decode(errors="replace")
    by_file = {(c.new or c.old): c for c in sections(patch)}
    out: list[str] = []
    current = None
    for line in err.splitlines():
        m = re.match(r"Applying patch (.+?) with \d+ rejects?", line)
        if m:
            current = unquote_name(m.group(1))
            continue
        m = re.match(r"Rejected hunk #(\d+)\.", line)
        if m and current:
            c = by_file.get(current)
            k = int(m.group(1))
            where = c.hunks[k - 1] if c and k <= len(c.hunks) else "?"
            out.append(f"{current}:{where} (hunk #{k})")
            continue
        m = re.match(r"error: (.+?): (No such file or directory|does not exist in index|"
                     r"already exists in working directory|wrong type|"
                     r"patch does not apply|.*beyond a symbolic link)$", line)
        if m and "patch failed" not in line:
            out.append(f"{unquote_name(m.group(1))}: {m.group(2)}")
    for rej in dest.rglob("*.rej"):
        rej.unlink()
    return [printable(h) for h in
            out or [l for l in err.splitlines() if l.startswith("error:")][:3]]


def _apply(base: KernelTree, dest: Path, ps: PatchSet) -> list[int]:
    """Apply every patch in order; the numbers of those a 3-way merge applied."""
    merged = []
    for n, patch in enumerate(ps.patches, 1):
        proc = _git_apply(dest, patch.text)
        if proc.returncode == 0:
            continue
        if ps.three_way and _three_way(base, dest, patch):
            merged.append(n)
            continue
        reverse = _git_apply(dest, patch.text, "--check", "--reverse").returncode == 0
        hunks = _failing_hunks(dest, patch)
        before = f" with {n - 1} earlier patch{'es' if n > 2 else ''} applied" if n > 1 else ""
        lines = [f"patch {patch.where} does not apply to {base.version_str}{before}:"]
        lines += [f"  {h}" for h in hunks]
        if reverse:
            lines.append("It looks already applied (its reverse applies): the tree has it, "
                         "or a revised form of it. Leave it out, e.g. with --patches.")
        else:
            has = already_has(dest, sections(patch))
            if has:
                lines.append("It adds what the tree already has: "
                             f"{printable(', '.join(has))}. A revised form of it looks "
                             "merged: compare the two, then leave it out (--patches) "
                             "or rebase it.")
            lines.append(_three_way_hint(base, patch))
        if ps.series is not None and n > len(ps.files) + 1:
            from .mbox import format_ranges
            done = ps.series.numbers[:n - 1 - len(ps.files)]
            lines.append(f"The patches before it apply: --patches {format_ranges(done)} "
                         "tests those.")
        raise PatchError("\n".join(lines))
    return merged


def _repo_of(base: KernelTree) -> str | None:
    """The git repository the base tree comes from (DIR@REF, or a checkout)."""
    repo = _marker(base.root).get("repo")
    if repo:
        return str(repo)
    return str(base.root) if (base.root / ".git").exists() else None


def _has_blobs(repo: str, patch: Patch) -> bool:
    blobs = re.findall(rb"^index ([0-9a-f]{7,64})\.\.", patch.text, re.M)
    return bool(blobs) and all(
        subprocess.run(["git", "-C", repo, "cat-file", "-e", b.decode()],
                       capture_output=True).returncode == 0 for b in blobs)


def _three_way(base: KernelTree, dest: Path, patch: Patch) -> bool:
    """``git apply --3way`` in the scratch copy, with a throwaway index whose objects
    borrow (read-only, objects/info/alternates) the base repository's: the pre-image
    blobs the patch's index lines name.  False when they are not there or it conflicts."""
    import tempfile
    repo = _repo_of(base)
    if repo is None or not _has_blobs(repo, patch):
        return False
    objects = subprocess.run(["git", "-C", repo, "rev-parse", "--path-format=absolute",
                              "--git-path", "objects"], capture_output=True, text=True)
    if objects.returncode != 0:
        return False
    with tempfile.TemporaryDirectory(prefix="3way-", dir=subdir("tmp", base.cache)) as g:
        env = {**os.environ, **_GIT_ENV, "GIT_DIR": g, "GIT_WORK_TREE": str(dest),
               "GIT_INDEX_FILE": f"{g}/index"}
        subprocess.run(["git", "init", "-q", "--bare", g], capture_output=True,
                       env={**os.environ, **_GIT_ENV, "GIT_DIR": g})
        Path(g, "objects", "info").mkdir(parents=True, exist_ok=True)
        Path(g, "objects", "info", "alternates").write_text(objects.stdout.strip() + "\n")
        present = [f for f in touched_files(patch) if (dest / f).is_file()]
        subprocess.run(["git", "update-index", "--add", "--", *present], cwd=dest,
                       capture_output=True, env=env)
        proc = subprocess.run(["git", "apply", "--3way", "--whitespace=nowarn", "-"],
                              cwd=dest, input=patch.text, capture_output=True, env=env)
    return proc.returncode == 0


def _three_way_hint(base: KernelTree, patch: Patch) -> str:
    """Whether a 3-way merge could help: only where the pre-image blobs can be read."""
    repo = _repo_of(base)
    if repo and _has_blobs(repo, patch):
        return (f"Its pre-image blobs are in {repo}: --3way tries a 3-way merge (as "
                "`git am -3`). Otherwise rebase it on this tree, or pick the tree it was "
                "made against.")
    return ("Rebase it on this tree, or pick the tree it was made against (no 3-way "
            "merge: its pre-image blobs are in no repository pyvma can read).")


def patched_tree(spec: str, ps: PatchSet, cache: Path | None = None) -> KernelTree:
    """Resolve *spec* and apply *ps* in a scratch copy (cached by base and patches)."""
    base = resolve(spec, cache)
    if not ps.patches:
        return base
    check_paths(ps, base.root)
    key = f"patched-{base.content_hash()[:12]}-{ps.key()}"
    root = cache_dir(cache)
    final = root / "kernels" / key
    with file_lock(subdir("locks", cache) / f"{key}.lock"):
        if not (final / PATCHES_MARKER).is_file():
            if final.exists():
                shutil.rmtree(final)
            with atomic_dir(final) as tmp:
                scratch = Path(tmp)
                link_copy(base.root, scratch)
                fetched = _privatise(base, scratch, ps)
                merged = _apply(base, scratch, ps)
                _check_links(base, scratch, ps)
                record = identity(spec, base, ps, fetched)
                record["three_way_merged"] = merged
                write_record(scratch, PATCHES_MARKER, json.dumps(record, indent=1) + "\n")
    tree = resolve(str(final), cache)
    # the same patches may have been read from other paths when the tree was made:
    # the arguments that repeat this run are this run's
    return dataclasses.replace(tree, origin={**tree.origin,
                                             "replay_args": ["--kernel", spec, *ps.args()]})


def _check_links(base: KernelTree, scratch: Path, ps: PatchSet) -> None:
    """After the patches: no symlink they made (or renamed, or made a chain of) leads
    out of the tree (links.link_problem, the rule archives follow too)."""
    bad = escaping_links(scratch, base.root)
    if bad:
        rel, target = bad[0]
        who = next((p.where for p in ps.patches if rel in touched_files(p)), "a patch")
        raise PatchError(f"patch {who} leaves {printable(repr(rel))}, a link out of the "
                         f"tree (to {printable(repr(target))}): a tree may hold no link "
                         "out of it (an archive may not either); nothing was applied")


def write_record(directory: Path, name: str, text: str) -> None:
    """Write pyvma's *name* in *directory* without following any link a tree or patch
    made: a fresh file (O_EXCL|O_NOFOLLOW) renamed over whatever is there."""
    import tempfile
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def identity(spec: str, base: KernelTree, ps: PatchSet, fetched: list[str]) -> dict[str, Any]:
    """What a patched tree holds (written as ``PYVMA_PATCHES.json``)."""
    s = ps.series
    return {
        "format": 1,
        "label": f"{base.version_str} + {ps.label()}",
        "short": f"{base.version_str}+{ps.short()}",
        "base": {"spec": spec, "version": base.version_str, "root": str(base.root),
                 "package": base.origin.get("package"),
                 "debian_version": base.origin.get("debian_version")},
        "series": None if s is None else {
            "title": s.title, "version": s.version, "total": s.total, "mbox": ps.series_path,
            "cover_message_id": s.cover_message_id, "base_commit": s.base_commit,
            "patches": s.numbers},
        "patches": [{"name": p.name, "subject": p.subject, "message_id": p.message_id,
                     "sha256": p.sha256} for p in ps.patches],
        "args": ps.args(),
        "from_package": fetched,
    }


def patched(spec: str, patch_files: list[str] | None = None, series: str | None = None,
            cache: Path | None = None, chosen: str | None = None,
            three_way: bool = False) -> KernelTree:
    """Resolve *spec* with ``--patch`` files and/or a ``--series`` mbox applied."""
    ps = read_patches(patch_files, series, chosen, three_way)
    return patched_tree(spec, ps, cache)
