# SPDX-License-Identifier: GPL-2.0-or-later
"""Every error type of pyvma (and ``Site``, what a kernel WARN/BUG names).

Each is a ``PyvmaError``: its message says what failed, where, and what to do; the
CLI prints it as one line and exits 2.  vma_internal's own errors are re-exported
here as subclasses of both (``wrap_shim_errors`` turns the one into the other).
"""

from __future__ import annotations

import contextlib
import errno as _errno
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vma_internal import errors as _vi


class PyvmaError(Exception):
    """Base class for errors shown to the user.

    The message says what failed, where, and what to do about it.
    """


class SourceError(PyvmaError):
    """A kernel source spec could not be resolved, fetched or extracted."""


class DownloadError(SourceError):
    """``apt-get download`` failed, or fetched another package than asked for."""


class CacheError(PyvmaError):
    """The cache directory cannot be used (or trusted)."""


class PatchError(PyvmaError):
    """A patch or series could not be read or applied."""


class SeriesError(PyvmaError):
    """A series could not be read from the mail, or is incomplete."""


class BuildError(PyvmaError):
    """The module could not be built."""


class UpstreamCError(PyvmaError):
    """Upstream's C harness could not be prepared, built or run."""


class ConfigError(PyvmaError, _vi.ConfigError):
    """An unknown or malformed config option."""


class ShimError(PyvmaError, _vi.ShimError):
    """The shim could not be made to compile."""


@contextlib.contextmanager
def wrap_shim_errors() -> Iterator[None]:
    """vma_internal's errors raised inside, as pyvma's (the same message)."""
    try:
        yield
    except _vi.ConfigError as exc:
        if isinstance(exc, PyvmaError):
            raise
        raise ConfigError(str(exc)) from None
    except _vi.ShimError as exc:
        if isinstance(exc, PyvmaError):
            raise
        raise ShimError(str(exc)) from None


@dataclass(frozen=True)
class Site:
    """A WARN or BUG site in kernel code."""

    file: str
    line: int
    cond: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.cond}"


class KernelBug(PyvmaError):
    """A BUG_ON/VM_BUG_ON (or a maple tree dump_stack()) fired in kernel code."""

    def __init__(self, site: Site, warnings: list[Site]):
        self.site = site
        self.warnings = warnings
        msg = f"kernel BUG at {site}"
        if warnings:
            msg += "\nWARNs before it:\n" + "\n".join(f"  {w}" for w in warnings)
        super().__init__(msg)


class KernelError(PyvmaError):
    """A kernel function failed (returned -errno or an ERR_PTR): ``call`` names it
    (``split_vma()``), ``ret`` is the -errno it returned, ``errno`` its positive
    value.  Every API call that runs kernel code raises it on failure."""

    def __init__(self, call: str, ret: int):
        self.call = call
        self.ret = ret
        self.errno = -ret
        super().__init__(f"{call} failed: {ret} ({_errno.errorcode.get(-ret, '?')})")


def errno_of(fn: Callable[..., object], *args: object, **kwargs: object) -> int:
    """The kernel's int for ``fn(*args, **kwargs)``: 0 for a call that returns
    None, the value of one that returns an int (an address), or the -errno of
    the KernelError it raised -- for callers that compare return codes (``pyvma
    diff``'s outcomes, the oracle, a port of a C test's ``ASSERT_EQ(f(), -ENOMEM)``)."""
    try:
        ret = fn(*args, **kwargs)
    except KernelError as exc:
        return exc.ret
    if ret is None:
        return 0
    if isinstance(ret, int):
        return ret
    raise TypeError(f"errno_of: {getattr(fn, '__qualname__', fn)} returned {ret!r}, not an int")


class InvariantError(PyvmaError):
    """The address space is inconsistent (maple tree, ordering, map_count)."""
