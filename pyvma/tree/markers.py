# SPDX-License-Identifier: GPL-2.0-or-later
"""Trees cached under ``$PYVMA_CACHE/kernels``: their PYVMA_SOURCE.json markers."""

from __future__ import annotations

import json
import logging
import re
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
from .kernel_tree import MARKER, MARKER_FORMAT
from .validate import _load_tree

log = logging.getLogger("pyvma.tree")



def _read_marker(tree: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((tree / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        return None
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
    ``locks/<key>.lock``.  Failures leave nothing in ``kernels/``.
    """
    final = subdir("kernels", cache) / key
    marker = _read_marker(final)
    if marker is not None and valid(marker):
        return final, marker
    with file_lock(subdir("locks", cache) / f"{key}.lock"):
        marker = _read_marker(final)
        if marker is not None and valid(marker):
            return final, marker
        remove_stale_tmp(final)
        if final.exists():  # no/old marker: an interrupted or foreign dir
            log.warning("removing incomplete cached tree %s", final)
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
            write_json_atomic(tmp / MARKER, data)
        log.info("extracted %s in %.1f s", final, data["seconds"])
        return final, data


def _safe_key(text: str) -> str:
    """Make ``text`` usable as one path component."""
    return re.sub(r"[^A-Za-z0-9._+~-]", "_", text).lstrip(".") or "_"


#: What a patched tree records it holds (base, each patch's subject, message-id, sha256).
PATCHES_MARKER = "PYVMA_PATCHES.json"


def recorded_identity(root: Path) -> dict[str, Any] | None:
    """The ``PYVMA_PATCHES.json`` of a patched tree in the cache, shape-checked."""
    try:
        data = json.loads((root / PATCHES_MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("label"), str) or \
            not isinstance(data.get("args"), list) or not isinstance(data.get("base"), dict):
        return None
    return data
