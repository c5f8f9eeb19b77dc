# SPDX-License-Identifier: GPL-2.0-or-later
"""A build of upstream's harness: the link repaired with the tree's own definitions
of what it misses, objects of the last build of the tree reused, the result cached."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

from ..cache import atomic_dir, file_lock, remove_stale_tmp, subdir, write_json_atomic
from ..errors import UpstreamCError
from ..tree import KernelTree
from .harness import (
    BUILD_PRODUCTS,
    IMPLICIT,
    KEY_FILES,
    KEY_VERSION,
    MAIN_ONLY,
    MAX_SUPPLY_ROUNDS,
    UNDEFINED,
    Built,
    compiler_id,
    error_lines,
    harness_key,
    make,
    make_safe_dir,
    prepare,
)


def supplied_header(tree: KernelTree, harness: Path, main: str, names: list[str],
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


def _inputs(tree: KernelTree) -> dict[str, str]:
    """What a build of *tree*'s harness read, file by file (sha256), and how."""
    from ..cache import file_digest
    out = {rel: file_digest(tree.root / rel) for rel in tree.hashed_files(KEY_FILES)}
    out["\0recipe"] = f"{KEY_VERSION}\n{compiler_id()}"
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
    # the sources make generates (radix-tree.c, idr.c: sed of lib/): with their times,
    # or make writes them anew and recompiles their objects (the radix tree under ASan)
    for src in sorted((stash / "sources").glob("*.c")) if seeded else []:
        if src.is_file() and not src.is_symlink():
            shutil.copy2(src, harness / src.name)
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
            (tmp / "sources").mkdir()
            for gen_c in harness.glob("*.c"):
                if BUILD_PRODUCTS.match(gen_c.name) and gen_c.is_file() and \
                        not gen_c.is_symlink():
                    shutil.copy2(gen_c, tmp / "sources" / gen_c.name)
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
    harness, main = prepare(tree, src)
    log: list[str] = []
    inputs = _inputs(tree)
    seeded = _seed(tree, harness, main, inputs)
    if seeded:
        log.append(f"# pyvma reused from the last build of this tree: {' '.join(seeded)}\n")
    proc = make(harness, "vma")
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
            text, supplied = supplied_header(tree, harness, main, missing, idx)
        except UpstreamCError as exc:
            message = str(exc)
            break
        (harness / "pyvma_supplied.h").write_text(text)
        log.append(f"# pyvma supplies: {', '.join(supplied)}\n")
        proc = make(harness, "vma", supply=True)
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
    return load_built(final, cached)


def load_built(final: Path, cached: bool) -> Built:
    data = json.loads((final / "RESULT.json").read_text())
    return Built(final.name, final, data["ok"], data["message"], data["supplied"],
                 data["seconds"], cached, [] if data["ok"] else data["tried_supplying"],
                 list(data.get("reused_objects", [])))
