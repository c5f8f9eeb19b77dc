# SPDX-License-Identifier: GPL-2.0-or-later
"""The VMA flag masks of include/linux/mm.h, stated as the flags they are made of.

Code that reads a mask from the tree agrees with any mask: a tree whose
``VM_ACCESS_FLAGS`` lost ``VM_WRITE``, or whose ``VM_SPECIAL`` lost ``VM_PFNMAP``,
passes every test that asks the tree for the mask (mm/vma.c of 7.3 does not even use
``VM_ACCESS_FLAGS`` or ``VM_LOCKED_MASK``).  Here each mask is held to its
members, checked on every tree that defines it (the built tree's mask table says
which do).  The sticky masks' facts are in tests/sticky/test_sticky_facts.py.
"""
from __future__ import annotations

import pytest

MASKS = {
    "VM_ACCESS_FLAGS": ("VM_READ", "VM_WRITE", "VM_EXEC"),
    "VM_LOCKED_MASK": ("VM_LOCKED", "VM_LOCKONFAULT"),
    "VM_SPECIAL": ("VM_IO", "VM_DONTEXPAND", "VM_PFNMAP", "VM_MIXEDMAP"),
    "VMA_SPECIAL_FLAGS": ("VM_IO", "VM_DONTEXPAND", "VM_PFNMAP", "VM_MIXEDMAP"),
    "VMA_REMAP_FLAGS": ("VM_IO", "VM_PFNMAP", "VM_DONTEXPAND", "VM_DONTDUMP"),
}


@pytest.mark.parametrize("name", list(MASKS))
def test_mask_is_its_flags(kernel, name):
    mask = kernel.mask(name)
    if not mask:
        pytest.skip(f"kernel {kernel.version} defines no {name}")
    want = kernel.flag(*MASKS[name])
    assert mask == want, (
        f"{name} of {kernel.version} is {sorted(kernel.names_of(mask))}, "
        f"not {sorted(kernel.names_of(want))}")
