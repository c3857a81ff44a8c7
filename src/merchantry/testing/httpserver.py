"""
A fake third-party API for tests, on pytest-httpserver.

Point the plugin's client (or the provider's SDK) at :attr:`FakeServer.base_url`
and describe the answers the real service would give::

    with fake_server() as api:                      # or the ``fake_server`` fixture
        api.fail("POST", "/v1/labels", status=503)  # first call: a 503
        api.on("POST", "/v1/labels", json={"id": "lbl_1"}, status=201)
        ...
        assert api.requests[-1].json() == {...}

The server listens on 127.0.0.1, which Merchantry's outbound HTTP client
refuses for URLs that come from data; allow it explicitly in such tests.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

try:
    from pytest_httpserver import HTTPServer
    from werkzeug import Request, Response
except ImportError as exc:  # an optional, test-only dependency
    raise ImportError(
        "merchantry.testing.httpserver needs pytest-httpserver: pip install pytest-httpserver"
    ) from exc

__all__ = ["FakeServer", "RecordedRequest", "fake_server"]

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the fake server received."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)


class FakeServer:
    """Answers requests as told; remembers what it received."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server

    @property
    def base_url(self) -> str:
        """Return e.g. ``http://127.0.0.1:53117`` (no trailing slash)."""
        return self.server.url_for("/").rstrip("/")

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def on(
        self,
        method: str,
        path: str,
        *,
        json: Any = _UNSET,
        body: str | bytes = "",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | str | None = None,
        once: bool = False,
    ) -> None:
        """
        Answer ``method path`` with ``json`` (or ``body``). Answers given with
        ``once=True`` are used first, each a single time, in the order given.
        """
        expect = self.server.expect_oneshot_request if once else self.server.expect_request
        handler = expect(path, method=method.upper(), query_string=query)
        if json is not _UNSET:
            handler.respond_with_json(json, status=status, headers=dict(headers or {}))
        else:
            handler.respond_with_data(body, status=status, headers=dict(headers or {}))

    def fail(
        self, method: str, path: str, *, status: int = 500, times: int = 1, json: Any = _UNSET
    ) -> None:
        """Answer the next ``times`` calls of ``method path`` with ``status``."""
        payload = {"error": {"message": "fake failure"}} if json is _UNSET else json
        for _ in range(times):
            self.on(method, path, json=payload, status=status, once=True)

    def handle(self, method: str, path: str, handler: Callable[[Request], Response]) -> None:
        """Answer ``method path`` by calling ``handler`` with the werkzeug request."""
        self.server.expect_request(path, method=method.upper()).respond_with_handler(handler)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return every request received so far, oldest first."""
        return [
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=request.query_string.decode(),
                headers=dict(request.headers),
                body=request.get_data(),
            )
            for request, _response in self.server.log
        ]

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def check(self) -> None:
        """Raise if a request matched nothing or a handler failed."""
        self.server.check_assertions()
        self.server.check_handler_errors()

    def reset(self) -> None:
        """Forget every answer and every recorded request."""
        self.server.clear()


@contextmanager
def fake_server(host: str = "127.0.0.1") -> Iterator[FakeServer]:
    """Run a :class:`FakeServer` on a free port of ``host`` for the block."""
    server = HTTPServer(host=host, port=0)
    server.start()
    try:
        yield FakeServer(server)
    finally:
        server.clear()
        if server.is_running():
            server.stop()
