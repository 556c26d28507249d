"""The sandbox tests' helpers over the session's one sandbox (tests/conftest.py): plain HTTP calls and the
data set's campaigns by role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from stand_ins import SANDBOX_TODAY

from airflow_provider_soundlink.sandbox.data import SandboxData
from airflow_provider_soundlink.sandbox.keys import KEY_ALL
from airflow_provider_soundlink.sandbox.testing import SandboxProcess

TODAY = SANDBOX_TODAY


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
    """The campaigns by role: the data set's blueprint fixes which is which."""
    by_age = truth.campaigns(TODAY)
    return {
        "ended_track": by_age[0],
        "ended_playlist": by_age[1],
        "active_track": by_age[2],
        "active_playlist": by_age[3],
        "recently_ended_track": by_age[4],
        "untargeted": by_age[5],
    }
