# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to ``pyvma.engine.diff``."""
from .engine.diff import (  # noqa: F401
                          LETTERS,
                          NOT_EXERCISED,
                          Differ,
                          Divergence,
                          corpus,
                          describe,
                          diff,
                          exercised_text,
                          replay_line,
                          report_json,
                          report_text,
                          sequence,
)
