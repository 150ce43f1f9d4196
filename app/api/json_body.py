"""A route whose JSON body pydantic-core validates straight from the request's bytes.

FastAPI reads a JSON body by parsing it with Python's ``json`` into dicts and lists, then
validating those objects; pydantic-core's ``validate_json`` does both in one pass over the bytes
without building the intermediate objects (a 1000-row batch's decoding and validation took
~11.5 µs a row one way, ~5.5-7.7 the other: bench/README.md, "The batch path"). The OpenAPI
document is FastAPI's, from the endpoint's signature as for any route: only the handling of a
request differs.

Only a body that is JSON by its content type and valid is served this way. Anything else (no or
another content type, invalid JSON, a value the schema refuses) goes to FastAPI's own handler,
which reads the same (cached) body and answers exactly as it always has: the error bodies, their
``loc`` and the rejection metrics stay FastAPI's by construction, and Python's ``json`` stays the
one judge of what is invalid JSON (pydantic-core's parser refuses, for one, lone surrogates that
Python's accepts).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from app.api.errors import is_json


def _body_model(endpoint: Callable[..., Any]) -> type[BaseModel]:
    """The endpoint's body model: it must take ``(body: <a pydantic model>, request: Request)``
    and nothing else, so that no dependency or parameter is skipped by calling it directly."""
    params = list(inspect.signature(endpoint).parameters.values())
    kinds = [p.annotation for p in params]
    if (
        len(params) != 2
        or not (isinstance(kinds[0], type) and issubclass(kinds[0], BaseModel))
        or kinds[1] is not Request
    ):
        raise TypeError(f"{endpoint.__name__} must take (body: BaseModel, request: Request)")
    return kinds[0]


class JsonBodyRoute(APIRoute):
    """Pass as ``route_class_override`` for a route whose endpoint takes
    ``(body: Model, request: Request)`` and returns a Response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        standard = super().get_route_handler()
        validate = _body_model(self.endpoint).model_validate_json
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            if not is_json(request):
                return await standard(request)
            try:
                # The body limit's 413 (app/api/body_limit.py) propagates, as through FastAPI's.
                body = validate(await request.body())
            except (ValidationError, ClientDisconnect):
                # FastAPI's handler answers (a client gone mid-body: its 400, as ever).
                return await standard(request)
            response: Response = await endpoint(body, request)
            return response

        return handler
