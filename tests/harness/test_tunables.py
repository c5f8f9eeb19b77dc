# SPDX-License-Identifier: GPL-2.0-or-later
"""Every --kernel-config tunable builds on every cached kernel, or is refused with
a reason when parsed; NUM_VMA_FLAG_BITS=128 where the tree has vma_flags_t."""
from __future__ import annotations

import pytest

from pyvma.api import load
from vma_internal.config import (BASE_CONFIG, REFUSED, TUNABLE, ConfigError,
                                 HarnessConfig)

SPECS = ["debian:6.12", "debian:linux-source-7.2", "debian:7.x"]
OFFERED = [(name, not BASE_CONFIG.get(name, False)) for name in sorted(TUNABLE)
           if (name, not BASE_CONFIG.get(name, False)) not in REFUSED]


def test_refused_values_say_why_when_parsed() -> None:
    with pytest.raises(ConfigError, match="CONFIG_PER_VMA_LOCK=n is not offered: .*vm_lock_seq"):
        HarnessConfig.parse(["CONFIG_PER_VMA_LOCK=n"])
    with pytest.raises(ConfigError, match="NUM_VMA_FLAG_BITS=96 is not offered"):
        HarnessConfig.parse(["NUM_VMA_FLAG_BITS=96"])
    with pytest.raises(ConfigError, match="unknown config option 'CONFIG_SMP'"):
        HarnessConfig.parse(["CONFIG_SMP=y"])


def test_width_is_part_of_the_build_key_and_autoconf() -> None:
    narrow, wide = HarnessConfig.parse([]), HarnessConfig.parse(["NUM_VMA_FLAG_BITS=128"])
    assert narrow.key != wide.key and "NUM_VMA_FLAG_BITS=128" in wide.key
    assert "#define NUM_VMA_FLAG_BITS 128\n" in wide.autoconf()
    assert "#define NUM_VMA_FLAG_BITS 64\n" in narrow.autoconf()


@pytest.mark.parametrize("name, value", OFFERED, ids=[n for n, _ in OFFERED])
@pytest.mark.parametrize("spec", SPECS)
def test_every_offered_tunable_builds(spec: str, name: str, value: bool) -> None:
    k = load(spec, {name: value})
    assert k.config.enabled(name) is value
    # the build really has it: soft-dirty decides whether VM_SOFTDIRTY is a flag
    if name == "CONFIG_MEM_SOFT_DIRTY":
        assert k.has_flag("VM_SOFTDIRTY") is value


@pytest.mark.parametrize("spec", SPECS)
def test_wide_vma_flags_where_the_tree_has_the_bitmap(spec: str) -> None:
    narrow = load(spec)
    if not narrow.has("vma_flags_t"):
        with pytest.raises(ConfigError, match="NUM_VMA_FLAG_BITS=128 needs the vma_flags_t"):
            load(spec, {"NUM_VMA_FLAG_BITS": 128})
        return
    wide = load(spec, {"NUM_VMA_FLAG_BITS": 128})
    assert (narrow.vma_flags.nbits, wide.vma_flags.nbits) == (64, 128)
    assert (narrow.vma_flags.words, wide.vma_flags.words) == (1, 2)
    # a bit above the first word survives a round trip through the kernel's helpers
    vf = wide.vma_flags
    assert vf.mk_vma_flags(64, 65) == (1 << 64) | (1 << 65)
