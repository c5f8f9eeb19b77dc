# SPDX-License-Identifier: GPL-2.0-or-later
"""Run a kernel tree's code confined: the command re-executed inside bubblewrap.

A kernel tree is code: compiling it, loading the library built from it (its
constructors run) and running upstream's harness (its Makefile's ``$(shell ...)``)
run whatever the tree holds.  For a tree that comes from elsewhere -- a Debian
package, a ``.deb`` or tarball, patches or mail -- pyvma resolves, fetches,
extracts and patches it as itself (its own Python: apt, network, the cache), then
runs the command again inside ``bwrap``:

* no network (a network namespace with only ``lo``), no IPC, own PID namespace,
  no further user namespaces, a new session (no terminal injection);
* as uid/gid 65534 in a user namespace (mapped to the caller: files it creates
  are the caller's), with no capabilities;
* the file system read-only; ``/tmp`` a private tmpfs; ``/root``, ``/home``,
  ``/run``, ``/var``, ``/srv``, ``/mnt``, ``/media``, ``/etc/ssh``, ``/etc/shadow``,
  ``/etc/gshadow`` hidden (empty, read-only) but the paths the run names (trees,
  patches, the checkout, Python's paths, the working directory) bound read-only;
* writable: only ``$PYVMA_CACHE/sandbox/``, seen inside as ``$PYVMA_CACHE``
  itself (the builds, objects, parses and results of sandboxed runs), with the
  cache's ``kernels/`` and ``debs/`` bound read-only into it -- so nothing a run
  outside the sandbox reads is written from inside it -- and the output files
  the command names (``--ktap``, ``--junitxml``, ``--pyvma-results``) and fuzz's
  findings, written in the sandbox's cache and copied out after (regular files only);
* the environment cleared but for a list (``PATH``, locale, ``PYVMA_*``,
  ``PYTHON*``, ``CC``, sanitizer options, ...).

``PYVMA_SANDBOXED=1`` marks the inner run; it is honoured only inside a user
namespace, so setting it outside does not switch the sandbox off.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .errors import PyvmaError

#: Set in the sandboxed process (and its children).
INSIDE_VAR = "PYVMA_SANDBOXED"
#: Why a run is not sandboxed (set for the unsandboxed run and its pytest child).
OFF_VAR = "PYVMA_SANDBOX_OFF"
#: What the sandbox may write (set for the sandboxed run, for its reports).
WRITABLE_VAR = "PYVMA_SANDBOX_WRITABLE"
#: The kernel specs the outer run resolved: spec -> the tree (JSON).
TREES_VAR = "PYVMA_SANDBOX_TREES"
#: bubblewrap's path (default: ``bwrap`` on PATH).
BWRAP_VAR = "PYVMA_BWRAP"
#: The unprivileged user (and group) the tree's code runs as.
UID = 65534
#: The commands that compile, load or run a tree's code.
COMMANDS = ("test", "build", "shim", "diff", "replay", "oracle", "fuzz")
#: The cache's part sandboxed runs write (bound as the cache inside the sandbox).
SANDBOX_DIR = "sandbox"
#: Read-only in the sandbox's cache: the trees (and the packages they came from).
SHARED_DIRS = ("kernels", "debs")
#: Hidden inside (empty, read-only); what a run names under them is bound back.
MASKED = ("/root", "/home", "/run", "/var", "/srv", "/mnt", "/media", "/etc/ssh")
MASKED_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers")
#: Read-only inside (the caller's identity could write them): the host's own.
PROC_READ_ONLY = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs",
                  "/proc/acpi", "/proc/scsi", "/proc/driver")
#: Environment variables kept (and prefixes of those kept) inside.
ENV_KEEP = ("PATH", "HOME", "LANG", "LANGUAGE", "TERM", "COLUMNS", "LINES", "NO_COLOR",
            "FORCE_COLOR", "CC", "TZ", "SOURCE_DATE_EPOCH", "LD_PRELOAD")
ENV_KEEP_PREFIXES = ("LC_", "PYVMA_", "PYTHON", "PYTEST_", "HYPOTHESIS_", "ASAN_",
                     "UBSAN_", "LSAN_")
#: the name of a fuzz regression case the sandboxed run may hand out
SAVE_NAME = re.compile(r"[A-Za-z0-9._+~=-]{1,80}-[0-9a-f]{10}\.json")
#: pytest options of ``pyvma test`` naming a file the run writes.
OUTPUT_OPTIONS = ("--ktap", "--junitxml", "--junit-xml", "--pyvma-results")


def add_options(sp: argparse.ArgumentParser, default_kernel: str) -> None:
    """``--sandbox`` / ``--no-sandbox`` on a command that runs a tree's code, and its
    function wrapped: run inside bubblewrap where it should be (see ``run``)."""
    fn = sp.get_default("fn")

    def sandboxed(args: argparse.Namespace) -> int:
        rc = run(args, getattr(args, "argv", None) or sys.argv[1:], default_kernel)
        return fn(args) if rc is None else rc
    sp.set_defaults(fn=sandboxed)
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--sandbox", dest="sandbox", action="store_const", const=True,
                   default=None, help="run the tree's code in bubblewrap (default for "
                   "Debian packages, archives, patches and mail)")
    g.add_argument("--no-sandbox", dest="sandbox", action="store_const", const=False,
                   help="run the tree's code unconfined, as you (default for a directory "
                   "or DIR@REF of your own)")


# -- inside -------------------------------------------------------------------------

def in_user_namespace() -> bool:
    """True if this process runs in a user namespace other than the initial one."""
    try:
        with open("/proc/self/uid_map") as f:
            maps = f.read().split()
    except OSError:
        return False
    return maps != ["0", "0", "4294967295"]


def inside() -> bool:
    """True in a run pyvma started inside its sandbox."""
    return os.environ.get(INSIDE_VAR) == "1" and in_user_namespace()


def _interfaces() -> list[str]:
    try:
        with open("/proc/net/dev") as f:
            rows = f.read().splitlines()[2:]
    except OSError:
        return ["?"]
    return [r.split(":", 1)[0].strip() for r in rows if ":" in r]


def status() -> str:
    """One line: whether this run is sandboxed and, if so, what it observes of it."""
    if not inside():
        return "off: " + (os.environ.get(OFF_VAR) or "not started by pyvma test/build "
                          "(pytest run directly)")
    nets = [i for i in _interfaces() if i != "lo"]
    net = "no network" if not nets else f"NETWORK: {', '.join(nets)}"
    return (f"on: bubblewrap, uid {os.getuid()} gid {os.getgid()}, {net}, read-only but "
            f"{os.environ.get(WRITABLE_VAR, '?')} and a private /tmp")


def pinned_tree(spec: str, cache: Path) -> Any:
    """The tree the outer run resolved for *spec* (inside the sandbox), or None."""
    if not inside():
        return None
    try:
        data = json.loads(os.environ.get(TREES_VAR) or "{}").get(spec)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    from .tree.kernel_tree import KernelTree
    return KernelTree(root=Path(data["root"]), name=data["name"],
                      version=tuple(data["version"]),
                      version_str=data["version_str"], origin=data["origin"],
                      features=frozenset(data["features"]), cache=cache)


# -- outside: which trees, trusted or not --------------------------------------------

def _groups(args: argparse.Namespace, default_kernel: str) -> list[dict[str, Any]]:
    """The (spec, patches) the command resolves, in its arguments' terms."""
    def g(spec, patch=None, series=None, chosen=None, three_way=False):
        return {"spec": spec, "patch": list(patch or []), "series": series,
                "patches": chosen, "three_way": three_way}
    cmd, a = args.cmd, args
    if cmd == "test":
        return [g(s, a.patch, a.series, a.patches, a.three_way)
                for s in (a.kernel or [default_kernel])]
    if cmd == "build":
        return [g(a.kernel, a.patch, a.series, a.patches, a.three_way)]
    if cmd == "shim":
        return [g(a.kernel)]
    if cmd == "diff":
        return [g(a.a, a.a_patch, a.a_series, a.a_patches),
                g(a.b, a.b_patch, a.b_series, a.b_patches)]
    if cmd == "replay":
        return [g(k["spec"], k.get("patch"), k.get("series"), k.get("patches"))
                for k in (a.kernels or [{"spec": default_kernel}])]
    return [g(a.kernel, a.patch, a.series, a.patches)]       # oracle, fuzz


