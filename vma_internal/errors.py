# SPDX-License-Identifier: GPL-2.0-or-later
"""vma_internal's own errors (pyvma re-exports them as its user-facing errors)."""
from __future__ import annotations


class VmaInternalError(Exception):
    """Base of vma_internal's errors: the message says what failed and what to do."""


class ConfigError(VmaInternalError):
    """An unknown or malformed config option."""


class ShimError(VmaInternalError):
    """The shim could not be made to compile."""
