"""Run the sandbox server as a child process from tests, and drive it through its admin API."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from soundlink_sandbox.data import DEFAULT_SEED

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 5.0
DRAIN_TIMEOUT_SECONDS = 30.0
"""How long ``reset`` waits for requests already being answered (a slow answer its client gave up on)."""
ERROR_OUTPUT_CHARS = 4000
"""How much of the server's output, from the end, a start-up error carries."""


class SandboxStartError(RuntimeError):
    """The sandbox process exited or did not answer in time; the message carries its output."""


class SandboxProcess:
    """A sandbox server in a child process on a free loopback port, for the length of a ``with`` block.

    ``today=None`` lets the server use the real UTC date.
    """

    def __init__(
        self,
        today: dt.date | str | None = None,
        scale: int = 1,
        seed: int = DEFAULT_SEED,
        full_precision: bool = False,
        campaigns: int = 6,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.today = today
        self.scale = scale
        self.seed = seed
        self.full_precision = full_precision
        self.campaigns = campaigns
        self.extra_args = tuple(extra_args)
        self.base_url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the sandbox process is not running")
        return self._process.pid

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="soundlink-sandbox-")
        workdir = Path(self._workdir.name)
        port_file = workdir / "port"
        command = [
            sys.executable,
            "-m",
            "soundlink_sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--scale",
            str(self.scale),
            "--seed",
            str(self.seed),
        ]
        if self.today is not None:
            command += ["--today", str(self.today)]
        if self.full_precision:
            command.append("--full-precision")
        if self.campaigns != 6:
            command += ["--campaigns", str(self.campaigns)]
        command += self.extra_args
        # Output goes to a file, not a pipe nobody reads, which would block the server once full.
        self._log = (workdir / "server.log").open("wb")
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_serving(port_file)
        except BaseException:
            self.stop()
            raise

    def _wait_until_serving(self, port_file: Path) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self.output()[-ERROR_OUTPUT_CHARS:]
                raise SandboxStartError(f"the sandbox exited with {self._process.returncode}: {output}")
            if port_file.exists():
                self.base_url = f"http://127.0.0.1:{int(port_file.read_text())}"
                try:
                    self.state()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        output = self.output()[-ERROR_OUTPUT_CHARS:]
        raise SandboxStartError(f"the sandbox did not answer within {STARTUP_TIMEOUT_SECONDS:g}s: {output}")

    def output(self) -> str:
        """Return what the server has printed so far: its access log and any traceback."""
        if self._workdir is None:
            return ""
        return (Path(self._workdir.name) / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        """Stop the server by its process id: SIGTERM, then SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    # Admin API ---------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_sandbox/{path}",
            data=body,
            method=method,
            headers={"Content-Type": "application/json"} if body is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise ValueError(f"sandbox admin {method} {path} failed: {error.read().decode()}") from None

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "state")
        return result

    def set_today(self, today: dt.date | str) -> None:
        self._admin("POST", "today", {"today": str(today)})

    def add_fault(self, **spec: Any) -> str:
        """Add a fault (see :mod:`soundlink_sandbox.faults`); returns its id."""
        return str(self._admin("POST", "faults", spec)["id"])

    def clear_faults(self) -> None:
        self._admin("DELETE", "faults")

    def reset(self) -> None:
        """Clear faults and the request log, and restore the start-up today.

        Requests still being answered are waited for first: one whose client gave up on a slow answer
        is logged when the answer is written, and would otherwise land in the next test's log.
        """
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while (in_flight := self.state()["requestsInFlight"]) and time.monotonic() < deadline:
            time.sleep(0.02)
        if in_flight:
            raise RuntimeError(
                f"{in_flight} sandbox request(s) still being answered after {DRAIN_TIMEOUT_SECONDS:g}s; "
                "a client left a trickle running"
            )
        self._admin("POST", "reset")

    def requests_log(self) -> list[dict[str, Any]]:
        """List the API requests served so far: ``{"method", "path", "query", "status"}`` each."""
        requests: list[dict[str, Any]] = self._admin("GET", "requests")["requests"]
        return requests
