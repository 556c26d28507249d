"""Build the Soundlink client from an Airflow connection: its settings, its form, and secret masking.

``SoundlinkHook(...).get_conn()`` is a :class:`~airflow_provider_soundlink.client.api.SoundlinkClient`,
which makes every call of the API; the hook adds what only Airflow has.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, TypeVar

from airflow_provider_soundlink import metrics
from airflow_provider_soundlink.client.api import SoundlinkClient
from airflow_provider_soundlink.client.defaults import (
    DEFAULT_EXPORT_TIMEOUT_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_BUDGET_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
)
from airflow_provider_soundlink.client.settings import ClientSettings
from airflow_provider_soundlink.compat import AirflowProviderDeprecationWarning, BaseHook, mask_secret
from airflow_provider_soundlink.errors import SoundlinkConfigurationError, secret_forms
from airflow_provider_soundlink.hooks import connection_form
from airflow_provider_soundlink.hooks.connection_form import (
    OLD_PSEUDONYMISATION_KEY,
    PSEUDONYMISATION_EXTRAS,
    PSEUDONYMISATION_SECRET,
)

_Number = TypeVar("_Number", int, float)


class SoundlinkHook(BaseHook):
    """Connect to the Soundlink Public API with the API key of an Airflow connection.

    The key is the connection's password, the base URL its host (https is assumed without a scheme; plain
    http is accepted only for loopback hosts, or where the extra ``allow_insecure_http`` is true, as on a
    private container network). ``timeout`` (seconds for one whole request), ``export_timeout`` (seconds
    for one attempt at an export stream), ``max_attempts`` and ``retry_budget`` (seconds across all
    attempts of one call) come from the arguments, else from the connection's extras of the same names,
    else from the defaults of :class:`~airflow_provider_soundlink.client.settings.ClientSettings`.
    ``backoff_initial`` and ``backoff_max`` bound the wait between attempts unless the API asks for one
    (Retry-After); ``progress_interval`` is the least time between two progress lines of an export.
    """

    conn_name_attr = "soundlink_conn_id"
    default_conn_name = "soundlink_default"
    conn_type = connection_form.CONNECTION_TYPE
    hook_name = connection_form.HOOK_NAME

    def __init__(
        self,
        soundlink_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        export_timeout: float | None = None,
        max_attempts: int | None = None,
        retry_budget: float | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        progress_interval: float = 30.0,
    ) -> None:
        super().__init__()
        self.soundlink_conn_id = soundlink_conn_id
        self._explicit = {
            "timeout": timeout,
            "export_timeout": export_timeout,
            "max_attempts": max_attempts,
            "retry_budget": retry_budget,
        }
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._progress_interval = progress_interval

    def __repr__(self) -> str:
        return f"{type(self).__name__}(soundlink_conn_id={self.soundlink_conn_id!r})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return connection_form.ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        return connection_form.form_widgets()

    @cached_property
    def _connection(self) -> Any:
        connection = self.get_connection(self.soundlink_conn_id)
        extras = connection.extra_dejson
        for secret in (connection.password, *(extras.get(name) for name in PSEUDONYMISATION_EXTRAS)):
            if secret and str(secret).strip():
                # Every form a server or a library may repeat it in: with its newline, URL-encoded, ...
                for form in secret_forms(str(secret)):
                    mask_secret(form)
        return connection

    @cached_property
    def settings(self) -> ClientSettings:
        """The client settings from the arguments, the connection's extras and the defaults."""
        extras: Mapping[str, Any] = self._connection.extra_dejson
        return ClientSettings(
            api_key=self._connection.password or "",
            base_url=self._connection.host,
            timeout=self._setting("timeout", extras, DEFAULT_TIMEOUT_SECONDS, float),
            export_timeout=self._setting("export_timeout", extras, DEFAULT_EXPORT_TIMEOUT_SECONDS, float),
            max_attempts=self._setting("max_attempts", extras, DEFAULT_MAX_ATTEMPTS, int),
            retry_budget=self._setting("retry_budget", extras, DEFAULT_RETRY_BUDGET_SECONDS, float),
            backoff_initial=self._backoff_initial,
            backoff_max=self._backoff_max,
            progress_interval=self._progress_interval,
            allow_insecure_http=_truthy(extras.get("allow_insecure_http")),
            conn_id=self.soundlink_conn_id,
        )

    def _setting(
        self, name: str, extras: Mapping[str, Any], default: _Number, kind: Callable[[Any], _Number]
    ) -> _Number:
        explicit = self._explicit[name]
        raw = explicit if explicit is not None else extras.get(name)
        if raw is None or raw == "":
            return default
        try:
            return kind(raw)
        except (TypeError, ValueError):
            raise SoundlinkConfigurationError(
                f"'{name}' of connection '{self.soundlink_conn_id}' must be a positive number, got {raw!r}"
            ) from None

    @cached_property
    def client(self) -> SoundlinkClient:
        client = SoundlinkClient(self.settings)
        client.transport.retry_listeners.append(metrics.api_retry)
        return client

    def get_conn(self) -> SoundlinkClient:
        """Return the client, authenticated with the connection's key (built once per hook)."""
        return self.client

    def test_connection(self) -> tuple[bool, str]:
        """Check that the connection's key reaches the API, as the connection editor's Test button does."""
        try:
            return self.get_conn().ping()
        except SoundlinkConfigurationError as error:
            return False, str(error)

    @property
    def pseudonymisation_secret(self) -> str:
        """The secret with which personal data from link statistics is hashed: the extra
        ``pseudonymisation_secret``, a name Airflow's UI and API hide as sensitive (the old name
        ``pseudonymisation_key``, which they show, is still read, with a deprecation warning)."""
        extras = self._connection.extra_dejson
        secret, old = extras.get(PSEUDONYMISATION_SECRET), extras.get(OLD_PSEUDONYMISATION_KEY)
        if not secret and old:
            warnings.warn(
                f"connection '{self.soundlink_conn_id}' keeps its pseudonymisation secret in the extra "
                f"{OLD_PSEUDONYMISATION_KEY!r}, which Airflow's connection editor and REST API show in "
                f"clear; rename it to {PSEUDONYMISATION_SECRET!r}, which they hide",
                AirflowProviderDeprecationWarning,
                stacklevel=2,
            )
            secret = old
        if not secret or not str(secret).strip():
            raise SoundlinkConfigurationError(
                f"connection '{self.soundlink_conn_id}' has no {PSEUDONYMISATION_SECRET} extra; set a long "
                "random secret there before loading personal data from link statistics"
            )
        return str(secret)


def _truthy(value: Any) -> bool:
    """Read an extra's boolean, whether the connection stored it as JSON true or as the string "true"."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)
