"""Real processes for tests: free ports, a gunicorn server in its own process group, leak checks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Process groups this test session started; the session fails if any member outlives it.
STARTED_GROUPS: set[int] = set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_stat(pid: int) -> list[str]:
    """/proc/PID/stat fields after the command name (which may hold spaces and parentheses):
    [0] state, [1] ppid, [2] pgid, ... [11] utime, [12] stime."""
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def live_processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, stat fields) of every process that is not a zombie."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = proc_stat(int(entry.name))
            except (OSError, IndexError):
                continue  # it ended while we looked
            if fields[0] != "Z":
                yield int(entry.name), fields


def proc_total(pids: list[int], file: str, key: str) -> int:
    """The sum over ``pids`` of the number on the ``key`` line of /proc/<pid>/<file>: e.g.
    ("io", "rchar:"), the bytes its read calls returned, sockets included; ("status",
    "VmRSS:"), its resident memory in KiB."""
    total = 0
    for pid in pids:
        for line in (Path("/proc") / str(pid) / file).read_text().splitlines():
            if line.startswith(key):
                total += int(line.split()[1])
    return total


def children_of(pid: int) -> list[int]:
    """Direct children of pid."""
    return [child for child, fields in live_processes() if int(fields[1]) == pid]


def group_members(pgid: int) -> list[int]:
    return sorted(member for member, fields in live_processes() if int(fields[2]) == pgid)


def kill_group(pgid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after timeout_s."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not group_members(pgid):
                return
            time.sleep(0.05)


def log_time(line: Mapping[str, Any]) -> float:
    """A log line's ``ts`` (UTC ISO 8601) as Unix seconds."""
    return datetime.fromisoformat(str(line["ts"])).timestamp()


def json_lines(log: str) -> list[dict[str, Any]]:
    """A log's JSON lines, in order."""
    events = []
    for line in log.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill, or not ours
    return events


@dataclass
class Server:
    """A running gunicorn master and its workers."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        return sorted(children_of(self.master_pid))

    def workers_rss(self) -> int:
        """The workers' resident memory, bytes."""
        return proc_total(self.worker_pids(), "status", "VmRSS:") * 1024

    def workers_bytes_read(self) -> int:
        """What the workers' read calls have returned so far, bytes (sockets included)."""
        return proc_total(self.worker_pids(), "io", "rchar:")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_events(self) -> list[dict[str, Any]]:
        """The log's JSON lines (GLASSBOX_LOG_FORMAT=json, or the default when not a tty)."""
        return json_lines(self.log())

    def wait_for_event(self, event: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """The first log line whose ``event`` is ``event``, waiting for it to be written."""
        deadline = time.monotonic() + timeout_s
        while True:
            for line in self.log_events():
                if line.get("event") == event:
                    return line
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event!r} line after {timeout_s}s:\n{self.log()}")
            time.sleep(0.02)

    def drain_started_at(self, timeout_s: float = 30.0) -> float:
        """When the master says the drain started (its ``drain started`` line), Unix seconds."""
        return log_time(self.wait_for_event("drain started", timeout_s))

    def every_worker_started(self) -> bool:
        """Every live worker has finished its lifespan's start (one /readyz 200 proves one
        worker; a signal sent while another is still loading would find it not yet serving)."""
        started = {
            line.get("pid") for line in self.log_events()
            if line.get("event") == "Application startup complete."
        }  # fmt: skip
        return set(self.worker_pids()) <= started

    def wait_ready(self, timeout_s: float = 60.0, workers: int | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                ok = httpx2.get(f"{self.url}/readyz", timeout=2.0).status_code == 200
            except httpx2.HTTPError:
                ok = False
            enough = workers is None or len(self.worker_pids()) >= workers
            if ok and enough and self.every_worker_started():
                return
            time.sleep(0.1)
        raise TimeoutError(f"gunicorn not ready after {timeout_s}s:\n{self.log()}")


# The server's command line, as `make run` and a container start it (app/serve.py).
SERVE = (sys.executable, "-m", "app.serve", "--config", "gunicorn.conf.py")


# Set for the whole test session (tests/conftest.py) so that apps built in-process never shed;
# a real server a test starts runs the shipped threshold unless the test sets one.
IN_PROCESS_ONLY_VARIABLE = "GLASSBOX_SHED_LAG_SECONDS"
IN_PROCESS_SHED_LAG_SECONDS = "10"


def server_environment() -> dict[str, str]:
    """The test session's environment, less what only in-process apps get."""
    return {k: v for k, v in os.environ.items() if k != IN_PROCESS_ONLY_VARIABLE}


@contextmanager
def gunicorn(
    tmp_path: Path,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    wait: bool = True,
    port: int | None = None,
    wrapper: Sequence[str] = (),
) -> Iterator[Server]:
    """Start `python -m app.serve -c gunicorn.conf.py` (gunicorn, with the draining master) on
    a free port in its own process group; ``wrapper``: a command line that execs the server's
    (so its pid is still the master's).

    No drain window unless ``env`` sets ``GLASSBOX_DRAIN_SECONDS``: a test that stops the
    server with SIGTERM waits for what it tests, not for the production default's window."""
    port = port or free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        **server_environment(),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "GLASSBOX_DRAIN_SECONDS": "0",
        **(env or {}),
    }
    log_path = tmp_path / f"gunicorn-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*wrapper, *SERVE, *extra_args],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    STARTED_GROUPS.add(process.pid)
    server = Server(process=process, port=port, log_path=log_path, env=full_env)
    try:
        if wait:
            server.wait_ready(workers=workers)
        yield server
    finally:
        stop_fast(process)
        kill_group(process.pid)
        process.wait(timeout=10)


def stop_fast(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGQUIT to a master still running: gunicorn's fast stop, skipping any drain window (a
    SIGTERM to the whole group would have the master drain while its workers exit)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGQUIT)
    with contextlib.suppress(subprocess.TimeoutExpired):  # kill_group takes over
        process.wait(timeout=timeout_s)


@contextmanager
def ready_process(
    name: str, argv: list[str], log_path: Path, ready_url: str, timeout_s: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` in a process group of its own, logging to ``log_path``; yield once
    ``ready_url`` answers 200; stop the group on the way out."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    STARTED_GROUPS.add(process.pid)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx2.get(ready_url, timeout=1.0).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield process
    finally:
        kill_group(process.pid)
        process.wait(timeout=10)
