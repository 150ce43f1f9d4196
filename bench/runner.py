"""Runs the plan: warm-ups, then rounds of timed wrk runs with configurations interleaved.

Every timed run measures one steady-state window: server CPU (all processes of its group, from
/proc) is read at the window's two ends, and the requests counted are those whose responses
arrived between the two reads. wrk runs for a start-up margin before the window (sized from
the warm-up so every connection has cycled) and a little after it.
"""

from __future__ import annotations

import math
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.configs import BATCH, ENDPOINTS, Config
from bench.raw_model import RAW_BATCH, BatchReference
from bench.server import CLK_TCK, Server, ServerError, core_ticks
from bench.wrk import WrkError, WrkResult, command, parse

END_MARGIN_S = 0.5
# At least this long: dozens of request cycles of any single-row configuration, and wrk (whole
# seconds only) runs 5 s for a 4 s window.
MIN_START_MARGIN_S = 0.5
# The window opens after this many request cycles (connections / rps): by then every
# connection has had answers and the start-up burst has drained.
START_CYCLES = 2.0
# A warm-up is repeated (up to WARMUP_TRIES runs) until it completes enough requests to size
# the start-up margin.
WARMUP_MIN_REQUESTS = 10
WARMUP_TRIES = 3
# The server core is shared with whatever else runs on the machine: a run during which other
# processes (or the hypervisor) took more than this share of it is run again, up to RETRIES
# times, and the quietest attempt is kept.
NOISE_RETRY = 0.05
RETRIES = 2


