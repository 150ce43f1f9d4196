"""`python -m bench.instructions` (`make bench-instructions`): instructions per single-row request,
counted by callgrind, in-process: each fast path's price, or (``--configs``) the configurations'.

Timings on this shared 2-core VM move 10-30 % between runs; instruction counts do not: the same
interpreter, inputs, hash seed and random seed give the same count whatever else the machine is
doing. Each configuration's app (``bench/configs.py``) is driven through ASGI with no HTTP
server: ``N`` requests, then ``3N``, each a whole process under ``valgrind --tool=callgrind``;
the difference divided by ``2N`` is one request's count, start-up and model loading cancelled
out. The HTTP server's own work (uvicorn, httptools, the kernel) is the same for every row and
is not in the count, so a ratio here is of the app's work only.

The fast paths are priced on issue 6's full telemetry at 10 %, exported (``fast_path_configs``):
every fast path on, each one off alone, and none. Their spans go to bench's OTLP receiver in a
process of its own (not counted), all in one batch at the lifespan's shutdown, while the
requests' thread waits: the export's work is counted with the requests', but not the GIL's
hand-overs between two busy threads, whose number under valgrind follows the wall clock (with a
64-span batch leaving mid-run, a row's count moved by tens of thousands from run to run); the
price under load (fast_path_prices.py) has them. Python's ``random`` is seeded, so the same
requests are sampled in every run (and the first ``N`` of the ``3N`` are the ``N``).

Writes ``.run/bench/fast_path_instructions.json`` (or ``instructions.json`` with ``--configs``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from app.fast_paths import SERVED_REQUEST_PATHS
from bench import otlp_sink
from bench.breakdown import COMPONENTS
from bench.configs import (
    ALL_PATHS,
    BATCH,
    CONFIGS,
    ENDPOINTS,
    NO_PATHS,
    SINGLE,
    Config,
    Endpoint,
    fast_path_configs,
    without_config,
)
from bench.server import CONFIG_ATTRIBUTE
from bench.workload import BATCH_BODIES, SEED, SINGLE_BODIES

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / ".run" / "bench"
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
SPANS = re.compile(r"^spans exported (\d+) dropped (\d+)$", re.M)
DEFAULT_REQUESTS = 300
# The exporting rows: every span is exported by the lifespan's shutdown, in one batch, while the
# requests' thread waits (an export alongside the requests would add the GIL's hand-overs, whose
# number follows valgrind's wall-clock time, not the requests); the flush has time under valgrind
# (which the graceful timeout must exceed).
OTLP_ENV = {
    "OTEL_BSP_SCHEDULE_DELAY": "3600000",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1000000",
    "GLASSBOX_TRACES_MAX_PENDING": "1000000",
    "GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS": "60",
    "GLASSBOX_GRACEFUL_TIMEOUT_SECONDS": "120",
}


# Batches are predicted inline, so the event loop's timers (the lag probe's, every 10 ms of
# valgrind's slow wall clock) never run during a request, and never hit the deadline under valgrind.
BATCH_ENV = {"GLASSBOX_THREADPOOL_MIN_ROWS": "1000000", "GLASSBOX_REQUEST_DEADLINE_SECONDS": "300"}


def countable() -> list[Config]:
    """The configurations serving single rows without an OTLP receiver."""
    return [c for c in CONFIGS if SINGLE.name in c.endpoints and not c.otlp]


def _bodies(endpoint: Endpoint) -> list[bytes]:
    """The bodies bench's wrk sends (workload.py): single rows, or batches of 1000."""
    from examples.churn.generator import generate

    if endpoint is SINGLE:
        return [json.dumps(r).encode() for r in generate(SINGLE_BODIES, SEED).records()]
    rows = list(generate(BATCH_BODIES * BATCH.rows, SEED).records())
    return [
        json.dumps({"rows": rows[i * BATCH.rows : (i + 1) * BATCH.rows]}).encode()
        for i in range(BATCH_BODIES)
    ]


def _app(config: Config) -> Any:
    if config.reference:
        from bench import bare_app

        return bare_app.create_app()
    from app.main import create_app
    from app.settings import Settings

    return create_app(Settings())


