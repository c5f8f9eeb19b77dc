# SPDX-License-Identifier: GPL-2.0-or-later
"""User-facing error types for pyvma."""

from __future__ import annotations


class PyvmaError(Exception):
    """Base class for errors shown to the user.

    The message says what failed, where, and what to do about it.
    """


class SourceError(PyvmaError):
    """A kernel source spec could not be resolved, fetched or extracted."""
