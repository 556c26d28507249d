"""Sending requests: the authenticated session, one attempt, the retry policy, and error mapping.

Each call is retried as a whole (tenacity) while its error is retryable, within ``max_attempts`` and
``retry_budget``; the wait between attempts is the API's Retry-After when it sent one, on any retryable
status (429, 5xx), else an exponential, jittered backoff. One attempt at a JSON call must finish within
``timeout`` seconds in total, however slowly the server sends its bytes.
"""

from __future__ import annotations

import datetime as dt
import decimal
import email.utils
import json
import logging
import socket
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from airflow_provider_soundlink import __version__
from airflow_provider_soundlink.client.settings import ClientSettings
from airflow_provider_soundlink.errors import (
    RequestContext,
    SoundlinkAPIError,
    SoundlinkError,
    SoundlinkNetworkError,
    SoundlinkUnexpectedResponseError,
    api_error,
    redact_secret,
)

# A plain module logger: Airflow routes standard logging into task logs on 2.11 and 3.x alike.
log = logging.getLogger("airflow_provider_soundlink.client")

JSON = "application/json"
_BODY_CHUNK_BYTES = 64 * 1024
_Result = TypeVar("_Result")


API_KEY_HEADER = "x-api-key"


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a URL, the port made explicit: what a credential is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


_DEFAULT_PORTS = {"http": 80, "https": 443}


class ApiKeyAuth(AuthBase):
    """Puts the key in ``x-api-key`` on requests to the API's origin only (the API rejects it next to an
    Authorization header); a request anywhere else goes without it."""

    def __init__(self, api_key: str, api_origin: tuple[str, str, int | None]) -> None:
        self._api_key = api_key
        self._origin = api_origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        if origin(request.url or "") == self._origin:
            request.headers[API_KEY_HEADER] = self._api_key
        else:
            request.headers.pop(API_KEY_HEADER, None)
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_key=***)"


class ApiSession(requests.Session):
    """A session whose redirects never carry the key away: requests strips only ``Authorization`` when
    it follows one, so ``x-api-key`` is dropped here from any redirect that leaves the API's origin (host,
    port or scheme)."""

    def __init__(self, api_origin: tuple[str, str, int | None]) -> None:
        super().__init__()
        self._api_origin = api_origin

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)
        if origin(prepared_request.url or "") != self._api_origin:
            prepared_request.headers.pop(API_KEY_HEADER, None)


RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
"""The socket's receive buffer: while the client checks a run of export lines, the server keeps sending
into it instead of waiting. The kernel's own buffer, not the process's memory; Linux caps it at
``net.core.rmem_max``."""


class _ReceiveBufferAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["socket_options"] = [
            *urllib3.connection.HTTPConnection.default_socket_options,
            (socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES),
        ]
        super().init_poolmanager(*args, **kwargs)