def _receiver(body: bytes) -> Any:
    """One request's ``receive``: the whole body, then a client that never goes away."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


async def _drive(app: Any, endpoint: Endpoint, bodies: list[bytes], requests: int) -> None:
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    random.seed(SEED)  # request ids and trace ids: the same requests sampled in every run
    for i in range(requests):
        body = bodies[i % len(bodies)]
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": endpoint.path, "raw_path": endpoint.path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
            "headers": [
                (b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "state": {},
        }  # fmt: skip
        await app(scope, _receiver(body), send)
    wrong = [s for s in statuses if s != 200]
    if len(statuses) != requests or wrong:
        raise SystemExit(f"{len(statuses)} answers of {requests}, not 200: {wrong[:5]}")


async def _serve(config: Config, endpoint: Endpoint, requests: int) -> None:
    app = _app(config)
    bodies = _bodies(endpoint)
    lifespan = getattr(app.router, "lifespan_context", None)
    if lifespan is None:
        await _drive(app, endpoint, bodies, requests)
        return
    async with lifespan(app):
        await _drive(app, endpoint, bodies, requests)
    if config.otlp:
        registry = app.state.service.metrics.registry
        exported = registry.get_sample_value("glassbox_trace_spans_exported_total") or 0
        dropped = sum(
            s.value for f in registry.collect() for s in f.samples
            if s.name == "glassbox_trace_spans_dropped_total"
        )  # fmt: skip
        print(f"spans exported {exported:.0f} dropped {dropped:.0f}", flush=True)


def _environment(config: Config, metrics_dir: str, otlp_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLASSBOX_", "OTEL_"))}
    env.update(config.env)
    env.update(PYTHONHASHSEED="0", OMP_NUM_THREADS="1", PROMETHEUS_MULTIPROC_DIR=metrics_dir)
    env.setdefault("GLASSBOX_LOG_FORMAT", "json")
    if config.otlp:
        if otlp_url is None:
            raise SystemExit(f"{config.name} exports spans, but no OTLP receiver is running")
        env.update(OTLP_ENV)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_url
        env["OTEL_RESOURCE_ATTRIBUTES"] = f"{CONFIG_ATTRIBUTE}={config.name}"
    return env


def collected(
    config: Config, requests: int, otlp_url: str | None = None, endpoint: Endpoint = SINGLE
) -> tuple[int, int]:
    """Instructions of one whole process driving ``requests`` requests, and the spans it
    exported (none dropped)."""
    with tempfile.TemporaryDirectory(prefix="glassbox-instr-") as tmp:
        argv = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out",
            sys.executable, "-m", "bench.instructions", "--drive", config.name, str(requests),
            "--endpoint", endpoint.name,
        ]  # fmt: skip
        metrics_dir = f"{tmp}/metrics"
        os.mkdir(metrics_dir)
        env = _environment(config, metrics_dir, otlp_url) | (BATCH_ENV if endpoint is BATCH else {})
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    found = COLLECTED.findall(done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{config.name}: callgrind run failed:\n{done.stderr[-2000:]}")
    exported = 0
    if config.otlp:
        spans = SPANS.search(done.stdout)
        if spans is None or spans.group(2) != "0":
            raise SystemExit(f"{config.name}: spans not all exported: {done.stdout[-500:]}")
        exported = int(spans.group(1))
    return int(found[-1]), exported


def per_request(
    config: Config, requests: int, otlp_url: str | None = None, endpoint: Endpoint = SINGLE
) -> int:
    (many, many_spans), (few, few_spans) = (
        collected(config, 3 * requests, otlp_url, endpoint),
        collected(config, requests, otlp_url, endpoint),
    )  # fmt: skip
    if config.otlp and endpoint is SINGLE and many_spans <= few_spans:
        raise SystemExit(f"{config.name}: no span exported by the requests counted")
    return round((many - few) / (2 * requests))


def _configs(only: Sequence[str], requests: int) -> dict[str, Any]:
    """The configuration rows (bare first, the rest against it)."""
    by_name = {c.name: c for c in countable()}
    unknown = set(only) - set(by_name)
    if unknown:
        raise SystemExit(f"not countable here: {sorted(unknown)}; countable: {sorted(by_name)}")
    bare = next(c for c in countable() if c.reference)
    names = [bare.name, *(n for n in (only or by_name) if n != bare.name)]
    rows: list[dict[str, Any]] = []
    for name in names:
        count = per_request(by_name[name], requests)
        ratio = count / rows[0]["instructions"] if rows else 1.0
        rows.append({"config": name, "instructions": count, "x_bare": round(ratio, 4)})
        print(f"{name:<16} {count:>10,} instructions/request  {ratio:5.3f}x bare", flush=True)
    counts = {row["config"]: row["instructions"] for row in rows}
    parts = [
        {"component": c.name, "formula": c.formula, "instructions": value}
        for c in COMPONENTS
        if (value := c.of(counts)) is not None
    ]
    if parts:
        print("\ninstructions per request by component (breakdown.COMPONENTS):")
        for part in parts:
            print(f"  {part['component']:42} {part['instructions']:>9,}   = {part['formula']}")
    return {"requests": [requests, 3 * requests], "rows": rows, "components": parts}


def saving(with_it: int, without_it: int) -> float:
    """What a fast path saves, in % of a request's count without it."""
    return 100.0 * (without_it - with_it) / without_it


