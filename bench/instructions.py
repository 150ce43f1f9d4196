"""`python -m bench.instructions` (`make bench-instructions`): instructions per single-row request,
counted by callgrind, in-process.

Timings on this shared 2-core VM move 10-30 % between runs; instruction counts do not: the same
interpreter, inputs and hash seed give the same count whatever else the machine is doing. Each
configuration's app (``bench/configs.py``: the bare reference, or the service with that row's
environment) is driven through ASGI with no HTTP server: ``N`` requests, then ``3N``, each a
whole process under ``valgrind --tool=callgrind``; the difference divided by ``2N`` is one
request's count, start-up and model loading cancelled out. The HTTP server's own work (uvicorn,
httptools, the kernel) is the same for every row and is not in the count, so a ratio here is of
the app's work only. Rows that export spans over OTLP are not counted (the exporter's thread
would run on the interpreter's schedule, not per request).

Writes ``.run/bench/instructions.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.configs import CONFIGS, SINGLE, Config
from bench.workload import SEED, SINGLE_BODIES

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".run" / "bench" / "instructions.json"
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
DEFAULT_REQUESTS = 300


def countable() -> list[Config]:
    """The configurations serving single rows without an OTLP receiver."""
    return [c for c in CONFIGS if SINGLE.name in c.endpoints and not c.otlp]


def _bodies() -> list[bytes]:
    from examples.churn.generator import generate

    return [json.dumps(r).encode() for r in generate(SINGLE_BODIES, SEED).records()]


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


async def _drive(app: Any, bodies: list[bytes], requests: int) -> None:
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for i in range(requests):
        body = bodies[i % len(bodies)]
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": SINGLE.path, "raw_path": SINGLE.path.encode(), "query_string": b"",
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


async def _serve(config: Config, requests: int) -> None:
    app = _app(config)
    bodies = _bodies()
    lifespan = getattr(app.router, "lifespan_context", None)
    if lifespan is None:
        await _drive(app, bodies, requests)
        return
    async with lifespan(app):
        await _drive(app, bodies, requests)


def _environment(config: Config, metrics_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLASSBOX_", "OTEL_"))}
    env.update(config.env)
    env.update(PYTHONHASHSEED="0", OMP_NUM_THREADS="1", PROMETHEUS_MULTIPROC_DIR=metrics_dir)
    env.setdefault("GLASSBOX_LOG_FORMAT", "json")
    return env


def collected(config: Config, requests: int) -> int:
    """Instructions of one whole process driving ``requests`` requests."""
    with tempfile.TemporaryDirectory(prefix="glassbox-instr-") as tmp:
        argv = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out",
            sys.executable, "-m", "bench.instructions", "--drive", config.name, str(requests),
        ]  # fmt: skip
        metrics_dir = f"{tmp}/metrics"
        os.mkdir(metrics_dir)
        done = subprocess.run(
            argv, cwd=ROOT, env=_environment(config, metrics_dir), capture_output=True,
            text=True, timeout=1800,
        )  # fmt: skip
    found = COLLECTED.findall(done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{config.name}: callgrind run failed:\n{done.stderr[-2000:]}")
    return int(found[-1])


def per_request(config: Config, requests: int) -> int:
    return round((collected(config, 3 * requests) - collected(config, requests)) / (2 * requests))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="configurations (bare always)")
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="N (then 3N)")
    parser.add_argument("--drive", nargs=2, metavar=("NAME", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    by_name = {c.name: c for c in countable()}
    if args.drive:
        name, requests = args.drive
        asyncio.run(_serve(by_name[name], int(requests)))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    unknown = set(args.only or ()) - set(by_name)
    if unknown:
        raise SystemExit(f"not countable here: {sorted(unknown)}; countable: {sorted(by_name)}")
    bare = next(c for c in countable() if c.reference)
    names = [bare.name, *(n for n in (args.only or by_name) if n != bare.name)]
    rows: list[dict[str, Any]] = []
    for name in names:
        count = per_request(by_name[name], args.requests)
        ratio = count / rows[0]["instructions"] if rows else 1.0
        rows.append({"config": name, "instructions": count, "x_bare": round(ratio, 4)})
        print(f"{name:<16} {count:>10,} instructions/request  {ratio:5.3f}x bare", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"requests": [args.requests, 3 * args.requests], "rows": rows}))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
