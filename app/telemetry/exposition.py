"""The /metrics payload: a fresh registry per scrape, merged across workers in multiprocess mode.

Besides the merged metric files, two collectors run in the scraping worker at scrape time: the
gunicorn processes of this pod (the default process collector does not work in multiprocess
mode) and the size of the multiprocess directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.telemetry.metrics import Metrics

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def multiprocess_dir() -> Path | None:
    raw = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(raw) if raw else None


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _is_gunicorn(pid: int) -> bool:
    try:
        return b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def pod_processes() -> list[tuple[int, str]]:
    """(pid, role) of this pod's serving processes: the gunicorn master and its workers, or
    this process alone when it is not a gunicorn worker."""
    master = os.getppid()
    if not _is_gunicorn(master):
        return [(os.getpid(), "single")]
    return [(master, "master")] + [(pid, "worker") for pid in sorted(_children(master))]


class PodProcessCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        rss = GaugeMetricFamily(
            "glassbox_process_resident_memory_bytes", "Resident memory per process.",
            labels=["pid", "role"],
        )  # fmt: skip
        cpu = CounterMetricFamily(
            "glassbox_process_cpu_seconds", "CPU time (user + system) per process.",
            labels=["pid", "role"],
        )  # fmt: skip
        workers = 0
        for pid, role in pod_processes():
            try:
                resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
            workers += role != "master"
            rss.add_metric([str(pid), role], resident_pages * _PAGE_BYTES)
            cpu.add_metric([str(pid), role], (int(stat[11]) + int(stat[12])) / _TICKS_PER_SECOND)
        yield rss
        yield cpu
        yield GaugeMetricFamily("glassbox_workers", "Live worker processes.", value=workers)


class MultiprocessDirCollector(Collector):
    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[Metric]:
        files = sum(1 for entry in self.path.iterdir() if entry.is_file())
        yield GaugeMetricFamily(
            "glassbox_metrics_multiprocess_files",
            "Files in the multiprocess metrics directory (they accumulate with worker churn).",
            value=files,
        )


def render(
    metrics: Metrics, accept: str | None, collectors: Sequence[Collector] = ()
) -> tuple[bytes, str]:
    """The payload and its content type; OpenMetrics when the scraper asks for it."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    path = multiprocess_dir()
    if path is None:
        registry.register(metrics.registry)  # this process is the whole pod
    else:
        MultiProcessCollector(registry, path=str(path))
        registry.register(MultiprocessDirCollector(path))
    registry.register(PodProcessCollector())
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
