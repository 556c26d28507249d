"""The command line and the test harness: start-up, port file, options, stopping by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from soundlink_sandbox.data import SandboxData, utc_today
from soundlink_sandbox.testing import SandboxProcess, SandboxStartError

# Each test starts a sandbox process of its own.
pytestmark = pytest.mark.integration


def wait_for_file(path: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"no port file; exit code {process.poll()}")


def test_cli_writes_the_port_file_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "soundlink_sandbox", "--port", "0"]
    command += ["--port-file", str(port_file), "--today", "2026-02-01", "--seed", "5", "--scale", "2"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = int(wait_for_file(port_file, process))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/state", timeout=10) as response:
            state = json.loads(response.read())
        assert (state["today"], state["seed"], state["scale"]) == ("2026-02-01", 5, 2)
        assert state["accountId"] == SandboxData(seed=5).account_id
    finally:
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_sandbox_process_defaults_to_the_real_date_and_stops_its_process() -> None:
    before = utc_today().isoformat()
    with SandboxProcess() as sandbox:
        pid = sandbox.pid
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        assert sandbox.state()["today"] in {before, utc_today().isoformat()}
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_sandbox_that_cannot_start_reports_its_output() -> None:
    with pytest.raises(SandboxStartError, match="--scale must be at least 1"), SandboxProcess(scale=0):
        pass
