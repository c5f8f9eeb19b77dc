# SPDX-License-Identifier: GPL-2.0-or-later
"""Run one mutant: made as any patched tree is (a scratch copy in the cache with the
mutant's patch applied), built with pyvma's builder, then run by the kernel suites
(pytest, stopping at the first failure) and by ``pyvma diff PRISTINE MUTANT``.

A result is cached under ``$PYVMA_CACHE/mutate/results/`` by the mutant's content
hash (the base tree's content, the patch, what the run depends on), so a run that
is stopped resumes where it was.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cache import subdir, write_json_atomic, write_text_atomic
from ..errors import PyvmaError
from ..paths import CSRC, PACKAGE, REPO, TESTS
from .identical import same_library
from .mutants import Mutant

#: The suites a mutant is run by (tests/upstream_c, upstream's C tests, is left out:
#: it builds upstream's own harness per tree, minutes a mutant).
SUITES = ("upstream", "sticky", "merge", "model", "paths")

#: A mutant's statuses: built and run, or counted apart.
RUN, NOCOMPILE, IDENTICAL, ERROR = "run", "nocompile", "identical", "error"


@dataclass
class Options:
    """How each mutant is run (what its cached result depends on)."""

    spec: str                       # the base tree as given (debian:7.x, DIR)
    root: str                       # the pristine tree's directory on the planning host
    base_args: list[str] = field(default_factory=list)   # --series/--patches of the base
    config: list[str] = field(default_factory=list)       # --kernel-config items
    diff_seconds: float = 10.0
    suite_timeout: float = 600.0
    keep: bool = False              # keep the mutant's tree and build

    def key(self) -> str:
        return json.dumps([self.base_args, sorted(self.config), self.diff_seconds,
                           harness_digest()])


_digest: str | None = None


def harness_digest() -> str:
    """What a mutant's outcome depends on besides its tree: the suites it runs (and
    their shared helpers), pyvma outside this package, the C glue, the shim generator."""
    global _digest
    if _digest is None:
        h = hashlib.sha256()
        files = [("tests", p) for p in sorted(TESTS.glob("*.py"))]
        for top in (*(TESTS / s for s in SUITES), PACKAGE, CSRC, PACKAGE.parent / "vma_internal"):
            if top.is_dir():
                files += [(top.name, p) for p in sorted(top.rglob("*"))
                          if p.suffix in (".py", ".c", ".h")
                          and "mutate" not in p.relative_to(top).parts]
        for name, p in files:
            h.update(f"{name}/{p.name}".encode())
            h.update(p.read_bytes())
        _digest = h.hexdigest()[:16]
    return _digest


def patch_file(m: Mutant, root: Path) -> Path:
    """The mutant's patch, kept under the cache (what its replay lines name)."""
    path = subdir("mutate") / "patches" / f"{m.id}.patch"
    text = m.patch(root)
    try:
        same = path.read_text() == text
    except OSError:
        same = False
    if not same:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    return path


def result_key(m: Mutant, base_hash: str, patch_text: str, opts: Options) -> str:
    h = hashlib.sha256("\0".join((base_hash, patch_text, opts.key())).encode())
    return h.hexdigest()[:24]


def cached_result(key: str) -> dict[str, Any] | None:
    path = subdir("mutate") / "results" / f"{key}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("status"):
        return None
    if data["status"] == IDENTICAL and "configs" not in data:
        return None         # judged on one config only (before other_configs())
    return data


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYVMA_KERNELS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _first_failure(out: str) -> str:
    for line in out.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line[:300]
    m = re.search(r"Fatal Python error: [^\n]*", out)
    if m:       # faulthandler's stack: the innermost test function is the one that ran
        tests = re.findall(r'File "[^"]*/(tests/[^"]+)", line \d+ in (test_\w+)', out[m.end():])
        return (m.group(0) + (f" in {tests[0][0]}::{tests[0][1]}" if tests else ""))[:300]
    return out.strip().splitlines()[-1][:300] if out.strip() else ""


