"""A request body larger than GLASSBOX_MAX_BODY_BYTES is refused with a 413 ``body_too_large``,
whether its length is declared or it arrives chunked."""

import json

import pytest

from tests.api.conftest import make_client
from tests.support.bad_requests import JSON

# --- through the app --------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_too_large_a_body_is_a_413(declared: bool) -> None:
    body = json.dumps({"rows": [{"age": 30, "signup_month": "June"}] * 100}).encode()
    content = body if declared else iter([body[:1000], body[1000:]])
    with make_client(max_body_bytes=1024) as small:
        response = small.post("/predict/batch", headers=JSON, content=content)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
