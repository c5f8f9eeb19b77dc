# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel source trees as input: resolve a user's spec to a ``KernelTree``.

Accepted specs (see ``resolve``):

* ``/path/to/linux`` -- a checkout, used in place and never written to;
* ``/path/to/linux@REF`` -- a git ref of a checkout, exported with
  ``git archive`` into the cache (the user's repository is not touched);
* ``linux-source-X.Y_*.deb`` / ``*.tar.xz`` / ``*.tar`` -- extracted into the
  cache;
* ``debian:X.Y``, ``debian:linux-source-X.Y``, ``debian:X.x`` -- fetched
  with ``apt-get download`` through a project-local apt configuration
  under ``$PYVMA_CACHE/apt`` and extracted into the cache;
  ``debian:linux-source-X.Y=VERSION`` -- one version Debian serves.

One module per job, imports running down this list: ``spec`` (``resolve``, the
entry point) -> ``resolvers`` (one per spec kind) and ``debian`` (apt) -> ``markers``
(cached trees) -> ``archive`` (tar/dpkg/git, extraction refusals) ->
``validate`` (version, features: the ``features`` registry) -> ``kernel_tree``
-> ``hashing``.  ``patches`` and ``mbox`` build patched trees on top.

Cache layout (``$PYVMA_CACHE``, default ``~/.cache/pyvma``)::

    kernels/<name>/                 extracted tree; <name> is
                                    <package>_<version>-<sha256[:12] of the .deb>
                                    (one tree per .deb content, for debian: and
                                    .deb specs), git-<sha[:12]>, or the tarball's
                                    stem-<sha256[:12]>; a tree made is never removed
                                    but by `pyvma cache clear`
    kernels/.sources/<name>.json    its marker (what it was extracted from), kept
                                    outside the tree: a PYVMA_SOURCE.json inside a
                                    tree (written too, for older pyvma versions) is
                                    tree content, never trusted
    kernels/.<name>.tmp-XXXX/       in-progress extraction (renamed into place)
    debs/                           .debs trees were extracted from (sha256 checked
                                    against Debian's lists; see source_archive)
    locks/<name>.lock               flock per cached tree; apt.lock for apt
    apt/                            sources.list, lists/, cache/, status, stamp
    hashes/<key>.json               content_hash per-file cache for one root
    tmp/                            downloads in progress
"""

import importlib
from typing import Any

#: What the package offers, by the module that defines it: imported on first use, so
#: a warm start (a cached build loaded) imports no tarfile, apt or patch machinery.
_HOME = {
    "extract_deb": "archive", "extract_members": "archive", "extract_tarball": "archive",
    "package_members": "archive", "source_archive": "archive", "DebianApt": "debian",
    "FEATURES": "kernel_tree", "MARKER": "kernel_tree", "KernelTree": "kernel_tree",
    "resolve": "spec", "parse_makefile_version": "validate",
    "probe_features": "validate",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
