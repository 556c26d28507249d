"""A loopback HTTP server that answers from a script and records what it was sent.

For what neither the sandbox nor a fake transport gives: a real socket for a response the sandbox will not
send, such as a redirect target on another origin.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ScriptedResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedServer:
    base_url: str
    script: list[ScriptedResponse]
    received: list[dict[str, Any]]


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """Serve ``script`` in order on a free loopback port (599 once it is exhausted); stop on exit."""
    script: list[ScriptedResponse] = []
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.append({"path": self.path, "headers": dict(self.headers)})
            answer = script.pop(0) if script else ScriptedResponse(599, b"script exhausted")
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ScriptedServer(f"http://127.0.0.1:{server.server_address[1]}", script, received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
