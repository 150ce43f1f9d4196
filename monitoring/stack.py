"""``make stack``: the service (2 workers), a real Prometheus with the repo's rules and a real
Alertmanager with the repo's configuration, on free ports with their data in a temp dir, until
Ctrl-C stops them all.

Prometheus loads ``monitoring/prometheus.yml`` as generated, with its two addresses (the
service, the Alertmanager) set to the ports chosen here, so a Prometheus that already owns :9090
on the machine is left alone. The service takes :8000 when it is free, so ``make traffic`` works
as it is; otherwise a free port, and the line to run says which.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from monitoring.service import job

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "monitoring"
PREFERRED_SERVICE_PORT = 8000


def free_port(preferred: int | None = None) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred or 0))
        except OSError:
            s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def prometheus_config(service: str, alertmanager: str, scrape_interval: str) -> dict[str, Any]:
    """monitoring/prometheus.yml with this stack's addresses and absolute rule file paths."""
    config: dict[str, Any] = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = scrape_interval
    config["global"]["evaluation_interval"] = scrape_interval
    config["rule_files"] = [str(MONITORING / path) for path in config["rule_files"]]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    (scrape,) = config["scrape_configs"]
    scrape["static_configs"] = [{"targets": [service]}]
    return config


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"stack: '{name}' is not installed (Debian package '{package}'; "
                         "`make system-deps` installs it)")  # fmt: skip
    return path


def wait_ready(name: str, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"stack: {name} exited with {process.returncode}; its log:\n"
                             f"{log.read_text()[-3000:]}")  # fmt: skip
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"stack: {name} was not ready at {url} within 60 s (log: {log})")


class Stack:
    """The three processes, each in a process group of its own, stopped together."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Any:
        log = self.directory / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.processes.append((name, process))
        return process, log

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _name, process in reversed(self.processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run(directory: Path, scrape_interval: str) -> None:
    prometheus = tool("prometheus", "prometheus")
    alertmanager = tool("prometheus-alertmanager", "prometheus-alertmanager")
    service_port = free_port(PREFERRED_SERVICE_PORT)
    prometheus_port, alertmanager_port = free_port(), free_port()
    service = f"127.0.0.1:{service_port}"
    am = f"127.0.0.1:{alertmanager_port}"
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(service, am, scrape_interval)))
    (directory / "metrics").mkdir()

    stack = Stack(directory)
    interrupted = False

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        started = {
            "service": stack.start(
                "service", [sys.executable, "-m", "app.serve", "--config", "gunicorn.conf.py"],
                {"HOST": "127.0.0.1", "PORT": str(service_port), "WEB_CONCURRENCY": "2",
                 "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics"),
                 "GLASSBOX_LOG_FORMAT": "json", "GLASSBOX_DRAIN_SECONDS": "0"},
            ),
            "alertmanager": stack.start("alertmanager", [
                alertmanager, f"--config.file={MONITORING / 'alertmanager.yml'}",
                f"--storage.path={directory / 'alertmanager'}", f"--web.listen-address={am}",
                "--cluster.listen-address=",
            ]),
            "prometheus": stack.start("prometheus", [
                prometheus, f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ]),
        }  # fmt: skip
        urls = {
            "service": f"http://{service}/readyz",
            "alertmanager": f"http://{am}/-/ready",
            "prometheus": f"http://127.0.0.1:{prometheus_port}/-/ready",
        }
        for name, (process, log) in started.items():
            wait_ready(name, urls[name], process, log)
        traffic = "make traffic" if service_port == PREFERRED_SERVICE_PORT else (
            f"make traffic PORT={service_port}")  # fmt: skip
        print(
            f"stack up (job {job()!r}; logs and data in {directory}):\n"
            f"  service       http://{service}  (/docs, /metrics, /drift)\n"
            f"  prometheus    http://127.0.0.1:{prometheus_port}  (/alerts, /rules, /targets)\n"
            f"  alertmanager  http://{am}\n"
            f"in another terminal: {traffic}   (TRAFFIC_ARGS='--shift older' moves the drift)\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while all(process.poll() is None for process, _ in started.values()):
            time.sleep(0.5)
        gone = [name for name, (process, _) in started.items() if process.poll() is not None]
        print(f"stack: {', '.join(gone)} exited; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stack.stop()
    print("stack stopped" + (" (interrupted)" if interrupted else ""), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrape-interval", default="5s", help="Prometheus' scrape and rule "
                        "evaluation interval (default 5s, for a live demo)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temp dir afterwards")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="glassbox-stack-"))
    try:
        run(directory, args.scrape_interval)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
