"""OpenLineage of the operators: what each task read and wrote, named by OpenLineage's conventions.

A task records its datasets as plain names while it runs and turns them into an ``OperatorLineage``
only when the openlineage provider's listener asks: at start, what it will read and write
(``get_openlineage_facets_on_start``, from its arguments); at the end, what it did
(``get_openlineage_facets_on_complete``, also used on failure, when it reports what was written before
the failure), with the BigQuery job ids it ran as the ``externalQuery`` run facet, as the google
provider reports its jobs. Nothing here imports OpenLineage
before that, so the provider stays an optional extra (``airflow-provider-soundlink[openlineage]``).

Names, from the OpenLineage naming spec (https://openlineage.io/docs/spec/naming) and as the google
provider emits them:

* GCS: namespace ``gs://{bucket}``, name the folder of the table's objects (``{prefix}/{table}``), as the
  google provider's transfer operators name a folder of files: the same dataset run after run, not a
  new one per object, campaign and day;
* BigQuery: namespace ``bigquery``, name ``{project}.{dataset}.{table}``, with the table's schema facet;
* the Soundlink API: the spec has no convention for HTTP APIs yet; the namespace is the API's scheme and
  host (``https://api.getsoundlink.com``) and the name the request path without its query, e.g.
  ``/v1/campaigns/{id}/metrics/breakdown/export``: one dataset per export and campaign.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

BIGQUERY_NAMESPACE = "bigquery"


@dataclass(frozen=True)
class LineageDataset:
    namespace: str
    name: str
    schema: tuple[tuple[str, str, str], ...] = ()
    """BigQuery schema fields as ``(name, type, description)``, for the schema facet."""


@dataclass
class RecordedLineage:
    """The datasets a task read and wrote, in the order it did, without repeats."""

    inputs: list[LineageDataset] = field(default_factory=list)
    outputs: list[LineageDataset] = field(default_factory=list)
    bigquery_job: str | None = None
    """The id of the BigQuery job that wrote the outputs (a MERGE), for the ``externalQuery`` facet."""

    def read(self, dataset: LineageDataset) -> None:
        if dataset not in self.inputs:
            self.inputs.append(dataset)

    def wrote(self, dataset: LineageDataset) -> None:
        if dataset not in self.outputs:
            self.outputs.append(dataset)


def gcs_dataset(uri: str, table: str) -> LineageDataset:
    """Return the dataset of a ``gs://bucket/name`` object of ``table``: its folder up to the table's level
    (the object's own folder if no level is named after the table)."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    levels = name.split("/")[:-1]
    if table in levels:
        levels = levels[: levels.index(table) + 1]
    return LineageDataset(f"gs://{bucket}", "/".join(levels))


def gcs_folder_dataset(bucket: str, prefix: str, table: str) -> LineageDataset:
    """Return the dataset of the folder ``{prefix}/{table}`` that a task writes ``table``'s objects into."""
    return LineageDataset(f"gs://{bucket}", "/".join(part for part in (prefix.strip("/"), table) if part))


def bigquery_dataset(
    project: str, dataset: str, table: str, schema: Iterable[Mapping[str, Any]]
) -> LineageDataset:
    fields = tuple(
        (str(column["name"]), str(column["type"]), str(column.get("description") or "")) for column in schema
    )
    return LineageDataset(BIGQUERY_NAMESPACE, f"{project}.{dataset}.{table}", fields)


def record_load(
    lineage: RecordedLineage,
    uris: Iterable[str],
    target: Any,
    table_name: str,
    schema: Iterable[Mapping[str, Any]],
) -> None:
    """Record a load of ``table_name``'s objects at ``uris`` into the BigQuery table ``target`` (a
    ``TableRef``), described by ``schema``."""
    for uri in uris:
        lineage.read(gcs_dataset(uri, table_name))
    lineage.wrote(bigquery_dataset(target.project, target.dataset, target.table, schema))


def api_dataset(base_url: str, path: str) -> LineageDataset:
    """Return the dataset of one Soundlink API resource: the base URL's scheme and host, and the path."""
    parts = urlsplit(base_url)
    base_path = parts.path.rstrip("/")
    return LineageDataset(f"{parts.scheme}://{parts.netloc}", f"{base_path}{path}")


class ReportsLineage:
    """Mixed into an operator: ``record_lineage()`` at the start of ``execute``, then ``read``/``wrote``
    on what it returns; the openlineage listener gets the result from the methods below. An operator
    says what it will read and write before it runs by overriding :meth:`planned_lineage`."""

    _lineage: RecordedLineage | None = None

    def record_lineage(self) -> RecordedLineage:
        self._lineage = RecordedLineage()
        return self._lineage

    def planned_lineage(self) -> RecordedLineage:
        """Work out what the task will read and write, from its rendered arguments alone (no I/O)."""
        return RecordedLineage()

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        return operator_lineage(self.planned_lineage())

    def get_openlineage_facets_on_complete(self, task_instance: object) -> OperatorLineage:
        return operator_lineage(self._lineage or RecordedLineage())


def operator_lineage(recorded: RecordedLineage) -> OperatorLineage:
    """Wrap the recorded datasets as the openlineage provider's ``OperatorLineage``; needs that provider."""
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        ExternalQueryRunFacet,
        SchemaDatasetFacet,
        SchemaDatasetFacetFields,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    def dataset(recorded_dataset: LineageDataset) -> Any:
        facets: dict[str, Any] = {}
        if recorded_dataset.schema:
            facets["schema"] = SchemaDatasetFacet(
                fields=[
                    SchemaDatasetFacetFields(name=name, type=type_, description=description)
                    for name, type_, description in recorded_dataset.schema
                ]
            )
        return Dataset(namespace=recorded_dataset.namespace, name=recorded_dataset.name, facets=facets)

    run_facets: dict[str, Any] = {}
    if recorded.bigquery_job is not None:
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=recorded.bigquery_job, source="bigquery"
        )
    return OperatorLineage(
        inputs=[dataset(item) for item in recorded.inputs],
        outputs=[dataset(item) for item in recorded.outputs],
        run_facets=run_facets,
    )
