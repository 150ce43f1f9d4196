"""The cached pid: a worker's values land in its own files, whoever forked it; without the
library's value class factory the library's own class stays, with one warning."""

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, multiprocess, values
from structlog.testing import capture_logs

from app.fast_paths import FastPaths
from app.fast_paths.cached_pid import CACHED_PID, cached_pid, install_cached_pid


def test_the_cached_pid_is_this_process_and_a_forked_childs_own() -> None:
    assert cached_pid() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, str(cached_pid()).encode())
        os._exit(0)
    os.waitpid(child, 0)
    assert int(os.read(read, 32)) == child


def test_with_the_cached_pid_a_forked_child_writes_its_own_file(
    multiprocess_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)  # undone after the test
    install_cached_pid(FastPaths())
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


def test_switched_off_the_library_s_value_class_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    original = values.ValueClass
    monkeypatch.setattr(values, "ValueClass", original)
    install_cached_pid(FastPaths.from_setting("none"))
    assert values.ValueClass is original


def test_without_the_factory_the_library_s_value_class_stays_and_it_is_said_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = values.ValueClass
    monkeypatch.setattr(values, "ValueClass", original)
    monkeypatch.delattr(values, "MultiProcessValue")
    paths = FastPaths()
    with capture_logs() as logs:
        install_cached_pid(paths)
        install_cached_pid(paths)
    assert values.ValueClass is original
    assert [(e["fast_path"], e["missing"], e["log_level"]) for e in logs] == [
        (CACHED_PID, "MultiProcessValue", "warning")
    ]
