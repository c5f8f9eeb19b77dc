# SPDX-License-Identifier: GPL-2.0-or-later
"""cffi's out-of-line ABI description of csrc/pyvma_api.h: written once, loaded per build."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
from pathlib import Path

from ..errors import BuildError


def _abi_module(objs_dir: Path) -> Path:
    """cffi's out-of-line ABI module for csrc/pyvma_api.h: Python only, the same
    for every tree, so generated once (per API and cffi version) and cached."""
    import cffi

    from ..paths import CSRC
    api = (CSRC / "pyvma_api.h").read_text()
    name = _abi_name()
    out = objs_dir / f"{name}.py"
    if out.is_file():
        try:
            load_abi(out)
            return out
        except BuildError:
            pass                   # damaged: written again
    ffi = cffi.FFI()
    ffi.cdef(api)
    ffi.set_source(name, None)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    with contextlib.redirect_stdout(io.StringIO()):     # cffi says "generating ..."
        ffi.emit_python_code(str(tmp))
    os.replace(tmp, out)
    return out


_ABI_KEYWORDS = frozenset({"_version", "_types", "_globals", "_struct_unions", "_enums",
                           "_typenames"})


def load_abi(path: Path):
    """The ``ffi`` of a cffi ABI module, read as data and never executed: the
    file must be exactly ``import _cffi_backend`` and ``ffi = _cffi_backend.FFI(
    'pyvma_abi_<hash of csrc/pyvma_api.h>', <literal keywords>)``, else BuildError."""
    import ast

    import _cffi_backend
    bad = BuildError(f"{path} is not the ABI description pyvma writes: refused; remove "
                     f"{path.parent} (`pyvma cache clear`) to rebuild it.")
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, OSError):
        raise bad from None
    body = tree.body
    if len(body) != 2 or not isinstance(body[0], ast.Import) or \
            [(a.name, a.asname) for a in body[0].names] != [("_cffi_backend", None)]:
        raise bad
    st = body[1]
    if not (isinstance(st, ast.Assign) and len(st.targets) == 1
            and isinstance(st.targets[0], ast.Name) and st.targets[0].id == "ffi"
            and isinstance(st.value, ast.Call) and isinstance(st.value.func, ast.Attribute)
            and isinstance(st.value.func.value, ast.Name)
            and st.value.func.value.id == "_cffi_backend" and st.value.func.attr == "FFI"
            and len(st.value.args) == 1 and isinstance(st.value.args[0], ast.Constant)
            and st.value.args[0].value == _abi_name()):
        raise bad
    kwargs = {}
    for kw in st.value.keywords:
        if kw.arg not in _ABI_KEYWORDS:
            raise bad
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise bad from None
    try:
        return _cffi_backend.FFI(_abi_name(), **kwargs)
    except Exception:
        raise bad from None


@functools.lru_cache(maxsize=1)
def _abi_name() -> str:
    """The module name cffi's ABI description of this csrc/pyvma_api.h carries."""
    import _cffi_backend

    from ..paths import CSRC
    api = (CSRC / "pyvma_api.h").read_text()
    return "pyvma_abi_" + hashlib.sha256(
        f"{api}\0{_cffi_backend.__version__}".encode()).hexdigest()[:16]
