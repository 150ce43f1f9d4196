"""Hostile and malformed requests, as a table: each with the status and documented error code it
must get (BAD_REQUESTS), or edge inputs that must be served (ACCEPTED). Shared by the in-process
and real-server tests; `check_error_response` is the one check of an error response.

The bounds cases are built from the bundled card.json, read here as plain JSON: the oracle is
the card's data, not the code that turns it into a schema.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.processes import ROOT

JSON = {"content-type": "application/json"}
OK = b'"age": 30, "signup_month": "June"'  # the required fields, valid, inside an object
# At most this many characters of what the client sent come back in an error (in `loc`).
MAX_ECHO = 64


@dataclass(frozen=True)
class BadRequest:
    id: str
    body: bytes
    status: int
    error: str
    locs: tuple[tuple[object, ...], ...] = ()
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    path: str = "/predict"


def _row(extra: bytes) -> bytes:
    """The valid required fields plus ``extra`` (``"key": value`` JSON text)."""
    return b"{" + OK + b", " + extra + b"}"


def _validation(
    id: str, body: bytes, *locs: tuple[object, ...], path: str = "/predict"
) -> BadRequest:
    return BadRequest(id, body, 422, "validation_error", locs, path=path)


def _invalid_json(id: str, body: bytes) -> BadRequest:
    return BadRequest(id, body, 400, "invalid_json")


def _unsupported(id: str, body: bytes, content_type: str | None) -> BadRequest:
    headers = {} if content_type is None else {"content-type": content_type}
    return BadRequest(id, body, 415, "unsupported_media_type", headers=headers)


CARD = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
NUMERIC = [f for f in CARD["features"] if f["type"] in ("integer", "number")]


def _bound_values(feature: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """(values at the bounds, values just beyond them) of a numeric card feature."""
    lo, hi = feature["minimum"], feature["maximum"]
    if feature["type"] == "integer":
        return [lo, hi], [lo - 1, hi + 1]
    return [float(lo), float(hi)], [math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)]


def _with(name: str, value: Any) -> bytes:
    row = {"age": 30, "signup_month": "June"} | {name: value}
    return json.dumps(row).encode()


def _bounds_cases() -> Iterator[BadRequest]:
    for feature in NUMERIC:
        name = feature["name"]
        for value in _bound_values(feature)[1]:
            yield _validation(f"beyond-bound-{name}={value!r}", _with(name, value), ("body", name))


LONG = 10_000
BAD_REQUESTS = [
    # --- not JSON, or JSON the parser refuses -------------------------------------------------
    _invalid_json("invalid-json", b'{"age": 30,'),
    _invalid_json("trailing-garbage", b"{" + OK + b"} x"),
    _invalid_json("single-quotes", b"{'age': 30, 'signup_month': 'June'}"),
    _invalid_json("whitespace-only", b"   \n"),
    _invalid_json("deeply-nested-arrays", b"[" * 100_000 + b"]" * 100_000),
    _invalid_json("deeply-nested-objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    _invalid_json(
        "deeply-nested-in-a-field", _row(b'"tenure_months": ' + b"[" * 100_000 + b"]" * 100_000)
    ),
    _invalid_json("unclosed-nesting", b"[" * 100_000),
    # Python's int() refuses more than 4300 digits; 4000 parse, and are refused as out of bounds.
    _invalid_json(
        "integer-of-5000-digits", b'{"age": ' + b"9" * 5000 + b', "signup_month": "June"}'
    ),
    _invalid_json("raw-nul-in-value", b'{"age": 30, "signup_month": "Ju\x00ne"}'),
    _invalid_json("raw-nul-in-key", _row(b'"a\x00b": 1')),
    _invalid_json("invalid-utf8-in-value", b'{"age": 30, "signup_month": "\xff\xfe"}'),
    _invalid_json("invalid-utf8-in-key", _row(b'"\xc3\x28": 1')),
    _invalid_json("overlong-utf8", _row(b'"\xc0\xaf": 1')),
    # --- JSON of the wrong shape --------------------------------------------------------------
    _validation("empty-body", b"", ("body",)),
    _validation("top-level-array", b"[1, 2, 3]", ("body",)),
    _validation("top-level-null", b"null", ("body",)),
    _validation("top-level-string", b'"age"', ("body",)),
    _validation("top-level-number", b"30", ("body",)),
    _validation("top-level-true", b"true", ("body",)),
    _validation("empty-object", b"{}", ("body", "age"), ("body", "signup_month")),
    _validation("missing-required", b'{"signup_month": "June"}', ("body", "age")),
    _validation("required-null", b'{"age": null, "signup_month": "June"}', ("body", "age")),
    # --- wrong types --------------------------------------------------------------------------
    _validation(
        "string-and-int",
        b'{"age": "thirty", "signup_month": 6}',
        ("body", "age"),
        ("body", "signup_month"),
    ),
    _validation(
        "numeric-string-for-int", b'{"age": "30", "signup_month": "June"}', ("body", "age")
    ),
    _validation("bool-for-int", b'{"age": true, "signup_month": "June"}', ("body", "age")),
    _validation("fraction-for-int", b'{"age": 30.5, "signup_month": "June"}', ("body", "age")),
    _validation("array-for-int", b'{"age": [30], "signup_month": "June"}', ("body", "age")),
    _validation("object-for-int", b'{"age": {"v": 30}, "signup_month": "June"}', ("body", "age")),
    _validation("number-for-category", b'{"age": 30, "signup_month": 6}', ("body", "signup_month")),
    _validation(
        "bool-for-category", b'{"age": 30, "signup_month": true}', ("body", "signup_month")
    ),
    _validation(
        "string-for-number", _row(b'"monthly_charges": "39.5"'), ("body", "monthly_charges")
    ),
    _validation("bool-for-number", _row(b'"monthly_charges": false'), ("body", "monthly_charges")),
    _validation("string-for-boolean", _row(b'"autopay": "true"'), ("body", "autopay")),
    _validation("int-for-boolean", _row(b'"autopay": 1'), ("body", "autopay")),
    # --- unknown categories, extra fields -----------------------------------------------------
    _validation(
        "unknown-category", b'{"age": 30, "signup_month": "Juneuary"}', ("body", "signup_month")
    ),
    _validation(
        "lowercase-category", b'{"age": 30, "signup_month": "june"}', ("body", "signup_month")
    ),
    _validation(
        "padded-category", b'{"age": 30, "signup_month": "June "}', ("body", "signup_month")
    ),
    _validation("extra-field", _row(b'"shoe_size": 44'), ("body", "shoe_size")),
    _validation("extra-null-field", _row(b'"shoe_size": null'), ("body", "shoe_size")),
    # --- non-finite and huge numbers -------------------------------------------------------------
    _validation("nan-literal", _row(b'"monthly_charges": NaN'), ("body", "monthly_charges")),
    _validation(
        "infinity-literal", _row(b'"monthly_charges": Infinity'), ("body", "monthly_charges")
    ),
    _validation(
        "minus-infinity-literal", _row(b'"monthly_charges": -Infinity'), ("body", "monthly_charges")
    ),
    _validation("nan-literal-for-int", b'{"age": NaN, "signup_month": "June"}', ("body", "age")),
    _validation(
        "infinity-literal-for-int", b'{"age": Infinity, "signup_month": "June"}', ("body", "age")
    ),
    _validation("nan-string", _row(b'"monthly_charges": "NaN"'), ("body", "monthly_charges")),
    _validation(
        "infinity-string", _row(b'"monthly_charges": "Infinity"'), ("body", "monthly_charges")
    ),
    _validation(
        "minus-infinity-string",
        _row(b'"monthly_charges": "-Infinity"'),
        ("body", "monthly_charges"),
    ),
    _validation("exponent-1e400", _row(b'"monthly_charges": 1e400'), ("body", "monthly_charges")),
    _validation(
        "exponent-minus-1e400", _row(b'"monthly_charges": -1e400'), ("body", "monthly_charges")
    ),
    _validation(
        "exponent-1e400-for-int", b'{"age": 1e400, "signup_month": "June"}', ("body", "age")
    ),
    _validation(
        "integer-of-4000-digits",
        b'{"age": ' + b"9" * 4000 + b', "signup_month": "June"}',
        ("body", "age"),
    ),
    _validation(
        "negative-integer-of-4000-digits",
        _row(b'"tenure_months": -' + b"9" * 4000),
        ("body", "tenure_months"),
    ),
    _validation(
        "integer-of-4000-digits-for-number",
        _row(b'"monthly_charges": ' + b"9" * 4000),
        ("body", "monthly_charges"),
    ),
    # --- duplicate keys: the last one counts (see ACCEPTED for the other order) ---------------
    _validation(
        "duplicate-key-last-bad", b'{"age": 30, "age": 3, "signup_month": "June"}', ("body", "age")
    ),
    # --- values beyond each validity bound of the card ----------------------------------------
    *_bounds_cases(),
    # --- text: NUL, surrogates, bidi marks, emoji, length -------------------------------------
    _validation(
        "escaped-nul-in-value",
        b'{"age": 30, "signup_month": "Ju\\u0000ne"}',
        ("body", "signup_month"),
    ),
    _validation("escaped-nul-in-key", _row(b'"a\\u0000b": 1'), ("body", "a\x00b")),
    _validation(
        "lone-surrogate-value", b'{"age": 30, "signup_month": "\\ud800"}', ("body", "signup_month")
    ),
    _validation("lone-surrogate-key", _row(b'"\\udfff": 1')),
    _validation("reversed-surrogates-key", _row(b'"\\udc00\\ud800": 1')),
    # Python's json decodes with "surrogatepass": the key is a lone surrogate, refused as a key.
    _validation("utf8-encoded-surrogate-key", _row(b'"\xed\xa0\x80": 1'), ("body",)),
    _validation(
        "rtl-override-in-value",
        b'{"age": 30, "signup_month": "\\u202eJune"}',
        ("body", "signup_month"),
    ),
    _validation("rtl-mark-in-key", _row('"age\u200f": 30'.encode()), ("body", "age\u200f")),
    _validation(
        "emoji-in-value",
        '{"age": 30, "signup_month": "June\U0001f600"}'.encode(),
        ("body", "signup_month"),
    ),
    _validation("emoji-in-key", _row('"\U0001f600": 1'.encode()), ("body", "\U0001f600")),
    _validation("escaped-emoji-in-key", _row(b'"\\ud83d\\ude00": 1'), ("body", "\U0001f600")),
    _validation("long-key", _row(b'"' + b"k" * LONG + b'": 1')),
    _validation("long-emoji-key", _row(b'"' + ("\U0001f600" * LONG).encode() + b'": 1')),
    _validation(
        "long-value",
        b'{"age": 30, "signup_month": "' + b"v" * LONG + b'"}',
        ("body", "signup_month"),
    ),
    # --- batches ------------------------------------------------------------------------------
    _validation("batch-not-an-object", b"[]", ("body",), path="/predict/batch"),
    _validation("batch-without-rows", b"{}", ("body", "rows"), path="/predict/batch"),
    _validation(
        "batch-rows-not-a-list", b'{"rows": {"age": 30}}', ("body", "rows"), path="/predict/batch"
    ),
    _validation("batch-rows-null", b'{"rows": null}', ("body", "rows"), path="/predict/batch"),
    _validation("batch-empty", b'{"rows": []}', ("body", "rows"), path="/predict/batch"),
    _validation(
        "batch-row-not-an-object", b'{"rows": [1]}', ("body", "rows", 0), path="/predict/batch"
    ),
    _validation(
        "batch-extra-field",
        b'{"rows": [{' + OK + b'}], "x": 1}',
        ("body", "x"),
        path="/predict/batch",
    ),
    _validation(
        "batch-bad-row",
        b'{"rows": [{' + OK + b'}, {"age": 3, "signup_month": "May"}]}',
        ("body", "rows", 1, "age"),
        path="/predict/batch",
    ),
    _validation(
        "batch-one-bad-row-of-ten",
        b'{"rows": ['
        + b", ".join(
            [b"{" + OK + b"}"] * 7
            + [b'{"age": 30, "signup_month": "May", "plan": "gold"}']
            + [b"{" + OK + b"}"] * 2
        )
        + b"]}",
        ("body", "rows", 7, "plan"),
        path="/predict/batch",
    ),
    # --- not JSON at all: wrong or missing content type, forms --------------------------------
    _unsupported("text-plain", b"{" + OK + b"}", "text/plain"),
    _unsupported("text-json", b"{" + OK + b"}", "text/json"),
    _unsupported("application-xml", b"<age>30</age>", "application/xml"),
    _unsupported("no-content-type", b"{" + OK + b"}", None),
    _unsupported("no-content-type-no-body", b"", None),
    _unsupported("form-encoded", b"age=30&signup_month=June", "application/x-www-form-urlencoded"),
    _unsupported(
        "multipart",
        b'--b\r\nContent-Disposition: form-data; name="age"\r\n\r\n30\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    ),
]


@dataclass(frozen=True)
class Accepted:
    """An edge input that is valid and must be served."""

    id: str
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


def _accepted_bounds() -> Iterator[Accepted]:
    for feature in NUMERIC:
        for value in _bound_values(feature)[0]:
            yield Accepted(f"at-bound-{feature['name']}={value!r}", _with(feature["name"], value))


ACCEPTED = [
    # pydantic-core and Python's json (which FastAPI parses with) both keep a key's last value.
    Accepted("duplicate-key-last-good", b'{"age": 3, "age": 30, "signup_month": "June"}'),
    # JSON Schema's integer: any number with a zero fractional part.
    Accepted("integral-float-for-int", b'{"age": 30.0, "signup_month": "June"}'),
    Accepted("int-for-number", _row(b'"monthly_charges": 40')),
    Accepted("exponent-1e-400-is-zero", _row(b'"monthly_charges": 1e-400')),
    Accepted("optional-nulls", _row(b'"plan": null, "monthly_charges": null, "autopay": null')),
    Accepted(
        "json-with-charset", b"{" + OK + b"}", {"content-type": "application/json; charset=utf-8"}
    ),
    Accepted(
        "json-suffix-type", b"{" + OK + b"}", {"content-type": "application/vnd.glassbox+json"}
    ),
    *_accepted_bounds(),
]


def documented_errors() -> set[tuple[int, str]]:
    """(status, code) of every row of README's error table: `| 404 / 405 | `a` / `b` | ...`."""
    pairs = set()
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.fullmatch(r"\| ([\d /]+) \| (`[a-z_]+`(?: / `[a-z_]+`)*) \|.*", line)
        if match:
            statuses = [int(s) for s in match[1].split("/")]
            codes = re.findall(r"`([a-z_]+)`", match[2])
            pairs |= set(zip(statuses, codes, strict=True))
    return pairs