def fast_path_table(counts: dict[str, int], names: Sequence[str], endpoint: Endpoint) -> str:
    every = counts[ALL_PATHS]
    lines = [
        f"instructions per {endpoint.path} request, full@0.1 (callgrind, in-process):",
        f"  {'fast path':18} {'all':>10} {'that one off':>13} {'saved':>9} {'saving':>7}",
    ]
    for name in names:
        off = counts[without_config(name)]
        lines.append(
            f"  {name:18} {every:>10,} {off:>13,} {off - every:>9,} {saving(every, off):6.2f} %"
        )
    if NO_PATHS in counts:
        none = counts[NO_PATHS]
        lines.append(
            f"  {'(all of them)':18} {every:>10,} {none:>13,} {none - every:>9,} "
            f"{saving(every, none):6.2f} %   (GLASSBOX_FAST_PATHS=none)"
        )
    return "\n".join(lines)


def _fast_paths(names: Sequence[str], requests: int, endpoint: Endpoint) -> dict[str, Any]:
    configs = {c.name: c for c in fast_path_configs(tuple(names))}
    counts: dict[str, int] = {}
    with ExitStack() as stack:
        sink = otlp_sink.start(",".join(map(str, sorted(os.sched_getaffinity(0)))))
        stack.callback(sink.stop)
        for name, config in configs.items():
            counts[name] = per_request(config, requests, sink.url, endpoint)
            print(f"{name:<26} {counts[name]:>10,} instructions/request", flush=True)
        received = sink.report()["spans"]
    print()
    print(fast_path_table(counts, names, endpoint))
    rows = [
        {
            "fast_path": name, "all": counts[ALL_PATHS], "off": counts[without_config(name)],
            "saving_pct": round(saving(counts[ALL_PATHS], counts[without_config(name)]), 3),
        }
        for name in names
    ]  # fmt: skip
    return {
        "requests": [requests, 3 * requests],
        "endpoint": endpoint.path,
        "base": "full@0.1",
        "counts": counts,
        "rows": rows,
        "spans_received": received,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument(
        "--configs", nargs="*", metavar="NAME",
        help="the configuration rows instead (bare always; none named: every countable one)",
    )  # fmt: skip
    parser.add_argument(
        "--fast-paths", nargs="+", metavar="NAME", choices=SERVED_REQUEST_PATHS,
        default=list(SERVED_REQUEST_PATHS),
        help="price only these fast paths (every one by default)",
    )  # fmt: skip
    parser.add_argument(
        "--endpoint", choices=ENDPOINTS, default=SINGLE.name,
        help="the fast paths' prices on single rows (default) or 1000-row batches",
    )  # fmt: skip
    parser.add_argument("--requests", type=int, help=f"N (then 3N); {DEFAULT_REQUESTS} rows")
    parser.add_argument("--drive", nargs=2, metavar=("NAME", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    endpoint = ENDPOINTS[args.endpoint]
    if args.drive:
        name, requests = args.drive
        by_name = {c.name: c for c in (*countable(), *fast_path_configs())}
        asyncio.run(_serve(by_name[name], endpoint, int(requests)))
        return
    # A 1000-row batch costs what ~50 single rows do: 10 (then 30) keep a run to minutes.
    requests = args.requests or (DEFAULT_REQUESTS if endpoint is SINGLE else 10)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (make bench-instructions installs it)")
    if args.configs is not None:
        document, out = _configs(args.configs, requests), OUT_DIR / "instructions.json"
    else:
        document = _fast_paths(args.fast_paths, requests, endpoint)
        suffix = "" if endpoint is SINGLE else f"_{endpoint.name}"
        out = OUT_DIR / f"fast_path_instructions{suffix}.json"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
