"""One benchmarked gunicorn server: started pinned in its own process group, probed, measured
from /proc, and killed by its process group id. Only processes this module started are touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.configs import Config
from tests.support.processes import free_port, group_members, proc_stat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Inherited variables that would silently change what a server does: only a Config sets these.
_SCRUBBED_PREFIXES = ("GLASSBOX_", "OTEL_", "PROMETHEUS_", "OMP_", "GUNICORN_", "UVICORN_")
_SCRUBBED = {"WEB_CONCURRENCY", "PORT", "HOST", "FORWARDED_ALLOW_IPS"}
# Server output (the service's JSON request lines) goes to a file on this memory-backed
# filesystem when there is one: one write(2) per line into the page cache, as cheap as the pipe
# a container runtime reads, with no disk writeback competing for the cores.
TMPFS = Path("/dev/shm")


def log_root() -> Path | None:
    """Where server logs go: tmpfs when available, else the default temp directory."""
    return TMPFS if TMPFS.is_dir() and os.access(TMPFS, os.W_OK) else None


# Where a gc_probe configuration's workers log their collections (gc_probe.py reads it).
GC_LOG = "BENCH_GC_LOG"
# The resource attribute naming the configuration an exported span comes from.
CONFIG_ATTRIBUTE = "bench.config"


class ServerError(Exception):
    """A server did not start, became unready, or changed its processes mid-run."""


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime of the processes (all their threads) and of their reaped children."""
    total = 0
    for pid in pids:
        fields = proc_stat(pid)
        total += sum(int(v) for v in fields[11:15])
    return total


def proc_status(pid: int, key: str) -> str:
    """One field of /proc/PID/status, e.g. ``proc_status(pid, "VmRSS")`` is ``"81234 kB"``."""
    text = (Path("/proc") / str(pid) / "status").read_text()
    return next(ln for ln in text.splitlines() if ln.startswith(f"{key}:")).split(":", 1)[1].strip()


def core_ticks(cpu: int) -> tuple[int, int]:
    """(busy, steal) ticks of one CPU from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, line.split()[1:9])
            return user + nice + system + irq + softirq, steal
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def http(url: str, body: bytes | None = None, timeout_s: float = 30.0) -> tuple[int, Any]:
    """GET (or POST a JSON body) and decode the JSON answer."""
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()[:500]


@dataclass
class Server:
    config: Config
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    command: list[str]
    env_overrides: dict[str, str]
    cpus: str
    pids: list[int] = field(default_factory=list)
    # time.monotonic() when the last load run on this server ended (0: none yet).
    last_load_end: float = 0.0
    # The workers' resident memory (VmRSS, KiB, by pid) when the server became ready.
    ready_rss_kib: dict[int, int] = field(default_factory=dict)

    @property
    def pgid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def truncate_log(self) -> None:
        """Empty the log before a run, so it never grows past one run's lines. The server
        appends (O_APPEND): its next line lands at the new end, not at its old offset."""
        os.truncate(self.log_path, 0)

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.config.name}: gunicorn exited with {self.process.returncode}:\n"
                    f"{self.log_tail()}"
                )
            try:
                status, ready = http(self.url(self.config.ready_path), timeout_s=2.0)
            except (OSError, ValueError):
                status = 0
            if status >= 500 and status != 503:
                raise ServerError(
                    f"{self.config.name}: {self.config.ready_path} answered {status}:\n"
                    f"{self.log_tail()}"
                )
            if status == 200:
                engine = self.config.engine
                if engine is not None and ready.get("engine") != engine:
                    raise ServerError(
                        f"{self.config.name}: serves with {ready.get('engine')}, not {engine}:\n"
                        f"{self.log_tail()}"
                    )
                self.pids = group_members(self.pgid)
                self._check_processes()
                self.ready_rss_kib = self.rss_kib()
                return
            time.sleep(0.1)
        raise ServerError(f"{self.config.name}: not ready after {timeout_s}s:\n{self.log_tail()}")

    def workers(self) -> list[int]:
        """The worker processes: the master's children in its group."""
        return [p for p in self.pids if p != self.pgid and int(proc_stat(p)[1]) == self.pgid]

    def _check_processes(self) -> None:
        workers = self.workers()
        if len(workers) != self.config.workers:
            raise ServerError(
                f"{self.config.name}: expected {self.config.workers} worker(s), found {workers}"
            )
        for pid in self.pids:
            cpus = proc_status(pid, "Cpus_allowed_list")
            if cpus != self.cpus:
                raise ServerError(f"{self.config.name}: pid {pid} may run on CPUs {cpus}")

    def move_to(self, cpus: str) -> None:
        """Let every thread of every process of this server run only on ``cpus`` (a list such
        as ``"1"``): an idle server is parked on the load core so that its background work
        (the loop-lag probe, drift ticks) does not run on the core another server is measured
        on, and is moved back before its own runs."""
        allowed = {int(cpu) for cpu in cpus.split(",")}
        try:
            for pid in self.pids:
                for task in (Path("/proc") / str(pid) / "task").iterdir():
                    with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                        os.sched_setaffinity(int(task.name), allowed)
        except OSError as exc:
            raise ServerError(f"{self.config.name}: cannot move it to CPUs {cpus}: {exc}") from exc

    def threads(self) -> dict[int, int]:
        """Threads per process: an unexpected thread pool shows up here."""
        return {pid: int(proc_status(pid, "Threads")) for pid in self.pids}

    def rss_kib(self) -> dict[int, int]:
        """Resident memory (VmRSS, KiB) of each worker."""
        try:
            return {pid: int(proc_status(pid, "VmRSS").split()[0]) for pid in self.workers()}
        except OSError as exc:
            raise ServerError(f"{self.config.name}: a worker is gone: {exc}") from exc

    def cpu_ticks(self) -> int:
        try:
            return cpu_ticks(self.pids)
        except OSError as exc:
            raise ServerError(f"{self.config.name}: a server process is gone: {exc}") from exc

    def wait_idle(self, quiet_s: float = 0.25, timeout_s: float = 60.0) -> float:
        """Wait until the server stops using CPU: after wrk stops, requests it abandoned may
        still be in the server's queue, and they would load the core under the next run.
        Returns the seconds waited."""
        started = time.monotonic()
        ticks = self.cpu_ticks()
        while time.monotonic() - started < timeout_s:
            time.sleep(quiet_s)
            now = self.cpu_ticks()
            if (now - ticks) / CLK_TCK <= 0.05 * quiet_s:
                return time.monotonic() - started
            ticks = now
        raise ServerError(f"{self.config.name}: still busy {timeout_s}s after the load stopped")

    def check_unchanged(self) -> None:
        now = group_members(self.pgid)
        if now != self.pids:
            raise ServerError(
                f"{self.config.name}: processes changed from {self.pids} to {now} "
                f"(a worker died or was replaced):\n{self.log_tail()}"
            )

    def stop(self, timeout_s: float = 10.0) -> None:
        stop_all([self], timeout_s)


