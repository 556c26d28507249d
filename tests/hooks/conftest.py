"""Fixtures for the hook tests: hooks on the session's sandbox (tests/conftest.py), connections from
environment variables, and a scripted server for what the sandbox cannot produce."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from stand_ins import SANDBOX_TODAY

from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from airflow_provider_soundlink.sandbox.data import SandboxData
from airflow_provider_soundlink.sandbox.keys import KEY_ALL
from airflow_provider_soundlink.sandbox.testing import SandboxProcess

# Waits short enough to keep retried tests quick; the policy is the same as in production.
FAST_RETRIES: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 10.0}


@pytest.fixture(scope="session")
def truth() -> SandboxData:
    """What the session's sandbox serves."""
    return SandboxData()


@pytest.fixture(scope="session")
def campaigns(truth: SandboxData) -> list[dict[str, Any]]:
    return truth.campaigns(SANDBOX_TODAY)


@pytest.fixture(scope="session")
def track_campaign(campaigns: list[dict[str, Any]]) -> str:
    """A running campaign with catalog engagement rows, whose id is a UUID."""
    return _running(campaigns, uuid_id=True)


@pytest.fixture(scope="session")
def playlist_campaign(campaigns: list[dict[str, Any]]) -> str:
    """A running campaign with playlist engagement rows, whose id looks like camp_..."""
    return _running(campaigns, uuid_id=False)


def _running(campaigns: list[dict[str, Any]], *, uuid_id: bool) -> str:
    running = [
        campaign["campaignId"]
        for campaign in campaigns
        if campaign["status"] == "active" and campaign["campaignId"].startswith("camp_") != uuid_id
    ]
    return str(running[0])


ConnectionSetter = Callable[..., None]


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch) -> ConnectionSetter:
    """Define ``soundlink_default`` through the environment, the way deployments often do."""

    def set_connection(host: str | None, api_key: str | None = KEY_ALL, **extra: Any) -> None:
        connection: dict[str, Any] = {"conn_type": "soundlink", "extra": extra}
        if host is not None:
            connection["host"] = host
        if api_key is not None:
            connection["password"] = api_key
        monkeypatch.setenv("AIRFLOW_CONN_SOUNDLINK_DEFAULT", json.dumps(connection))

    return set_connection


HookFactory = Callable[..., SoundlinkHook]


@pytest.fixture
def make_hook(sandbox: SandboxProcess, set_connection: ConnectionSetter) -> HookFactory:
    """A hook on the sandbox with the given key, connection extras and hook arguments."""

    def make_hook(
        api_key: str | None = KEY_ALL, extra: dict[str, Any] | None = None, **kwargs: Any
    ) -> SoundlinkHook:
        set_connection(sandbox.base_url, api_key, **(extra or {}))
        return SoundlinkHook(**{**FAST_RETRIES, **kwargs})

    return make_hook


@dataclass
class ScriptedResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedServer:
    """A loopback HTTP server that answers from a script and records what it was sent.

    For what the sandbox cannot produce: bodies that are not JSON, Retry-After as an HTTP date, and a
    look at the request headers themselves.
    """

    base_url: str
    script: list[ScriptedResponse]
    received: list[dict[str, Any]]


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
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
