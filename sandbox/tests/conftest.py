"""The sandbox's own tests: one sandbox process for the session, plain HTTP calls, and the data set's
campaigns by role. Every test here is of the integration tier: the sandbox is a server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.keys import KEY_ALL
from soundlink_sandbox.testing import SandboxProcess

TODAY = dt.date(2026, 6, 15)
"""A fixed "today" for the sandbox, so its data (and every assertion on it) never depends on the clock."""
TESTS_ROOT = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(TESTS_ROOT):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def _sandbox_process() -> Iterator[SandboxProcess]:
    with SandboxProcess(today=TODAY) as process:
        yield process


@pytest.fixture
def sandbox(_sandbox_process: SandboxProcess) -> SandboxProcess:
    """Reset the session's sandbox for this test: no faults, empty request log, ``TODAY``."""
    _sandbox_process.reset()
    return _sandbox_process


class SandboxClient:
    """Plain HTTP calls against a running sandbox, with the all-scopes key unless told otherwise."""

    def __init__(self, process: SandboxProcess, session: requests.Session) -> None:
        self.process = process
        self.session = session

    def get(self, path: str, key: str | None = KEY_ALL, **params: Any) -> requests.Response:
        headers = {} if key is None else {"x-api-key": key}
        return self.session.get(self.process.base_url + path, headers=headers, params=params, timeout=30)

    def export(
        self, kind: str, campaign_id: str, start: dt.date, end: dt.date, **params: Any
    ) -> requests.Response:
        return self.get(
            f"/v1/campaigns/{campaign_id}/metrics/{kind}/export",
            startDate=start.isoformat(),
            endDate=end.isoformat(),
            **params,
        )


@pytest.fixture
def client(sandbox: SandboxProcess) -> Iterator[SandboxClient]:
    with requests.Session() as session:
        yield SandboxClient(sandbox, session)


@pytest.fixture(scope="session")
def truth() -> SandboxData:
    return SandboxData()


@pytest.fixture(scope="session")
def campaigns(truth: SandboxData) -> dict[str, dict[str, Any]]:
    """Pick out the campaigns by role: the data set's blueprint fixes which is which."""
    by_age = truth.campaigns(TODAY)
    return {
        "ended_track": by_age[0],
        "ended_playlist": by_age[1],
        "active_track": by_age[2],
        "active_playlist": by_age[3],
        "recently_ended_track": by_age[4],
        "untargeted": by_age[5],
    }
