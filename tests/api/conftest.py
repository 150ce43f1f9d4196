"""In-process clients: the real app factory with its lifespan running."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.drain_flag import DrainFlag
from app.main import create_app
from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.raw_model import RawModel


def make_client(model_dir: Path = BUNDLED_MODEL_DIR, **settings: object) -> TestClient:
    return TestClient(create_app(Settings(model_dir=model_dir, **settings)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with make_client(max_batch_rows=50) as c:
        yield c


@pytest.fixture(scope="session")
def raw_model() -> RawModel:
    """The oracle for predictions: LightGBM on a matrix encoded by hand from card.json."""
    return RawModel(BUNDLED_MODEL_DIR)


@pytest.fixture
def master_flag(multiprocess_dir: Path) -> DrainFlag:
    """The flag a master made in the multiprocess directory before this worker started."""
    return DrainFlag.create(multiprocess_dir)


@pytest.fixture
def worker(master_flag: DrainFlag) -> Iterator[TestClient]:
    """A worker of that master: an app that sees the master's drain flag."""
    with TestClient(create_app(Settings(model_dir=BUNDLED_MODEL_DIR))) as c:
        yield c
