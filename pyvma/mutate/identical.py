# SPDX-License-Identifier: GPL-2.0-or-later
"""Whether a mutant left the library as it was: its code and read-only data compared
with the pristine build's, the tree's own path (in WARN/BUG site strings) and the
build key left out, addresses that only moved with them normalised."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_ADDR_COL = re.compile(r"^\s*[0-9a-f]+:\s*")
_RIP = re.compile(r"-?0x[0-9a-f]+\(%rip\)")
_COMMENT = re.compile(r"\s*#\s*[0-9a-f]+\s*<[^>]*>")
_TARGET = re.compile(r"\b[0-9a-f]+ (<[^>]*>)")
_HEAD = re.compile(r"^[0-9a-f]+ (<[^>]*>:)")


def _code(lib: Path) -> list[str]:
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-j", ".text", str(lib)],
                         capture_output=True, text=True, check=True).stdout
    lines = []
    for line in out.splitlines()[3:]:
        line = _HEAD.sub(r"\1", line)
        line = _ADDR_COL.sub("", line)
        line = _COMMENT.sub("", line)
        line = _RIP.sub("X(%rip)", line)
        line = _TARGET.sub(r"\1", line)
        lines.append(line)
    return lines


_PATH = re.compile(rb"/\S*/(?=(?:mm|csrc|tools|include|gen|lib|arch)/)")


def _strings(lib: Path) -> list[bytes]:
    """The read-only data's strings, the directories of the tree, the build and the C glue left out
    (tables of addresses move with the code, compared above)."""
    data = subprocess.run(["objcopy", "-O", "binary", "--only-section=.rodata", str(lib),
                           "/dev/stdout"], capture_output=True, check=True).stdout
    return [_PATH.sub(b"<dir>/", s) for s in re.findall(rb"[\x20-\x7e]{3,}", data)]


def available() -> bool:
    return bool(shutil.which("objdump") and shutil.which("objcopy"))


def same_library(a: Path, b: Path) -> bool:
    """Whether libraries *a* and *b* hold the same code and read-only strings (each
    built from its own tree directory under its own build key)."""
    if not available():
        return False        # cannot tell: every mutant counts as changed
    return _code(a) == _code(b) and _strings(a) == _strings(b)
