"""Generated files are committed: a generator's ``main`` either writes them or, with
``--check``, fails when the committed ones differ from what it would write."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path


def write_or_check(wanted: Mapping[Path, str], check: bool, command: str) -> int:
    """Write every file (``check`` false) or report the stale ones; the exit status."""
    if check:
        stale = [str(p) for p, text in wanted.items() if not p.exists() or p.read_text() != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run `{command}`")
            return 1
        return 0
    for path, text in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


def main(
    argv: list[str] | None, description: str, wanted: Callable[[], Mapping[Path, str]], command: str
) -> int:
    """A generator's command line: write ``wanted()``, or with ``--check`` report the stale."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    args = parser.parse_args(argv)
    return write_or_check(wanted(), args.check, command)