def _untrusted(group: dict[str, Any], base: Any, cache: Path) -> str | None:
    """Why a tree is untrusted (sandboxed by default), or None for a user's own."""
    if group["patch"] or group["series"]:
        return f"{group['spec']} with patches or mail applied"
    kind = base.origin.get("kind")
    if kind in ("debian", "deb"):
        return f"{group['spec']} (a Debian package)"
    if kind == "tarball":
        return f"{group['spec']} (an archive)"
    if Path(base.root).resolve().is_relative_to((cache / "kernels").resolve()):
        return f"{group['spec']} (a tree pyvma extracted or patched)"
    return None


def refuse_unconfined(cmd: str, spec: str, base: Any, patches: list[str],
                      series: str | None, allowed: bool) -> None:
    """For a command that cannot run in bubblewrap (``mutate`` writes its mutant
    trees into the cache's ``kernels/``, which the sandbox keeps read-only): refuse
    to run an untrusted tree's code as root unconfined unless *allowed*
    (``--no-sandbox``)."""
    from .cache import cache_dir
    why = _untrusted({"spec": spec, "patch": patches, "series": series}, base, cache_dir())
    if why and os.geteuid() == 0 and not allowed:
        raise PyvmaError(f"pyvma {cmd} cannot run in the sandbox (its mutant trees are "
                         f"written into the cache's kernels/, read-only there): refusing "
                         f"to run the code of {why} as root unconfined; pass --no-sandbox "
                         "to accept that, or run it as an unprivileged user")
    os.environ[OFF_VAR] = f"pyvma {cmd} runs unconfined" + (" (--no-sandbox)" if why else "")


