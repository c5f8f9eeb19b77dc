# SPDX-License-Identifier: GPL-2.0-or-later
"""The sticky suite's fixture ``sk`` (see sticky_helpers for its variants)."""
from __future__ import annotations

import pytest

from .sticky_helpers import VARIANTS, StickyEnv, _reset, _reset_failures, kernel_with_soft_dirty, rw


@pytest.fixture(params=list(VARIANTS), ids=list(VARIANTS))
def sk(request, kernel, load_kernel):
    """The kernel of *variant*'s config, a checked MM of it and the sticky flag."""
    name, soft_dirty = VARIANTS[request.param]
    k = kernel_with_soft_dirty(kernel, load_kernel, soft_dirty)
    own = k is not kernel          # the `kernel` fixture looks after its own build
    if own:
        _reset(k)
    assert k.config.enabled("CONFIG_MEM_SOFT_DIRTY") == soft_dirty
    value = k.flag(name)
    assert value & k.sticky_mask == value, (
        f"{name} is not in the sticky mask of {k.version} "
        f"(CONFIG_MEM_SOFT_DIRTY={'y' if soft_dirty else 'n'}): "
        f"{sorted(k.names_of(k.sticky_mask))}")
    mm = k.mm(check_each=True)
    yield StickyEnv(k, mm, name, value, rw(k), soft_dirty)
    try:
        if mm.ptr is not None:
            mm.check_each = False
            mm.check()
            mm.close()
    finally:
        _reset_failures(k)
        if own:
            warns = k.warnings()
            k.clear_warnings()
            if warns:
                pytest.fail(f"WARN in kernel code ({k.version}, soft-dirty "
                            f"{'on' if soft_dirty else 'off'}):\n"
                            + "\n".join(f"  {w}" for w in warns), pytrace=False)
