"""Load for rollout tests: a fixed request rate (open loop: requests are sent on a schedule,
not as fast as answers come) over kept-alive connections, every outcome counted; and wrk's
closed-loop run for the capacity that rate is a fraction of."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx2

from tests.support.http_attempts import ROW

# Each wrk thread counts its answers by status in its own Lua state; done() sums them.
WRK_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"age": 30, "signup_month": "June"}'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) shed = 0; other = 0 end
function response(status, headers, body)
  if status == 503 then shed = shed + 1 elseif status ~= 200 then other = other + 1 end
end
function done(summary, latency, requests)
  local s, o = 0, 0
  for _, t in ipairs(threads) do s = s + t:get("shed"); o = o + t:get("other") end
  io.write(string.format("\\nCAPACITY %d %d %d %d %d\\n", summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, s, o))
end
"""


def capacity_rps(wrk: str, url: str, tmp_path: Path, seconds: int = 2) -> float:
    """POST /predict as fast as 8 connections go for ``seconds``: 200s a second. Flat out, the
    service may shed (a 503 ``overloaded`` is its answer to a saturating client, README:
    Overload), so shed answers are not capacity; any other error spoils the measurement."""
    script = tmp_path / "capacity.lua"
    script.write_text(WRK_SCRIPT)
    done = subprocess.run(
        [wrk, "-t1", "-c8", f"-d{seconds}s", "-s", str(script), f"{url}/predict"],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    )  # fmt: skip
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("CAPACITY "))
    requests, duration_us, errors, shed, other = (int(x) for x in line.split()[1:])
    assert errors == 0, done.stdout
    assert other == 0, done.stdout
    return (requests - shed) / (duration_us / 1e6)


class SteadyLoad:
    """POST /predict at ``rate_per_s`` from ``threads`` clients until stopped. A client that
    falls behind its schedule sends at once, never more than one request at a time."""

    def __init__(self, url: str, rate_per_s: float, threads: int = 4) -> None:
        self.url = url
        self.interval_s = threads / rate_per_s
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.started_at = self.stopped_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i * self.interval_s / threads,), daemon=True)
            for i in range(threads)
        ]

    def _run(self, offset_s: float) -> None:
        next_at = self.started_at + offset_s
        with httpx2.Client(base_url=self.url, timeout=10.0) as client:
            while not self._stop.is_set():
                delay = next_at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                next_at += self.interval_s
                try:
                    status = client.post("/predict", json=ROW).status_code
                except httpx2.HTTPError as exc:
                    with self._lock:
                        self.errors[type(exc).__name__] += 1
                    continue
                with self._lock:
                    self.statuses[status] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def non_2xx(self) -> int:
        with self._lock:
            return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def __enter__(self) -> SteadyLoad:
        self.started_at = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.stopped_at = time.monotonic()
