"""What the route handlers are handed: their worker's state (a FastAPI dependency) and the
loaded predictor, or a 503 until there is one.

The state is the composition root's (``app/main.py``'s ``ServiceState``); the API sees it as
:class:`WorkerState`, the few things a request reads of it, and imports nothing of ``app.main``.
The prediction handlers take the state by closure instead: resolving one more dependency costs
~20 µs, which the hot path cannot spare (see routes.py).
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from app.api.errors import ModelNotReadyError
from app.drain_flag import DrainFlag
from app.model.card import ModelCard
from app.model.predictor import Predictor


class WorkerState(Protocol):
    """What a request reads of its worker's state."""

    @property
    def card(self) -> ModelCard:
        """The card the app was built for (read once, at start)."""

    @property
    def predictor(self) -> Predictor | None:
        """The model, once the lifespan has loaded and verified it."""

    @property
    def load_error(self) -> str | None:
        """Why the model could not be loaded, when it could not."""

    @property
    def drain(self) -> DrainFlag:
        """Set by the master on SIGTERM (shared by every worker)."""


def ready_predictor(state: WorkerState) -> Predictor:
    """The loaded predictor; a 503 (through the error table) until there is one."""
    predictor = state.predictor
    if predictor is None:
        raise ModelNotReadyError
    return predictor


# async def, not def: FastAPI runs a plain-def dependency on the threadpool, a thread hop
# (~250 µs) on every request for what is an attribute lookup.
async def get_state(request: Request) -> WorkerState:
    state: WorkerState = request.app.state.service
    return state


StateDep = Annotated[WorkerState, Depends(get_state)]
