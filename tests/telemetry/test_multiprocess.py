"""The multiprocess hooks: a worker's values land in its own files, whoever forked it; a dead
worker's live gauges go; the directory is emptied at start, whatever it is."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, multiprocess, values

from app.telemetry.multiprocess import mark_worker_dead, reset_dir
from tests.support.processes import ROOT
from tests.support.tools import missing, require_tool


def test_a_forked_child_writes_its_own_file(multiprocess_dir: Path) -> None:
    counter = Counter("forked", "Counted before and after a fork.", registry=CollectorRegistry())
    counter.inc()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        counter.inc(10)
        os._exit(0)
    os.waitpid(child, 0)
    files = sorted(path.name for path in multiprocess_dir.iterdir())
    assert files == sorted([f"counter_{os.getpid()}.db", f"counter_{child}.db"])
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, str(multiprocess_dir))
    assert merged.get_sample_value("forked_total") == 11


def test_a_dead_worker_s_live_gauges_go_and_its_counts_stay(
    multiprocess_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for pid in (101, 102):  # two workers' files, as their processes would write them
        monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda pid=pid: pid))
        Gauge("in_flight", "Live.", registry=None, multiprocess_mode="livesum").set(3)
        Counter("served", "Counted.", registry=None).inc(5)

    def merged(name: str) -> float | None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(multiprocess_dir))
        return registry.get_sample_value(name)

    assert (merged("in_flight"), merged("served_total")) == (6, 10)
    mark_worker_dead(101, multiprocess_dir)
    assert merged("in_flight") == 3, "only the live worker's gauge"
    assert merged("served_total") == 10, "the dead worker's count stays in the total"


def stale_files(directory: Path) -> None:
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "drift_churn_123.counts").write_bytes(b"\0" * 8)
    (directory / "leftover").mkdir()
    (directory / "leftover" / "inside").write_text("x")


def test_reset_empties_the_directory_it_was_given_and_keeps_it(tmp_path: Path) -> None:
    """The same directory, still linked, now empty: a process that holds it open (or a mount
    on it) keeps seeing the directory the workers will write to."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale_files(directory)
    held = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        reset_dir(directory)
        assert os.path.samestat(os.fstat(held), os.stat(directory))
        assert os.fstat(held).st_nlink >= 2, "still linked"
        assert os.listdir(held) == []
    finally:
        os.close(held)


def test_reset_creates_a_missing_directory(tmp_path: Path) -> None:
    reset_dir(tmp_path / "a" / "metrics")
    assert list((tmp_path / "a" / "metrics").iterdir()) == []


RESET_A_MOUNT_POINT = """
set -e
mount -t tmpfs glassbox-test "$1"
touch "$1/counter_123.db" "$1/drift_churn_123.counts"
mkdir "$1/leftover"
"$2" -c 'import sys; from pathlib import Path; from app.telemetry.multiprocess import reset_dir
reset_dir(Path(sys.argv[1]))' "$1"
findmnt --noheadings --output FSTYPE --mountpoint "$1"
ls -A "$1"
"""


def test_reset_empties_a_mount_point_as_on_a_kubernetes_empty_dir(tmp_path: Path) -> None:
    """An ``emptyDir`` is a mount point: removing it fails with EBUSY (and the master died at
    start). A real tmpfs, mounted in a private mount namespace of the test's own."""
    unshare = require_tool("unshare", "util-linux")
    probe = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        missing(f"no private mount namespace here (root and CAP_SYS_ADMIN needed): {probe.stderr}")
    mount_point = tmp_path / "metrics"
    mount_point.mkdir()
    done = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", RESET_A_MOUNT_POINT, "sh",
         str(mount_point), sys.executable],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["tmpfs"], "still the mount, and nothing in it"
