"""gunicorn config of ``bench/stalls.py``: a base config (``BENCH_STALLS_BASE``: the service's
``gunicorn.conf.py`` or the bare reference's) unchanged, plus probes installed in each worker at
fork, before the app exists. Each probe appends one line per event to ``BENCH_STALLS_LOG``::

    <CLOCK_MONOTONIC at its end, s> <kind> <wall ms> <thread CPU ms> <detail>

Kinds: ``gc<N>`` a collection of generation N (every one of generation 1 and 2, generation 0
from ``GC0_MIN_MS``; detail: objects collected), ``lag`` a wake of a loop-lag probe
(``app.loop_lag.LoopLag``, interval ``LAG_INTERVAL_S``, its own task in every server) that came
``LAG_MIN_MS`` or more late (wall: the lag), and in the service: ``export`` one span export
(detail: the batch's spans), ``drift`` one drift tick (on its thread), ``flush`` one
request-log flush that wrote (detail: bytes), ``periodic`` one run of a lifespan task's action
on the loop of ``PERIODIC_MIN_MS`` or more of CPU (detail: its name). The CPU is the thread's
own (``time.thread_time``): on the loop, time it was blocked; on another thread of the worker,
time its one core (the bench pins it) did not spend on the loop; unlike the wall time, a
neighbour taking the core does not count in it.
"""

import gc
import math
import os
import runpy
import time
from collections.abc import Callable
from typing import Any

GC0_MIN_MS = 0.25
LAG_INTERVAL_S = 0.002
LAG_MIN_MS = 1.0
PERIODIC_MIN_MS = 0.25

_BASE = runpy.run_path(os.environ["BENCH_STALLS_BASE"])
globals().update({k: v for k, v in _BASE.items() if not k.startswith("__")})
_base_post_fork = _BASE.get("post_fork")
_fd = -1


def _event(kind: str, wall_ms: float, cpu_ms: float = math.nan, detail: object = "-") -> None:
    line = f"{time.monotonic():.6f} {kind} {wall_ms:.3f} {cpu_ms:.3f} {detail}\n"
    os.write(_fd, line.encode())


def _timed(kind: str, fn: Callable[..., Any], detail: Callable[..., object]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        what = detail(*args, **kwargs)
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _event(kind, (time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3, what)

    return wrapper


def _install_gc() -> None:
    started: dict[int, tuple[float, float]] = {}

    def probe(phase: str, info: dict[str, Any]) -> None:
        generation = info["generation"]
        now = time.perf_counter(), time.thread_time()
        if phase == "start":
            started[generation] = now
            return
        wall, cpu = started.pop(generation, now)
        cpu_ms = (now[1] - cpu) * 1e3
        if generation > 0 or cpu_ms >= GC0_MIN_MS:
            _event(f"gc{generation}", (now[0] - wall) * 1e3, cpu_ms, info["collected"])

    gc.callbacks.append(probe)


def _install_lag() -> None:
    import asyncio

    import uvicorn.server

    from app.loop_lag import LoopLag

    original = uvicorn.server.Server.startup

    async def startup(self: Any, *args: Any, **kwargs: Any) -> None:
        await original(self, *args, **kwargs)
        lag = LoopLag(LAG_INTERVAL_S)

        def measured(seconds: float) -> None:
            if seconds * 1e3 >= LAG_MIN_MS:
                _event("lag", seconds * 1e3)

        lag.on_measure = measured
        self._bench_lag_task = asyncio.get_running_loop().create_task(lag.run())

    uvicorn.server.Server.startup = startup  # type: ignore[method-assign]


def _install_service() -> None:
    import app.main
    from app.drift.monitor import DriftMonitor
    from app.telemetry.logging import RequestLog
    from app.telemetry.tracing import CountingExporter

    CountingExporter.export = _timed(  # type: ignore[method-assign]
        "export", CountingExporter.export, lambda self, spans: len(spans)
    )
    DriftMonitor.tick = _timed("drift", DriftMonitor.tick, lambda self: "-")  # type: ignore[method-assign]
    flush = RequestLog.flush

    def timed_flush(self: RequestLog) -> None:
        size = self._pending_bytes
        if not size:
            return
        wall, cpu = time.perf_counter(), time.thread_time()
        flush(self)
        _event("flush", (time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3, size)

    RequestLog.flush = timed_flush  # type: ignore[method-assign]
    every = app.main.every

    async def timed_every(seconds: float, action: Callable[[], None]) -> None:
        name = getattr(action, "__name__", "?").replace(" ", "_")

        def run() -> None:
            wall, cpu = time.perf_counter(), time.thread_time()
            action()
            cpu_ms = (time.thread_time() - cpu) * 1e3
            if cpu_ms >= PERIODIC_MIN_MS and name != "timed_flush":  # flushes: their own kind
                _event("periodic", (time.perf_counter() - wall) * 1e3, cpu_ms, name)

        await every(seconds, run)

    app.main.every = timed_every


def post_fork(server: object, worker: object) -> None:
    global _fd
    if _base_post_fork is not None:
        _base_post_fork(server, worker)
    _fd = os.open(os.environ["BENCH_STALLS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    _install_gc()
    _install_lag()
    if os.environ.get("BENCH_STALLS_SERVICE") == "1":  # the bare reference imports no app.main
        _install_service()
