"""Checks of operator arguments, shared by the operators, each failing with the problem and the fix."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from airflow_provider_soundlink.core.exports import ENGAGEMENT_CONTEXTS, ExportKind
from airflow_provider_soundlink.core.load_plan import MAX_SOURCE_URIS_PER_LOAD_JOB
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import SoundlinkConfigurationError

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def is_template(value: object) -> bool:
    """Whether a constructor argument is still a Jinja template, to be checked once rendered."""
    return isinstance(value, str) and "{{" in value


def parse_report_date(name: str, value: object) -> dt.date:
    """Parse a report date from a ``YYYY-MM-DD`` string or a date; a datetime counts as its calendar date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as error:
            raise SoundlinkConfigurationError(
                f"{name}={value!r} is not a calendar date ({error}); give YYYY-MM-DD"
            ) from None
    raise SoundlinkConfigurationError(
        f"{name}={value!r} is not a date; give a YYYY-MM-DD string (e.g. '{{{{ ds }}}}') or a date"
    )


def export_window(report_start_date: object, report_end_date: object) -> DateWindow:
    start = parse_report_date("report_start_date", report_start_date)
    end = parse_report_date("report_end_date", report_end_date)
    if end < start:
        raise SoundlinkConfigurationError(
            f"report_end_date {end.isoformat()} is before report_start_date {start.isoformat()}; both dates "
            "are inclusive, give an end on or after the start"
        )
    return DateWindow(start, end)


def campaign_id_list(campaign_ids: object) -> list[str]:
    """Return the campaign ids as a list without duplicates (first occurrence kept), refusing anything else.

    An empty list is valid: an export shard of a run with fewer campaigns than shards exports nothing.
    """
    if isinstance(campaign_ids, (str, bytes)) or not isinstance(campaign_ids, Sequence):
        raise SoundlinkConfigurationError(
            f"campaign_ids must be a list of campaign id strings, got {campaign_ids!r}; pass a list, an "
            "XComArg returning one, or a template with render_template_as_native_obj=True on the DAG"
        )
    unusable = [
        campaign_id for campaign_id in campaign_ids if not isinstance(campaign_id, str) or not campaign_id
    ]
    if unusable:
        raise SoundlinkConfigurationError(
            f"campaign_ids holds {unusable!r}; every campaign id must be a non-empty string"
        )
    return list(dict.fromkeys(campaign_ids))


def check_engagement_context(kind: ExportKind, engagement_context: str | None) -> None:
    if engagement_context is None:
        return
    if kind is not ExportKind.ENGAGEMENT:
        raise SoundlinkConfigurationError(
            f"engagement_context={engagement_context!r} applies only to the engagement export, not to "
            f"{kind.value!r}; leave it None"
        )
    if engagement_context not in ENGAGEMENT_CONTEXTS:
        raise SoundlinkConfigurationError(
            f"engagement_context={engagement_context!r} is unknown: give one of "
            f"{', '.join(ENGAGEMENT_CONTEXTS)}, or None for both"
        )


def check_merge_arguments(
    *,
    staging_expiration: dt.timedelta,
    partition_expiration: dt.timedelta | None,
    max_uris_per_load_job: int,
    maximum_bytes_billed: int | None,
    max_job_attempts: int,
) -> None:
    """Refuse the MERGE operator's numeric arguments outside what BigQuery and the load accept."""
    problems = []
    if staging_expiration <= dt.timedelta(0):
        problems.append(f"staging_expiration must be positive, got {staging_expiration}")
    if partition_expiration is not None and partition_expiration < dt.timedelta(days=1):
        problems.append(f"partition_expiration must be at least a day or None, got {partition_expiration}")
    if not 1 <= max_uris_per_load_job <= MAX_SOURCE_URIS_PER_LOAD_JOB:
        problems.append(
            f"max_uris_per_load_job must be 1 to {MAX_SOURCE_URIS_PER_LOAD_JOB} (BigQuery's limit of source "
            f"URIs per load job), got {max_uris_per_load_job}"
        )
    if maximum_bytes_billed is not None and maximum_bytes_billed < 1:
        problems.append(
            f"maximum_bytes_billed must be a positive number of bytes or None, got {maximum_bytes_billed}"
        )
    if max_job_attempts < 1:
        problems.append(f"max_job_attempts must be at least 1, got {max_job_attempts}")
    if problems:
        raise SoundlinkConfigurationError("; ".join(problems))