def _tree_json(tree: Any) -> dict[str, Any]:
    return {"root": str(tree.root), "name": tree.name, "version": list(tree.version),
            "version_str": tree.version_str, "origin": tree.origin,
            "features": sorted(tree.features)}


def probe(bwrap: str) -> str | None:
    """None if bubblewrap runs the sandbox here; else why not, in a few words."""
    path = shutil.which(bwrap)
    if path is None:
        return f"{bwrap} not found (Debian's bubblewrap package)"
    cmd = [path, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--uid",
           str(UID), "--gid", str(UID), "--disable-userns", "--tmpfs", "/tmp", "--dev",
           "/dev", "--proc", "/proc", "--", "/bin/sh", "-c", "id -u"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{path} failed to start ({exc})"
    if proc.returncode != 0 or proc.stdout.strip() != str(UID):
        err = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return f"{path} fails its probe ({err})"
    return None


# -- outside: the bwrap command line ------------------------------------------------

def _under(path: str, tops: tuple[str, ...]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in tops)


def _hidden(path: str) -> bool:
    """True if *path* is not visible inside unless bound (masked or in /tmp)."""
    return _under(path, (*MASKED, "/tmp"))


def _homes() -> set[str]:
    """Directories never bound whole: the masked tops, /home's entries, $HOME and
    the user's home directory (where a run may well start)."""
    out = {os.path.realpath(m) for m in MASKED}
    with contextlib.suppress(OSError):
        out |= {os.path.realpath(e.path) for e in os.scandir("/home")}
    for h in (os.environ.get("HOME"), os.path.expanduser("~")):
        if h:
            out.add(os.path.realpath(h))
    return out


def _output_files(args: argparse.Namespace) -> list[str]:
    outs: list[str] = []
    if args.cmd == "test":
        extra = list(args.pytest_args)
        for i, a in enumerate(extra):
            name, eq, value = a.partition("=")
            if name in OUTPUT_OPTIONS:
                v = value if eq else (extra[i + 1] if i + 1 < len(extra) else "")
                if v:
                    outs.append(v)
    return outs


def _input_paths(args: argparse.Namespace, groups: list[dict[str, Any]]) -> list[str]:
    paths = [p for g in groups for p in (*g["patch"], g["series"]) if p]
    if getattr(args, "maps", None):
        paths.append(args.maps)
    paths += [p for p in getattr(args, "scenarios", None) or [] if p[:1] not in "{["]
    return paths


def bwrap_command(bwrap: str, cache: Path, argv: list[str], trees: list[Any],
                  inputs: list[str], outputs: list[str], out_dirs: list[str],
                  extra_env: dict[str, str]) -> list[str]:
    """The ``bwrap ... python -m pyvma ARGV`` command line."""
    from .paths import PACKAGE, REPO
    real_cache = os.path.realpath(cache)
    box = Path(real_cache) / SANDBOX_DIR
    box.mkdir(mode=0o700, exist_ok=True)
    os.chmod(box, 0o700)
    cmd = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user",
           "--uid", str(UID), "--gid", str(UID), "--disable-userns", "--new-session",
           "--die-with-parent", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    # uid 65534 inside is the caller outside (root in CI): the fresh /proc's sysctls
    # (kernel.core_pattern: a command the host runs as root), sysrq-trigger and the
    # like would be writable to the tree's code; they are bound read-only
    for p in PROC_READ_ONLY:
        if os.path.lexists(p):
            cmd += ["--ro-bind", p, p]
    masked = [m for m in MASKED if os.path.isdir(m) and not os.path.islink(m)]
    for m in masked:
        cmd += ["--tmpfs", m]
    for f in MASKED_FILES:
        if os.path.isfile(f):
            cmd += ["--ro-bind", "/dev/null", f]
    # what the run reads: Python, the checkout, the trees, the patches, the cwd --
    # but never a home directory whole (the cwd may be one): ~/.ssh and the like
    # stay hidden; the files the run names there are bound one by one
    cwd = os.path.realpath(os.getcwd())
    homes = _homes()
    ro = [sys.prefix, sys.exec_prefix, os.path.dirname(sys.executable), str(REPO),
          str(PACKAGE), *sys.path, *(str(t.root) for t in trees), *inputs,
          cwd]
    seen: set[str] = set()
    for p in ro:
        real = os.path.realpath(p) if p else ""
        if real and real not in seen and real not in homes and os.path.exists(real) and \
                _hidden(real) and real != "/tmp" and \
                not _under(real, (real_cache,)):     # (/tmp itself stays the private one)
            seen.add(real)
            cmd += ["--ro-bind", real, real]
            if os.path.abspath(p) != real and _hidden(os.path.abspath(p)):
                cmd += ["--symlink", real, os.path.abspath(p)]
    cmd += ["--bind", str(box), real_cache]
    for d in SHARED_DIRS:
        (Path(real_cache) / d).mkdir(exist_ok=True)
        cmd += ["--ro-bind", f"{real_cache}/{d}", f"{real_cache}/{d}"]
    # a tree or input the run names under the cache but outside those (the cache
    # seen inside is the box): bound back read-only, or it is not there
    shared = tuple(f"{real_cache}/{d}" for d in SHARED_DIRS)
    for p in (*(str(t.root) for t in trees), *inputs):
        real = os.path.realpath(p)
        if _under(real, (real_cache,)) and not _under(real, (*shared, str(box))) and \
                os.path.exists(real) and real not in seen:
            seen.add(real)
            cmd += ["--ro-bind", real, real]
    writable = [f"{box} (as {real_cache})"]
    writable += [f"{f} (written in the cache, copied out after)" for f in outputs]
    for d in out_dirs:
        real = os.path.realpath(d)
        if os.path.isdir(real):
            cmd += ["--bind", real, real]
            writable.append(real)
    if cwd in homes and _hidden(cwd):
        cmd += ["--dir", cwd]               # an empty one, to start in
    for m in masked:
        cmd += ["--remount-ro", m]
    env = {k: v for k, v in os.environ.items()
           if k in ENV_KEEP or k.startswith(ENV_KEEP_PREFIXES)}
    env.pop(OFF_VAR, None)
    env.update(extra_env)
    env.update({INSIDE_VAR: "1", "PYVMA_CACHE": real_cache, WRITABLE_VAR: ", ".join(writable),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                            env.get("PYTHONPATH")]))})
    cmd += ["--clearenv"]
    for k, v in sorted(env.items()):
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", os.getcwd(), "--", sys.executable, "-m", "pyvma", *argv]
    return cmd


