"""Where and on what a benchmark ran: date, machine, git state and library versions."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench.server import ROOT

_PACKAGES = (
    "fastapi", "starlette", "pydantic", "pydantic-core", "uvicorn", "uvicorn-worker", "uvloop",
    "httptools", "gunicorn", "lightgbm", "numpy", "prometheus-client", "opentelemetry-sdk",
    "structlog",
)  # fmt: skip


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return float("nan")


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "missing"
    return (out.stdout or out.stderr).splitlines()[0].strip()


def describe() -> dict[str, Any]:
    changed = [line[3:] for line in _git("status", "--porcelain").splitlines()]
    versions: dict[str, str] = {"python": platform.python_version(), "wrk": _wrk_version()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "missing"
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "hostname": platform.node(),
            "nproc": os.cpu_count(),
            "cpus_allowed": sorted(os.sched_getaffinity(0)),
            "cpu_model": _cpu_model(),
            "kernel": platform.release(),
            "memory_gib": _memory_gib(),
            "load_average": os.getloadavg(),
        },
        "git": {
            "commit": _git("rev-parse", "HEAD"),
            "branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(changed),
            "changed": changed,
        },
        "versions": versions,
    }


def machine_line(env: dict[str, Any]) -> str:
    m, g = env["machine"], env["git"]
    commit = (g["commit"][:10] or "no git") + (" (dirty)" if g["dirty"] else "")
    return (
        f"{env['date']}  {m['cpu_model']} x{m['nproc']}  Linux {m['kernel']}  "
        f"Python {env['versions']['python']}  {commit}"
    )
