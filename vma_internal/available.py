# SPDX-License-Identifier: GPL-2.0-or-later
"""The names the prelude (tools/include, tools/testing/shared, our asm/bug.h) provides."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .cparse import parse_header
from .toolchain import CSRC_INCLUDE, preprocess


def prelude_names(tree: Path, gen_dir: Path) -> set[str]:
    """Every macro, function, type, tag and enumerator visible after the prelude."""
    prelude = CSRC_INCLUDE / "pyvma_prelude.h"
    macros = preprocess(prelude, tree, gen_dir, ["-dM"])
    names = {m.group(1) for m in re.finditer(r"^#define (\w+)", macros, re.M)}
    text = preprocess(prelude, tree, gen_dir)
    with tempfile.NamedTemporaryFile("w", suffix=".h", dir=gen_dir, delete=False) as f:
        f.write(text)
        tmp = Path(f.name)
    try:
        for d in parse_header(tmp, "prelude"):
            names |= set(d.names) | set(d.tags)
            if d.kind == "fwd":
                names.add(d.name)
    finally:
        tmp.unlink()
    return names
