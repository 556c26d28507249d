"""Soundlink connections and clients as the tests build them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_soundlink.client.api import SoundlinkClient
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook

FAST_RETRIES: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 10.0}
"""Waits short enough to keep retried tests quick; the policy is the same as in production."""

ConnectionSetter = Callable[..., None]
"""``set_connection(host, api_key=KEY_ALL, **extra)``: defines ``soundlink_default`` in the environment."""
HookFactory = Callable[..., SoundlinkHook]
"""``make_hook(api_key=KEY_ALL, extra=None, **hook_arguments)``: a hook on the sandbox."""
ClientFactory = Callable[..., SoundlinkClient]
"""``make_client(api_key=KEY_ALL, extra=None, **hook_arguments)``: the client a hook on the sandbox builds."""
