"""Fixed paths found by their path (app/http/routing.py): what a request gets there is what the
router would give it, and everything else still goes through the router."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from app.http.routing import FixedRoutes, Methods
from app.observability.context import route_template


class Refused(Exception):
    pass


async def described(request: Request) -> Response:
    return JSONResponse({"route": route_template(request.scope), "params": request.path_params})


async def refusing(request: Request) -> Response:
    raise Refused


async def refused(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("refused", status_code=422)


async def not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    return PlainTextResponse(f"no such thing: {status}", status_code=status, headers=exc.headers)


async def missing(request: Request) -> Response:
    raise HTTPException(404)


async def written(request: Request) -> Response:
    return PlainTextResponse(f"written: {route_template(request.scope)}", status_code=201)


ROUTES = [
    Route("/data", described, methods=["GET"]),
    Route("/data/bulk", written, methods=["POST"]),
    Route("/data/{id}", described, methods=["GET"]),
    Route("/refuse", refusing, methods=["POST"]),
    Route(
        "/both",
        Methods({"GET": described, "POST": written, "DELETE": missing}).handle,
        methods=["GET", "POST", "DELETE"],
    ),
]


@pytest.fixture
def client() -> TestClient:
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(FixedRoutes, routes=ROUTES)],
        exception_handlers={Refused: refused, HTTPException: not_found},
    )
    return TestClient(app)


def test_a_fixed_path_is_served_with_its_route_known(client: TestClient) -> None:
    answer = client.get("/data")

    assert answer.status_code == 200
    assert answer.json() == {"route": "/data", "params": {}}
    assert client.head("/data").status_code == 200


def test_a_path_ending_in_its_one_parameter_is_served_with_the_parameter(client: TestClient) -> None:
    assert client.get("/data/42").json() == {"route": "/data/{id}", "params": {"id": "42"}}
    assert client.get("/data/a%20b").json()["params"] == {"id": "a b"}  # decoded, as the router does


def test_a_path_ending_in_a_parameter_is_found_without_the_router() -> None:
    asked: list[str] = []

    async def router(scope: Scope, receive: Receive, send: Send) -> None:
        asked.append(scope["path"])
        await PlainTextResponse("the router's", status_code=404)(scope, receive, send)

    client = TestClient(FixedRoutes(ExceptionMiddleware(router), routes=ROUTES))
    found = client.get("/data/42")
    deeper = client.get("/data/42/more")
    empty = client.get("/data/", follow_redirects=False)  # no value: not the parameter's route

    assert found.json() == {"route": "/data/{id}", "params": {"id": "42"}}
    assert deeper.text == empty.text == "the router's" and asked == ["/data/42/more", "/data/"]


def test_a_fixed_path_is_never_a_parameters_value_but_the_router_finds_one_for_other_methods(
    client: TestClient,
) -> None:
    assert client.post("/data/bulk").text == "written: /data/bulk"
    # /data/bulk has no GET: the router finds /data/{id} for it, as it always did
    assert client.get("/data/bulk").json() == {"route": "/data/{id}", "params": {"id": "bulk"}}
    assert client.delete("/data/42").status_code == 405


def test_a_handlers_error_gets_the_apps_exception_handler(client: TestClient) -> None:
    answer = client.post("/refuse")

    assert (answer.status_code, answer.text) == (422, "refused")


def test_each_method_of_a_path_gets_its_own_handler(client: TestClient) -> None:
    assert client.get("/both").json() == {"route": "/both", "params": {}}
    assert client.head("/both").status_code == 200
    assert (client.post("/both").status_code, client.post("/both").text) == (201, "written: /both")


def test_an_http_exception_a_handler_raises_gets_the_apps_status_handler(client: TestClient) -> None:
    answer = client.delete("/both")

    assert (answer.status_code, answer.text) == (404, "no such thing: 404")
    assert client.put("/both").status_code == 405


def test_a_method_the_path_has_not_and_an_unknown_path_are_the_routers_answers(client: TestClient) -> None:
    wrong = client.delete("/data")
    missing = client.get("/nothing")

    assert (wrong.status_code, wrong.text) == (405, "no such thing: 405")
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert (missing.status_code, missing.text) == (404, "no such thing: 404")


def test_it_stands_only_in_front_of_starlettes_exception_middleware() -> None:
    with pytest.raises(TypeError):
        FixedRoutes(described, routes=ROUTES)  # type: ignore[arg-type]
