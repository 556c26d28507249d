"""BigQuery table definitions of the export row schemas, kept as JSON data next to this module.

Each ``<table name>.json`` holds the table's description, columns (BigQuery standard SQL types, mode,
description), primary key, the DATE column it is partitioned on by day, its clustering columns, and the
column the MERGE stamps with the load time, and the columns that bound what one load is the truth for
(its scope, besides the partition dates). They are validated when loaded.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from airflow_provider_soundlink.core.exports import ExportKind

KNOWN_TYPES = frozenset({"STRING", "INT64", "NUMERIC", "FLOAT64", "BOOL", "DATE", "TIMESTAMP"})
KNOWN_MODES = frozenset({"REQUIRED", "NULLABLE"})
MAX_CLUSTERING_FIELDS = 4
"""BigQuery refuses more clustering columns than this."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    mode: str
    description: str

    @property
    def required(self) -> bool:
        return self.mode == "REQUIRED"


@dataclass(frozen=True)
class TableDefinition:
    """One target table: what BigQuery needs to create it and what the MERGE needs to fill it."""

    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    partition_field: str
    clustering_fields: tuple[str, ...]
    loaded_at_field: str
    scope_columns: tuple[str, ...]
    """Columns a load's scope may be bound by besides the dates: the MERGE replaces exactly the stored rows
    whose values of these columns a load covers (e.g. its campaigns), and leaves all others alone."""

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError(f"table definition {self.name!r} is invalid: " + "; ".join(problems))

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def export_column_names(self) -> tuple[str, ...]:
        """The columns an export row carries: every column but the load time the MERGE sets."""
        return tuple(name for name in self.column_names if name != self.loaded_at_field)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    def bigquery_schema(self) -> list[dict[str, str]]:
        """Return the schema as the BigQuery API (and ``BigQueryHook``) takes it: a list of field dicts."""
        return [
            {"name": c.name, "type": c.type, "mode": c.mode, "description": c.description}
            for c in self.columns
        ]

    def staging_schema(self) -> list[dict[str, str]]:
        """Return the schema a load's staging table takes: the export's columns, money typed BIGNUMERIC.

        NUMERIC keeps 9 fractional digits and BIGNUMERIC 38 (BigQuery "Data types"); the API documents no
        scale for the money it derives by division, so staging takes any such value and the MERGE rounds
        it into the target's NUMERIC by one documented rule (see ``airflow_provider_soundlink.core.sql``).
        """
        return [
            {**field, "type": "BIGNUMERIC" if field["type"] == "NUMERIC" else field["type"]}
            for field in self.bigquery_schema()
            if field["name"] in self.export_column_names
        ]

    def table_resource(self, partition_expiration: dt.timedelta | None = None) -> dict[str, Any]:
        """Build the API's table resource without its reference, for ``BigQueryHook.create_table``.

        One partition per ``report_date`` day, so the MERGE's date window prunes to the days it loads.
        Without ``partition_expiration`` the table takes its dataset's default partition expiration, if
        any ("If you set TimePartitioning.expirationMs explicitly when creating a table, the
        defaultPartitionExpirationMs of the containing dataset is ignored").
        """
        partitioning: dict[str, str] = {"type": "DAY", "field": self.partition_field}
        if partition_expiration is not None:
            partitioning["expirationMs"] = str(int(partition_expiration.total_seconds() * 1000))
        return {
            "description": self.description,
            "schema": {"fields": self.bigquery_schema()},
            "timePartitioning": partitioning,
            "clustering": {"fields": list(self.clustering_fields)},
        }


def _problems(table: TableDefinition) -> list[str]:
    problems = []
    names = [column.name for column in table.columns]
    by_name = {column.name: column for column in table.columns}
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"duplicate columns {duplicates}")
    for column in table.columns:
        if column.type not in KNOWN_TYPES:
            problems.append(
                f"column {column.name!r} has unknown type {column.type!r} (known: {sorted(KNOWN_TYPES)})"
            )
        if column.mode not in KNOWN_MODES:
            problems.append(
                f"column {column.name!r} has unknown mode {column.mode!r} (known: {sorted(KNOWN_MODES)})"
            )
        if not column.description.strip():
            problems.append(f"column {column.name!r} has no description")
    if not table.primary_key:
        problems.append("primary key is empty")
    for key in table.primary_key:
        if key not in by_name:
            problems.append(f"primary key column {key!r} is not a column")
        elif not by_name[key].required:
            problems.append(f"primary key column {key!r} must be REQUIRED")
    partition = by_name.get(table.partition_field)
    if partition is None or partition.type != "DATE" or table.partition_field not in table.primary_key:
        problems.append(f"partition field {table.partition_field!r} must be a DATE column of the primary key")
    if not 1 <= len(table.clustering_fields) <= MAX_CLUSTERING_FIELDS:
        problems.append(
            f"clustering needs 1 to {MAX_CLUSTERING_FIELDS} columns, got {len(table.clustering_fields)}"
        )
    for field in table.clustering_fields:
        if field not in by_name:
            problems.append(f"clustering column {field!r} is not a column")
    for field in ("exported_at", table.loaded_at_field):
        timestamp = by_name.get(field)
        if timestamp is None or timestamp.type != "TIMESTAMP":
            problems.append(f"{field!r} must be a TIMESTAMP column")
    if not table.scope_columns:
        problems.append("scope columns are empty")
    for field in table.scope_columns:
        scope = by_name.get(field)
        if scope is None or scope.type != "STRING" or field not in table.primary_key:
            problems.append(f"scope column {field!r} must be a STRING column of the primary key")
    exported_at = by_name.get("exported_at")
    if exported_at is not None and not exported_at.required:
        problems.append("'exported_at' must be REQUIRED: the MERGE keeps the row with the latest one")
    return problems


def _from_json(document: dict[str, Any]) -> TableDefinition:
    return TableDefinition(
        name=document["name"],
        description=document["description"],
        columns=tuple(
            Column(name=c["name"], type=c["type"], mode=c["mode"], description=c["description"])
            for c in document["columns"]
        ),
        primary_key=tuple(document["primary_key"]),
        partition_field=document["partition_field"],
        clustering_fields=tuple(document["clustering_fields"]),
        loaded_at_field=document["loaded_at_field"],
        scope_columns=tuple(document["scope_columns"]),
    )


@functools.cache
def _load(name: str) -> TableDefinition:
    source = resources.files(__package__).joinpath(f"{name}.json")
    if not source.is_file():
        known = sorted(
            entry.name.removesuffix(".json")
            for entry in resources.files(__package__).iterdir()
            if entry.name.endswith(".json")
        )
        raise KeyError(f"no table definition named {name!r}; known: {known}")
    table = _from_json(json.loads(source.read_text(encoding="utf-8")))
    if table.name != name:
        raise ValueError(f"{name}.json defines table {table.name!r}; the file name and the name must agree")
    return table


def table_definition(kind_or_name: ExportKind | str) -> TableDefinition:
    """Look up the definition for an export kind (``ExportKind.BREAKDOWN``) or a table name."""
    name = kind_or_name.table_name if isinstance(kind_or_name, ExportKind) else kind_or_name
    return _load(name)


__all__ = ["Column", "TableDefinition", "table_definition"]
