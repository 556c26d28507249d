"""Extra links of the operators, as the google provider's operators have them: the MERGE task links to its
BigQuery table and its latest job, the export tasks to the GCS folder they wrote.

The task computes its link while it runs and pushes it to XCom (:meth:`SoundlinkLink.persist`); the link
reads it back for the UI. They are this provider's own small classes, registered in its provider info
(Airflow 2.11 shows only registered links), rather than the google provider's: importing those loads the
google provider's hooks whenever a DAG file is parsed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode

from airflow_provider_soundlink.compat import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow_provider_soundlink.compat import Context

CONSOLE = "https://console.cloud.google.com"


class SoundlinkLink(BaseOperatorLink):
    """A link the task stored in XCom under :attr:`key` while it ran; empty before it ran."""

    name: ClassVar[str]
    key: ClassVar[str]

    @classmethod
    def persist(cls, context: Context, url: str) -> None:
        context["ti"].xcom_push(key=cls.key, value=url)

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        value = XCom.get_value(key=self.key, ti_key=ti_key)
        return value if isinstance(value, str) else ""


class BigQueryTableLink(SoundlinkLink):
    name = "BigQuery Table"
    key = "soundlink_bigquery_table"

    @staticmethod
    def url(project: str, dataset: str, table: str) -> str:
        query = {"referrer": "search", "project": project, "p": project, "d": dataset}
        return f"{CONSOLE}/bigquery?{urlencode({**query, 'page': 'table', 't': table})}"


class BigQueryJobLink(SoundlinkLink):
    """The task's latest BigQuery job, as the google provider's "BigQuery Job Detail" link opens it."""

    name = "BigQuery Job Detail"
    key = "soundlink_bigquery_job"

    @staticmethod
    def url(project: str, location: str, job_id: str) -> str:
        workspace = f"!1m5!1m4!1m3!1s{quote(project)}!2s{quote(job_id)}!3s{quote(location)}"
        return f"{CONSOLE}/bigquery?{urlencode({'project': project})}&ws={workspace}"


class GcsFolderLink(SoundlinkLink):
    name = "GCS Folder"
    key = "soundlink_gcs_folder"

    @staticmethod
    def url(bucket: str, *folders: str) -> str:
        path = "/".join(part for part in (bucket, *(folder.strip("/") for folder in folders)) if part)
        return f"{CONSOLE}/storage/browser/{quote(path)};tab=objects"
