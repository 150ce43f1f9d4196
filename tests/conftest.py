"""Session-wide fixtures and guards: no process a test started may outlive the session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app.model.predictor import Predictor
from tests.support.processes import (
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


BUNDLED_MODEL_DIR = ROOT / "models" / "churn"


@pytest.fixture(scope="session")
def predictor() -> Predictor:
    return Predictor.load(BUNDLED_MODEL_DIR)


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A private copy of the bundled model directory that a test may damage."""
    target = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, target)
    return target


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ starts real processes and is marked so."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
