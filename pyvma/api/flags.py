# SPDX-License-Identifier: GPL-2.0-or-later
"""The tree's vma_flags_t helpers run on Python ints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import PyvmaError

if TYPE_CHECKING:
    from .kernel import Kernel


# name -> (op, on, argument kind, result kind) for VmaFlags.  on: "flags" (a
# vma_flags_t), "vma" (a VMA holding them), "desc" (a VMA descriptor holding them)
# or None; argument: "bits", "bit", "mask", "word" or ""; result: "flags" (a new
# value), "update" (the operand, changed), "bool", "int" or "word".
_VMA_FLAGS_HELPERS: dict[str, tuple[str, str | None, str, str]] = {
    "mk_vma_flags": ("MK", None, "bits", "flags"),
    "append_vma_flags": ("APPEND", "flags", "bits", "flags"),
    "vma_flags_count": ("COUNT", "flags", "", "int"),
    "vma_flags_empty": ("EMPTY", "flags", "", "bool"),
    "vma_flags_test": ("TEST", "flags", "bit", "bool"),
    "vma_flags_test_single_mask": ("TEST_SINGLE_MASK", "flags", "mask", "bool"),
    "vma_flags_test_any": ("TEST_ANY", "flags", "bits", "bool"),
    "vma_flags_test_any_mask": ("TEST_ANY_MASK", "flags", "mask", "bool"),
    "vma_flags_test_all": ("TEST_ALL", "flags", "bits", "bool"),
    "vma_flags_test_all_mask": ("TEST_ALL_MASK", "flags", "mask", "bool"),
    "vma_flags_set": ("SET", "flags", "bits", "update"),
    "vma_flags_set_mask": ("SET_MASK", "flags", "mask", "update"),
    "vma_flags_clear": ("CLEAR", "flags", "bits", "update"),
    "vma_flags_clear_mask": ("CLEAR_MASK", "flags", "mask", "update"),
    "vma_flags_clear_all": ("CLEAR_ALL", "flags", "", "update"),
    "vma_flags_and": ("AND", "flags", "bits", "flags"),
    "vma_flags_and_mask": ("AND_MASK", "flags", "mask", "flags"),
    "vma_flags_diff_pair": ("DIFF_PAIR", "flags", "mask", "flags"),
    "vma_flags_same": ("SAME", "flags", "bits", "bool"),
    "vma_flags_same_mask": ("SAME_MASK", "flags", "mask", "bool"),
    "vma_flags_same_pair": ("SAME_PAIR", "flags", "mask", "bool"),
    "vma_flags_to_legacy": ("TO_LEGACY", "flags", "", "word"),
    "legacy_to_vma_flags": ("FROM_LEGACY", None, "word", "flags"),
    "vma_flags_overwrite_word": ("OVERWRITE_WORD", "flags", "word", "update"),
    "vma_flags_overwrite_word_once": ("OVERWRITE_WORD_ONCE", "flags", "word", "update"),
    "vma_flags_set_word": ("SET_WORD", "flags", "word", "update"),
    "vma_flags_clear_word": ("CLEAR_WORD", "flags", "word", "update"),
    "vma_test": ("VMA_TEST", "vma", "bit", "bool"),
    "vma_test_single_mask": ("VMA_TEST_SINGLE_MASK", "vma", "mask", "bool"),
    "vma_test_any": ("VMA_TEST_ANY", "vma", "bits", "bool"),
    "vma_test_any_mask": ("VMA_TEST_ANY_MASK", "vma", "mask", "bool"),
    "vma_test_all": ("VMA_TEST_ALL", "vma", "bits", "bool"),
    "vma_test_all_mask": ("VMA_TEST_ALL_MASK", "vma", "mask", "bool"),
    "vma_set_flags": ("VMA_SET", "vma", "bits", "update"),
    "vma_set_flags_mask": ("VMA_SET_MASK", "vma", "mask", "update"),
    "vma_clear_flags": ("VMA_CLEAR", "vma", "bits", "update"),
    "vma_clear_flags_mask": ("VMA_CLEAR_MASK", "vma", "mask", "update"),
    "vma_desc_test": ("DESC_TEST", "desc", "bit", "bool"),
    "vma_desc_test_any": ("DESC_TEST_ANY", "desc", "bits", "bool"),
    "vma_desc_test_all": ("DESC_TEST_ALL", "desc", "bits", "bool"),
    "vma_desc_set_flags": ("DESC_SET", "desc", "bits", "update"),
    "vma_desc_set_flags_mask": ("DESC_SET_MASK", "desc", "mask", "update"),
    "vma_desc_clear_flags": ("DESC_CLEAR", "desc", "bits", "update"),
    "vma_desc_clear_flags_mask": ("DESC_CLEAR_MASK", "desc", "mask", "update"),
}


class VmaFlags:
    """The tree's vma_flags_t helpers (include/linux/mm.h, mm_types.h), compiled into
    the build and run on Python ints (bit *i* of the int is VMA flag bit *i*).

    Every helper of ``_VMA_FLAGS_HELPERS`` is a method of the same name taking the
    operand first: ``vf.vma_flags_set(flags, bit, ...)`` returns the updated flags,
    ``vf.vma_flags_test_any(flags, bit, ...)`` a bool, ``vf.vma_flags_and(flags, bit,
    ...)`` the result.  ``vma_*``/``vma_desc_*`` helpers run on a VMA / a VMA
    descriptor whose flags are the operand.  Bits are numbers or names
    (``"VMA_READ_BIT"`` or ``"VM_READ"``); variadic helpers take 1 to 12 bits."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.nbits = int(k.lib.pyvma_vma_flags_bits())
        self.words = int(k.lib.pyvma_vma_flags_words())
        n = max(self.words, 1)
        self._a = k.ffi.new("unsigned long[]", n)
        self._b = k.ffi.new("unsigned long[]", n)
        self._out = k.ffi.new("unsigned long[]", n)
        self._bits = k.ffi.new("int[]", 12)

    @property
    def available(self) -> bool:
        """Whether the tree has vma_flags_t (and so these helpers)."""
        return self.words > 0

    def bit(self, name: int | str) -> int:
        """The bit number of a flag: ``"VMA_READ_BIT"``, ``"VM_READ"`` or a number."""
        if isinstance(name, int):
            return name
        if name.startswith("VMA_") and name.endswith("_BIT"):
            name = "VM_" + name[4:-4]
        v = self.k.flag(name)
        if v & (v - 1):
            raise PyvmaError(f"{name} is not a single flag in {self.k.version}")
        return v.bit_length() - 1

    def mk(self, *bits: int | str) -> int:
        """A flags value with the given bits (as a Python int, no C call)."""
        v = 0
        for b in bits:
            v |= 1 << self.bit(b)
        return v

    def mask(self, name: str) -> int:
        """A vma_flags_t mask of the tree by name (VMA_SPECIAL_FLAGS, VMA_REMAP_FLAGS…)."""
        return self.k.mask(name)

    def _put(self, buf, value: int) -> None:
        for i in range(self.words):
            buf[i] = (value >> (64 * i)) & 0xFFFFFFFFFFFFFFFF

    def _take(self, buf) -> int:
        return sum(int(buf[i]) << (64 * i) for i in range(self.words))

    def call(self, name: str, *args):
        """Run the helper *name* (see the class docstring) on *args*."""
        if not self.available:
            raise PyvmaError(f"kernel {self.k.version} has no vma_flags_t")
        op, on, arg, result = _VMA_FLAGS_HELPERS[name]
        rest = list(args)
        operand = rest.pop(0) if on is not None else 0
        self._put(self._a, operand)
        self._put(self._b, 0)
        nbits = 0
        if arg in ("bits", "bit"):
            if not 1 <= len(rest) <= (1 if arg == "bit" else 12):
                raise PyvmaError(f"{name}() takes {'one bit' if arg == 'bit' else '1 to 12 bits'}")
            for i, b in enumerate(rest):
                self._bits[i] = self.bit(b)
            nbits = len(rest)
        elif arg in ("mask", "word"):
            if len(rest) != 1:
                raise PyvmaError(f"{name}() takes one {arg}")
            self._put(self._b, rest[0])
            if arg == "word":
                self._b[0] = rest[0] & 0xFFFFFFFFFFFFFFFF
        elif rest:
            raise PyvmaError(f"{name}() takes only the flags")
        ret = self.k.lib.pyvma_vma_flags_op(getattr(self.k.lib, "PYVMA_VF_" + op), self._a,
                                            self._b, self._bits, nbits, self._out)
        if ret < 0:
            raise PyvmaError(f"{name}() failed in {self.k.version}: {ret}")
        if result == "bool":
            return bool(ret)
        if result == "int":
            return int(ret)
        if result == "update":
            return self._take(self._a)
        if result == "word":
            return int(self._out[0])
        return self._take(self._out)


def _vma_flags_method(name: str):
    def method(self, *args):
        return self.call(name, *args)
    method.__name__ = name
    method.__doc__ = f"The tree's {name}() (see VmaFlags)."
    return method


for _name in _VMA_FLAGS_HELPERS:
    setattr(VmaFlags, _name, _vma_flags_method(_name))
del _name