def stop_all(servers: Sequence[Server], timeout_s: float = 10.0) -> None:
    """SIGTERM every server's group, SIGKILL what is left: the servers shut down side by side,
    not one after the other. Only these servers' process groups are signalled."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        running = [s for s in servers if group_members(s.pgid)]
        for s in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(s.pgid, sig)
        deadline = time.monotonic() + wait_s
        while running and time.monotonic() < deadline:
            time.sleep(0.1)
            running = [s for s in running if group_members(s.pgid)]
        if not running:
            break
    for s in servers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            s.process.wait(timeout=5)


def start(
    config: Config, workdir: Path, cpus: str, log_dir: Path, otlp_url: str | None = None
) -> Server:
    """Start a configuration's gunicorn pinned to ``cpus``; returns before it is ready. An
    ``otlp`` configuration exports to ``otlp_url``, its spans tagged with its name."""
    port = free_port()
    overrides = {"PORT": str(port), "HOST": "127.0.0.1", **config.env}
    if config.otlp:
        if otlp_url is None:
            raise ServerError(f"{config.name} exports spans, but no OTLP receiver is running")
        overrides["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_url
        overrides["OTEL_RESOURCE_ATTRIBUTES"] = f"{CONFIG_ATTRIBUTE}={quote(config.name)}"
    if config.gc_probe:
        overrides[GC_LOG] = str(log_dir / f"{config.name}-{port}.gc")
    if config.multiproc_dir:
        metrics_dir = workdir / f"metrics-{config.name}-{port}"
        metrics_dir.mkdir(parents=True)
        overrides["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)
    }
    env.update(overrides)
    command = [
        "taskset", "-c", cpus, str(BIN / "gunicorn"), *config.gunicorn_args,
        "--workers", str(config.workers), "--no-control-socket", "--bind", f"127.0.0.1:{port}",
        *([config.app] if config.app else []),
    ]  # fmt: skip
    log_path = log_dir / f"{config.name}-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    return Server(config, process, port, log_path, command, overrides, cpus)
