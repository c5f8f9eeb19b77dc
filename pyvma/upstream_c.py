# SPDX-License-Identifier: GPL-2.0-or-later
"""Upstream's own C tests (a tree's ``tools/testing/vma``), built and run by pyvma.

The harness is built with the tree's own Makefile in a scratch copy under the cache
(its make writes objects next to its sources; the tree is never written): every
top-level entry of the tree is a symlink into it except the path down to
``tools/testing/vma``, which is a fresh copy without build products.  A wrapper
makefile includes upstream's Makefile and adds two things only: a preprocessed
main file (the tests the build compiles in, read from the expansions of upstream's
``TEST(name)``) and, where the link fails on names the tree's headers define (6.12.117+:
``vma_close`` in ``mm/internal.h``), a header of those definitions, taken from the tree
by the shim's index and force-included into the main object.

Layout under the cache::

    upstream-c/<key>.names.json   the C tests the main file compiles in, in run order
    upstream-c/<key>/             one finished build (renamed into place atomically)
        vma                       upstream's binary (absent if it did not build)
        RESULT.json               status, the compiler's/linker's message, supplied names
        build.log                 make's output, every round
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cache import atomic_dir, file_lock, remove_stale_tmp, subdir, write_json_atomic
from .errors import UpstreamCError
from .tree import KernelTree
from .tree.scratch import looping_links

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


def _compiler_id() -> str:
    cc = os.environ.get("CC", "cc")     # as upstream's Makefile, which make runs, reads it
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    return f"{cc}\n{out.splitlines()[0] if out else ''}"


_keys: dict[Path, str] = {}


def harness_key(tree: KernelTree) -> str:
    """Key of a harness build: the tree's content (what the harness reads), its
    root (the supplied header's ``#line`` directives name the tree's files), the
    recipe's version (bump KEY_VERSION when the wrapper or supplied header changes)
    and the compiler."""
    if tree.root not in _keys:
        h = hashlib.sha256(KEY_VERSION.encode())
        h.update(tree.content_hash(KEY_FILES).encode())
        h.update(f"\0{tree.root}\0".encode())
        h.update(_compiler_id().encode())
        _keys[tree.root] = h.hexdigest()[:32]
    return _keys[tree.root]


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


def _make(harness: Path, *targets: str, supply: bool = False) -> subprocess.CompletedProcess:
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


def _prepare(tree: KernelTree, dest: Path) -> tuple[Path, str]:
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


def test_names(tree: KernelTree) -> list[str]:
    """The C tests the tree's harness compiles in, in the order ./vma runs them
    (from its preprocessed main file; cached by the harness key)."""
    top = subdir("upstream-c", tree.cache)
    key = harness_key(tree)
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
        harness, main = _prepare(tree, work / "src")
        proc = _make(harness, "pyvma-main.i")
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


def _supplied_header(tree: KernelTree, harness: Path, main: str, names: list[str],
                     idx) -> tuple[str, list[str]]:
    """The text of pyvma_supplied.h for *names*: the main file's leading includes
    (so the harness's own shim comes first), then each definition as the tree has it
    (found by the shim's index *idx* of the tree's headers)."""
    from vma_internal.config import HarnessConfig
    cfg = HarnessConfig.from_overrides()
    out = ["/* written by pyvma: definitions upstream's harness lacks, from the tree */"]
    text = (harness / f"{main}.c").read_text(errors="replace")
    for line in text.splitlines():
        if re.match(r'\s*#\s*include\s+"(\.\./)+mm/', line):
            break
        if re.match(r"\s*#\s*include\b", line):
            out.append(line)
    protos: list[str] = []
    bodies: list[str] = []
    supplied: list[str] = []
    for name in names:
        defs = idx.lookup(name, cfg) or idx.lookup_wide(name, cfg)
        if not defs:
            raise UpstreamCError(f"upstream C harness of {tree.version_str}: the link "
                                 f"misses {name}, which the tree's headers do not define")
        d = defs[0]
        supplied.append(f"{name} ({d.file}:{d.line})")
        if d.kind == "function" and "{" in d.text:
            protos.append(d.text[:d.text.index("{")].rstrip() + ";")
        bodies.append(f"/* {name}: {d.file}:{d.line} */\n"
                      f"#line {d.line} {json.dumps(str(tree.root / d.file))}\n{d.text}")
    return "\n".join([*out, *protos, *bodies]) + "\n", supplied


#: The tree's files that only the harness's main object reads (it #includes them): a
#: change to nothing else lets the other objects of the last build be reused.
MAIN_ONLY = ("mm/vma.c", "mm/vma_init.c", "mm/vma_exec.c")


def _inputs(tree: KernelTree) -> dict[str, str]:
    """What a build of *tree*'s harness read, file by file (sha256), and how."""
    from .cache import file_digest
    out = {rel: file_digest(tree.root / rel) for rel in tree.hashed_files(KEY_FILES)}
    out["\0recipe"] = f"{KEY_VERSION}\n{_compiler_id()}"
    return out


def _stash(tree: KernelTree) -> Path:
    """Where the objects of the last harness build of this tree (by its root) are kept."""
    return subdir("upstream-c", tree.cache) / "objects" / \
        hashlib.sha256(str(tree.root).encode()).hexdigest()[:20]


def _seed(tree: KernelTree, harness: Path, main: str, inputs: dict[str, str]) -> list[str]:
    """Copy in (with their times) the objects of the last build of this tree that no
    changed file can reach: only when what changed is among MAIN_ONLY, so every object
    but the main one is as make would leave it.  Returns the objects seeded."""
    stash = _stash(tree)
    try:
        old = json.loads((stash / "INPUTS.json").read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(old, dict) or old.keys() != inputs.keys():
        return []
    changed = [r for r in inputs if inputs[r] != old[r]]
    if any(r not in MAIN_ONLY for r in changed):
        return []
    seeded = []
    for obj in sorted(stash.glob("*.o")):
        if obj.name != f"{main}.o" and not obj.is_symlink():
            shutil.copy2(obj, harness / obj.name)
            seeded.append(obj.name)
    gen = stash / "generated"
    if gen.is_dir() and seeded:
        (harness / "generated").mkdir(exist_ok=True)
        for f in gen.iterdir():
            if f.is_file() and not f.is_symlink():
                shutil.copy2(f, harness / "generated" / f.name)
    return seeded


def _keep_objects(tree: KernelTree, harness: Path, inputs: dict[str, str]) -> None:
    """Keep this build's objects for the next build of the same tree (see _seed)."""
    stash = _stash(tree)
    new = stash.with_name(stash.name + ".new")
    with file_lock(stash.parent / f"{stash.name}.lock"):
        shutil.rmtree(new, ignore_errors=True)
        with atomic_dir(new) as tmp:
            for obj in harness.glob("*.o"):
                shutil.copy2(obj, tmp / obj.name)
            if (harness / "generated").is_dir():
                shutil.copytree(harness / "generated", tmp / "generated")
            write_json_atomic(tmp / "INPUTS.json", inputs)
        shutil.rmtree(stash, ignore_errors=True)
        os.rename(new, stash)


def _do_build(tree: KernelTree, tmp: Path) -> dict:
    work = make_safe_dir(tmp.parent, "src-")
    try:
        return _build_in(tree, tmp, work / "src")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_in(tree: KernelTree, tmp: Path, src: Path) -> dict:
    """Build *tree*'s harness in the scratch copy *src*; what is kept goes to *tmp*."""
    t0 = time.monotonic()
    harness, main = _prepare(tree, src)
    log: list[str] = []
    inputs = _inputs(tree)
    seeded = _seed(tree, harness, main, inputs)
    if seeded:
        log.append(f"# pyvma reused from the last build of this tree: {' '.join(seeded)}\n")
    proc = _make(harness, "vma")
    log.append(proc.stdout)
    missing: list[str] = []
    supplied: list[str] = []
    message = ""
    idx = None
    for _ in range(MAX_SUPPLY_ROUNDS):
        if proc.returncode == 0:
            break
        new = [n for n in dict.fromkeys(UNDEFINED.findall(proc.stdout) +
                                        IMPLICIT.findall(proc.stdout)) if n not in missing]
        others = [ln for ln in proc.stdout.splitlines()
                  if re.search(r"\berror: ", ln) and not IMPLICIT.search(ln)
                  and "ld returned" not in ln]
        if not new or others:
            break
        missing += new
        if idx is None:
            from vma_internal.index import HeaderIndex
            idx = HeaderIndex.build(tree.root, [])
        try:
            text, supplied = _supplied_header(tree, harness, main, missing, idx)
        except UpstreamCError as exc:
            message = str(exc)
            break
        (harness / "pyvma_supplied.h").write_text(text)
        log.append(f"# pyvma supplies: {', '.join(supplied)}\n")
        proc = _make(harness, "vma", supply=True)
        log.append(proc.stdout)
    ok = proc.returncode == 0 and (harness / "vma").is_file()
    if ok:
        shutil.move(harness / "vma", tmp / "vma")     # the work dir may be in /tmp
        _keep_objects(tree, harness, inputs)
    elif not message:
        message = error_lines(proc.stdout, src)
    if supplied:
        shutil.copy(harness / "pyvma_supplied.h", tmp / "pyvma_supplied.h")
    (tmp / "build.log").write_text("".join(log).replace(f"{src}/", ""))
    return {"ok": ok, "message": message, "supplied": supplied if ok else [],
            "tried_supplying": supplied, "seconds": round(time.monotonic() - t0, 2),
            "reused_objects": seeded,
            "version": tree.version_str}


def build(tree: KernelTree) -> Built:
    """Build (or find cached) upstream's harness for *tree*."""
    top = subdir("upstream-c", tree.cache)
    key = harness_key(tree)
    final = top / key
    cached = True
    with file_lock(top / f"{key}.lock"):
        if not (final / "RESULT.json").is_file():
            cached = False
            remove_stale_tmp(final)
            if final.exists():
                shutil.rmtree(final)
            with atomic_dir(final) as tmp:
                write_json_atomic(tmp / "RESULT.json", _do_build(tree, tmp))
    return _load(final, cached)


def _load(final: Path, cached: bool) -> Built:
    data = json.loads((final / "RESULT.json").read_text())
    return Built(final.name, final, data["ok"], data["message"], data["supplied"],
                 data["seconds"], cached, [] if data["ok"] else data["tried_supplying"],
                 list(data.get("reused_objects", [])))


class _Pending:
    """A harness build under way in a background thread."""

    def __init__(self, tree: KernelTree) -> None:
        self.version = tree.version_str
        self.final = subdir("upstream-c", tree.cache) / harness_key(tree)
        self.done = threading.Event()
        self.value: Built | None = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.waited = 0.0
        self.thread = threading.Thread(target=self._run, args=(tree,), daemon=True,
                                       name=f"upstream-c {tree.version_str}")
        self.thread.start()

    def _run(self, tree: KernelTree) -> None:
        try:
            self.value = build(tree)
        except BaseException as exc:       # handed to whoever waits
            self.error = exc
        finally:
            self.done.set()

    def result(self) -> Built:
        t0 = time.monotonic()
        while not self.done.wait(0.2):
            if not self.thread.is_alive():
                # a forked child (--isolate): the parent's thread builds; its lock
                # is this process's too, so wait for the result, not the lock
                if (self.final / "RESULT.json").is_file():
                    return _load(self.final, True)
        self.waited += time.monotonic() - t0
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


_pending: dict[str, _Pending] = {}
_lock = threading.Lock()


def start(tree: KernelTree) -> _Pending:
    """Start building *tree*'s harness in the background (once per process)."""
    key = harness_key(tree)
    with _lock:
        if key not in _pending:
            _pending[key] = _Pending(tree)
        return _pending[key]


def pending() -> dict[str, _Pending]:
    """The builds this process started, by key."""
    return dict(_pending)


def run(built: Built, names: list[str], timeout: float = 600.0) -> dict[str, CaseResult]:
    """Run ./vma once and give each C test its verdict and the output that is its."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASAN_", "UBSAN_", "LSAN_", "LD_PRELOAD", "PYVMA_"))}
    env["UBSAN_OPTIONS"] = "print_stacktrace=1"
    env["ASAN_OPTIONS"] = "handle_abort=1"      # an abort shows its stack: the test
    try:
        proc = subprocess.run([str(built.binary)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=built.dir, errors="replace")
    except subprocess.TimeoutExpired:
        return {n: CaseResult(n, False, f"./vma ran longer than {timeout:.0f} s and was "
                                        "killed; no verdicts") for n in names}
    return parse(proc.stdout, proc.stderr, proc.returncode, names)


def parse(stdout: str, stderr: str, returncode: int, names: list[str]
          ) -> dict[str, CaseResult]:
    """Verdicts from ./vma's output.  A passing test prints nothing; a failing one
    prints its assertion lines then ``Test <name> FAILED``; a sanitizer report is
    the test's whose ``test_<name>`` frame it shows.  A run that ends without its
    summary line leaves the tests it did not reach failed, with the reason."""
    failed: dict[str, list[str]] = {}
    segment: list[str] = []
    known = set(names)

    def blame(lines: list[str]) -> None:
        text = "\n".join(lines)
        for n in dict.fromkeys(re.findall(r"#\d+ 0x[0-9a-f]+ in test_(\w+)\b", text)):
            if n in known:
                failed.setdefault(n, []).append(text)

    for line in stderr.splitlines():
        m = re.fullmatch(r"Test (\w+) FAILED", line.strip())
        if m:
            blame(segment)
            failed.setdefault(m.group(1), []).append("\n".join(segment))
            segment = []
        else:
            segment.append(line)
    blame(segment)
    tail = "\n".join(segment[-40:])
    summary = re.search(r"^(\d+) tests run, (\d+) passed, (\d+) failed\.$", stdout, re.M)
    out: dict[str, CaseResult] = {}
    if summary is None:
        how = (f"killed by signal {-returncode}" if returncode < 0
               else f"exit status {returncode}")
        reported = re.findall(r"^Test (\w+) FAILED$", stderr, re.M)
        crashed = [n for n in names if n in failed and n not in reported]
        stop = names.index(crashed[0]) if crashed else None
        # a test before the last one that said FAILED has run to its end
        ran = max((names.index(n) for n in reported if n in known), default=-1)
        for i, n in enumerate(names):
            if n in failed:
                out[n] = CaseResult(n, False, "\n".join(failed[n]).strip() +
                                    (f"\n./vma ended in this test ({how})" if i == stop else ""))
            elif i < ran or (stop is not None and i < stop):
                out[n] = CaseResult(n, True, "")
            else:
                out[n] = CaseResult(n, False, f"not run to the end: ./vma ended ({how}) "
                                    "before its summary line; its last output:\n" + tail)
        return out
    run_n, _, fail_n = (int(g) for g in summary.groups())
    for n in names:
        out[n] = CaseResult(n, n not in failed, "\n".join(failed.get(n, [])).strip())
    failed_lines = set(re.findall(r"^Test (\w+) FAILED$", stderr, re.M))
    if run_n != len(names) or fail_n != len(failed_lines):
        why = (f"./vma's summary ({summary.group(0)}) disagrees with what pyvma read: "
               f"{len(names)} tests compiled in, {len(failed_lines)} FAILED lines")
        for n in names:
            out[n] = CaseResult(n, False, (out[n].output + "\n" + why).strip())
    return out