@dataclass(frozen=True, slots=True)
class Cell:
    """One comparison: an endpoint at a number of connections."""

    endpoint: str
    connections: int


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    server_ticks: int
    core_busy_ticks: int
    core_steal_ticks: int


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run; ``error`` set means it is a failure and has no figures."""

    round: int
    config: str
    endpoint: str
    connections: int
    wrk_duration_s: int
    error: str | None = None
    window_s: float = math.nan
    requests: int = 0
    rps: float = math.nan
    cpu_us_per_request: float = math.nan
    server_busy: float = math.nan  # share of the server core used by the server
    core_other: float = math.nan  # share of the server core used by anything else
    core_steal: float = math.nan  # share of the server core stolen by the hypervisor
    load_cpu: float = math.nan  # share of the load core used by wrk
    wrk_rps: float = math.nan  # wrk's own whole-run figure, start-up included
    # Responses in wrk's whole run: what its latency percentiles are taken over.
    wrk_requests: int = 0
    latency_us: dict[str, float] | None = None
    attempts: int = 1
    # The workers' resident memory (VmRSS, KiB, by pid) once the server is idle after the run.
    rss_kib: dict[int, int] | None = None
    # time.monotonic() just before wrk started and when it ended.
    wrk_start: float = math.nan
    wrk_end: float = math.nan

    @property
    def noise(self) -> float:
        return self.core_other + self.core_steal

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sample_at(when: float, server: Server, core: int) -> Sample:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    before = time.monotonic()
    ticks = server.cpu_ticks()
    busy, steal = core_ticks(core)
    return Sample((before + time.monotonic()) / 2, ticks, busy, steal)


@dataclass
class Bench:
    """Everything a run needs: servers by config name, wrk scripts by endpoint, the cores."""

    servers: dict[str, Server]
    scripts: dict[str, tuple[Path, Path]]  # endpoint -> (lua script, completion times file)
    server_cpu: int
    load_cpus: str
    log: Callable[[str], None] = print
    # The server whose runs are under way; every other one is parked on the load core.
    active: str | None = None
    # Issue 28's raw reference, timed in each round's batch cells after the servers' runs.
    raw_batch: BatchReference | None = None

    def activate(self, server: Server) -> None:
        """Move ``server`` to the server core and park the others on the load core, so an idle
        server's background work (~2 % of a core each) is not charged to the measured one's
        core as noise."""
        if self.active == server.config.name:
            return
        for other in self.servers.values():
            if other is not server:
                other.move_to(self.load_cpus)
        server.move_to(str(self.server_cpu))
        self.active = server.config.name

    def raw(self, round_: int, cell: Cell, window_s: float) -> Run:
        """The raw reference's run in this round's ``cell``, every server parked meanwhile: its
        rps is batches/s and its CPU per request the time a batch takes (in-process, the core's
        whole time)."""
        assert self.raw_batch is not None
        for srv in self.servers.values():
            srv.move_to(self.load_cpus)
        self.active = None
        per_s, calls, noise = self.raw_batch.measure(window_s)
        return Run(
            round_, RAW_BATCH, cell.endpoint, cell.connections, 0,
            window_s=window_s, requests=calls, rps=per_s, cpu_us_per_request=1e6 / per_s,
            server_busy=1.0, core_other=noise, core_steal=0.0, load_cpu=0.0,
        )  # fmt: skip

    def _run_wrk(
        self, server: Server, cell: Cell, duration_s: int, sample_at: tuple[float, ...]
    ) -> tuple[WrkResult, float, list[Sample]]:
        """Run wrk, sampling the server at the given offsets from its start; returns wrk's
        result, wrk's own CPU seconds and the samples."""
        self.activate(server)
        script, times = self.scripts[cell.endpoint]
        times.unlink(missing_ok=True)
        url = server.url(ENDPOINTS[cell.endpoint].path)
        argv = command(url, cell.connections, duration_s, script, self.load_cpus)
        server.truncate_log()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        try:
            samples = [_sample_at(started + t, server, self.server_cpu) for t in sample_at]
            stdout, stderr = process.communicate(timeout=duration_s + 60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            server.last_load_end = time.monotonic()
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server.wait_idle()
        wrk_cpu_s = (children_after.ru_utime - children_before.ru_utime) + (
            children_after.ru_stime - children_before.ru_stime
        )
        if process.returncode != 0:
            raise WrkError(f"wrk exited with {process.returncode}: {stderr.strip()[-500:]}")
        result = parse(stdout, times)
        if result.error_total:
            raise WrkError(
                f"{result.error_total} errors ({result.errors}, {result.not_200} not 200) "
                f"in {result.requests} requests"
            )
        server.check_unchanged()
        return result, wrk_cpu_s, samples

    def warmup(self, config: Config, cell: Cell, duration_s: int) -> float:
        """Discarded runs; returns the last one's throughput (requests/s) to size timed runs."""
        for _ in range(WARMUP_TRIES):
            result, _, _ = self._run_wrk(self.servers[config.name], cell, duration_s, ())
            if result.requests >= WARMUP_MIN_REQUESTS:
                break
        return result.rps

    def quiet(
        self, round_: int, config: Config, cell: Cell, start_margin_s: float, window_s: float
    ) -> Run:
        """A timed run, repeated while the server core was noisy; the quietest one is kept."""
        best = self.timed(round_, config, cell, start_margin_s, window_s)
        for attempt in range(2, RETRIES + 2):
            if best.error is not None or not best.noise > NOISE_RETRY:
                break
            self.log(f"  noisy ({best.noise:.0%} of the server core used by others): again")
            run = self.timed(round_, config, cell, start_margin_s, window_s)
            if run.error is not None or run.noise < best.noise:
                best = run
            best = replace(best, attempts=attempt)
        return best

    def timed(
        self, round_: int, config: Config, cell: Cell, start_margin_s: float, window_s: float
    ) -> Run:
        duration_s = math.ceil(start_margin_s + window_s + END_MARGIN_S)
        base = Run(round_, config.name, cell.endpoint, cell.connections, duration_s)
        server = self.servers[config.name]
        wrk_start = time.monotonic()
        try:
            result, wrk_cpu_s, (a, b) = self._run_wrk(
                server, cell, duration_s, (start_margin_s, start_margin_s + window_s)
            )
            rss_kib = server.rss_kib()
        except (WrkError, ServerError) as exc:
            return replace(base, error=str(exc))
        window = b.t - a.t
        requests = result.completed_between(a.t, b.t)
        if requests == 0:
            return replace(base, error="no response completed in the window")
        server_s = (b.server_ticks - a.server_ticks) / CLK_TCK
        core_busy_s = (b.core_busy_ticks - a.core_busy_ticks) / CLK_TCK
        return replace(
            base,
            window_s=window,
            requests=requests,
            rps=requests / window,
            cpu_us_per_request=server_s / requests * 1e6,
            server_busy=server_s / window,
            core_other=max(0.0, core_busy_s - server_s) / window,
            core_steal=(b.core_steal_ticks - a.core_steal_ticks) / CLK_TCK / window,
            load_cpu=wrk_cpu_s / result.duration_s,
            wrk_rps=result.rps,
            wrk_requests=result.requests,
            latency_us=result.latency_us,
            rss_kib=rss_kib,
            wrk_start=wrk_start,
            wrk_end=server.last_load_end,
        )


def start_margin(connections: int, warm_rps: float) -> float:
    cycle_s = connections / warm_rps if warm_rps > 0 else MIN_START_MARGIN_S
    return max(MIN_START_MARGIN_S, START_CYCLES * cycle_s)


# A window sized for a number of requests assumes the slowest warm-up's rps less this share:
# rounds on this machine run up to 20-30 % slower than others.
REQUESTS_HEADROOM = 1.3


def window_for(window_s: float, min_requests: int, slowest_rps: float) -> float:
    """The measured window of a cell whose every wrk run must answer ``min_requests`` (its
    latency percentiles are taken over the whole run): at least ``window_s``, and long enough
    at the slowest warm-up's throughput with ``REQUESTS_HEADROOM``."""
    if min_requests <= 0 or slowest_rps <= 0:
        return window_s
    return max(window_s, REQUESTS_HEADROOM * min_requests / slowest_rps)


def plan(
    configs: tuple[Config, ...], connections: tuple[int, ...]
) -> list[tuple[Cell, list[Config]]]:
    """Cells in run order, each with the configurations that serve its endpoint at its
    connection count. A cell where only a reference would run (nothing to compare with it) is
    left out, unless only references were selected."""
    compared = any(not c.reference for c in configs)
    cells = []
    for endpoint in ENDPOINTS:
        for n in connections:
            serving = [c for c in configs if endpoint in c.endpoints and c.runs_at(n)]
            if serving and (not compared or any(not c.reference for c in serving)):
                cells.append((Cell(endpoint, n), serving))
    return cells


def run_all(
    bench: Bench,
    configs: tuple[Config, ...],
    connections: tuple[int, ...],
    rounds: int,
    window_s: float,
    warmup_s: int,
    min_requests: int = 0,
) -> list[Run]:
    """Warm every (config, cell) once, then ``rounds`` rounds; within a round each cell runs
    its configurations back to back, in alternating order from one round to the next, and a
    batch cell then the raw reference (when the bench has one). With ``min_requests`` a cell's
    window is made long enough for every run to answer that many (``window_for``)."""
    cells = plan(configs, connections)
    margins: dict[Cell, float] = {}
    windows: dict[Cell, float] = {}
    runs: list[Run] = []
    # A CPU-bound server's throughput does not depend on the connection count, but a short
    # warm-up at many connections of large requests under-counts it by its own start-up: the
    # margin is sized from the best warm-up of the configuration on the endpoint so far.
    best: dict[tuple[str, str], float] = {}
    for cell, serving in cells:
        warm = []
        for config in serving:
            try:
                warm.append(bench.warmup(config, cell, warmup_s))
            except (WrkError, ServerError) as exc:
                bench.log(f"  warm-up {config.name} {cell.endpoint} c{cell.connections}: {exc}")
                warm.append(0.0)
            key = (config.name, cell.endpoint)
            best[key] = max(best.get(key, 0.0), warm[-1])
        margins[cell] = max(
            start_margin(cell.connections, best[(c.name, cell.endpoint)]) for c in serving
        )
        windows[cell] = window_for(window_s, min_requests, min(warm))
        bench.log(
            f"  warm-up {cell.endpoint} c{cell.connections}: "
            + ", ".join(f"{c.name} {rps:.0f} rps" for c, rps in zip(serving, warm, strict=True))
            + f"; window opens after {margins[cell]:.1f}s"
            + (f", lasts {windows[cell]:.1f}s" if windows[cell] != window_s else "")
        )
    for round_ in range(rounds):
        for cell, serving in cells:
            order = serving if round_ % 2 == 0 else serving[::-1]
            for config in order:
                run = bench.quiet(round_, config, cell, margins[cell], windows[cell])
                runs.append(run)
                figure = run.error or (
                    f"{run.rps:8.1f} rps  {run.cpu_us_per_request:8.0f} us CPU/req  "
                    f"busy {run.server_busy:4.0%}  other {run.core_other:4.0%}"
                )
                bench.log(
                    f"  round {round_ + 1}/{rounds} {cell.endpoint:6} c{cell.connections:<3} "
                    f"{config.name:12} {figure}"
                )
            if cell.endpoint == BATCH.name and bench.raw_batch is not None:
                run = bench.raw(round_, cell, window_s)
                runs.append(run)
                bench.log(
                    f"  round {round_ + 1}/{rounds} {cell.endpoint:6} c{cell.connections:<3} "
                    f"{RAW_BATCH:12} {run.rps * BATCH.rows:8.0f} rows/s  other {run.noise:4.0%}"
                )
    return runs