# -- the decision --------------------------------------------------------------------

def prepare(args: argparse.Namespace, default_kernel: str) -> tuple[list[Any], list[str],
                                                                     dict[str, Any]]:
    """Resolve, fetch, extract and patch every tree the command uses (pyvma's own
    code, outside any sandbox): the trees, why each untrusted one is, the pins."""
    from .cache import cache_dir
    from .tree import resolve
    from .tree.patches import patched
    cache = cache_dir()
    trees, why, pins = [], [], {}
    for g in _groups(args, default_kernel):
        base = resolve(g["spec"])
        pins[g["spec"]] = _tree_json(base)
        trees.append(base)
        if g["patch"] or g["series"] or g["patches"]:
            trees.append(patched(g["spec"], g["patch"], g["series"], chosen=g["patches"],
                                 three_way=g["three_way"]))
        reason = _untrusted(g, base, cache)
        if reason:
            why.append(reason)
    return trees, why, pins


def run(args: argparse.Namespace, argv: list[str], default_kernel: str) -> int | None:
    """Re-run the command inside bubblewrap if it should be; its exit status, or None
    when the command is to run here (unsandboxed, with the reason in ``OFF_VAR``)."""
    if args.cmd not in COMMANDS or inside():
        return None
    if args.cmd == "oracle" and args.kernel == "running":
        from .oracle import versions
        spec, how = versions.resolve_running()
        print(f"pyvma oracle: --kernel running: {spec} ({how})", file=sys.stderr)
        args.kernel = spec
        argv = _replace_running(argv, spec)
    trees, why, pins = prepare(args, default_kernel)
    choice = getattr(args, "sandbox", None)
    if choice is False:
        os.environ[OFF_VAR] = "--no-sandbox"
        return None
    if choice is None and not why:
        os.environ[OFF_VAR] = ("your own tree (a directory or DIR@REF): --sandbox "
                               "confines it too")
        return None
    bwrap = os.environ.get(BWRAP_VAR) or "bwrap"
    problem = probe(bwrap)
    what = why[0] if why else "the tree"
    if problem:
        if choice:
            raise PyvmaError(f"--sandbox: bubblewrap cannot run here: {problem}; install "
                             "it (`apt-get install bubblewrap`) or drop --sandbox")
        if os.geteuid() == 0:
            raise PyvmaError(f"refusing to run the code of {what} as root unconfined: "
                             f"bubblewrap cannot run here: {problem}; install it "
                             "(`apt-get install bubblewrap`) or pass --no-sandbox")
        print(f"pyvma: bubblewrap cannot run here ({problem}): the code of {what} runs "
              f"unconfined as uid {os.geteuid()}", file=sys.stderr)
        os.environ[OFF_VAR] = f"bubblewrap cannot run here: {problem}"
        return None
    from .cache import cache_dir
    outputs = _output_files(args)
    real_cache = Path(os.path.realpath(cache_dir()))
    argv, staged = stage_outputs(argv, outputs, real_cache)
    saves = None
    if args.cmd == "fuzz":                  # findings: written in the cache, copied out
        saves = Path(tempfile.mkdtemp(prefix="save-", dir=_box(real_cache)))
        argv = [*argv, "--save-dir", str(real_cache / saves.name)]    # the last wins
        outputs = [*outputs, f"{args.save_dir}/*.json"]
    inputs = _input_paths(args, _groups(args, default_kernel))
    cmd = bwrap_command(bwrap, cache_dir(), argv, trees, inputs, outputs, [],
                        {TREES_VAR: json.dumps(pins)})
    try:
        rc = _run_bwrap(cmd)
    finally:
        _remove_mount_points(cache_dir(), [str(t.root) for t in trees] + inputs)
    for outer, dest in staged:
        copy_out(outer, dest)
    if staged:
        shutil.rmtree(staged[0][0].parent, ignore_errors=True)
    if saves is not None:
        copy_saves(saves, Path(args.save_dir))
        shutil.rmtree(saves, ignore_errors=True)
    return rc


