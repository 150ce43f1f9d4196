"""gunicorn config of the GC rows (``gc_pauses.py``): the service's own ``gunicorn.conf.py``
unchanged, plus a probe in each worker, installed at fork (before the app exists): a
``gc.callbacks`` entry that times every collection and appends each full (generation 2) one, and
any other of ``MIN_MS`` or more, to the file named by ``BENCH_GC_LOG``, one line each::

    <CLOCK_MONOTONIC at its end, s> <pid> <generation> <ms> <objects collected>

The harness assigns the lines to its runs by time. The callback costs about a microsecond per
collection (hundreds a second under load), in both rows alike.
"""

import gc
import os
import runpy
import time
from pathlib import Path
from typing import Any

MIN_MS = 1.0
_SERVICE = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
globals().update({k: v for k, v in _SERVICE.items() if not k.startswith("__")})
_service_post_fork = _SERVICE.get("post_fork")


def _install(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    started: dict[int, float] = {}

    def probe(phase: str, info: dict[str, Any]) -> None:
        generation = info["generation"]
        now = time.monotonic()
        if phase == "start":
            started[generation] = now
            return
        ms = (now - started.pop(generation, now)) * 1e3
        if generation == 2 or ms >= MIN_MS:
            line = f"{now:.6f} {os.getpid()} {generation} {ms:.3f} {info['collected']}\n"
            os.write(fd, line.encode())

    gc.callbacks.append(probe)


def post_fork(server: object, worker: object) -> None:
    if _service_post_fork is not None:
        _service_post_fork(server, worker)
    _install(os.environ["BENCH_GC_LOG"])