def run_suites(tree_root: Path, opts: Options) -> dict[str, Any]:
    """The kernel suites on the mutant, to the first failure."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-rfE", "-n", "0",
           "-p", "no:cacheprovider", "--rootdir", str(REPO), "--kernel", str(tree_root)]
    for c in opts.config:
        cmd += ["--kernel-config", c]
    cmd += [str(TESTS / s) for s in SUITES if (TESTS / s).is_dir()]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=opts.suite_timeout)
    except subprocess.TimeoutExpired:
        return {"killed": True, "how": "timeout", "detail": f"no end in {opts.suite_timeout} s",
                "seconds": round(time.monotonic() - t0, 1)}
    out = proc.stdout.decode(errors="replace")
    rc = proc.returncode
    how = "pass" if rc == 0 else "fail" if rc == 1 else "crash" if rc < 0 else f"exit {rc}"
    return {"killed": rc != 0, "how": how, "detail": "" if rc == 0 else _first_failure(out),
            "seconds": round(time.monotonic() - t0, 1)}


def run_diff(base_root: Path, patch: Path, opts: Options) -> dict[str, Any]:
    """``pyvma diff PRISTINE MUTANT``: exit 1 is a divergence."""
    cmd = [sys.executable, "-m", "pyvma", "diff", str(base_root), str(base_root),
           "--b-patch", str(patch), "--no-sandbox", "--seconds", str(opts.diff_seconds)]
    for c in opts.config:
        cmd += ["--kernel-config", c]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=opts.suite_timeout)
    except subprocess.TimeoutExpired:
        return {"killed": True, "how": "timeout", "detail": "",
                "seconds": round(time.monotonic() - t0, 1)}
    out = proc.stdout.decode(errors="replace")
    rc = proc.returncode
    detail = ""
    if rc == 1:
        m = re.search(r"^--- divergence 1: (.*)$", out, re.M)
        n = re.search(r"^(\d+) divergence", out, re.M)
        detail = (f"{n.group(1) if n else 'a'} divergence(s), the first at "
                  f"{m.group(1).strip()}" if m else "a divergence")[:300]
    elif rc != 0:
        detail = out.strip().splitlines()[-1][:300] if out.strip() else ""
    how = "pass" if rc == 0 else "divergence" if rc == 1 else \
        "crash" if rc < 0 else f"exit {rc}"
    return {"killed": rc == 1 or rc < 0, "how": how, "detail": detail,
            "seconds": round(time.monotonic() - t0, 1)}


def base_tree(opts: Options):
    """The pristine tree: the planner's directory where this host has it (with the
    series already applied), else the spec resolved here, its series applied."""
    from ..tree.patches import patched_tree, read_patches
    from ..tree.spec import resolve
    if opts.root and Path(opts.root).is_dir():
        return resolve(opts.root)
    if not opts.base_args:
        return resolve(opts.spec)
    files, a = [], {}
    it = iter(opts.base_args)
    for flag in it:
        value = next(it)
        if flag == "--patch":
            files.append(value)
        else:
            a[flag] = value
    return patched_tree(opts.spec, read_patches(files, a.get("--series"),
                                                a.get("--patches")))


def other_configs(opts: Options) -> list:
    """The other configs the suites build a tree with (the sticky suite's
    CONFIG_MEM_SOFT_DIRTY flipped): a mutant is identical only if identical in each
    (a mask of mm.h's #else branch is compiled in one of them only)."""
    from vma_internal.config import HarnessConfig
    cfg = HarnessConfig.parse(opts.config)
    flip = "n" if cfg.enabled("CONFIG_MEM_SOFT_DIRTY") else "y"
    return [HarnessConfig.parse([*opts.config, f"CONFIG_MEM_SOFT_DIRTY={flip}"])]


def drop_builds(root: Path) -> None:
    """Remove the finished builds of the tree at *root* (a mutant's, of every config
    the suites built it with: the sticky suite's CONFIG_MEM_SOFT_DIRTY=n among them)."""
    builds = subdir("builds")
    for info in builds.glob("*/BUILD.json"):
        try:
            tree = json.loads(info.read_text()).get("tree")
        except (OSError, ValueError):
            continue
        if tree == str(root):
            shutil.rmtree(info.parent, ignore_errors=True)


def run_mutant(m: Mutant, opts: Options) -> dict[str, Any]:
    """Build and run one mutant (or return its cached result)."""
    from vma_internal.config import HarnessConfig

    from ..build import build
    from ..tree.patches import patched_tree, read_patches
    base = base_tree(opts)
    patch = patch_file(m, base.root)
    text = patch.read_text()
    key = result_key(m, base.content_hash(), text, opts)
    got = cached_result(key)
    if got:
        return {**got, "cached": True}
    cfg = HarnessConfig.parse(opts.config)
    t0 = time.monotonic()
    res: dict[str, Any] = {"id": m.id, "key": key, "mutant": m.as_dict(), "patch": str(patch)}
    tree = patched_tree(str(base.root), read_patches([str(patch)]))
    try:
        try:
            b = build(tree, cfg)
        except PyvmaError as exc:
            res.update(status=NOCOMPILE, detail=str(exc).splitlines()[0][:300])
        else:
            pristine = build(base, cfg)
            if same_library(b.module_path, pristine.module_path) and \
                    all(same_library(build(tree, c).module_path, build(base, c).module_path)
                        for c in other_configs(opts)):
                res.update(status=IDENTICAL, configs=1 + len(other_configs(opts)))
            else:
                res.update(status=RUN, suites=run_suites(tree.root, opts),
                           diff=run_diff(base.root, patch, opts))
                bad = [w for w in ("suites", "diff") if res[w]["how"].startswith("exit")]
                if bad:     # pyvma or pytest failed to run: neither killed nor survived
                    res.update(status=ERROR, detail="; ".join(
                        f"{w}: {res[w]['how']}: {res[w]['detail']}" for w in bad)[:400])
    finally:
        if not opts.keep and tree.root != base.root:
            drop_builds(tree.root)
            shutil.rmtree(tree.root, ignore_errors=True)
    res["seconds"] = round(time.monotonic() - t0, 1)
    if res["status"] != ERROR:          # an error is run again next time
        write_json_atomic(subdir("mutate") / "results" / f"{key}.json", res)
    return res
