"""The operators' extra links: where they point, and that Airflow knows them."""

from __future__ import annotations

from typing import Any

from airflow_provider_soundlink.operators import (
    SoundlinkBigQueryMergeOperator,
    SoundlinkExportToGCSOperator,
    SoundlinkLinkStatsToGCSOperator,
)
from airflow_provider_soundlink.operators.links import BigQueryJobLink, BigQueryTableLink, GcsFolderLink
from airflow_provider_soundlink.provider_info import get_provider_info


def test_the_table_link_opens_the_table_in_the_bigquery_console() -> None:
    assert BigQueryTableLink.url("my-project", "soundlink", "campaign_country_daily") == (
        "https://console.cloud.google.com/bigquery?referrer=search&project=my-project&p=my-project"
        "&d=soundlink&page=table&t=campaign_country_daily"
    )


def test_the_folder_link_opens_the_exports_folder_in_the_storage_browser() -> None:
    assert GcsFolderLink.url("my-bucket", "/daily/", "campaign_country_daily") == (
        "https://console.cloud.google.com/storage/browser/my-bucket/daily/campaign_country_daily;tab=objects"
    )
    assert GcsFolderLink.url("my-bucket", "", "link_clicks_daily") == (
        "https://console.cloud.google.com/storage/browser/my-bucket/link_clicks_daily;tab=objects"
    )
    assert (
        GcsFolderLink.url("b", "a b", "t")
        == "https://console.cloud.google.com/storage/browser/b/a%20b/t;tab=objects"
    )


def test_each_operator_has_its_link_and_every_link_is_registered_with_airflow() -> None:
    links: dict[Any, list[type]] = {
        SoundlinkBigQueryMergeOperator: [BigQueryTableLink, BigQueryJobLink],
        SoundlinkExportToGCSOperator: [GcsFolderLink],
        SoundlinkLinkStatsToGCSOperator: [GcsFolderLink],
    }
    for operator, expected in links.items():
        assert [type(extra) for extra in operator.operator_extra_links] == expected
    registered = get_provider_info()["extra-links"]
    assert registered == [
        f"{link.__module__}.{link.__qualname__}"
        for link in (BigQueryJobLink, BigQueryTableLink, GcsFolderLink)
    ]


def test_the_job_link_opens_the_jobs_detail_as_the_google_providers_link_does() -> None:
    assert BigQueryJobLink.url("my-project", "EU", "soundlink_merge_1") == (
        "https://console.cloud.google.com/bigquery?project=my-project"
        "&ws=!1m5!1m4!1m3!1smy-project!2ssoundlink_merge_1!3sEU"
    )
