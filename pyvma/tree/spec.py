# SPDX-License-Identifier: GPL-2.0-or-later
"""Entry point: resolve a user's kernel spec to a ``KernelTree`` (see pyvma.tree)."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import (
    cache_dir,
)
from ..errors import SourceError
from .kernel_tree import _SPEC_HELP
from .resolvers import _resolve_deb, _resolve_dir, _resolve_git, _resolve_tarball

if TYPE_CHECKING:
    from .kernel_tree import KernelTree




def _expanduser(text: str) -> Path:
    """``~`` and ``~user`` expanded; SourceError for a user without a home."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        raise SourceError(f"{text!r}: no such user's home directory (for the ~ in it). "
                          f"{_SPEC_HELP}") from None


def _kind(path: Path, spec: str) -> str | None:
    """"dir", "file", "other" or None (nothing there) for *path* (links followed);
    a path the system cannot look up (too long, a link loop) is refused in one line."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        shown = spec if len(spec) <= 120 else spec[:120] + "..."
        raise SourceError(f"kernel spec {shown!r}: {e.strerror}. {_SPEC_HELP}") from None
    return "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) \
        else "other"


def resolve(spec: str, cache: Path | None = None) -> KernelTree:
    """Resolve a kernel spec to a ``KernelTree`` (fetching/extracting if needed).

    ``spec`` is a directory, ``DIR@REF``, a linux-source ``.deb``, a
    ``.tar.xz``/``.tar`` file, or ``debian:X.Y`` / ``debian:X.x``.
    ``cache`` overrides ``$PYVMA_CACHE``.  Raises ``SourceError`` with a
    message saying what to do when the spec cannot be used.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SourceError(f"empty kernel spec {spec!r}. {_SPEC_HELP}")
    cdir = cache_dir(cache)
    from ..sandbox import pinned_tree  # inside the sandbox: the tree resolved outside
    pinned = pinned_tree(spec, cdir)
    if pinned is not None:
        return pinned
    if spec.startswith("debian:"):
        from .debian import _resolve_debian  # apt only for debian: specs
        return _resolve_debian(spec, cdir)

    path = _expanduser(spec)
    kind = _kind(path, spec)
    if kind == "dir":
        return _resolve_dir(path, spec, cdir)
    if kind == "file":
        name = path.name
        if name.endswith(".deb"):
            return _resolve_deb(path, spec, cdir)
        if name.endswith((".tar.xz", ".txz", ".tar", ".tar.gz", ".tgz")):
            return _resolve_tarball(path, spec, cdir)
        raise SourceError(
            f"{path} is a file but neither a .deb nor a .tar.xz/.tar kernel "
            f"source archive. {_SPEC_HELP}"
        )
    if kind is not None:
        raise SourceError(f"{path} is neither a directory nor a regular file. {_SPEC_HELP}")

    if "@" in spec:
        repo_text, _, ref = spec.rpartition("@")
        repo = _expanduser(repo_text)
        if repo_text and ref and _kind(repo, spec) == "dir":
            return _resolve_git(repo, ref, spec, cdir)
        if repo_text and ref:
            raise SourceError(
                f"{spec!r} looks like DIR@REF but directory {repo} does not "
                f"exist. {_SPEC_HELP}"
            )
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", spec) and "/" not in spec.split(":", 1)[0]:
        raise SourceError(f"unknown kind of kernel spec {spec!r}. {_SPEC_HELP}")
    raise SourceError(
        f"kernel tree {path} does not exist. Pass an existing kernel source "
        f"directory (--kernel /path/to/linux). {_SPEC_HELP}"
    )
