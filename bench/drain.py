"""`python -m bench.drain` (`make bench-drain`): how fast a SIGTERM's drain reaches every
worker, and what the drain flag costs a request.

1. The per-request read: the flag as the workers read it (a byte of a shared memory map)
   against the alternatives it was chosen over (``os.stat`` of a flag file, ``os.path.exists``).
2. Propagation, on a real server (``python -m app.serve``, several workers, the worker-pid
   header on): four threads probe ``/readyz`` on new connections back to back; the test sends
   SIGTERM to the master. Reported per run: SIGTERM to the master's ``drain started`` line, and,
   per worker, the drain-started line to the end of that worker's first 503 (an upper bound on
   when it saw the flag) and to the start of its last 200 (a lower bound).

Writes ``.run/bench/drain.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import tempfile
import threading
import time
import timeit
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from app.drain_flag import FLAG_FILE, DrainFlag
from tests.support.http_attempts import read_response
from tests.support.processes import ROOT, Server, gunicorn

OUT = ROOT / ".run" / "bench" / "drain.json"
PROBE = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def per_call_ns(fn: Callable[[], object], number: int = 200_000) -> float:
    """The best of 5 repeats, per call, in nanoseconds."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e9


def read_costs() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        DrainFlag.create(directory)
        flag = DrainFlag.open(directory)
        path = str(directory / FLAG_FILE)
        return {
            "mmap_byte_ns": per_call_ns(lambda: flag.is_set),
            "os_stat_ns": per_call_ns(lambda: os.stat(path)),
            "os_path_exists_ns": per_call_ns(lambda: os.path.exists(path)),
        }


@dataclass(frozen=True)
class Probe:
    started: float  # time.time()
    ended: float
    status: int
    pid: int


def probe(port: int) -> Probe | None:
    started = time.time()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(PROBE)
            status, headers = read_response(sock)
    except Exception:
        return None  # the listener is closing: not a measurement
    return Probe(started, time.time(), status, int(headers["x-worker-pid"]))


@dataclass(frozen=True)
class WorkerFlip:
    pid: int
    last_200_started_ms: float  # after the drain-started line (negative: before it)
    first_503_ended_ms: float


@dataclass(frozen=True)
class RunResult:
    sigterm_to_drain_line_ms: float
    workers: list[WorkerFlip]

    @property
    def every_worker_ms(self) -> float:
        """From the drain-started line until the last worker's first 503 had arrived."""
        return max(w.first_503_ended_ms for w in self.workers)

    @property
    def sigterm_to_every_worker_ms(self) -> float:
        return self.sigterm_to_drain_line_ms + self.every_worker_ms

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "every_worker_ms": self.every_worker_ms,
                "sigterm_to_every_worker_ms": self.sigterm_to_every_worker_ms}  # fmt: skip


def one_run(workers: int, drain_s: float) -> RunResult:
    env = {
        "GLASSBOX_DRAIN_SECONDS": str(drain_s),
        "GLASSBOX_WORKER_PID_HEADER": "true",
        "GLASSBOX_GRACEFUL_TIMEOUT_SECONDS": "2",
        "GLASSBOX_DRIFT_STOP_TIMEOUT_SECONDS": "0",
        "GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS": "0",
        "GLASSBOX_TRACING_ENABLED": "false",
        "GLASSBOX_LOG_FORMAT": "json",
    }
    with tempfile.TemporaryDirectory() as tmp, gunicorn(Path(tmp), workers, env) as server:
        probes = _probe_through_sigterm(server, drain_s)
        started = server.drain_started_at()
        killed = probes.killed_at
    flips = []
    for pid in sorted({p.pid for p in probes.results}):
        mine = [p for p in probes.results if p.pid == pid]
        ok = [p.started for p in mine if p.status == 200]
        draining = [p.ended for p in mine if p.status == 503]
        if not ok or not draining:
            continue  # this worker was not probed on both sides of the flip
        flips.append(WorkerFlip(pid, (max(ok) - started) * 1000, (min(draining) - started) * 1000))
    return RunResult((started - killed) * 1000, flips)


@dataclass
class _Probes:
    results: list[Probe]
    killed_at: float


def _probe_through_sigterm(server: Server, drain_s: float) -> _Probes:
    results: list[Probe] = []
    lock = threading.Lock()
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            result = probe(server.port)
            if result is not None:
                with lock:
                    results.append(result)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    killed_at = time.time()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(min(drain_s, 1.5))
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    server.process.send_signal(signal.SIGQUIT)  # the rest of the window is not measured
    server.process.wait(timeout=30)
    return _Probes(results, killed_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    costs = read_costs()
    print("drain flag, per request read:")
    for name, ns in costs.items():
        print(f"  {name:<20} {ns:8.0f} ns")
    runs = [one_run(args.workers, drain_s=5.0) for _ in range(args.runs)]
    print(f"propagation ({args.workers} workers, {args.runs} runs; ms after the drain line):")
    for i, run in enumerate(runs, 1):
        per_worker = ", ".join(
            f"{w.pid}: 200 until {w.last_200_started_ms:.1f}, 503 by {w.first_503_ended_ms:.1f}"
            for w in run.workers
        )
        print(
            f"  run {i}: SIGTERM -> drain line {run.sigterm_to_drain_line_ms:.1f} ms; "
            f"every worker 503 by {run.every_worker_ms:.1f} ms ({per_worker})"
        )
    every = [run.sigterm_to_every_worker_ms for run in runs if run.workers]
    if every:
        print(
            f"  SIGTERM -> every worker answering 503: median {statistics.median(every):.1f} ms, "
            f"max {max(every):.1f} ms (an upper bound: each probe is a new connection)"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "read_costs_ns": costs,
                "runs": [run.as_dict() for run in runs],
            },
            indent=2,
        )
    )
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
