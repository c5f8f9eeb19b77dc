# SPDX-License-Identifier: GPL-2.0-or-later
"""Entry points: resolve, build and load a kernel tree (one ``Kernel`` per build)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, wrap_shim_errors
from .kernel import Kernel

if TYPE_CHECKING:
    from vma_internal.config import HarnessConfig

_loaded: dict[str, Kernel] = {}


def load(kernel: str = "debian:7.x", config: Mapping[str, bool] | HarnessConfig | None = None,
         sanitizer: str | None = None, cache: Path | None = None) -> Kernel:
    """Fetch/resolve *kernel*, build it (or reuse the cached build) and load it."""
    from vma_internal.config import HarnessConfig

    from ..tree import resolve

    with wrap_shim_errors():
        cfg = config if isinstance(config, HarnessConfig) else HarnessConfig.from_overrides(config)
    return load_tree(resolve(kernel, cache), cfg, sanitizer, cache)


def loaded() -> list[Kernel]:
    """The kernels this process has loaded (one per build)."""
    return list(_loaded.values())


def load_tree(tree, config=None, sanitizer: str | None = None,
              cache: Path | None = None) -> Kernel:
    """load() for an already resolved (or patched) KernelTree."""
    from vma_internal.config import HarnessConfig

    from ..build.key import cached_build

    with wrap_shim_errors():
        cfg = config if isinstance(config, HarnessConfig) else HarnessConfig.from_overrides(config)
    if cfg.vma_flag_bits != 64 and not tree.has("vma_flags_t"):
        raise ConfigError(f"NUM_VMA_FLAG_BITS={cfg.vma_flag_bits} needs the vma_flags_t bitmap: "
                          f"kernel {tree.version_str} has a VM flags word only (use 64)")
    b, _, _ = cached_build(tree, cfg.key, sanitizer, "", cache)
    if b is None:
        from ..build import build
        b = build(tree, cfg, sanitizer, cache=cache)
    if b.key not in _loaded:
        _loaded[b.key] = Kernel(tree, b, cfg)
    return _loaded[b.key]
