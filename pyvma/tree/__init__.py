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
  under ``$PYVMA_CACHE/apt`` and extracted into the cache.

One module per job, imports running down this list: ``resolve`` (the entry
point) -> ``resolvers`` (one per spec kind) and ``debian`` (apt) -> ``markers``
(cached trees) -> ``archive`` (tar/dpkg/git, extraction refusals) ->
``validate`` (version, features: the ``features`` registry) -> ``kernel_tree``
-> ``hashing``.  ``patches`` and ``mbox`` build patched trees on top.

Cache layout (``$PYVMA_CACHE``, default ``~/.cache/pyvma``)::

    kernels/<name>/                 extracted tree + PYVMA_SOURCE.json; <name> is
                                    <package>_<version>-<sha256[:12] of the .deb>,
                                    git-<sha[:12]>, or the tarball's stem (+ sha)
    kernels/.<name>.tmp-XXXX/       in-progress extraction (renamed into place)
    debs/                           .debs trees were extracted from (sha256 checked
                                    against Debian's lists; see source_archive)
    locks/<name>.lock               flock per cached tree; apt.lock for apt
    apt/                            sources.list, lists/, cache/, status, stamp
    hashes/<key>.json               content_hash per-file cache for one root
    tmp/                            downloads in progress
"""

from .archive import extract_deb, extract_members, extract_tarball, package_members, source_archive
from .debian import DebianApt
from .kernel_tree import FEATURES, MARKER, KernelTree
from .resolve import resolve
from .validate import parse_makefile_version, probe_features

__all__ = ["FEATURES", "MARKER", "DebianApt", "KernelTree", "extract_deb", "extract_members",
           "extract_tarball", "package_members", "parse_makefile_version", "probe_features",
           "resolve", "source_archive"]