def _box(real_cache: Path) -> Path:
    box = real_cache / SANDBOX_DIR
    box.mkdir(mode=0o700, exist_ok=True)
    return box


def copy_saves(staged: Path, save_dir: Path) -> None:
    """fuzz's regression cases, written by the sandboxed run in *staged*, copied into
    *save_dir* (the checkout's by default, which the sandbox may not write: code
    planted there, a conftest.py, would run unconfined): only regular files named
    like one (``<version>-<digest>.json``), never through a link."""
    try:
        names = [e.name for e in os.scandir(staged)
                 if e.is_file(follow_symlinks=False) and SAVE_NAME.fullmatch(e.name)]
    except OSError:
        return
    if names:
        save_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        copy_out(staged / name, str(save_dir / name))


def stage_outputs(argv: list[str], outputs: list[str],
                  real_cache: Path) -> tuple[list[str], list[tuple[Path, str]]]:
    """*argv* with each output file the command names (``--ktap FILE``, ...) moved into
    the sandbox's cache (a fresh ``out-*/``), and the (staged file as seen outside, destination)
    pairs to copy out after the run: the sandbox never writes outside its cache, and
    a writer's rename into place works there (a bound file cannot be renamed over)."""
    if not outputs:
        return argv, []
    # a fresh directory of its own, made right in the sandbox's cache (which no
    # sandboxed run can replace): never a path through something a run planted there
    stage = Path(tempfile.mkdtemp(prefix="out-", dir=_box(real_cache)))
    inner = {f: str(real_cache / stage.name / f"{i}-{Path(f).name}")
             for i, f in enumerate(outputs)}
    out = list(argv)
    for i, a in enumerate(out):
        name, eq, value = a.partition("=")
        if name in OUTPUT_OPTIONS and eq and value in inner:
            out[i] = f"{name}={inner[value]}"
        elif a in OUTPUT_OPTIONS and i + 1 < len(out) and out[i + 1] in inner:
            out[i + 1] = inner[out[i + 1]]
    return out, [(stage / Path(p).name, f) for f, p in inner.items()]


