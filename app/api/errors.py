"""One table from errors to HTTP responses, and the handlers that render the error body.

Every error body has the shape of :class:`app.api.schemas.ErrorOut`. Nothing the client sent is
echoed back except field names in ``loc`` (made safe to encode): FastAPI's default handler
echoes the input, and an echoed NaN or lone surrogate makes the error response itself fail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.model.contract import FeatureContract, FeatureKind
from app.model.errors import ModelError
from app.telemetry.http_labels import RouteLabels

logger = logging.getLogger(__name__)

_MAX_LOC_TEXT = 64
_MAX_MSG_TEXT = 512


# Validation failure labels: a contract field or one of these, and one of REASONS.
EXTRA_FIELD = "_extra"
BODY = "_body"
REASONS = ("missing", "type", "out_of_bounds", "unknown_category", "extra_field", "body")
_REASON_OF_TYPE = {
    "missing": "missing",
    "extra_forbidden": "extra_field",
    "literal_error": "unknown_category",
    "greater_than_equal": "out_of_bounds",
    "less_than_equal": "out_of_bounds",
}

# (route template, [(field, reason), ...]) for every rejected request.
RejectionHook = Callable[[str, list[tuple[str, str]]], None]


def classify(errors: Sequence[Any], fields: Collection[str]) -> list[tuple[str, str]]:
    """Pydantic errors -> bounded (field, reason) pairs for metrics.

    The field is the contract field the error is about; an extra field of any name is EXTRA_FIELD
    and anything about the body as a whole (bad JSON, wrong shape, too many rows) is BODY.
    """
    out = []
    for error in errors:
        kind = str(error.get("type", ""))
        reason = _REASON_OF_TYPE.get(kind, "type")
        if reason == "unknown_category" and not isinstance(error.get("input"), str):
            reason = "type"  # a category must be a string: 6 is a type error, not a category
        loc = error.get("loc", ())
        name = loc[-1] if loc else None
        if reason == "extra_field":
            out.append((EXTRA_FIELD, reason))
        elif isinstance(name, str) and name in fields:
            out.append((name, reason))
        else:
            out.append((BODY, "body"))
    return out


def failure_label_pairs(contract: FeatureContract) -> list[tuple[str, str]]:
    """Every (field, reason) pair that can occur, so the series exist at zero from the start."""
    pairs = [(EXTRA_FIELD, "extra_field"), (BODY, "body")]
    for feature in contract:
        pairs += [(feature.name, "missing"), (feature.name, "type")]
        if feature.minimum is not None or feature.maximum is not None:
            pairs.append((feature.name, "out_of_bounds"))
        if feature.kind is FeatureKind.CATEGORY:
            pairs.append((feature.name, "unknown_category"))
    return pairs


class ModelNotReadyError(Exception):
    """The model is not loaded (yet, or it failed to load)."""


class OverloadedError(Exception):
    """The worker's event loop lags beyond the shed threshold: the request is refused unread."""


class DeadlineExceededError(Exception):
    """The request's work passed its deadline and was stopped."""


class ClientDisconnectedError(Exception):
    """The client closed its connection before the answer; the work was stopped."""


# The nginx convention for a request its client abandoned: recorded, never seen by the client.
CLIENT_CLOSED_REQUEST = 499

# error class -> (status, code, message)
ERROR_TABLE: dict[type[Exception], tuple[int, str, str]] = {
    ModelNotReadyError: (503, "model_not_ready", "The model is not loaded; see /readyz."),
    ModelError: (503, "model_unavailable", "The model cannot be used; see /readyz."),
    OverloadedError: (
        503,
        "overloaded",
        "The server is overloaded; retry after Retry-After seconds.",
    ),
    DeadlineExceededError: (
        504,
        "deadline_exceeded",
        "The request did not finish within its deadline.",
    ),
    ClientDisconnectedError: (
        CLIENT_CLOSED_REQUEST,
        "client_closed_request",
        "The client closed the connection.",
    ),
}

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _safe_text(value: str, limit: int = _MAX_LOC_TEXT) -> str:
    # Lone surrogates cannot be encoded as UTF-8; replace them instead of failing the response.
    text = value.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors -> ``{loc, msg, type}`` without the input or context."""
    return [
        {
            "loc": [p if isinstance(p, int) else _safe_text(str(p)) for p in e.get("loc", ())],
            "msg": _safe_text(str(e.get("msg", "")), _MAX_MSG_TEXT),
            "type": str(e.get("type", "value_error")),
        }
        for e in errors
    ]


def error_body(code: str, message: str, detail: list[dict[str, Any]] | None = None) -> bytes:
    """The one error body, as bytes (for pure ASGI layers that send it themselves)."""
    return orjson.dumps({"error": code, "message": message, "detail": detail or []})


def error_response(
    status: int,
    code: str,
    message: str,
    detail: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": code, "message": message, "detail": detail or []}
    return JSONResponse(body, status_code=status, headers=headers)


def is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    # FastAPI's own test: application/json or application/*+json (other types are not parsed).
    main, _, sub = content_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


class ErrorHandlers:
    """Renders request errors and reports each rejection (for metrics) through one hook."""

    def __init__(
        self, fields: Collection[str], routes: RouteLabels, on_rejected: RejectionHook | None
    ) -> None:
        self.fields = fields
        self.routes = routes
        self.on_rejected = on_rejected

    def _reject(self, request: Request, failures: list[tuple[str, str]]) -> None:
        if self.on_rejected is not None:
            self.on_rejected(self.routes.of(request.scope), failures)

    async def validation_error(self, request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        if not is_json(request):  # a missing content type too: FastAPI then reads no JSON
            self._reject(request, [(BODY, "body")])
            return error_response(
                415, "unsupported_media_type", "Send the body as application/json."
            )
        self._reject(request, classify(errors, self.fields))
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(
                400, "invalid_json", "The body is not valid JSON.", error_details(errors)
            )
        return error_response(
            422, "validation_error", "The request does not match the schema.",
            error_details(errors),
        )  # fmt: skip

    async def http_error(self, request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (400, 413):
            self._reject(request, [(BODY, "body")])
        if exc.status_code == 400:
            # FastAPI raises a bare 400 when the JSON parser itself fails (e.g. too deep).
            return error_response(400, "invalid_json", "The body could not be parsed as JSON.")
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            status, code, message = ERROR_TABLE[cls]
            return error_response(status, code, message)
    raise exc  # pragma: no cover - only registered for classes in the table


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "An unexpected error occurred.")


def install_error_handlers(
    app: FastAPI,
    fields: Collection[str],
    routes: RouteLabels,
    on_rejected: RejectionHook | None = None,
) -> None:
    handlers = ErrorHandlers(fields, routes, on_rejected)
    app.add_exception_handler(RequestValidationError, handlers.validation_error)
    app.add_exception_handler(HTTPException, handlers.http_error)
    for cls in ERROR_TABLE:
        app.add_exception_handler(cls, _domain_error)
    app.add_exception_handler(Exception, _unexpected_error)
