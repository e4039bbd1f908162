"""The HTTP responder: request lines, routing and what goes on the wire (no sockets)."""

from __future__ import annotations

import pytest

from processor.telemetry.http import Request, Response, encode, parse_request_line, respond

ROUTES = {"/hello": lambda: Response(200, b"hi\n")}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"GET /metrics HTTP/1.1\r\n", Request("GET", "/metrics")),
        (b"HEAD /healthz HTTP/1.0", Request("HEAD", "/healthz")),
        (b"GET /readyz?verbose=1 HTTP/1.1", Request("GET", "/readyz")),
        (b"POST /metrics HTTP/1.1", Request("POST", "/metrics")),
    ],
)
def test_a_request_line_gives_method_and_path_without_query(line: bytes, expected: Request) -> None:
    assert parse_request_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"GET /metrics",
        b"GET /metrics HTTP/2",
        b"GET metrics HTTP/1.1",
        b"get /metrics HTTP/1.1",
        b"GET  /metrics HTTP/1.1",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on the plain port
    ],
)
def test_anything_else_is_not_a_request_line(line: bytes) -> None:
    assert parse_request_line(line) is None


async def test_a_known_path_is_answered_by_its_route() -> None:
    assert await respond(Request("GET", "/hello"), ROUTES) == Response(200, b"hi\n")


async def test_an_unknown_path_is_404() -> None:
    assert (await respond(Request("GET", "/nope"), ROUTES)).status == 404


async def test_methods_other_than_get_and_head_are_405_with_allow() -> None:
    response = await respond(Request("POST", "/hello"), ROUTES)
    assert response.status == 405
    assert b"\r\nAllow: GET, HEAD\r\n" in encode(response)


async def test_an_unparsable_request_is_400() -> None:
    assert (await respond(None, ROUTES)).status == 400


async def test_a_route_that_raises_is_500_not_a_dead_server() -> None:
    def broken() -> Response:
        raise RuntimeError("bug")

    assert (await respond(Request("GET", "/x"), {"/x": broken})).status == 500


def test_a_response_carries_status_type_length_and_closes() -> None:
    wire = encode(Response(503, b"stopping\n"))
    head, body = wire.split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 503 Service Unavailable",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Length: 9",
        b"Connection: close",
    ]
    assert body == b"stopping\n"


def test_head_gets_the_head_without_the_body() -> None:
    response = Response(200, b"ok\n")
    assert encode(response, with_body=False) == encode(response).removesuffix(b"ok\n")
