# SPDX-License-Identifier: GPL-2.0-or-later
"""Trees cached under ``$PYVMA_CACHE/kernels``: their markers (``kernels/.sources/``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..cache import (
    _rmtree,
    atomic_dir,
    file_lock,
    remove_stale_tmp,
    subdir,
    write_json_atomic,
)
from ..errors import SourceError
from ..log import log
from .kernel_tree import MARKER, MARKER_FORMAT
from .validate import _load_tree

#: What a patched tree records it holds (base, each patch's subject, message-id, sha256).
PATCHES_MARKER = "PYVMA_PATCHES.json"

#: Where the markers of ``kernels/<key>`` live: ``kernels/.sources/<key>.json``,
#: outside every tree, where no archive, git ref or patch can write (a file inside
#: a tree is its content: a patch may create a PYVMA_SOURCE.json claiming anything).
SOURCES_DIR = ".sources"
#: the kinds of tree _cached_tree makes (a marker of another kind is not one of them)
MARKER_KINDS = ("debian", "deb", "tarball", "git")
_MAX_MARKER = 1 << 20


def marker_path(tree: Path) -> Path:
    """Where the marker of the cached tree *tree* (``kernels/<key>``) is kept."""
    return tree.parent / SOURCES_DIR / f"{tree.name}.json"


def _load_json(path: Path) -> dict[str, Any] | None:
    """A marker file's data: a small regular file (never a fifo, never followed),
    holding an object of this MARKER_FORMAT, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_MARKER:
            return None
        data = json.loads(os.read(fd, _MAX_MARKER + 1))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        return None
    return data


def read_marker(tree: Path, cache: Path | None = None) -> dict[str, Any] | None:
    """The marker pyvma wrote for the cached tree *tree* (``kernels/<key>``; in
    ``cache``'s when given), or None: the tree is not one pyvma extracted.

    Only the marker outside the tree counts.  A tree an older pyvma made (its
    marker only inside, as PYVMA_SOURCE.json) is adopted where no tree content can
    have made it: not a patched tree, and the marker names this directory's key."""
    tree = Path(tree)
    if tree.parent.name != "kernels" or (cache is not None and
                                         tree.parent != Path(cache) / "kernels"):
        return None
    if not tree.is_dir() or tree.is_symlink():
        return None
    data = _load_json(marker_path(tree))
    if data is None:
        if tree.name.startswith("patched-") or os.path.lexists(tree / PATCHES_MARKER):
            return None
        data = _load_json(tree / MARKER)
        if data is None or data.get("kind") not in MARKER_KINDS:
            return None
    if data.get("key") != tree.name:
        return None
    return data


def update_marker(tree: Path, cache: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Add *extra* to the marker of the cached tree *tree* (under its lock)."""
    with file_lock(subdir("locks", cache) / f"{tree.name}.lock"):
        data = read_marker(tree, cache)
        if data is None:
            raise SourceError(f"{tree} is no longer a tree pyvma extracted; fetch it again.")
        data = {**data, **extra}
        write_json_atomic(marker_path(tree), data)
        return data


def _cached_tree(
    cache: Path,
    key: str,
    produce: Callable[[Path], dict[str, Any]],
    valid: Callable[[dict[str, Any]], bool] = lambda m: True,
) -> tuple[Path, dict[str, Any]]:
    """Return ``kernels/<key>`` and its marker, producing it once if needed.

    ``produce(tmpdir)`` fills a temp dir and returns marker data; the tree
    is validated, the marker written and the dir renamed into place under
    ``locks/<key>.lock``.  Failures leave nothing in ``kernels/``.  A tree pyvma
    made is never removed here (a run may be using it): one of other content under
    the same key is an error; only a directory no pyvma made is replaced.
    """
    final = subdir("kernels", cache) / key
    marker = read_marker(final, cache)
    if marker is not None and valid(marker):
        return final, marker
    with file_lock(subdir("locks", cache) / f"{key}.lock"):
        marker = read_marker(final, cache)
        if marker is not None and valid(marker):
            return final, marker
        if marker is not None:
            raise SourceError(
                f"{final} holds another tree under the same name ({marker.get('kind')} "
                f"{marker.get('deb_sha256') or marker.get('sha256') or marker.get('sha')}): "
                "pyvma leaves it in place (a run may be using it); remove it with "
                "`pyvma cache clear` when no run is.")
        remove_stale_tmp(final)
        if os.path.lexists(final):  # not a tree pyvma made: nothing serves it
            log("warning", "removing %s: no tree pyvma extracted", final)
            _rmtree(final)
        start = time.monotonic()
        with atomic_dir(final) as tmp:
            data = produce(tmp)
            _load_tree(tmp, None, {}, cache)  # validate before it goes live
            data = {
                "format": MARKER_FORMAT,
                "key": key,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "seconds": round(time.monotonic() - start, 2),
                **data,
            }
            # inside too, for older pyvma versions sharing this cache (they read
            # only that one); this version never trusts it for a tree it made
            write_json_atomic(tmp / MARKER, data)
            write_json_atomic(marker_path(final), data)
        log("info", "extracted %s in %.1f s", final, data["seconds"])
        return final, data


#: The longest key: a file name has 255 bytes, of which ``.<key>.tmp-XXXXXXXX`` and
#: ``<key>.lock`` take some.
MAX_KEY = 120


def _safe_key(text: str) -> str:
    """Make ``text`` usable as one path component (a long one shortened, with a
    hash of the whole so two long names stay two keys)."""
    key = re.sub(r"[^A-Za-z0-9._+~-]", "_", text).lstrip(".") or "_"
    if len(key) > MAX_KEY:
        key = f"{key[:MAX_KEY - 17]}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return key




def recorded_identity(root: Path) -> dict[str, Any] | None:
    """The ``PYVMA_PATCHES.json`` of a patched tree in the cache, shape-checked."""
    from ..errors import PyvmaError
    from ..inputs import printable, read_regular
    try:       # never a FIFO or a device, bounded; the label made safe to print
        data = json.loads(read_regular(root / PATCHES_MARKER, "record", limit=1 << 20))
    except (PyvmaError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("label"), str) or \
            not isinstance(data.get("args"), list) or not isinstance(data.get("base"), dict):
        return None
    data["label"] = printable(data["label"])
    return data
