"""JSON answers made in one step (app/http/responses.py) carry the headers Starlette's own
constructor would give them."""

from __future__ import annotations

import pytest
from starlette.responses import Response

from app.http.responses import JSON, JsonAnswer, json_response


@pytest.mark.parametrize("status", [200, 201, 202])
def test_a_json_body_has_the_length_and_type_starlette_would_give_it(status: int) -> None:
    body = b'{"id":"\xc3\xa9t\xc3\xa9"}'

    answer = json_response(body, status)

    assert isinstance(answer, JsonAnswer)
    assert answer.status_code == status
    assert answer.body == body
    assert answer.raw_headers == Response(body, status_code=status, media_type=JSON).raw_headers


def test_an_answer_with_headers_of_its_own_or_no_body_is_starlettes() -> None:
    stale = json_response(b"[]", 200, {"Age": "3"})
    unchanged = json_response(b"", 304)

    assert dict(stale.raw_headers)[b"age"] == b"3" and not isinstance(stale, JsonAnswer)
    assert b"content-length" not in dict(unchanged.raw_headers)
