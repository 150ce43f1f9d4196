"""A pod's filesystem and user for a real process, made of this machine's own parts.

The command runs in a private mount namespace (``unshare --mount --propagation private``:
nothing done there is seen outside it) where the root filesystem and the working tree are
read-only, every place anyone may write to (``/tmp``, ``/var/tmp``, ``/dev/shm``,
``/run/lock``) is an empty read-only tmpfs, and the only writable paths are the volumes given,
each a tmpfs mount point, as a Kubernetes ``emptyDir`` is. A top-level directory that holds a
volume (``/tmp``, ``/run``) is an empty tmpfs first, as in a container image, so the volumes'
mount points are made there and nothing is made on this machine's own filesystem; a working
tree under one of them (a clone in ``/tmp``) is bound back in place. Then it drops
to the given user and group with no capabilities (``setpriv``), from the working tree as its
working directory.

Directories the user may not traverse on the way to the interpreter (a Python installed under
``/root``, mode 0700) are covered with a tmpfs holding only a read-only bind of what is needed,
so the user reads the interpreter and nothing else of them.

Needs root (CAP_SYS_ADMIN) and util-linux's ``unshare`` and ``setpriv``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.tools import missing, require_tool

# Where anyone may write on a Debian system; each gets an empty read-only tmpfs.
WORLD_WRITABLE = ("/var/tmp", "/dev/shm", "/run/lock")
# An empty directory every Debian system has, covered for a moment inside the namespace only.
ASIDE = "/mnt"


def require_sandbox() -> tuple[str, str]:
    """unshare and setpriv, where a private mount namespace can be made: else a loud skip (a
    failure under CI)."""
    unshare = require_tool("unshare", "util-linux")
    setpriv = require_tool("setpriv", "util-linux")
    if os.geteuid() != 0:
        missing("a private mount namespace and a switch of user need root")
    probe = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        missing(f"no private mount namespace here (root and CAP_SYS_ADMIN needed): {probe.stderr}")
    return unshare, setpriv


def _blocked_ancestor(path: Path) -> Path | None:
    """The first directory on the way to ``path`` that others may not traverse."""
    for ancestor in [*reversed(path.parents), path]:
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def volume_roots(volumes: Mapping[str, str]) -> list[str]:
    """/tmp, and every other top-level directory a volume is under: each an empty tmpfs."""
    return sorted({"/tmp", *("/" + Path(path).parts[1] for path in volumes)})


def _script(
    working_tree: Path, volumes: Mapping[str, str], needed: Sequence[Path], user: tuple[int, int]
) -> str:
    q = shlex.quote
    roots = volume_roots(volumes)
    # What a private root would hide (a clone under /tmp): held aside on a tmpfs over /mnt while
    # the roots are mounted, then bound back in place.
    covered = [p for p in (working_tree, *needed) if any(p.is_relative_to(r) for r in roots)]
    lines = ["set -eu"]
    if covered:
        lines.append(f"mount -t tmpfs -o mode=0700,size=4k glassbox-aside {ASIDE}")
        for i, path in enumerate(covered):
            lines += [f"mkdir {ASIDE}/{i}", f"mount --bind {q(str(path))} {ASIDE}/{i}"]
    # A private /tmp (and /run, ...) first: the volumes' mount points and the stash are made in
    # them.
    lines += [f"mount -t tmpfs -o mode=0755,size=1m glassbox-root {q(root)}" for root in roots]
    for i, path in enumerate(covered):
        lines += [f"mkdir -p {q(str(path))}", f"mount --bind {ASIDE}/{i} {q(str(path))}",
                  f"umount {ASIDE}/{i}"]  # fmt: skip
    if covered:
        lines.append(f"umount {ASIDE}")
    lines.append("mkdir /tmp/.stash")
    hidden: dict[Path, list[Path]] = {}
    for path in (working_tree, *needed):
        blocked = _blocked_ancestor(path)
        if blocked is not None:
            hidden.setdefault(blocked, []).append(path)
    for blocked, paths in hidden.items():
        for i, path in enumerate(paths):
            lines += [f"mkdir /tmp/.stash/{i}", f"mount --bind {q(str(path))} /tmp/.stash/{i}"]
        lines.append(f"mount -t tmpfs -o mode=0755,size=1m glassbox-hidden {q(str(blocked))}")
        for i, path in enumerate(paths):
            lines += [
                f"mkdir -p {q(str(path))}",
                f"mount --bind /tmp/.stash/{i} {q(str(path))}",
                f"umount /tmp/.stash/{i}",
                f"rmdir /tmp/.stash/{i}",
                f"mount -o remount,bind,ro {q(str(path))}",
            ]
        lines.append(f"mount -o remount,ro {q(str(blocked))}")
    for path, size in volumes.items():
        lines += [
            f"mkdir -p {q(path)}",
            f"mount -t tmpfs -o mode=0777,size={q(size)} glassbox-volume {q(path)}",
        ]
    for path in (working_tree, *needed):
        lines += [f"mount --bind {q(str(path))} {q(str(path))}",
                  f"mount -o remount,bind,ro {q(str(path))}"]  # fmt: skip
    lines += [f"if [ -d {q(path)} ]; then mount -t tmpfs -o ro,size=4k glassbox-empty {q(path)}; fi"
              for path in WORLD_WRITABLE]  # fmt: skip
    lines += [
        "rmdir /tmp/.stash",
        *(f"mount -o remount,ro {q(root)}" for root in roots),
        "mount -o remount,bind,ro /",
        # After the binds: the shell's working directory would still be the writable tree.
        f"cd {q(str(working_tree))}",
        f"exec setpriv --reuid={user[0]} --regid={user[1]} --clear-groups --inh-caps=-all "
        f'--bounding-set=-all -- "$@"',
    ]
    return "\n".join(lines)


def sandboxed(working_tree: Path, volumes: Mapping[str, str], user: tuple[int, int]) -> list[str]:
    """The command line to put before a command to run it in the sandbox. ``volumes``:
    {path: tmpfs size}, the only writable places; ``user``: (uid, gid) it runs as. The
    interpreter running the tests (its installation and its virtual environment) stays
    readable."""
    unshare, _ = require_sandbox()
    needed = sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()})
    needed = [path for path in needed if not path.is_relative_to(working_tree)]
    script = _script(working_tree, volumes, needed, user)
    return [unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sandbox"]
