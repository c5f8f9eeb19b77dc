# SPDX-License-Identifier: GPL-2.0-or-later
"""The names the prelude (tools/include, tools/testing/shared, our asm/bug.h) provides."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .cparse import parse_header
from .harness import Harness
from .toolchain import preprocess

_DIRECTIVE = re.compile(r"^#(define|undef) (\w+)", re.M)
_DIRECTIVE_LINE = re.compile(r"^#(?:define|undef) .*$", re.M)


def prelude_names(tree: Path, gen_dir: Path, harness: Harness) -> set[str]:
    """Every macro, function, type, tag and enumerator visible after the prelude.

    One preprocessor run (-dD: the text with its #define/#undef lines in order);
    the compiler's predefined macros come from a run on an empty unit."""
    prelude = harness.include / "pyvma_prelude.h"
    text = preprocess(prelude, tree, gen_dir, harness.csrc, ["-dD"])
    names = predefined_macros()
    for m in _DIRECTIVE.finditer(text):
        if m.group(1) == "define":
            names.add(m.group(2))
        else:
            names.discard(m.group(2))
    with tempfile.NamedTemporaryFile("w", suffix=".h", dir=gen_dir, delete=False) as f:
        f.write(_DIRECTIVE_LINE.sub("", text))      # the code alone: macros are done
        tmp = Path(f.name)
    try:
        for d in parse_header(tmp, "prelude", harness.parse_cache):
            names |= set(d.names) | set(d.tags)
            if d.kind == "fwd":
                names.add(d.name)
    finally:
        tmp.unlink()
    return names


def predefined_macros() -> set[str]:
    """The compiler's own macros (__GNUC__, __x86_64__, ...), with the harness flags."""
    import subprocess

    from .toolchain import BASE_CFLAGS, compiler
    out = subprocess.run([compiler(), "-E", "-dM", *BASE_CFLAGS, "-x", "c", "/dev/null"],
                         check=True, capture_output=True, text=True).stdout
    return {m.group(2) for m in _DIRECTIVE.finditer(out)}
