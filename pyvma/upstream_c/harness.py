# SPDX-License-Identifier: GPL-2.0-or-later
"""Upstream's harness in a scratch copy: its key, its make, its tests' names."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..cache import subdir, write_json_atomic
from ..errors import UpstreamCError
from ..tree import KernelTree
from ..tree.scratch import looping_links

HARNESS = "tools/testing/vma"
#: what upstream's harness build reads beyond the content hash's defaults
KEY_FILES = ("tools/testing/vma/**/*", "tools/testing/shared/**/*", "tools/include/**/*",
             "tools/lib/**/*.c", "tools/scripts/Makefile.*", "tools/arch/x86/include/**/*",
             "lib/*.[ch]", "mm/*.[ch]", "include/uapi/**/*.h", "include/asm-generic/*.h")
#: what `make clean` of the harness removes, and what a build leaves: never copied
BUILD_PRODUCTS = re.compile(r"(.*\.o|vma|radix-tree\.c|idr\.c|pyvma.*|generated)$")
KEY_VERSION = "upstream-c-v3"
MAX_SUPPLY_ROUNDS = 4
TEST_EXPANSION = re.compile(r'"Test " "(\w+)" " FAILED')
UNDEFINED = re.compile(r"undefined reference to [`'\u2018](\w+)['\u2019]")
# gcc 14 makes an implicit declaration an error: the same missing definition
IMPLICIT = re.compile(r"error: implicit declaration of function [`'\u2018](\w+)['\u2019]")
WRAPPER_MK = """\
# written by pyvma: upstream's Makefile, plus a preprocessed main file and, when
# PYVMA_SUPPLY is set, a force-included header of definitions pyvma supplies
include Makefile
# debug info names the tree's files by their paths in the tree, not in the scratch copy
CFLAGS += -fdebug-prefix-map=$(PYVMA_SRC)/=
pyvma-main.i: {main}.c generated/map-shift.h generated/bit-length.h generated/autoconf.h
\t$(CC) -E $(CFLAGS) $< -o $@
ifdef PYVMA_SUPPLY
{main}.o: CFLAGS += -include pyvma_supplied.h
{main}.o: pyvma_supplied.h
endif
"""

#: a directory make is run in: no character make or the shell expands or splits on
MAKE_SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+-]*")


def make_safe_dir(top: Path, prefix: str) -> Path:
    """A fresh private directory to run make in: under *top* (the cache) when its path
    is plain, else under the temporary directory (make would expand a ``$(...)`` of
    the path and split it at a space).  The caller removes it."""
    for parent in (str(top), tempfile.gettempdir(), "/tmp", "/var/tmp"):
        if MAKE_SAFE_PATH.fullmatch(parent) and os.path.isdir(parent):
            return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    raise UpstreamCError(f"upstream C harness: no directory to build in whose path make "
                         f"reads as it is ({top} and the temporary directory hold spaces or "
                         "make's $ and quote characters); set TMPDIR to a plain path")


@dataclass
class Built:
    """One build of a tree's harness (finished, cached)."""

    key: str
    dir: Path
    ok: bool
    message: str                   # the compiler's / linker's lines when not ok
    supplied: list[str] = field(default_factory=list)   # "vma_close (mm/internal.h:144)"
    seconds: float = 0.0           # the build's wall time when it was made
    cached: bool = True            # found in the cache by this process
    tried: list[str] = field(default_factory=list)      # supplied, yet no build
    reused: list[str] = field(default_factory=list)     # objects of the last build kept

    @property
    def binary(self) -> Path:
        return self.dir / "vma"


@dataclass
class CaseResult:
    name: str
    passed: bool
    output: str


def present(root: Path) -> bool:
    """Does the tree carry upstream's harness?"""
    return (root / HARNESS / "Makefile").is_file()


def compiler_id() -> str:
    cc = os.environ.get("CC", "cc")     # as upstream's Makefile, which make runs, reads it
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    return f"{cc}\n{out.splitlines()[0] if out else ''}"


KEYS: dict[Path, str] = {}


def harness_key(tree: KernelTree) -> str:
    """Key of a harness build: the tree's content (what the harness reads), its
    root (the supplied header's ``#line`` directives name the tree's files), the
    recipe's version (bump KEY_VERSION when the wrapper or supplied header changes)
    and the compiler."""
    if tree.root not in KEYS:
        h = hashlib.sha256(KEY_VERSION.encode())
        h.update(tree.content_hash(KEY_FILES).encode())
        h.update(f"\0{tree.root}\0".encode())
        h.update(compiler_id().encode())
        KEYS[tree.root] = h.hexdigest()[:32]
    return KEYS[tree.root]


def main_file(harness: Path) -> str:
    """The stem of the harness's main source: the one that includes mm/vma.c."""
    for c in sorted(harness.glob("*.c")):
        if re.search(r'#\s*include\s+"(\.\./)+mm/vma\.c"', c.read_text(errors="replace")):
            return c.stem
    raise UpstreamCError(f"{harness}: no top-level .c file includes mm/vma.c; "
                         "pyvma cannot tell which file holds upstream's tests")


def scratch_copy(root: Path, dest: Path) -> Path:
    """A writable stand-in for *root* in *dest*: symlinks to the tree's entries, except
    the path to tools/testing/vma (real directories) and the harness itself (a copy,
    without build products).  Returns the harness directory in *dest*."""
    parts = Path(HARNESS).parts
    src, dst = root, dest
    dst.mkdir(parents=True, exist_ok=True)
    for part in parts:
        for entry in os.scandir(src):
            if entry.name != part:
                os.symlink(os.path.join(src, entry.name), dst / entry.name)
        src, dst = src / part, dst / part
        dst.mkdir()

    def ignore(d: str, names: list[str]) -> list[str]:
        return [n for n in names if d == str(src) and BUILD_PRODUCTS.match(n)] + \
            looping_links(d, names)
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=ignore, symlinks=False)
    return dst


