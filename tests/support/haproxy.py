"""A real HAProxy (Debian's package) in front of test servers, on 127.0.0.1 free ports, with its
runtime API on a Unix socket for the servers' health states and counters."""

from __future__ import annotations

import csv
import io
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import STARTED_GROUPS, free_port, kill_group
from tests.support.tools import require_tool

# The health check the issue prescribes: GET /readyz every 100 ms, out after one failure, in
# after two successes; no retry and no redispatch, so a request sent to a server that cannot
# take it is an error the client sees. ``timeout check`` is the check's read timeout (by default
# it is ``inter``, 100 ms, which a loaded test machine can miss without anything being wrong).
CONFIG = """\
global
    stats socket {socket} level admin
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s
    retries 0

frontend web
    bind 127.0.0.1:{port}
    default_backend service

backend service
    balance roundrobin
    option httpchk GET /readyz
    default-server inter 100 fall 1 rise 2
{servers}
"""


@dataclass
class Balancer:
    process: subprocess.Popen[bytes]
    port: int
    socket_path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def rows(self) -> dict[str, dict[str, str]]:
        """The backend's rows of ``show stat`` by name (its servers, and ``BACKEND``): status,
        hrsp_2xx, hrsp_5xx, econ (connection errors), eresp (response errors), ..."""
        text = self.command("show stat").lstrip("# ")
        return {row["svname"]: row for row in csv.DictReader(io.StringIO(text))
                if row["pxname"] == "service"}  # fmt: skip

    def servers(self) -> dict[str, dict[str, str]]:
        return {name: row for name, row in self.rows().items() if name != "BACKEND"}

    def wait_idle(self, timeout_s: float = 10.0) -> dict[str, dict[str, str]]:
        """The rows once nothing is in flight (no session open towards the backend) and the
        response counters have stopped moving."""
        deadline = time.monotonic() + timeout_s
        last = self.rows()
        while True:
            time.sleep(0.1)
            rows = self.rows()
            backend = rows["BACKEND"]
            if backend["scur"] == "0" and backend["hrsp_2xx"] == last["BACKEND"]["hrsp_2xx"]:
                return rows
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy still busy: {backend}")
            last = rows

    def states(self) -> dict[str, str]:
        return {name: row["status"] for name, row in self.servers().items()}

    def wait_for(self, wanted: Mapping[str, str], timeout_s: float = 30.0) -> None:
        """Until every named server has the state wanted ("UP", "DOWN")."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = self.states()
            if all(states.get(name) == state for name, state in wanted.items()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy states {states}, wanted {dict(wanted)}")
            time.sleep(0.02)


@contextmanager
def haproxy(tmp_path: Path, servers: Mapping[str, int]) -> Iterator[Balancer]:
    """HAProxy balancing over ``servers`` ({name: port on 127.0.0.1}), health-checked."""
    binary = require_tool("haproxy", "haproxy")
    port = free_port()
    socket_path = tmp_path / "haproxy.sock"
    lines = "\n".join(f"    server {name} 127.0.0.1:{p} check" for name, p in servers.items())
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG.format(socket=socket_path, port=port, servers=lines))
    log_path = tmp_path / "haproxy.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "-f", str(config), "-db"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    STARTED_GROUPS.add(process.pid)
    balancer = Balancer(process, port, socket_path, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {log_path.read_text()}")
            try:
                balancer.states()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield balancer
    finally:
        kill_group(process.pid)
        process.wait(timeout=10)
