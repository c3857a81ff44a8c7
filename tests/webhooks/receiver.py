"""A merchant's webhook receiver for the tests: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers each POST with the next scripted status (200 once the script runs out)."""

    def __init__(self) -> None:
        self.statuses: deque[int] = deque()
        self.delay = 0.0
        self.received: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Delivery(self.path, dict(self.headers), body))
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                """Keep the test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def answer(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


TOLERANCE_SECONDS = 300


def is_from_merchantry(secret: str, body: bytes, headers) -> bool:
    """Return True when the delivery's signature is valid and fresh."""
    # Copied verbatim from docs/webhooks.md: the tests check what merchants will run.
    timestamp = headers.get("Merchantry-Webhook-Timestamp", "")
    signatures = headers.get("Merchantry-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(
        hmac.compare_digest(value.strip().removeprefix("v1="), expected)
        for value in signatures.split(",")
        if value.strip().startswith("v1=")
    )


def verify(secret: str, delivery: Delivery) -> bool:
    """Check a delivery's signature as docs/webhooks.md tells merchants to."""
    return is_from_merchantry(secret, delivery.body, delivery.headers)
