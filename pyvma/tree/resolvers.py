# SPDX-License-Identifier: GPL-2.0-or-later
"""One resolver per spec kind: directory, git ref, .deb, tarball."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from typing import Any

from vma_internal.digest import sha256_file

from ..errors import SourceError
from .kernel_tree import _SPEC_HELP, GIT_SUBTREES, KernelTree
from .markers import _cached_tree, _safe_key
from .validate import _load_tree


def _resolve_dir(path: Path, spec: str, cache: Path) -> KernelTree:
    root = path.absolute()
    origin: dict[str, Any] = {"spec": spec, "kind": "dir", "path": str(root)}
    name = root.name or str(root)
    if root.parent == cache / "kernels":     # a patched tree pyvma made: its identity
        from .markers import recorded_identity
        ident = recorded_identity(root)
        if ident is not None:
            origin.update(label=ident["label"], base_spec=ident["base"].get("spec"),
                          patched_from=ident["base"].get("root"),
                          replay_args=["--kernel", str(ident["base"].get("spec")),
                                       *map(str, ident["args"])],
                          patches=[p.get("name") for p in ident.get("patches", [])
                                   if isinstance(p, dict)])
            name = str(ident.get("short") or name)
    return _load_tree(root, name, origin, cache)


def _resolve_git(repo: Path, ref: str, spec: str, cache: Path) -> KernelTree:
    # the archive and apt modules load only for the specs that extract something
    from .archive import _extract_stream, _run, _stream, _subtree_select, _tail
    repo = repo.absolute()
    if not ref or ref.startswith("-"):
        raise SourceError(f"bad git ref {ref!r} in {spec!r}. {_SPEC_HELP}")
    proc = _run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"])
    sha = proc.stdout.strip()
    if proc.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}", sha):
        inside = _run(["git", "-C", str(repo), "rev-parse", "--git-dir"])
        if inside.returncode != 0:
            raise SourceError(
                f"{repo} is not a git repository, so {spec!r} cannot name a git "
                f"ref ({_tail(inside.stderr)}). Use the directory itself, or "
                "DIR@REF with DIR a git checkout."
            )
        raise SourceError(
            f"git ref {ref!r} not found in {repo}; check "
            f"`{shlex.join(['git', '-C', str(repo), 'log', '-1', ref, '--'])}` "
            "(fetch it first if it is a remote tag or branch)."
        )
    key = f"git-{sha[:12]}"

    def produce(tmp: Path) -> dict[str, Any]:
        listed = _run(
            ["git", "-C", str(repo), "ls-tree", "--name-only", sha, "--", *GIT_SUBTREES],
            check_msg=f"git ls-tree {sha} in {repo} failed",
        )
        paths = [p for p in listed.stdout.splitlines() if p]
        if not paths:
            raise SourceError(
                f"{spec!r}: commit {sha[:12]} has none of "
                f"{', '.join(GIT_SUBTREES)}; it is not a Linux kernel tree."
            )
        what = f"git archive of {spec!r}"
        with _stream([["git", "-C", str(repo), "archive", "--format=tar", sha, "--",
                       *paths]], what) as out:
            _extract_stream(out, tmp, what, _subtree_select(strip=0, names=None,
                                                            subtrees=GIT_SUBTREES))
        return {"kind": "git", "repo": str(repo), "ref": ref, "sha": sha}

    root, marker = _cached_tree(cache, key, produce, lambda m: m.get("sha") == sha)
    origin = {
        "spec": spec,
        "kind": "git",
        "repo": str(repo),
        "ref": ref,
        "sha": sha,
        "cache_dir": str(root),
    }
    tree = _load_tree(root, None, origin, cache)
    return dataclasses.replace(tree, name=f"{tree.version_str}-g{sha[:12]}")


def _resolve_deb(deb: Path, spec: str, cache: Path) -> KernelTree:
    from .archive import extract_deb
    from .debian import _deb_fields, _keep_deb
    """Extract (once) and load a linux-source .deb."""
    deb = deb.absolute()
    pkg, ver = _deb_fields(deb)
    if not pkg.startswith("linux-source"):
        raise SourceError(
            f"{deb} is package {pkg!r}, not linux-source-X.Y; pass a "
            "linux-source-*.deb (Debian's kernel source package)."
        )
    # keyed by content: a rebuilt .deb of the same version is another tree; the
    # same content is one tree, whichever of a .deb file or debian: extracted it
    # (a debian: spec checks its sha256 against Debian's lists itself)
    sha = sha256_file(deb)
    key = _safe_key(f"{pkg}_{ver}-{sha[:12]}")

    def produce(tmp: Path) -> dict[str, Any]:
        kept = _keep_deb(deb, sha, cache)  # extracted from the verified copy
        extract_deb(kept, tmp)
        return {"kind": "deb", "package": pkg, "debian_version": ver, "file": str(deb),
                "deb_path": str(kept), "deb_sha256": sha}

    root, marker = _cached_tree(cache, key, produce,
                                lambda m: m.get("deb_sha256") == sha)
    origin = {
        "spec": spec,
        "kind": "deb",
        "file": str(deb),
        "sha256": sha,
        "package": pkg,
        "debian_version": ver,
        "cache_dir": str(root),
    }
    return _load_tree(root, None, origin, cache)


def _tarball_stem(name: str) -> str:
    for suffix in (".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _resolve_tarball(tarball: Path, spec: str, cache: Path) -> KernelTree:
    from .archive import extract_tarball
    tarball = tarball.absolute()
    # keyed by content, as a .deb is: the same path, size and mtime with other bytes
    # is another tree
    sha = sha256_file(tarball)
    key = _safe_key(f"{_tarball_stem(tarball.name)}-{sha[:12]}")
    ident = {"file": str(tarball)}

    def produce(tmp: Path) -> dict[str, Any]:
        extract_tarball(tarball, tmp)
        return {"kind": "tarball", "sha256": sha, **ident}

    root, marker = _cached_tree(cache, key, produce, lambda m: m.get("sha256") == sha)
    origin = {
        "spec": spec,
        "kind": "tarball",
        "file": str(tarball),
        "sha256": sha,
        "cache_dir": str(root),
    }
    return _load_tree(root, None, origin, cache)
