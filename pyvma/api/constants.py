# SPDX-License-Identifier: GPL-2.0-or-later
"""Constants of the API: the page size and vma_merge_struct's merge states."""

from __future__ import annotations

PAGE_SIZE = 0x1000
MERGE_STATES = {0: "start", 1: "nomem", 2: "nomerge", 3: "success"}
