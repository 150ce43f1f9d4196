"""Integration fixtures: a real gunicorn with several uvicorn workers, shared per module."""

from collections.abc import Iterator

import pytest

from tests.support.processes import Server, gunicorn


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gunicorn(tmp_path_factory.mktemp("gunicorn"), workers=2) as running:
        yield running
