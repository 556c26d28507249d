"""Fixtures of the integration tier: hooks and clients on the session's sandbox, its campaigns by role,
and a scripted server for what the sandbox will not send."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_soundlink.client.api import SoundlinkClient
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.keys import KEY_ALL
from soundlink_sandbox.testing import SandboxProcess
from support.connections import FAST_RETRIES, ClientFactory, ConnectionSetter, HookFactory
from support.emulators import SANDBOX_TODAY
from support.scripted_server import ScriptedServer
from support.scripted_server import scripted_server as serve_script


@pytest.fixture(scope="session")
def campaigns(truth: SandboxData) -> list[dict[str, Any]]:
    return truth.campaigns(SANDBOX_TODAY)


@pytest.fixture(scope="session")
def track_campaign(campaigns: list[dict[str, Any]]) -> str:
    """Pick a running campaign with catalog engagement rows, whose id is a UUID."""
    return _running(campaigns, uuid_id=True)


@pytest.fixture(scope="session")
def playlist_campaign(campaigns: list[dict[str, Any]]) -> str:
    """Pick a running campaign with playlist engagement rows, whose id looks like camp_..."""
    return _running(campaigns, uuid_id=False)


def _running(campaigns: list[dict[str, Any]], *, uuid_id: bool) -> str:
    running = [
        campaign["campaignId"]
        for campaign in campaigns
        if campaign["status"] == "active" and campaign["campaignId"].startswith("camp_") != uuid_id
    ]
    return str(running[0])


@pytest.fixture
def make_hook(sandbox: SandboxProcess, set_connection: ConnectionSetter) -> HookFactory:
    """Make a hook on the sandbox with the given key, connection extras and hook arguments."""

    def make_hook(
        api_key: str | None = KEY_ALL, extra: dict[str, Any] | None = None, **kwargs: Any
    ) -> SoundlinkHook:
        set_connection(sandbox.base_url, api_key, **(extra or {}))
        return SoundlinkHook(**{**FAST_RETRIES, **kwargs})

    return make_hook


@pytest.fixture
def make_client(make_hook: HookFactory) -> ClientFactory:
    """Make the client that a hook on the sandbox builds (see ``make_hook``)."""

    def make_client(*args: Any, **kwargs: Any) -> SoundlinkClient:
        return make_hook(*args, **kwargs).get_conn()

    return make_client


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    with serve_script() as server:
        yield server
