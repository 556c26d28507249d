"""Check a loaded window against Soundlink's own totals: the table's campaign sums vs the overview."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

from airflow_provider_soundlink.client.api import overview_path
from airflow_provider_soundlink.compat import BaseOperator, Context
from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.load_plan import job_labels, query_configuration
from airflow_provider_soundlink.core.reconciliation import (
    RECONCILED_METRICS,
    Tolerance,
    compare_totals,
    difference_table,
    sum_totals,
)
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.core.sql import TableRef, campaign_totals_query, string_array_parameter
from airflow_provider_soundlink.core.windows import DateWindow, slice_date_range
from airflow_provider_soundlink.errors import (
    SoundlinkConfigurationError,
    SoundlinkReconciliationError,
)
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from airflow_provider_soundlink.operators.arguments import campaign_id_list, export_window, is_template
from airflow_provider_soundlink.operators.lineage import ReportsLineage, api_dataset, bigquery_dataset

ON_MISMATCH = ("fail", "warn")


class SoundlinkReconcileOperator(ReportsLineage, BaseOperator):
    """Compare, per campaign, the sums of the summable metrics in ``campaign_country_daily`` over a window
    with Soundlink's overview endpoint for the same window, and fail or warn with a table of the
    differences (see :mod:`airflow_provider_soundlink.core.reconciliation` for the metrics and the tolerance).

    Run it after the breakdown's MERGE. One query reads the table (only the window's partitions and the
    compared columns); the overview is fetched once per campaign and window of at most 90 days. Soundlink
    revises a day for 7 days after it closes, so a difference on recent days may be a revision made since
    the export; the next daily run heals it, and a re-run of this check then passes.

    The return value (XCom) is ``{"campaigns": N, "metrics": [...], "tolerance": "...", "differences":
    [{campaign_id, metric, table, api, difference}, ...]}``, the numbers as decimal strings.

    :param campaign_ids: the campaigns to check (templated; may be an XComArg).
    :param report_start_date: first report date (templated, may be an XComArg; inclusive).
    :param report_end_date: last report date (templated, may be an XComArg; inclusive).
    :param project_id: the BigQuery project (templated).
    :param dataset_id: the dataset (templated).
    :param table_id: the table (templated); defaults to ``campaign_country_daily``.
    :param location: the BigQuery location of the query job (templated); None lets BigQuery choose.
    :param on_mismatch: ``"fail"`` (the default) fails the task with the differences; ``"warn"`` logs them
        as a warning and succeeds (templated).
    :param relative_tolerance: allowed difference as a fraction of the API's value.
    :param absolute_tolerance: allowed difference in the metric's own unit; the larger of the two applies.
    :param soundlink_conn_id: the Soundlink connection.
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account(s) to impersonate (templated).
    :param labels: labels of the query job, besides ``airflow-dag`` and ``airflow-task`` (templated).
    """

    template_fields: Sequence[str] = (
        "campaign_ids",
        "report_start_date",
        "report_end_date",
        "project_id",
        "dataset_id",
        "table_id",
        "location",
        "on_mismatch",
        "impersonation_chain",
        "labels",
    )
    ui_color = "#4285f4"

    def __init__(
        self,
        *,
        campaign_ids: Any,
        report_start_date: Any,
        report_end_date: Any,
        project_id: str,
        dataset_id: str,
        table_id: str | None = None,
        location: str | None = None,
        on_mismatch: str = "fail",
        relative_tolerance: Decimal | float | str = Tolerance.relative,
        absolute_tolerance: Decimal | float | str = Tolerance.absolute,
        soundlink_conn_id: str = SoundlinkHook.default_conn_name,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not is_template(on_mismatch):
            _check_on_mismatch(on_mismatch)
        self.tolerance = Tolerance(Decimal(str(relative_tolerance)), Decimal(str(absolute_tolerance)))
        self.campaign_ids = campaign_ids
        self.report_start_date = report_start_date
        self.report_end_date = report_end_date
        self.project_id = project_id
        self.dataset_id = dataset_id
        self.table_id = table_id or ExportKind.BREAKDOWN.table_name
        self.location = location
        self.on_mismatch = on_mismatch
        self.soundlink_conn_id = soundlink_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.labels = labels

    def execute(self, context: Context) -> dict[str, Any]:
        _check_on_mismatch(self.on_mismatch)
        campaign_ids = campaign_id_list(self.campaign_ids)
        window = export_window(self.report_start_date, self.report_end_date)
        target = TableRef(self.project_id, self.dataset_id, self.table_id)
        metrics = RECONCILED_METRICS
        result: dict[str, Any] = {
            "campaigns": len(campaign_ids),
            "metrics": list(metrics),
            "tolerance": str(self.tolerance),
            "differences": [],
        }
        if not campaign_ids:
            self.log.info("No campaigns to reconcile")
            return result
        labels = job_labels(context["ti"].dag_id, context["ti"].task_id, self.labels)
        table_totals = self._table_totals(target, window, campaign_ids, labels)
        soundlink = SoundlinkHook(soundlink_conn_id=self.soundlink_conn_id).get_conn()
        lineage = self.record_lineage()
        lineage.read(bigquery_dataset(target.project, target.dataset, target.table, []))
        for campaign_id in campaign_ids:
            lineage.read(api_dataset(soundlink.base_url, overview_path(campaign_id)))
        parts = slice_date_range(window.start, window.end)
        api_totals = {
            campaign_id: sum_totals((soundlink.get_overview(campaign_id, part) for part in parts), metrics)
            for campaign_id in campaign_ids
        }
        differences = compare_totals(table_totals, api_totals, campaign_ids, metrics, self.tolerance)
        result["differences"] = [difference.as_dict() for difference in differences]
        if not differences:
            self.log.info(
                "%s agrees with Soundlink's overview for all %d campaigns over %s (%s; tolerance %s)",
                target,
                len(campaign_ids),
                window,
                ", ".join(metrics),
                self.tolerance,
            )
            return result
        campaigns = len({difference.campaign_id for difference in differences})
        message = (
            f"{target} disagrees with Soundlink's overview over {window} for {campaigns} of "
            f"{len(campaign_ids)} campaigns ({len(differences)} totals beyond the tolerance of "
            f"{self.tolerance}). Re-run the load for these campaigns and dates; if it persists, Soundlink "
            f"revised them after the export or rows are missing:\n{difference_table(differences)}"
        )
        if self.on_mismatch == "warn":
            self.log.warning("%s", message)
            return result
        raise SoundlinkReconciliationError(message)

    def _table_totals(
        self, target: TableRef, window: DateWindow, campaign_ids: list[str], labels: Mapping[str, str]
    ) -> dict[str, dict[str, object]]:
        from airflow_provider_soundlink.hooks.bigquery import SoundlinkBigQueryHook

        hook = SoundlinkBigQueryHook(self.gcp_conn_id, self.location, self.impersonation_chain)
        table = table_definition(ExportKind.BREAKDOWN)
        configuration = query_configuration(
            campaign_totals_query(table, target, window, RECONCILED_METRICS),
            [string_array_parameter("campaign_ids", campaign_ids)],
            labels,
        )
        job = hook.insert_job(configuration=configuration, project_id=target.project, location=self.location)
        rows = cast("Iterable[Mapping[str, Any]]", job.result())
        return {row["campaign_id"]: {metric: row[metric] for metric in RECONCILED_METRICS} for row in rows}


def _check_on_mismatch(value: str) -> None:
    if value not in ON_MISMATCH:
        raise SoundlinkConfigurationError(
            f"on_mismatch must be {' or '.join(repr(choice) for choice in ON_MISMATCH)}, got {value!r}"
        )
