"""`python -m bench.multiprocess_footprint` (`make bench-footprint`, and the end of `make bench`):
what the multiprocess directory holds per worker, so a manifest can size its volume.

A real server (``python -m app.serve``, the worker-pid header on, the drift loop every second)
with ``PROMETHEUS_MULTIPROC_DIR`` on a tmpfs (``/dev/shm`` when there is one: the memory-backed
``emptyDir`` it stands for), every worker driven until it has answered each kind of request the
service counts (predictions, batches, 400, 404, 405, 413, 415, 422, /model, /drift, /docs,
/openapi.json, /metrics). Then workers are killed (SIGKILL) one after another, and each
replacement driven the same way: a dead worker's counters, histograms, max-gauges and drift
counts stay in the pod's totals (its live gauges go, ``child_exit``), so each restart leaves
files behind.

Per file: its pid (none: the pod's own files), its apparent size (``st_size``: the metric files
are sparse, 64 KiB and doubling) and what it takes (``st_blocks`` x 512: on tmpfs, memory).
Reported: a live worker's files and bytes, what a dead one leaves, the pod's own; how many
worker restarts fit in a volume (64 MiB by default) beside the live workers, and how full the
volume is when ``GlassboxMultiprocessFilesPiling`` (more than 200 files) would start counting
its 30 minutes.

Writes ``.run/bench/multiprocess_footprint.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx2

from monitoring.service_alerts import MULTIPROCESS_FILES_THRESHOLD
from tests.support.processes import ROOT, Server, gunicorn

OUT = ROOT / ".run" / "bench" / "multiprocess_footprint.json"
TMPFS = Path("/dev/shm")
MIB = 1 << 20
PID_FILE = re.compile(r"_(\d+)\.(?:db|counts)$")
ROW = {"age": 30, "signup_month": "June"}
MAX_BODY_BYTES = 20_000
# (method, path, body or raw bytes, headers, status): every kind of answer the service counts.
KINDS: list[tuple[str, str, object, dict[str, str], int]] = [
    ("POST", "/predict", ROW, {}, 200),
    ("POST", "/predict/batch", {"rows": [ROW] * 5}, {}, 200),
    ("POST", "/predict", {"age": 5, "signup_month": "June"}, {}, 422),
    ("POST", "/predict", b"{not json", {"content-type": "application/json"}, 400),
    ("POST", "/predict", b"age=30", {"content-type": "text/plain"}, 415),
    ("POST", "/predict", b"x" * (MAX_BODY_BYTES + 1), {"content-type": "application/json"}, 413),
    ("GET", "/predict", None, {}, 405),
    ("GET", "/no-such-path", None, {}, 404),
    ("GET", "/model", None, {}, 200),
    ("GET", "/drift", None, {}, 200),
    ("GET", "/docs", None, {}, 200),
    ("GET", "/openapi.json", None, {}, 200),
    ("GET", "/metrics", None, {}, 200),
]


@dataclass(frozen=True)
class Files:
    count: int
    apparent_bytes: int
    allocated_bytes: int

    def __add__(self, other: Files) -> Files:
        return Files(
            self.count + other.count,
            self.apparent_bytes + other.apparent_bytes,
            self.allocated_bytes + other.allocated_bytes,
        )


NONE = Files(0, 0, 0)


def by_owner(directory: Path) -> dict[int | None, Files]:
    """{pid (None: the pod's own files): what its files take}."""
    owners: dict[int | None, Files] = {}
    for path in directory.iterdir():
        stat = path.stat()
        match = PID_FILE.search(path.name)
        pid = int(match.group(1)) if match else None
        owners[pid] = owners.get(pid, NONE) + Files(1, stat.st_size, stat.st_blocks * 512)
    return owners


def filesystem_of(path: Path) -> str:
    """The type of the filesystem ``path`` is on (the longest mount point above it)."""
    best, kind = "", "?"
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, target, fstype, *_ = line.split()
        if str(path.resolve()).startswith(target.rstrip("/") + "/") and len(target) > len(best):
            best, kind = target, fstype
    return kind


def ask(server: Server, kind: tuple[str, str, object, dict[str, str], int]) -> int | None:
    """Send one request of ``kind`` on a new connection; the pid of the worker that answered
    as expected (None: a 503, a worker still loading or shedding on this shared machine)."""
    method, path, body, headers, status = kind
    content = body if isinstance(body, bytes) else None
    payload = None if isinstance(body, bytes) or body is None else body
    response = httpx2.request(
        method, server.url + path, json=payload, content=content, timeout=30,
        headers={**headers, "connection": "close"},
    )  # fmt: skip
    if response.status_code == 503 and status != 503:
        time.sleep(0.1)
        return None
    if response.status_code != status:
        raise RuntimeError(f"{method} {path}: {response.status_code}, expected {status}")
    return int(response.headers["x-worker-pid"])


def drive(server: Server, workers: list[int], timeout_s: float = 60.0) -> None:
    """Until each of ``workers`` has answered every kind (new connections spread over them)."""
    missing = {(pid, i) for pid in workers for i in range(len(KINDS))}
    deadline = time.monotonic() + timeout_s
    while missing:
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers never answered some kinds: {sorted(missing)}")
        for i, kind in enumerate(KINDS):
            pid = ask(server, kind)
            if pid is not None:
                missing.discard((pid, i))


def replace_one(server: Server, timeout_s: float = 60.0) -> None:
    """SIGKILL the oldest worker; return once the master has started its replacement and the
    replacement answers."""
    before = server.worker_pids()
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = server.worker_pids()
        if len(now) == len(before) and before[0] not in now:
            server.wait_ready(workers=len(before))
            return
        time.sleep(0.1)
    raise RuntimeError(f"worker {before[0]} was not replaced within {timeout_s}s")


def average(items: list[Files]) -> dict[str, float]:
    n = len(items) or 1
    return {
        "count": sum(f.count for f in items) / n,
        "apparent_bytes": sum(f.apparent_bytes for f in items) / n,
        "allocated_bytes": sum(f.allocated_bytes for f in items) / n,
    }


def measure(workers: int, restarts: int) -> dict[str, object]:
    env = {
        "GLASSBOX_WORKER_PID_HEADER": "true",
        "GLASSBOX_DRIFT_INTERVAL_SECONDS": "1",
        "GLASSBOX_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "GLASSBOX_TRACING_ENABLED": "false",
        "GLASSBOX_LOG_FORMAT": "json",
        "GLASSBOX_REQUEST_LOG_ENABLED": "false",
    }
    parent = TMPFS if TMPFS.is_dir() and os.access(TMPFS, os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=parent) as tmp, gunicorn(Path(tmp), workers, env) as s:
        directory = Path(tmp) / "metrics"
        drive(s, s.worker_pids())
        time.sleep(2.5)  # the drift leader's report and history, written every second
        first = by_owner(directory)
        first_live = [first[pid] for pid in s.worker_pids()]
        for _ in range(restarts):
            replace_one(s)
            drive(s, s.worker_pids())
        time.sleep(2.5)
        owners = by_owner(directory)
        live_pids = set(s.worker_pids())
        live = [owners[pid] for pid in live_pids]
        dead = [files for pid, files in owners.items() if pid is not None and pid not in live_pids]
        if s.master_pid in owners:
            raise RuntimeError("the master wrote metric files of its own")
        return {
            "filesystem": filesystem_of(directory),
            "workers": workers,
            "restarts": restarts,
            "dead_workers_with_files": len(dead),
            "live_worker_at_start": average(first_live),
            "live_worker": average(live),
            "dead_worker": average(dead),
            "pod_own": asdict(owners.get(None, NONE)),
            "total": asdict(sum(owners.values(), NONE)),
        }


def sizing(result: dict[str, object], volume_mib: int, threshold: int) -> dict[str, float]:
    """How many restarts fit in the volume beside the live workers, and how full it is when
    the files pass the alert's threshold."""
    workers = int(result["workers"])  # type: ignore[call-overload]
    live: dict[str, float] = result["live_worker"]  # type: ignore[assignment]
    dead: dict[str, float] = result["dead_worker"]  # type: ignore[assignment]
    own: dict[str, float] = result["pod_own"]  # type: ignore[assignment]
    volume = volume_mib * MIB
    base_bytes = own["allocated_bytes"] + workers * live["allocated_bytes"]
    base_files = own["count"] + workers * live["count"]
    fit = math.floor((volume - base_bytes) / dead["allocated_bytes"])
    # The first number of dead workers at which the directory holds more than `threshold`.
    at_alert = max(0, math.floor((threshold - base_files) / dead["count"]) + 1)
    bytes_at_alert = base_bytes + at_alert * dead["allocated_bytes"]
    return {
        "volume_mib": volume_mib,
        "restarts_that_fit": fit,
        "files_when_full": base_files + fit * dead["count"],
        "alert_threshold_files": threshold,
        "restarts_at_alert": at_alert,
        "bytes_at_alert": bytes_at_alert,
        "volume_share_at_alert": bytes_at_alert / volume,
    }


def kib(value: float) -> str:
    return f"{value / 1024:.1f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--volume-mib", type=int, default=64)
    args = parser.parse_args()

    result = measure(args.workers, args.restarts)
    size = sizing(result, args.volume_mib, MULTIPROCESS_FILES_THRESHOLD)
    print(
        f"multiprocess directory on {result['filesystem']}, {args.workers} workers, "
        f"{args.restarts} killed and replaced:"
    )
    for name in ("live_worker_at_start", "live_worker", "dead_worker"):
        f: dict[str, float] = result[name]  # type: ignore[assignment]
        print(
            f"  {name.replace('_', ' '):<22} {f['count']:4.1f} files, "
            f"{kib(f['allocated_bytes'])} taken ({kib(f['apparent_bytes'])} apparent)"
        )
    own: dict[str, float] = result["pod_own"]  # type: ignore[assignment]
    print(f"  {'the pod own files':<22} {own['count']:4.0f} files, {kib(own['allocated_bytes'])}")
    print(
        f"  a {args.volume_mib} MiB volume holds {size['restarts_that_fit']} worker restarts "
        f"beside {args.workers} live workers ({size['files_when_full']:.0f} files by then); "
        f"more than {MULTIPROCESS_FILES_THRESHOLD} files after {size['restarts_at_alert']} "
        f"restarts, at {size['volume_share_at_alert']:.1%} of the volume"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"measured": result, "sizing": size}, indent=2))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
