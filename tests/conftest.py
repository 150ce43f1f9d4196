"""Session-wide fixtures and guards: no process a test started may outlive the session, and
every test runs under pytest's own interpreter hooks (so a thread's crash fails it)."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import values

from app.model.card import MODEL_FILE
from app.model.predictor import Predictor
from tests.support.processes import (
    IN_PROCESS_ONLY_VARIABLE,
    IN_PROCESS_SHED_LAG_SECONDS,
    ROOT,
    STARTED_GROUPS,
    children_of,
    group_members,
    kill_group,
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaked = {pgid: group_members(pgid) for pgid in STARTED_GROUPS}
    leaked = {pgid: pids for pgid, pids in leaked.items() if pids}
    orphans = children_of(os.getpid())
    for pgid in leaked:
        kill_group(pgid, timeout_s=2)
    if leaked or orphans:
        print(f"\nFAILED: processes outlived the test session: groups={leaked} children={orphans}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_PYTEST_HOOKS: dict[str, object] = {}


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # After pytest's plugins have installed theirs (its unhandled-thread-exception check).
    _PYTEST_HOOKS.update(excepthook=sys.excepthook, threading_excepthook=threading.excepthook)


def _hooks_in_place(when: str) -> None:
    from app.telemetry.logging import JsonLinesStream

    assert sys.excepthook is _PYTEST_HOOKS["excepthook"], f"sys.excepthook replaced ({when})"
    assert threading.excepthook is _PYTEST_HOOKS["threading_excepthook"], (
        f"threading.excepthook replaced: a thread's crash would not fail the test ({when})"
    )
    assert not isinstance(sys.stderr, JsonLinesStream), f"sys.stderr wrapped ({when})"


@pytest.fixture(autouse=True)
def _pytest_hooks_in_place() -> Iterator[None]:
    """Checked before and after every test: an app built at module or session scope, before
    any test's fixtures, would otherwise silence every later test."""
    _hooks_in_place("before the test")
    yield
    _hooks_in_place("after the test")


BUNDLED_MODEL_DIR = ROOT / "models" / "churn"


@pytest.fixture(scope="session")
def predictor() -> Predictor:
    return Predictor.load(BUNDLED_MODEL_DIR)


@pytest.fixture(scope="session")
def engine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model's compiled engine, built once a session as `make run` builds it."""
    from app.model.compiled_engine import build

    directory = tmp_path_factory.mktemp("engine")
    build((BUNDLED_MODEL_DIR / MODEL_FILE).read_bytes(), directory)
    return directory


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A private copy of the bundled model directory that a test may damage."""
    target = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, target)
    return target


@pytest.fixture
def multiprocess_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Real multiprocess mode in process: a temp PROMETHEUS_MULTIPROC_DIR and mmap-backed
    values, as a worker under gunicorn has them."""
    path = tmp_path / "metrics"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    # prometheus_client picks its value class when imported; switch it as a worker would have it.
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ starts real processes and is marked so; everything
    under tests/image/ runs the built image (`make test-image` only)."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
        if "image" in item.path.relative_to(ROOT).parts[:2]:
            item.add_marker(pytest.mark.image)


@pytest.fixture(autouse=True, scope="session")
def _apps_built_in_tests_never_shed() -> Iterator[None]:
    """An app a test builds in-process runs in TestClient's portal thread, whose event loop a
    loaded test machine starves: its lag probe then reads tens of milliseconds and the shipped
    threshold sheds requests that have nothing to do with overload. Tests of shedding set
    their own threshold (tests/api/test_admission.py); servers started for integration tests
    do not inherit this (tests/support/processes.py: server_environment)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(IN_PROCESS_ONLY_VARIABLE, IN_PROCESS_SHED_LAG_SECONDS)
        yield
