"""What the handlers are handed: the worker's state through a FastAPI dependency, and the
predictor only once it is loaded (a 503 through the error table before)."""

from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.deps import StateDep, ready_predictor
from app.api.errors import ModelNotReadyError
from app.drain_flag import DrainFlag
from app.model.card import ModelCard
from app.model.predictor import Predictor
from tests.conftest import BUNDLED_MODEL_DIR

CARD = ModelCard.load(BUNDLED_MODEL_DIR / "card.json")


@dataclass
class FakeState:
    """An in-process stand-in with what a request reads (app.api.deps.WorkerState)."""

    card: ModelCard
    predictor: Predictor | None = None
    load_error: str | None = None
    drain: DrainFlag = field(default_factory=DrainFlag)


def test_no_predictor_until_the_model_is_loaded() -> None:
    with pytest.raises(ModelNotReadyError):
        ready_predictor(FakeState(CARD))


def test_the_loaded_predictor_is_handed_out(predictor: Predictor) -> None:
    assert ready_predictor(FakeState(CARD, predictor=predictor)) is predictor


def test_a_route_is_handed_its_app_s_state() -> None:
    app = FastAPI()
    app.state.service = FakeState(CARD, load_error="not yet")

    @app.get("/probe")
    async def probe(state: StateDep) -> dict[str, str | None]:
        return {"version": state.card.version, "load_error": state.load_error}

    with TestClient(app) as client:
        assert client.get("/probe").json() == {"version": CARD.version, "load_error": "not yet"}
