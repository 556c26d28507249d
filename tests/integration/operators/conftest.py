"""The ``pipeline`` fixture of the operator integration tests (see ``operator_pipeline``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from soundlink_sandbox.testing import SandboxProcess
from support.operator_pipeline import Pipeline


@pytest.fixture
def pipeline(
    gcp_emulators: Any,
    sandbox: SandboxProcess,
    soundlink_connection: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Pipeline:
    return Pipeline(
        project=gcp_emulators.project,
        bucket=gcp_emulators.create_bucket("soundlink-exports"),
        # Not created here: the merge operator creates a missing dataset.
        dataset=f"soundlink_{uuid.uuid4().hex[:8]}",
        sandbox=sandbox,
        connection=soundlink_connection,
        monkeypatch=monkeypatch,
    )