class Transport:
    """One authenticated HTTP session to the API and the policy for retrying its calls."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        api_origin = origin(settings.base_url)
        self.session = ApiSession(api_origin)
        for scheme in ("http://", "https://"):
            self.session.mount(scheme, _ReceiveBufferAdapter())
        self.session.auth = ApiKeyAuth(settings.api_key, api_origin)
        self.session.headers["User-Agent"] = f"airflow-provider-soundlink/{__version__}"
        self._backoff = wait_exponential_jitter(
            initial=settings.backoff_initial, max=settings.backoff_max, jitter=settings.backoff_initial
        )
        self.retry_listeners: list[Callable[[SoundlinkError], None]] = []
        """Called with the error of each attempt that is about to be tried again (the hook counts them)."""

    def context(
        self,
        path: str,
        params: dict[str, str] | None = None,
        scope: str | None = None,
        personal_params: frozenset[str] = frozenset(),
    ) -> RequestContext:
        """Describe what a request asks, for the request and for any error it ends in."""
        return RequestContext(self.settings.conn_id, path, params or {}, scope, personal_params)

    def send(self, context: RequestContext, *, accept: str = JSON) -> requests.Response:
        """One attempt, streamed: the response on success, else the matching error of the family."""
        try:
            response = self.session.get(
                self.settings.base_url + context.path,
                params=dict(context.params),
                headers={"Accept": accept},
                timeout=self.settings.timeout,
                stream=True,
                # A redirect could carry x-api-key to another host; requests strips only Authorization.
                allow_redirects=False,
            )
        except requests.RequestException as error:
            shown = context.redact(str(error))
            # The cause's own text holds the request URL with every query value: keep it out of the
            # traceback when personal values had to be redacted from it.
            cause = error if shown == str(error) else None
            raise SoundlinkNetworkError(f"Soundlink {context.target} got no response: {shown}") from cause
        if response.status_code >= 300:
            with closing(response):
                raise _error_from_response(response, context, self._deadline(), self.settings.api_key)
        return response

    def call(self, attempt: Callable[[], _Result]) -> _Result:
        """Run ``attempt`` until it succeeds or fails with an error no retry can fix, or retries run out."""
        settings = self.settings
        retrying = Retrying(
            stop=stop_after_attempt(settings.max_attempts) | stop_before_delay(settings.retry_budget),
            wait=self._wait,
            retry=retry_if_exception(lambda error: isinstance(error, SoundlinkError) and error.retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        started = time.monotonic()
        try:
            return retrying(attempt)
        except SoundlinkAPIError as error:
            left = settings.retry_budget - (time.monotonic() - started)
            if error.retryable and error.retry_after is not None and error.retry_after > left:
                raise _beyond_budget(error, settings, max(0.0, left)) from error
            raise

    def get_json(self, context: RequestContext) -> dict[str, Any]:
        """Get a JSON object, retried as a whole; each attempt read within ``timeout`` seconds."""

        def attempt() -> dict[str, Any]:
            deadline = self._deadline()
            with closing(self.send(context)) as response:
                body = _read_body(response, context, deadline)
            try:
                parsed = json.loads(body, parse_float=decimal.Decimal, parse_constant=refuse_json_constant)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                unexpected_answer(response.status_code, response.headers, body, context, "a JSON object")
            return parsed

        return self.call(attempt)

    def _deadline(self) -> float:
        return time.monotonic() + self.settings.timeout

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if not isinstance(error, SoundlinkError):
            return
        log.warning(
            "Soundlink attempt %d of %d failed (status %s, code %s, request id %s); retrying in %.2f s: %s",
            state.attempt_number,
            self.settings.max_attempts,
            error.status,
            error.code,
            error.request_id,
            state.upcoming_sleep,
            error,
        )
        for listener in self.retry_listeners:
            listener(error)


def _beyond_budget(error: SoundlinkAPIError, settings: ClientSettings, left: float) -> SoundlinkAPIError:
    """``error`` again, saying how long the API asked to wait and why the client did not."""
    where = f"the retry_budget of connection '{settings.conn_id}'" if settings.conn_id else "retry_budget"
    message = (
        f"{error.api_message}; the API asked to wait {error.retry_after:.0f} s (Retry-After), more than the "
        f"{left:.0f} s left of {where} ({settings.retry_budget:.0f} s): raise it, or run later"
    )
    return type(error)(
        error.status or 0, error.code, message, error.request_id, error.context, error.retry_after
    )


class BodyReadError(Exception):
    """A body broke off, or was still arriving at its deadline; the caller names it in its own error."""


def iter_body(
    response: requests.Response, deadline: float, limit_name: str, read_bytes: int = _BODY_CHUNK_BYTES
) -> Iterator[bytes]:
    """Yield a streamed body's bytes as they arrive, until its end, or raise :class:`BodyReadError`.

    Each read returns what one socket read gives (``read1``), so a server that trickles bytes, each
    within the socket timeout, still meets the deadline: reading whole chunks would block until a chunk
    was full, however long that took.
    """
    raw = response.raw
    encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
    decompressor = _zlib_decompressor(encoding)
    # Without a content encoding urllib3 hands each read over as it came; asked to decode, it would copy
    # every byte once more through its buffer of decoded bytes. gzip and deflate are decoded here, so
    # that a body cut at a flush point, its trailer missing, is seen; urllib3 decodes any other.
    decode = bool(encoding) and decompressor is None
    received = 0
    try:
        while True:
            if time.monotonic() > deadline:
                raise BodyReadError(f"it did not finish within {limit_name} ({received} bytes received)")
            chunk = raw.read1(read_bytes, decode_content=decode)
            if not chunk:
                if decompressor is not None and not decompressor.eof:
                    raise BodyReadError(
                        f"its {encoding} body ended without its trailer after {received} bytes"
                    )
                return
            received += len(chunk)
            if decompressor is not None:
                chunk = decompressor.decompress(chunk)
                if not chunk:
                    continue
            yield chunk
    except (urllib3.exceptions.HTTPError, OSError, zlib.error) as error:
        raise BodyReadError(f"it broke off after {received} bytes: {error}") from None


def _zlib_decompressor(encoding: str) -> Any:
    """Build a decompressor for a gzip or deflate body (RFC 9110: deflate is the zlib format); None for any
    other encoding."""
    if encoding in {"gzip", "x-gzip"}:
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


def _read_body(response: requests.Response, context: RequestContext, deadline: float) -> bytes:
    """Read the whole body; raise a retryable network error once ``deadline`` passes or the stream breaks."""
    try:
        return b"".join(iter_body(response, deadline, "the connection's timeout"))
    except BodyReadError as error:
        raise SoundlinkNetworkError(
            f"Soundlink {context.target} did not answer completely: {context.redact(str(error))}"
        ) from None


def unexpected_answer(
    status: int, headers: Mapping[str, str], body: bytes, context: RequestContext, expected: str
) -> NoReturn:
    """Raise the error for an answer the docs do not describe, with the API's error code and message
    and request id where the body is the documented error envelope."""
    request_id = headers.get("X-Request-Id")
    code: str | None = None
    text = body[:_SHOWN_BODY_BYTES].decode("utf-8", errors="replace")
    message = f"the answer is {headers.get('Content-Type') or 'untyped'}: {text[:200]!r}"
    try:
        parsed = json.loads(body, parse_constant=refuse_json_constant)
    except ValueError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        code = None if error.get("code") is None else str(error["code"])
        message = f"the answer is the API's error object: {error.get('message') or 'no message'}"
        meta = parsed.get("meta")
        if isinstance(meta, dict) and meta.get("requestId"):
            request_id = str(meta["requestId"])
    raise SoundlinkUnexpectedResponseError(status, code, message, request_id, context, expected=expected)


_SHOWN_BODY_BYTES = 64 * 1024


def refuse_json_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259, section 6), though Python's reader
    takes them: every reader of the provider refuses them."""
    raise ValueError(f"{name} is not a JSON value")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds to wait: it is either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _error_from_response(
    response: requests.Response, context: RequestContext, deadline: float, api_key: str
) -> SoundlinkAPIError:
    """Build the error of the family for an error status; the key is cut out of whatever the API wrote, in
    whatever form it echoes it (the family's own scrubbing catches only ``sk_...`` shapes)."""
    code: str | None = None
    message = response.reason or "no message"
    request_id = response.headers.get("X-Request-Id")
    try:
        text = _read_body(response, context, deadline).decode("utf-8", errors="replace").strip()
    except SoundlinkNetworkError:
        text = ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = None if error.get("code") is None else str(error["code"])
        message = str(error.get("message") or message)
        meta = body.get("meta") if isinstance(body, dict) else None
        if isinstance(meta, dict) and meta.get("requestId"):
            request_id = meta["requestId"]
    elif text:
        message = f"{message}; the body is not the documented error JSON: {text[:200]!r}"
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location") or "(no Location header)"
        message = f"{message}; it redirects to {context.redact(location)}"
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    message = redact_secret(message, api_key)
    return api_error(response.status_code, code, message, request_id, context, retry_after)
