"""BigQuery's REST API as a recording transport: the google client library and Airflow's hooks run
unchanged over it, so hermetic tests see exactly the requests they send."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

Answer = tuple[int, Any]
Handler = Callable[[re.Match[str], Any], Answer]


class FakeBigQueryApi:
    """Answers each request from the first route whose method and path pattern match (paths as under
    ``/bigquery/v2``), 404 otherwise; ``sent`` holds (method, path, JSON body) of every request."""

    is_mtls = False

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.sent: list[tuple[str, str, Any]] = []

    def route(self, method: str, pattern: str, answer: Handler | Answer) -> None:
        handler = answer if callable(answer) else (lambda match, body, fixed=answer: fixed)
        self.routes.append((method, re.compile(pattern), handler))

    def request(self, method: str, url: str, data: Any = None, **_: Any) -> requests.Response:
        body = json.loads(data) if data else None
        path = unquote(urlsplit(url).path).removeprefix("/bigquery/v2")
        self.sent.append((method, path, body))
        status, payload = 404, {"error": {"code": 404, "message": f"Not found: {path}", "errors": []}}
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                status, payload = handler(match, body)
                break
        response = requests.Response()
        response.status_code = status
        response._content = b"" if payload is None else json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = requests.Request(method, url).prepare()
        return response

    def bodies(self, method: str, pattern: str) -> list[Any]:
        return [body for sent, path, body in self.sent if sent == method and re.fullmatch(pattern, path)]

    def client(self, project_id: str | None = None, location: str | None = None) -> bigquery.Client:
        return bigquery.Client(
            project=project_id or "my-project",
            credentials=AnonymousCredentials(),
            _http=self,  # type: ignore[arg-type]
            location=location,
        )


def error(status: int, message: str, reason: str = "invalid") -> Answer:
    return status, {
        "error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}
    }