def copy_out(staged: Path, dest: str) -> None:
    """The sandboxed run's output file *staged* copied to *dest* as the caller: only a
    regular file (never followed through a link the sandbox made), written to a
    temporary beside *dest* and renamed into place."""
    try:
        dfd = os.open(staged.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return                              # the run replaced the staging directory
    try:
        fd = os.open(staged.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
    except OSError:
        return                              # the run wrote nothing there
    finally:
        os.close(dfd)
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            return
        d = os.path.dirname(os.path.abspath(dest))
        try:
            tmp = tempfile.NamedTemporaryFile(dir=d, prefix=f".{os.path.basename(dest)}.",
                                              delete=False)
            with tmp:
                shutil.copyfileobj(src, tmp)
            os.replace(tmp.name, dest)
        except OSError as exc:
            raise PyvmaError(f"{dest}: cannot write the sandboxed run's output there: "
                             f"{exc.strerror}; the run's copy is {staged}") from None


def _remove_mount_points(cache: Path, paths: list[str]) -> None:
    """The empty directories bubblewrap made in the box to bind *paths* that lie in
    the cache (bwrap_command's "bound back"), removed up to the box: walked from the
    box without following a link a sandboxed run may have planted, only while empty."""
    real_cache = os.path.realpath(cache)
    box = Path(real_cache) / SANDBOX_DIR
    for p in paths:
        real = os.path.realpath(p)
        if not _under(real, (real_cache,)) or _under(real, (str(box),)):
            continue
        parts = Path(os.path.relpath(real, real_cache)).parts
        fds: list[int] = []
        try:
            fds.append(os.open(box, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW))
            for part in parts[:-1]:
                fds.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                                   dir_fd=fds[-1]))
        except OSError:
            pass            # not there, or a link: removed no further down than that
        for i in range(len(fds) - 1, -1, -1):      # the deepest first, while empty
            try:
                os.rmdir(parts[i], dir_fd=fds[i])   # fds[i] is the directory of parts[i]
            except OSError:
                break
        for fd in fds:
            os.close(fd)


def _replace_running(argv: list[str], spec: str) -> list[str]:
    out = list(argv)
    for i, a in enumerate(out):
        if a == "--kernel=running":
            out[i] = f"--kernel={spec}"
        elif a == "running" and i > 0 and out[i - 1] == "--kernel":
            out[i] = spec
    return out


def _run_bwrap(cmd: list[str]) -> int:
    """Run *cmd* (a bwrap command line); the sandboxed command's exit status."""
    r, w = os.pipe()
    i = cmd.index("--unshare-all")
    cmd = [*cmd[:i], "--json-status-fd", str(w), *cmd[i:]]
    try:
        proc = subprocess.Popen(cmd, pass_fds=(w,))
    finally:
        os.close(w)
    with os.fdopen(r) as status_pipe:
        reports = status_pipe.read()
    rc = proc.wait()
    if '"child-pid"' not in reports:
        raise PyvmaError("bubblewrap could not set up the sandbox (its message is above); "
                         "pass --no-sandbox to run unconfined")
    return rc
