"""The BigQuery hook's mechanics over a recording transport (no BigQuery): what each call asks of the
API, and how it answers the cases a real dataset can be in."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from airflow_provider_soundlink.core.sql import TableRef
from airflow_provider_soundlink.errors import SoundlinkConfigurationError, SoundlinkError
from airflow_provider_soundlink.hooks.bigquery import SoundlinkBigQueryHook
from support.bigquery_api import FakeBigQueryApi, error

TARGET = TableRef("my-project", "soundlink", "campaign_country_daily")
DATASET = "/projects/my-project/datasets/soundlink"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeBigQueryApi:
    connection = {
        "conn_type": "google_cloud_platform",
        "extra": {"is_anonymous": True, "project": "my-project"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(connection))
    fake = FakeBigQueryApi()
    monkeypatch.setattr(
        SoundlinkBigQueryHook,
        "get_client",
        lambda self, project_id=None, location=None: fake.client(project_id, location),
    )
    return fake


def dataset(location: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    return 200, {
        "datasetReference": {"projectId": "my-project", "datasetId": "soundlink"},
        "location": location,
        **fields,
    }


def test_an_existing_dataset_gives_its_location_and_is_never_created(api: FakeBigQueryApi) -> None:
    api.route("GET", DATASET, dataset("EU"))

    assert SoundlinkBigQueryHook().dataset_location(TARGET, None, create_if_missing=True) == "EU"
    assert SoundlinkBigQueryHook().dataset_location(TARGET, "eu", create_if_missing=True) == "EU"
    assert api.bodies("POST", "/projects/my-project/datasets") == []


def test_a_dataset_in_another_location_is_refused_with_the_fix(api: FakeBigQueryApi) -> None:
    api.route("GET", DATASET, dataset("EU"))

    with pytest.raises(
        SoundlinkConfigurationError, match=r"is in EU, not in location='US'; set location to 'EU'"
    ):
        SoundlinkBigQueryHook().dataset_location(TARGET, "US", create_if_missing=True)


def test_a_missing_dataset_is_created_in_the_location_or_refused_to_a_resumed_task(
    api: FakeBigQueryApi,
) -> None:
    api.route("GET", DATASET, error(404, "Not found: Dataset my-project:soundlink", "notFound"))
    api.route("POST", "/projects/my-project/datasets", lambda match, body: (200, body))

    with pytest.raises(SoundlinkError, match="was deleted while this task waited"):
        SoundlinkBigQueryHook().dataset_location(TARGET, "EU", create_if_missing=False)
    assert api.bodies("POST", "/projects/my-project/datasets") == []
    assert SoundlinkBigQueryHook().dataset_location(TARGET, "EU", create_if_missing=True) == "EU"
    (created,) = api.bodies("POST", "/projects/my-project/datasets")
    assert created["location"] == "EU" and created["datasetReference"]["datasetId"] == "soundlink"


def test_a_job_id_already_taken_reattaches_to_that_job(api: FakeBigQueryApi) -> None:
    job = {
        "jobReference": {"projectId": "my-project", "jobId": "soundlink_x_1", "location": "EU"},
        "status": {"state": "RUNNING"},
        "configuration": {"query": {"query": "MERGE"}},
    }
    api.route(
        "POST",
        "/projects/my-project/jobs",
        error(409, "Already Exists: Job my-project:EU.soundlink_x_1", "duplicate"),
    )
    api.route("GET", "/projects/my-project/jobs/soundlink_x_1", (200, job))

    reattached = SoundlinkBigQueryHook().insert_or_reattach(
        "soundlink_x_1", {"query": {"query": "MERGE", "useLegacySql": False}}, "my-project", "EU"
    )

    assert reattached.job_id == "soundlink_x_1" and reattached.state == "RUNNING"
    (sent,) = api.bodies("POST", "/projects/my-project/jobs")
    assert sent["jobReference"]["jobId"] == "soundlink_x_1"


def test_a_staging_table_expires_and_new_columns_are_appended_nullable(api: FakeBigQueryApi) -> None:
    table = {
        "tableReference": {
            "projectId": "my-project",
            "datasetId": "soundlink",
            "tableId": "campaign_country_daily",
        },
        "schema": {"fields": [{"name": "campaign_id", "type": "STRING", "mode": "REQUIRED"}]},
    }
    api.route("POST", f"{DATASET}/tables", lambda match, body: (200, body))
    api.route("GET", f"{DATASET}/tables/campaign_country_daily", (200, table))
    api.route(
        "PATCH", f"{DATASET}/tables/campaign_country_daily", lambda match, body: (200, {**table, **body})
    )
    hook = SoundlinkBigQueryHook()
    expires = dt.datetime(2026, 6, 15, 18, tzinfo=dt.UTC)

    hook.create_staging_table(
        TARGET, [{"name": "x", "type": "STRING", "mode": "NULLABLE"}], expires, "staging", "EU"
    )
    schema = hook.add_columns(TARGET, {"mood": "STRING"}, "added", "EU")

    (staging,) = api.bodies("POST", f"{DATASET}/tables")
    assert staging["expirationTime"] == str(int(expires.timestamp() * 1000))
    assert [(field.name, field.mode) for field in schema] == [
        ("campaign_id", "REQUIRED"),
        ("mood", "NULLABLE"),
    ]
    (patched,) = api.bodies("PATCH", f"{DATASET}/tables/campaign_country_daily")
    assert patched["schema"]["fields"][-1] == {
        "name": "mood",
        "type": "STRING",
        "mode": "NULLABLE",
        "description": "added",
    }