def make(harness: Path, *targets: str, supply: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CFLAGS", "LDFLAGS", "LD_PRELOAD")
           and not k.startswith(("ASAN_", "UBSAN_", "LSAN_"))}
    env["LC_ALL"] = "C"
    src = harness.parents[len(Path(HARNESS).parts) - 1]
    argv = ["make", "-f", "pyvma.mk", f"-j{min(os.cpu_count() or 1, 4)}", *targets,
            f"PYVMA_SRC={src}"]
    if supply:
        argv.append("PYVMA_SUPPLY=1")
    try:
        proc = subprocess.Popen(argv, cwd=harness, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    except OSError as exc:
        raise UpstreamCError(f"upstream C harness: cannot run make ({exc}); "
                             "install make and gcc") from exc
    _children.add(proc)
    try:
        out, _ = proc.communicate()
    finally:
        _children.discard(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out, "")


_children: set[subprocess.Popen] = set()


@atexit.register
def _stop_children() -> None:
    """A run that ends while a harness build is under way stops that build."""
    for proc in list(_children):
        try:
            os.killpg(proc.pid, 15)
        except OSError:
            pass


def prepare(tree: KernelTree, dest: Path) -> tuple[Path, str]:
    harness = scratch_copy(tree.root, dest)
    main = main_file(harness)
    (harness / "pyvma.mk").write_text(WRAPPER_MK.format(main=main))
    return harness, main


def error_lines(log: str, src: Path | None = None, limit: int = 12) -> str:
    """The compiler's and linker's own error lines from a make log, their file names
    as paths in the tree (``mm/vma.c:332``, ``tools/testing/vma/vma.c:1605``)."""
    keep = [ln for ln in log.splitlines()
            if re.search(r"\berror\b|undefined reference|\*\*\*|No such file", ln)
            and "Waiting for unfinished jobs" not in ln]
    text = "\n".join((keep or log.splitlines()[-limit:])[:limit])
    if src is not None:
        text = text.replace(f"{src}/", "")

    def in_tree(m: re.Match) -> str:
        path = m.group(1)
        if not path.startswith(("/", "tools/", "mm/", "include/", "lib/", "arch/")):
            path = f"{HARNESS}/{path}"
        return os.path.normpath(path) + m.group(2)
    return re.sub(r"(?m)(?<![\w/.])([\w./-]+\.[chS])(:\d+)", in_tree, text)


def source_test_names(root: Path) -> list[str]:
    """``TEST(name)`` uses in the harness's sources, in file order (a fallback when
    the main file does not preprocess: it cannot see what ``#if`` leaves out)."""
    names: list[str] = []
    for c in sorted((root / HARNESS).rglob("*.c")):
        for m in re.finditer(r"^\s*TEST\((\w+)\);", c.read_text(errors="replace"), re.M):
            if m.group(1) not in names:
                names.append(m.group(1))
    return names


#: The tree's files that only the harness's main object reads (it #includes them): a
#: change to nothing else lets the other objects of the last build be reused.
MAIN_ONLY = ("mm/vma.c", "mm/vma_init.c", "mm/vma_exec.c")


def names_key(tree: KernelTree) -> str:
    """Key of the list of C tests: the harness key without MAIN_ONLY, which hold no
    test (a change to mm/vma.c does not preprocess the main file again before the run
    starts; a list that no longer matches ./vma's summary fails every C test, saying so)."""
    from ..cache import file_digest
    h = hashlib.sha256(f"{KEY_VERSION}-names\0{tree.root}\0{compiler_id()}".encode())
    for rel in tree.hashed_files(KEY_FILES):
        if rel not in MAIN_ONLY:
            h.update(f"{rel}\0{file_digest(tree.root / rel)}\n".encode())
    return h.hexdigest()[:32]


def test_names(tree: KernelTree) -> list[str]:
    """The C tests the tree's harness compiles in, in the order ./vma runs them
    (from its preprocessed main file; cached by names_key)."""
    top = subdir("upstream-c", tree.cache)
    key = names_key(tree)
    entry = top / f"{key}.names.json"
    try:
        data = json.loads(entry.read_text())
        if data.get("error"):
            raise UpstreamCError(data["error"])
        return list(data["names"])
    except (OSError, ValueError, KeyError):
        pass
    work = make_safe_dir(top, "names-")
    try:
        harness, main = prepare(tree, work / "src")
        proc = make(harness, "pyvma-main.i")
        if proc.returncode != 0:
            lines = error_lines(proc.stdout, harness.parents[2])
            data = {"error": f"upstream C harness of {tree.version_str} does not "
                             f"preprocess ({HARNESS}/{main}.c):\n{lines}"}
        else:
            found = TEST_EXPANSION.findall((harness / "pyvma-main.i").read_text(errors="replace"))
            names = list(dict.fromkeys(found))
            data = {"names": names} if names else {
                "error": f"{HARNESS}/{main}.c of {tree.version_str}: no TEST(name) "
                         "expansion found (upstream's test macro changed shape?)"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json_atomic(entry, data)
    if data.get("error"):
        raise UpstreamCError(data["error"])
    return data["names"]
