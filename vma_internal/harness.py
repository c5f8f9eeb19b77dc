# SPDX-License-Identifier: GPL-2.0-or-later
"""What vma_internal needs from its caller: where the C glue is, which units it is
made of, and where to cache parses.  vma_internal computes none of it itself."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Harness:
    """The C side of a harness and the caches the shim generator may use."""

    csrc: Path                          # the glue's sources, override.h, include/
    first_unit: str                     # the glue unit #included after mm/vma*.c
    second_units: tuple[str, ...]       # the rest of the glue, a unit of its own
    parse_cache: Path | None = None     # header parses by content (JSON)
    wide_cache: Path | None = None      # the include/linux wide maps by tree

    @property
    def include(self) -> Path:
        """The harness's own include directory (prelude, overridden headers)."""
        return self.csrc / "include"

    def glue_sources(self) -> list[Path]:
        """Every C file of the glue, the first unit first."""
        first = self.csrc / self.first_unit
        return [first] + sorted(p for p in self.csrc.glob("*.c") if p != first)
