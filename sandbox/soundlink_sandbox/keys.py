"""The sandbox's fixed API keys and what each one is allowed to do.

| key                    | outcome                                                         |
|------------------------|-----------------------------------------------------------------|
| ``sk_sandbox_all``       | ``campaigns:read`` and ``metrics:read``                         |
| ``sk_sandbox_metrics``   | ``metrics:read`` only                                           |
| ``sk_sandbox_campaigns`` | ``campaigns:read`` only                                         |
| ``sk_sandbox_revoked``   | 401 ``api_key_revoked``                                         |
| ``sk_sandbox_expired``   | 401 ``api_key_expired``                                         |
| ``sk_sandbox_disabled``  | 404 ``not_found`` on every route (Public API disabled for the org) |

Any other key, or none, is 401 ``invalid_api_key``; ``Authorization: Bearer`` sent together with
``x-api-key`` is 401 ``mixed_credentials``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

SCOPE_CAMPAIGNS_READ = "campaigns:read"
SCOPE_METRICS_READ = "metrics:read"

KEY_ALL = "sk_sandbox_all"
KEY_METRICS_ONLY = "sk_sandbox_metrics"
KEY_CAMPAIGNS_ONLY = "sk_sandbox_campaigns"
KEY_REVOKED = "sk_sandbox_revoked"
KEY_EXPIRED = "sk_sandbox_expired"
KEY_API_DISABLED = "sk_sandbox_disabled"


class KeyState(enum.Enum):
    """Where a key stands in its lifecycle, which decides the answer before any scope check."""

    USABLE = "usable"
    REVOKED = "revoked"
    EXPIRED = "expired"
    API_DISABLED = "api_disabled"


@dataclass(frozen=True)
class KeyGrant:
    state: KeyState
    scopes: frozenset[str] = frozenset()


KEY_GRANTS: dict[str, KeyGrant] = {
    KEY_ALL: KeyGrant(KeyState.USABLE, frozenset({SCOPE_CAMPAIGNS_READ, SCOPE_METRICS_READ})),
    KEY_METRICS_ONLY: KeyGrant(KeyState.USABLE, frozenset({SCOPE_METRICS_READ})),
    KEY_CAMPAIGNS_ONLY: KeyGrant(KeyState.USABLE, frozenset({SCOPE_CAMPAIGNS_READ})),
    KEY_REVOKED: KeyGrant(KeyState.REVOKED),
    KEY_EXPIRED: KeyGrant(KeyState.EXPIRED),
    KEY_API_DISABLED: KeyGrant(KeyState.API_DISABLED),
}
