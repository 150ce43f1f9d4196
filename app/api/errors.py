"""One table from errors to HTTP responses, and the handlers that render the error body.

Every error body has the shape of :class:`app.api.schemas.ErrorOut`. Nothing the client sent is
echoed back except field names in ``loc`` (made safe to encode): FastAPI's default handler
echoes the input, and an echoed NaN or lone surrogate makes the error response itself fail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.model.errors import ModelError

logger = logging.getLogger(__name__)

_MAX_LOC_TEXT = 64
_MAX_MSG_TEXT = 512


class ModelNotReadyError(Exception):
    """The model is not loaded (yet, or it failed to load)."""


# error class -> (status, code, message)
ERROR_TABLE: dict[type[Exception], tuple[int, str, str]] = {
    ModelNotReadyError: (503, "model_not_ready", "The model is not loaded; see /readyz."),
    ModelError: (503, "model_unavailable", "The model cannot be used; see /readyz."),
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


def error_response(
    status: int,
    code: str,
    message: str,
    detail: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": code, "message": message, "detail": detail or []}
    return JSONResponse(body, status_code=status, headers=headers)


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if request.headers.get("content-type") and not _is_json(request):
        return error_response(415, "unsupported_media_type", "Send the body as application/json.")
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(
            400, "invalid_json", "The body is not valid JSON.", error_details(errors)
        )
    return error_response(
        422, "validation_error", "The request does not match the schema.", error_details(errors)
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        # FastAPI raises a bare 400 when the JSON parser itself fails (e.g. too deeply nested).
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for cls in ERROR_TABLE:
        app.add_exception_handler(cls, _domain_error)
    app.add_exception_handler(Exception, _unexpected_error)
