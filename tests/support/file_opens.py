"""Which files the process opens while a block runs, from the interpreter's own audit events.

``open`` is raised for every file opened through Python (``open()``, ``io``, ``np.fromfile``,
``Path.read_text``...). An audit hook cannot be removed once added, so one hook is installed for
the session, and records only inside :func:`opened_files`.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_recording: list[Counter[Path]] = []


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _recording and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _recording[-1][Path(os.fsdecode(args[0])).resolve()] += 1


sys.addaudithook(_hook)


@contextmanager
def opened_files(under: Path) -> Iterator[Counter[Path]]:
    """How many times each file under ``under`` was opened in the block (paths resolved)."""
    opened: Counter[Path] = Counter()
    _recording.append(opened)
    try:
        yield opened
    finally:
        _recording.pop()
        root = under.resolve()
        for path in [p for p in opened if not p.is_relative_to(root)]:
            del opened[path]
