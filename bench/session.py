"""One measuring session: every configuration's server started (and the OTLP receiver when one
exports), each server's answers checked against the raw model before and after, a plan of
timed runs, the span accounts, and every process stopped after. ``python -m bench`` and
``python -m bench.fast_path_prices`` differ only in their plans.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.model import engine_build
from bench import otlp_sink, runner, server, traces, workload, wrk
from bench.configs import ENDPOINTS, ENGINE_DIR, MODEL_DIR, Config
from bench.raw_model import BatchReference

Plan = Callable[[runner.Bench], list[runner.Run]]


def build_engine(configs: tuple[Config, ...]) -> None:
    """The compiled engine some of ``configs`` serve from, built into ENGINE_DIR when stale
    (as `make run` builds it); raises ServerError when it cannot be."""
    if not any(c.engine_artifact for c in configs):
        return
    argv = ["--model-dir", str(MODEL_DIR), "--out", str(ENGINE_DIR), "--if-stale"]
    if engine_build.main(argv) != 0:
        raise server.ServerError(f"the compiled engine could not be built into {ENGINE_DIR}")


def verify(srv: server.Server, load: workload.Workload) -> None:
    """Every body wrk will send gets the raw model's answer from this server."""
    for name in srv.config.endpoints:
        path = ENDPOINTS[name].path
        for body in load.bodies[name]:
            where = f"{srv.config.name} {path} {body.label}"
            status, doc = server.http(srv.url(path), body.data)
            if status != 200:
                raise workload.WrongAnswerError(f"{where}: HTTP {status}: {doc!r}")
            workload.compare(where, doc, body.expected)


def describe_config(config: Config, srv: server.Server | None) -> dict[str, Any]:
    return {
        "name": config.name,
        "description": config.description,
        "reference": config.reference,
        "endpoints": list(config.endpoints),
        "command": srv.command if srv else None,
        "env": srv.env_overrides if srv else dict(config.env),
        "threads": srv.threads() if srv and srv.pids else None,
        "ready_rss_kib": srv.ready_rss_kib if srv else None,
    }


@dataclass
class Measured:
    runs: list[runner.Run]
    configs: list[dict[str, Any]]
    spans: dict[str, dict[str, Any]] = field(default_factory=dict)
    sink_cpu_s: float | None = None


def measure(
    configs: tuple[Config, ...],
    load: workload.Workload,
    log_dir: Path,
    log: Callable[[str], None],
    server_cpu: int,
    load_cpu: int,
    plan: Plan,
    raw_batch: BatchReference | None = None,
) -> Measured:
    """Start every server, verify its answers, run ``plan`` (with ``raw_batch`` timed in its
    batch cells), take the span accounts; every server (and the OTLP receiver) is stopped
    after."""
    servers: dict[str, server.Server] = {}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="glassbox-bench-")))
        scripts = {}
        for name in ENDPOINTS:
            bodies = workdir / f"{name}.bodies"
            bodies.write_bytes(load.lines(name))
            times = workdir / f"{name}.times"
            scripts[name] = (wrk.write_script(bodies, times, workdir / f"{name}.lua"), times)
        sink = None
        if any(c.otlp for c in configs):
            sink = otlp_sink.start(str(load_cpu))
            stack.callback(sink.stop)
            log(f"OTLP receiver at {sink.url} (pid {sink.process.pid}, CPU {load_cpu})")
        stack.callback(lambda: server.stop_all(list(servers.values())))
        for config in configs:
            srv = server.start(
                config, workdir, str(server_cpu), log_dir, sink.url if sink else None
            )
            servers[config.name] = srv
        for srv in servers.values():
            srv.wait_ready()
            verify(srv, load)
            log(f"{srv.config.name} ready, answers match the raw model (pids {srv.pids})")
        bench = runner.Bench(servers, scripts, server_cpu, str(load_cpu), log, raw_batch=raw_batch)
        runs = plan(bench)
        measured = Measured(runs, [describe_config(c, servers.get(c.name)) for c in configs])
        if sink is not None:
            # Before the last answers are checked: those requests' spans would still be pending.
            exporting = [servers[c.name] for c in configs if c.otlp]
            measured.spans = traces.accounts(exporting, sink)
            measured.sink_cpu_s = sink.report()["cpu_s"]
            log("span accounts taken")
        for srv in servers.values():
            verify(srv, load)  # still the raw model's answers after the load
        return measured
