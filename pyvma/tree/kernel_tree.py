# SPDX-License-Identifier: GPL-2.0-or-later
"""What a kernel tree is to pyvma: ``KernelTree`` and the paths it reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import features as _features
from .hashing import _collect, content_hash

#: Marker file written into every tree pyvma extracts, for older pyvma versions
#: sharing the cache; this one reads ``kernels/.sources/<key>.json`` (markers.py).
MARKER = "PYVMA_SOURCE.json"
MARKER_FORMAT = 1

#: Subtrees extracted from tarballs / .debs (relative to the kernel top dir).
TARBALL_SUBTREES: tuple[str, ...] = (
    "mm",
    "include",
    "lib",
    "tools",
    "arch/x86/include",
    "scripts",
    "Makefile",
)

#: Paths exported from a git ref with ``git archive``.
GIT_SUBTREES: tuple[str, ...] = (
    "mm",
    "include",
    "lib",
    "tools",
    "arch/x86",
    "scripts",
    "Makefile",
)

#: The files the build reads, as glob patterns relative to the tree root.
#: ``KernelTree.content_hash`` hashes exactly these (plus extras).
HASHED_FILES: tuple[str, ...] = (
    "Makefile",
    "mm/vma.c",
    "mm/vma.h",
    "mm/vma_init.c",
    "mm/vma_exec.c",
    "mm/vma_internal.h",
    "mm/internal.h",
    "include/linux/*.h",
    "include/linux/sched/*.h",
    "include/uapi/linux/mman*.h",
    "lib/maple_tree.c",
    "tools/include/**/*.h",
    "tools/lib/*.c",
    "tools/testing/shared/*.[ch]",
    "tools/arch/x86/include/**/*.h",
)

#: First kernel release that has mm/vma.c.
VMA_C_SINCE = (6, 11)

#: All feature names ``probe_features`` can report (the registry: pyvma/tree/features.py).
FEATURES: frozenset[str] = _features.NAMES

_SPEC_HELP = (
    "A kernel spec is one of: a kernel source directory (/path/to/linux), "
    "DIR@REF (a git ref of a checkout), a linux-source-*.deb or "
    "linux-source-*.tar.xz/.tar file, or debian:X.Y / debian:X.x "
    "(e.g. debian:6.12, debian:7.x) / debian:linux-source-X.Y=VERSION."
)
_OFFLINE_HELP = (
    "If you are offline, point pyvma at a local kernel tree instead, "
    "e.g. --kernel /path/to/linux (a checkout of 6.11 or newer), or at a "
    "downloaded linux-source-*.deb / *.tar.xz file."
)



@dataclass(frozen=True)
class KernelTree:
    """A resolved kernel source tree (read-only input to the build)."""

    root: Path
    name: str
    version: tuple[int, int, int]
    version_str: str
    origin: dict[str, Any] = field(default_factory=dict, compare=False)
    features: frozenset[str] = frozenset()
    cache: Path | None = field(default=None, repr=False, compare=False)

    def has(self, feature: str) -> bool:
        """Return True if the capability probe found ``feature``."""
        _features.check(feature)
        return feature in self.features

    def hashed_files(self, extra_files: Iterable[str] = ()) -> list[str]:
        """Return the sorted relative paths ``content_hash`` covers."""
        return _collect(self.root, (*HASHED_FILES, *extra_files))

    def content_hash(self, extra_files: Iterable[str] = ()) -> str:
        """Return a sha256 hex digest over the files the build reads.

        ``extra_files`` are more paths or glob patterns relative to ``root``.
        Per-file digests are cached under ``$PYVMA_CACHE/hashes`` keyed by
        (path, mtime_ns, size), so a warm call only stats the files.
        """
        return content_hash(self.root, (*HASHED_FILES, *extra_files), self.cache)
