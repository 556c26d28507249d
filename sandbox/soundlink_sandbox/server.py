"""HTTP transport of the sandbox: auth, faults, JSON and JSONL answers, and the admin API."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from soundlink_sandbox.api import (
    ApiError,
    ApiRequest,
    ExportResult,
    JsonResult,
    Listing,
    PageOptions,
    SandboxApi,
)
from soundlink_sandbox.bodies import Trickle, announced_rows, batches, faulted_lines
from soundlink_sandbox.data import SCHEMA_VERSION, SandboxData
from soundlink_sandbox.encoding import dumps
from soundlink_sandbox.faults import (
    ARRIVAL_KINDS,
    ENCODING_KINDS,
    ERROR_KINDS,
    EXPORT_ROW_KINDS,
    EXPORT_SHAPE_KINDS,
    FRAMING_KINDS,
    JSON_SHAPE_KINDS,
    LISTING_ROW_KINDS,
    MOVING_KINDS,
    PACING_KINDS,
    PAGING_KINDS,
    Fault,
    FaultBook,
    FaultKind,
    FaultSpecError,
)
from soundlink_sandbox.keys import KEY_GRANTS, KeyGrant, KeyState

ADMIN_PREFIX = "/_sandbox"
EXPORT_CHUNK_BYTES = 64 * 1024
_FAULT_CODES = {
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_REDIRECT_CODES = {
    301: "moved_permanently",
    302: "found",
    307: "temporary_redirect",
    308: "permanent_redirect",
}


class SandboxState:
    """What the admin API changes or reads at run time: the sandbox's today, the faults, the request
    log, and how many API requests are being answered right now."""

    def __init__(self, today: dt.date) -> None:
        self.startup_today = today
        self.faults = FaultBook()
        self._lock = threading.Lock()
        self._today = today
        self._requests: list[dict[str, Any]] = []
        self._in_flight = 0

    @property
    def today(self) -> dt.date:
        with self._lock:
            return self._today

    @today.setter
    def today(self, value: dt.date) -> None:
        with self._lock:
            self._today = value

    def record(self, method: str, path: str, query: dict[str, str], status: int | None) -> None:
        with self._lock:
            self._requests.append({"method": method, "path": path, "query": query, "status": status})

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Count an API request as in flight while it is being answered; a test can see a trickle that its
        client gave up on end, rather than write on for minutes."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def reset(self) -> None:
        self.faults.clear()
        with self._lock:
            self._requests.clear()
            self._today = self.startup_today


ANSWER_TIME = dt.time(12, 0)
"""The sandbox's time of day: after every row's export time (06:MM), so an answer is never older than the
rows it carries, as on a real server, whose ``exported_at`` and ``Date`` come from one clock."""


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], data: SandboxData, today: dt.date) -> None:
        super().__init__(address, SandboxRequestHandler)
        self.api = SandboxApi(data)
        self.state = SandboxState(today)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Treat a client that drops its connection (a timeout, a deadline, a closed session) as normal
        traffic, not a server fault: print only other errors, with their traceback."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SandboxServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def date_time_string(self, timestamp: float | None = None) -> str:
        """Every answer's ``Date``: the sandbox's clock, which reads ``ANSWER_TIME`` on its today."""
        now = dt.datetime.combine(self.server.state.today, ANSWER_TIME, dt.UTC)
        return email.utils.format_datetime(now, usegmt=True)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Query strings can hold personal data (subscriber ids), headers the key: neither is logged.
        sys.stderr.write(f"{self.command} {urlsplit(self.path).path} {code}\n")

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        body = self._read_body()
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            self._admin(path, body)
            return
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        with self.server.state.answering():
            _ApiExchange(self, path, query).run()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, trickle: Fault | None = None
    ) -> None:
        body = dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.body_writer(trickle)(body)

    def body_writer(self, trickle: Fault | None) -> Callable[[bytes], object]:
        """Where the body goes once the headers are sent: straight to the socket, or trickled."""
        if trickle is None:
            return self.wfile.write
        return Trickle(self.wfile.write, trickle.options["bytes_per_second"]).write

    # Admin API -----------------------------------------------------------------------------------

    def _admin(self, path: str, body: bytes) -> None:
        state = self.server.state
        action = (self.command, path[len(ADMIN_PREFIX) :])
        try:
            if action == ("GET", "/state"):
                self.send_json(200, self._state())
            elif action == ("GET", "/requests"):
                self.send_json(200, {"requests": state.requests()})
            elif action == ("POST", "/today"):
                state.today = _parse_today(_json_body(body))
                self.send_json(200, self._state())
            elif action == ("POST", "/faults"):
                fault = state.faults.add(_json_body(body))
                self.send_json(201, {"id": fault.id})
            elif action == ("DELETE", "/faults"):
                state.faults.clear()
                self.send_json(200, self._state())
            elif action == ("POST", "/reset"):
                state.reset()
                self.send_json(200, self._state())
            else:
                message = f"No admin route {self.command} {path}"
                self.send_json(404, _error_body("not_found", message, new_request_id()))
        except (FaultSpecError, ValueError) as error:
            self.send_json(400, _error_body("invalid_admin_request", str(error), new_request_id()))

    def _state(self) -> dict[str, Any]:
        state = self.server.state
        data = self.server.api.data
        return {
            "today": state.today.isoformat(),
            "startupToday": state.startup_today.isoformat(),
            "seed": data.seed,
            "scale": data.scale,
            "fullPrecision": data.full_precision,
            "campaigns": len(data.campaign_ids()),
            "accountId": data.account_id,
            "faults": state.faults.describe(),
            "requestCount": len(state.requests()),
            "requestsInFlight": state.in_flight,
        }


class _ApiExchange:
    """One API request, from transport faults through auth and routing to the written answer."""

    def __init__(self, handler: SandboxRequestHandler, path: str, query: dict[str, str]) -> None:
        self.handler = handler
        self.server = handler.server
        self.path = path
        self.query = query
        self.request_id = new_request_id()
        self.responded = False

    def run(self) -> None:
        faults = self.server.state.faults
        fault = faults.take(self.path, ARRIVAL_KINDS)
        if fault is not None and fault.kind is FaultKind.RESET:
            self._record(None)
            self.handler.close_connection = True
            return
        if fault is not None and fault.kind is FaultKind.SLOW:
            time.sleep(fault.options["delay"])
        try:
            if fault is not None and fault.kind is FaultKind.STATUS:
                raise _injected_error(fault)
            if fault is not None and fault.kind is FaultKind.REDIRECT:
                self._send_redirect(fault)
                return
            if fault is not None and fault.kind is FaultKind.HTML_PAGE:
                self._send_html_page()
                return
            result = self._route()
            if isinstance(result, JsonResult):
                self._send_result(result)
            elif isinstance(result, Listing):
                self._send_result(result.build(self._page_options(result)))
            else:
                self._stream_export(result)
        except ApiError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            # The client went away mid-answer (a trickle it gave up on, a cut it saw): nothing to log.
            self.handler.close_connection = True
        except Exception as error:
            # An unexpected bug still answers in the documented envelope, unless a stream had begun.
            if not self.responded:
                self._send_error(ApiError(500, "internal_error", f"Internal error ({type(error).__name__})"))
            raise

    def _route(self) -> JsonResult | Listing | ExportResult:
        grant = self._authenticate()
        resolved = self.server.api.resolve(self.path) if self.handler.command == "GET" else None
        if resolved is None:
            raise ApiError(404, "not_found", f"No route {self.handler.command} {self.path}")
        route, path_params = resolved
        if route.scope is not None and route.scope not in grant.scopes:
            raise ApiError(403, "insufficient_scope", f"This API key lacks the {route.scope} scope")
        request = ApiRequest(path_params, self.query, self.server.state.today)
        return route.handler(self.server.api, request)

    def _authenticate(self) -> KeyGrant:
        headers = self.handler.headers
        api_key = headers.get("x-api-key")
        if api_key is not None and headers.get("Authorization") is not None:
            raise ApiError(
                401, "mixed_credentials", "Send the API key in x-api-key only, not with a Bearer token"
            )
        if not api_key:
            raise ApiError(401, "invalid_api_key", "Missing API key: send it in the x-api-key header")
        grant = KEY_GRANTS.get(api_key)
        if grant is None:
            raise ApiError(401, "invalid_api_key", "The API key is not valid")
        if grant.state is KeyState.REVOKED:
            raise ApiError(401, "api_key_revoked", "The API key has been revoked")
        if grant.state is KeyState.EXPIRED:
            raise ApiError(401, "api_key_expired", "The API key has expired")
        if grant.state is KeyState.API_DISABLED:
            raise ApiError(404, "not_found", f"No route {self.handler.command} {self.path}")
        return grant

    def _record(self, status: int | None) -> None:
        self.responded = True
        self.server.state.record(self.handler.command, self.path, self.query, status)

    def _page_options(self, listing: Listing) -> PageOptions:
        faults = self.server.state.faults
        page_cap = faults.take(self.path, PAGING_KINDS)
        shift = faults.take(self.path, MOVING_KINDS) if listing.later_page else None
        rows_fault = faults.take(self.path, LISTING_ROW_KINDS) if listing.has_rows else None
        return PageOptions(
            schema_version=_schema_version(rows_fault),
            max_items=None if page_cap is None else page_cap.options["max_items"],
            shift=0 if shift is None else 1,
        )

    def _send_result(self, result: JsonResult) -> None:
        faults = self.server.state.faults
        shape = faults.take(self.path, JSON_SHAPE_KINDS)
        trickle = faults.take(self.path, PACING_KINDS)
        self._record(200)
        payload: Any = {"data": result.data, "meta": {**result.meta, "requestId": self.request_id}}
        if shape is not None:
            payload = result.data
        self.handler.send_json(200, payload, {"X-Request-Id": self.request_id}, trickle)

    def _send_html_page(self) -> None:
        self._record(200)
        body = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in.</body></html>"
        self.handler.send_response(200)
        self.handler.send_header("Content-Type", "text/html; charset=utf-8")
        self.handler.send_header("Content-Length", str(len(body)))
        self.handler.end_headers()
        self.handler.wfile.write(body)

    def _send_error(self, error: ApiError) -> None:
        self._record(error.status)
        headers = {"X-Request-Id": self.request_id, **error.headers}
        message = error.message
        api_key = self.handler.headers.get("x-api-key")
        if api_key and self.server.state.faults.take(self.path, ERROR_KINDS) is not None:
            message = f"{message} (x-api-key: {api_key})"
        self.handler.send_json(error.status, _error_body(error.code, message, self.request_id), headers)

    def _send_redirect(self, fault: Fault) -> None:
        status, location = int(fault.options["status"]), str(fault.options["location"])
        self._record(status)
        body = _error_body(
            _REDIRECT_CODES[status],
            f"Injected fault {fault.id}: HTTP {status} to {location}",
            self.request_id,
        )
        self.handler.send_json(status, body, {"X-Request-Id": self.request_id, "Location": location})

    def _stream_export(self, export: ExportResult) -> None:
        faults = self.server.state.faults
        shape = faults.take(self.path, EXPORT_SHAPE_KINDS)
        if shape is not None:
            self._send_json_error_on_200(str(shape.options["code"]))
            return
        rows_fault = faults.take(self.path, EXPORT_ROW_KINDS)
        framing = faults.take(self.path, FRAMING_KINDS)
        unframed = framing if framing is not None and framing.kind is FaultKind.UNFRAMED else None
        gzip = faults.take(self.path, ENCODING_KINDS)
        trickle = faults.take(self.path, PACING_KINDS)
        handler = self.handler
        self._record(200)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Content-Disposition", f'attachment; filename="{export.filename}"')
        if framing is not None and framing.kind is FaultKind.ROW_COUNT:
            handler.send_header("X-Row-Count", str(framing.options["value"]))
        elif unframed is None or unframed.options["row_count_header"]:
            handler.send_header("X-Row-Count", str(announced_rows(export.row_count, rows_fault)))
        handler.send_header("X-Request-Id", self.request_id)
        if gzip is not None:
            handler.send_header("Content-Encoding", "gzip")
        if unframed is None:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            # No length and no chunks: the client reads until the connection closes (HTTP/1.0 style).
            handler.send_header("Connection", "close")
        handler.end_headers()

        write = handler.body_writer(trickle)
        compressor = None if gzip is None else zlib.compressobj(wbits=31)

        def send(data: bytes) -> None:
            if data:
                write(data if unframed is not None else b"%x\r\n%s\r\n" % (len(data), data))

        lines = faulted_lines(
            export.lines(_schema_version(rows_fault)), export.row_count, rows_fault, unframed is not None
        )
        for chunk in batches(lines, EXPORT_CHUNK_BYTES):
            # Each chunk ends at a flush point, whole lines compressed so far decompress on their own.
            send(
                chunk
                if compressor is None
                else compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
            )
        cut = rows_fault is not None and rows_fault.kind is FaultKind.CUT
        if compressor is not None and gzip is not None and gzip.options["trailer"] and not cut:
            send(compressor.flush(zlib.Z_FINISH))
        if unframed is not None:
            # Sending "Connection: close" set the handler to close the connection: that ends the body.
            return
        if cut:
            # Without the terminating zero-length chunk the client sees a truncated body.
            handler.close_connection = True
            return
        write(b"0\r\n\r\n")

    def _send_json_error_on_200(self, code: str) -> None:
        self._record(200)
        body = _error_body(code, f"Injected fault: {code} answered with 200", self.request_id)
        self.handler.send_json(200, body, {"X-Request-Id": self.request_id})


def _schema_version(fault: Fault | None) -> str:
    if fault is not None and fault.kind is FaultKind.SCHEMA_VERSION:
        return str(fault.options["version"])
    return SCHEMA_VERSION


def _injected_error(fault: Fault) -> ApiError:
    status = int(fault.options["status"])
    code = fault.options.get("code") or _FAULT_CODES.get(
        status, "internal_error" if status >= 500 else "error"
    )
    headers = {}
    if "retry_after" in fault.options:
        headers["Retry-After"] = str(fault.options["retry_after"])
    return ApiError(status, code, f"Injected fault {fault.id}: HTTP {status}", headers)


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


def _error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, "meta": {"requestId": request_id}}


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"the request body is not JSON: {error}") from None


def _parse_today(payload: Any) -> dt.date:
    raw = payload.get("today") if isinstance(payload, dict) else None
    if not isinstance(raw, str):
        raise ValueError('send {"today": "YYYY-MM-DD"}')
    return dt.date.fromisoformat(raw)
