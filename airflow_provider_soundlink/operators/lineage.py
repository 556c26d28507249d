"""OpenLineage of the operators: what each task read and wrote, named by OpenLineage's conventions.

A task records its datasets as plain names while it runs and turns them into an ``OperatorLineage``
only when the openlineage provider's listener asks (``get_openlineage_facets_on_complete``, also used
on failure, when it reports what was written before the failure). Nothing here imports OpenLineage
before that, so the provider stays an optional extra (``airflow-provider-soundlink[openlineage]``).

Names, from the OpenLineage naming spec (https://openlineage.io/docs/spec/naming) and as the google
provider emits them:

* GCS: namespace ``gs://{bucket}``, name the object's name;
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

    def read(self, dataset: LineageDataset) -> None:
        if dataset not in self.inputs:
            self.inputs.append(dataset)

    def wrote(self, dataset: LineageDataset) -> None:
        if dataset not in self.outputs:
            self.outputs.append(dataset)


def gcs_dataset(uri: str) -> LineageDataset:
    """The dataset of a ``gs://bucket/name`` object."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return LineageDataset(f"gs://{bucket}", name)


def bigquery_dataset(
    project: str, dataset: str, table: str, schema: Iterable[Mapping[str, Any]]
) -> LineageDataset:
    fields = tuple(
        (str(column["name"]), str(column["type"]), str(column.get("description") or "")) for column in schema
    )
    return LineageDataset(BIGQUERY_NAMESPACE, f"{project}.{dataset}.{table}", fields)


def api_dataset(base_url: str, path: str) -> LineageDataset:
    """The dataset of one Soundlink API resource: the base URL's scheme and host, and the path."""
    parts = urlsplit(base_url)
    base_path = parts.path.rstrip("/")
    return LineageDataset(f"{parts.scheme}://{parts.netloc}", f"{base_path}{path}")


class ReportsLineage:
    """Mixed into an operator: ``record_lineage()`` at the start of ``execute``, then ``read``/``wrote``
    on what it returns; the openlineage listener gets the result from the method below."""

    _lineage: RecordedLineage | None = None

    def record_lineage(self) -> RecordedLineage:
        self._lineage = RecordedLineage()
        return self._lineage

    def get_openlineage_facets_on_complete(self, task_instance: object) -> OperatorLineage:
        return operator_lineage(self._lineage or RecordedLineage())


def operator_lineage(recorded: RecordedLineage) -> OperatorLineage:
    """The recorded datasets as the openlineage provider's ``OperatorLineage``; needs that provider."""
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
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

    return OperatorLineage(
        inputs=[dataset(item) for item in recorded.inputs],
        outputs=[dataset(item) for item in recorded.outputs],
    )
