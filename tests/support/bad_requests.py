"""Bad requests every entry point must answer with a clear 4xx: (id, body bytes, headers, status,
expected error code, locs that must be named), and the check of an answer to one. Shared by the
in-process and real-server tests."""

from __future__ import annotations

from dataclasses import dataclass, field

JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class BadRequest:
    id: str
    body: bytes
    status: int
    error: str
    locs: tuple[tuple[object, ...], ...] = ()
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    path: str = "/predict"


BAD_REQUESTS = [
    BadRequest("string-and-int", b'{"age": "thirty", "signup_month": 6}', 422, "validation_error",
               (("body", "age"), ("body", "signup_month"))),
    BadRequest("bool-as-int", b'{"age": true, "signup_month": "June"}', 422, "validation_error",
               (("body", "age"),)),
    BadRequest("fraction-as-int", b'{"age": 30.5, "signup_month": "June"}', 422,
               "validation_error", (("body", "age"),)),
    BadRequest("numeric-string", b'{"age": "30", "signup_month": "June"}', 422,
               "validation_error", (("body", "age"),)),
    BadRequest("below-bounds", b'{"age": 17, "signup_month": "June"}', 422, "validation_error",
               (("body", "age"),)),
    BadRequest("above-bounds", b'{"age": 30, "signup_month": "June", "tenure_months": 601}', 422,
               "validation_error", (("body", "tenure_months"),)),
    BadRequest("unknown-category", b'{"age": 30, "signup_month": "Juneuary"}', 422,
               "validation_error", (("body", "signup_month"),)),
    BadRequest("lowercase-category", b'{"age": 30, "signup_month": "june"}', 422,
               "validation_error", (("body", "signup_month"),)),
    BadRequest("extra-field", b'{"age": 30, "signup_month": "June", "shoe_size": 44}', 422,
               "validation_error", (("body", "shoe_size"),)),
    BadRequest("missing-required", b'{"signup_month": "June"}', 422, "validation_error",
               (("body", "age"),)),
    BadRequest("nan-literal", b'{"age": 30, "signup_month": "June", "monthly_charges": NaN}',
               422, "validation_error", (("body", "monthly_charges"),)),
    BadRequest("infinity-literal",
               b'{"age": 30, "signup_month": "June", "monthly_charges": Infinity}', 422,
               "validation_error", (("body", "monthly_charges"),)),
    BadRequest("nan-in-int", b'{"age": NaN, "signup_month": "June"}', 422, "validation_error",
               (("body", "age"),)),
    BadRequest("lone-surrogate-value", b'{"age": 30, "signup_month": "\\ud800"}', 422,
               "validation_error"),
    BadRequest("lone-surrogate-key", b'{"age": 30, "signup_month": "June", "\\udfff": 1}', 422,
               "validation_error"),
    BadRequest("not-an-object", b'[1, 2, 3]', 422, "validation_error"),
    BadRequest("invalid-json", b'{"age": 30,', 400, "invalid_json"),
    BadRequest("empty-body", b"", 422, "validation_error", (("body",),)),
    BadRequest("deeply-nested", b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
    BadRequest("deeply-nested-object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 400,
               "invalid_json"),
    BadRequest("text-plain", b'{"age": 30, "signup_month": "June"}', 415,
               "unsupported_media_type", headers={"content-type": "text/plain"}),
    BadRequest("form-encoded", b"age=30&signup_month=June", 415, "unsupported_media_type",
               headers={"content-type": "application/x-www-form-urlencoded"}),
    BadRequest("batch-bad-row",
               b'{"rows": [{"age": 30, "signup_month": "June"}, '
               b'{"age": 3, "signup_month": "May"}]}',
               422, "validation_error", (("body", "rows", 1, "age"),), path="/predict/batch"),
    BadRequest("batch-empty", b'{"rows": []}', 422, "validation_error", (("body", "rows"),),
               path="/predict/batch"),
    BadRequest("batch-not-a-list", b'{"rows": {"age": 30}}', 422, "validation_error",
               (("body", "rows"),), path="/predict/batch"),
]  # fmt: skip


def check_bad_request(status: int, body: dict, case: BadRequest) -> None:  # type: ignore[type-arg]
    assert status == case.status, body
    assert body.keys() == {"error", "message", "detail"}
    assert body["error"] == case.error
    locs = {tuple(d["loc"]) for d in body["detail"]}
    for loc in case.locs:
        assert loc in locs, (loc, locs)
    for detail in body["detail"]:
        assert detail.keys() == {"loc", "msg", "type"}, "input must never be echoed"
