# SPDX-License-Identifier: GPL-2.0-or-later
"""What a build is and its key: the tree's content hash, the config, the sanitizer,
the patches and the harness's own sources; a finished build found again by its key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from vma_internal.digest import sha256_file

from ..paths import CSRC, VMA_INTERNAL
from ..tree import KernelTree


@dataclass
class Build:
    key: str
    dir: Path
    module_name: str
    module_path: Path       # the shared library
    info: dict

    @property
    def abi_path(self) -> Path:
        """cffi's generated description of the library's API."""
        return self.dir / ABI_FILE


def _harness_hash() -> str:
    """Hash of the harness sources that shape a build (csrc/, vma_internal/, this
    package) and of the cffi that wrote its ABI description."""
    import _cffi_backend  # light (the cffi package is not imported for a load)
    h = hashlib.sha256(f"cffi {_cffi_backend.__version__}\0".encode())
    for base, pattern in ((CSRC, "**/*"), (VMA_INTERNAL, "*.py"), (Path(__file__).parent, "*.py")):
        for f in sorted(base.glob(pattern)):
            if f.is_file():
                h.update(f"{base.name}/{f.relative_to(base)}".encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def tree_key(tree: KernelTree) -> str:
    """The content hash of everything a build reads from *tree*."""
    from vma_internal.inputs import shim_inputs
    return tree.content_hash(shim_inputs(tree.root))


def build_key(tree: KernelTree, config_key: str, sanitizer: str | None,
              patches_hash: str = "", tree_hash: str | None = None) -> str:
    h = hashlib.sha256()
    for part in (tree_hash or tree_key(tree), config_key, sanitizer or "none", patches_hash,
                 _harness_hash()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _cached_ok(bdir: Path) -> Build | None:
    """A finished build whose module still has the recorded content, else None
    (a missing, damaged or wrongly shaped BUILD.json: the entry is rebuilt)."""
    meta = bdir / "BUILD.json"
    if not meta.exists():
        return None
    try:
        info = json.loads(meta.read_text())
        if not isinstance(info, dict) or not all(
                isinstance(info.get(k), str) for k in ("key", "module_name", "module_file",
                                                       "module_sha256")):
            return None
        if "/" in info["module_file"] or info["module_file"].startswith("."):
            return None
        mod = bdir / info["module_file"]
        if not mod.is_file() or sha256_file(mod) != info["module_sha256"] \
                or not (bdir / ABI_FILE).is_file():
            return None
    except (ValueError, OSError):
        return None
    return Build(info["key"], bdir, info["module_name"], mod, info)


def cached_build(tree: KernelTree, config_key: str, sanitizer: str | None,
                 patches_hash: str, cache: Path | None) -> tuple[Build | None, str, str]:
    """The finished build of *tree* for this configuration if the cache holds one
    (None: it must be built), with its build key and the tree's content hash: all a
    warm start needs, without the compile machinery of ``builder``."""
    from ..cache import cache_dir
    tree_hash = tree_key(tree)
    key = build_key(tree, config_key, sanitizer, patches_hash, tree_hash)
    return _cached_ok(cache_dir(cache) / "builds" / key), key, tree_hash


MODULE_NAME = "_pyvma"    # the library of every build; each loads from its own file


ABI_FILE = "pyvma_abi.py"