def _reject_constant(name: str) -> None:
    raise AssertionError(f"{name} in an error body: not strict JSON")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _sent_texts(body: bytes) -> list[str]:
    """What the client sent, as text: the raw body, and each key and string it parses to."""
    texts = [body.decode("utf-8", "replace")]
    with contextlib.suppress(ValueError, RecursionError):
        texts += list(_strings(json.loads(body)))
    return texts


def echoed(sent: bytes, answer: Any) -> str | None:
    """A run of more than MAX_ECHO characters of what was sent that the answer repeats, if any."""
    windows = {
        text[i : i + MAX_ECHO + 1] for text in _strings(answer) for i in range(len(text) - MAX_ECHO)
    }
    for text in _sent_texts(sent):
        for i in range(len(text) - MAX_ECHO):
            if text[i : i + MAX_ECHO + 1] in windows:
                return text[i : i + MAX_ECHO + 1]
    return None


def check_error_body(status: int, content: bytes, sent: bytes = b"") -> dict[str, Any]:
    """The one error body: strict UTF-8 JSON (no NaN, no lone surrogate), exactly the
    documented fields and types, a code README's error table lists with ``status``, at most
    MAX_ECHO characters of ``sent`` repeated."""
    body = json.loads(content.decode("utf-8"), parse_constant=_reject_constant)
    assert isinstance(body, dict), body
    assert body.keys() == {"error", "message", "detail"}, body
    assert isinstance(body["error"], str), body
    assert re.fullmatch(r"[a-z_]+", body["error"]), body
    assert isinstance(body["message"], str), body
    assert body["message"], body
    assert isinstance(body["detail"], list), body
    for detail in body["detail"]:
        assert isinstance(detail, dict), detail
        assert detail.keys() == {"loc", "msg", "type"}, detail
        assert isinstance(detail["loc"], list), detail
        for part in detail["loc"]:
            assert isinstance(part, str) or (isinstance(part, int) and not isinstance(part, bool))
        assert isinstance(detail["msg"], str), detail
        assert isinstance(detail["type"], str), detail
    for text in _strings(body):
        text.encode("utf-8")  # a lone surrogate (from a \ud800 escape) cannot be encoded
    assert echoed(sent, body) is None, f"echoes {echoed(sent, body)!r}"
    assert (status, body["error"]) in documented_errors(), "not in README's error table"
    return body


def check_error_response(
    status: int, content_type: str | None, content: bytes, case: BadRequest
) -> None:
    """A case's answer: its status and documented code, the one error body, the locs named."""
    assert status == case.status, content[:500]
    assert content_type == "application/json"
    body = check_error_body(status, content, case.body)
    assert body["error"] == case.error, body
    locs = {tuple(d["loc"]) for d in body["detail"]}
    for loc in case.locs:
        assert loc in locs, (loc, locs)
