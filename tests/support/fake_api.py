"""Drive :class:`SoundlinkClient` in process: a ``requests`` adapter that answers from a script.

Mounted on the client's own session, it replaces only the network: the client's auth, retries, paging,
error mapping and stream checks all run as they do against a server.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3
from requests.adapters import BaseAdapter, HTTPAdapter

from airflow_provider_soundlink.client.api import SoundlinkClient
from airflow_provider_soundlink.client.settings import ClientSettings

BASE_URL = "https://api.soundlink.test"
API_KEY = "sk_unit_0123456789abcdef"


@dataclass
class Answer:
    """One scripted answer: a JSON document (``json``) or raw ``body`` bytes, with status and headers."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> tuple[bytes, dict[str, str]]:
        if self.json is None:
            return self.body, self.headers
        return json.dumps(self.json).encode(), {"Content-Type": "application/json", **self.headers}


def api_error(status: int, code: str, message: str, request_id: str = "req_unit1", **headers: str) -> Answer:
    """Build an answer in the API's documented error envelope."""
    document = {"error": {"code": code, "message": message}, "meta": {"requestId": request_id}}
    return Answer(status, document, headers={"X-Request-Id": request_id, **headers})


@dataclass
class Sent:
    """What the client sent: method, path, query and headers."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]


class FakeApi(BaseAdapter):
    """Answer each request with the next of ``answers`` (an exception is raised instead), and record it."""

    def __init__(self, *answers: Answer | BaseException) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[Sent] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **_: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        self.sent.append(
            Sent(request.method or "", parts.path, dict(parse_qsl(parts.query)), request.headers)
        )
        if not self.answers:
            raise AssertionError(f"no answer scripted for {request.method} {request.url}")
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        body, headers = answer.content()
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(body),
            headers=headers,
            status=answer.status,
            reason=requests.status_codes._codes.get(answer.status, ("",))[0].upper(),  # type: ignore[attr-defined]
            preload_content=False,
            decode_content=False,
            request_url=request.url,
        )
        return HTTPAdapter().build_response(request, raw)

    def close(self) -> None:
        """Nothing to release."""


def fake_client(*answers: Answer | BaseException, **settings: Any) -> tuple[SoundlinkClient, FakeApi]:
    """Build a client on ``BASE_URL`` whose requests ``FakeApi(*answers)`` answers; ``settings`` override the
    defaults (backoff waits are tiny unless given)."""
    client = SoundlinkClient(
        ClientSettings(
            api_key=API_KEY,
            base_url=BASE_URL,
            **{"backoff_initial": 0.001, "backoff_max": 0.002, **settings},
        )
    )
    fake = FakeApi(*answers)
    client.transport.session.mount(BASE_URL, fake)
    return client, fake
