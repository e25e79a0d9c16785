"""A webhook on 127.0.0.1 for Apprise's ``json://`` channel: POST /fail... answers 500, any
other path 200; every post is kept as (path, JSON payload)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class Hook:
    url: str
    """``json://127.0.0.1:PORT``: add a path (``/ok``) to post there."""
    posts: list[tuple[str, dict[str, Any]]]

    def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The payloads, once there are ``count`` of them (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return [payload for _, payload in self.posts]


@contextmanager
def webhook_server() -> Iterator[Hook]:
    posts: list[tuple[str, dict[str, Any]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append((self.path, json.loads(body)))
            self.send_response(500 if self.path.startswith("/fail") else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hook(f"json://127.0.0.1:{server.server_address[1]}", posts)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
