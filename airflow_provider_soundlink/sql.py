"""The BigQuery SQL of the load: identifiers and the MERGE from a staging table into a target table.

The MERGE is written once for real BigQuery and the local-bigquery emulator alike. The emulator runs
it faithfully but, lacking partitions, reads the whole target; on BigQuery the ``report_date`` window
in the ON condition and in the NOT MATCHED BY SOURCE condition prunes the target to the window's
partitions.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_soundlink.schemas import TableDefinition
from airflow_provider_soundlink.windows import DateWindow

# https://cloud.google.com/resource-manager/docs/creating-managing-projects: 6-30 characters, lower-case
# letters, digits and hyphens, starting with a letter and not ending with a hyphen; older projects may
# carry a domain prefix ("example.com:project").
_PROJECT = re.compile(r"(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")
# Table names: Unicode letters (L), marks (M), numbers (N), connectors such as "_" (Pc), dashes (Pd)
# and spaces (Zs), at most 1024 bytes in UTF-8.
_TABLE_CHARACTER_CATEGORIES = ("L", "M", "N", "Pc", "Pd", "Zs")
_MAX_TABLE_NAME_BYTES = 1024
_SQL_LINE_WIDTH = 100


def validate_project(project: str) -> str:
    if not _PROJECT.fullmatch(project):
        raise ValueError(
            f"invalid BigQuery project id {project!r}: 6 to 30 lower-case letters, digits or hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    return project


def validate_dataset(dataset: str) -> str:
    if not _DATASET.fullmatch(dataset):
        raise ValueError(
            f"invalid BigQuery dataset name {dataset!r}: 1 to 1024 ASCII letters, digits or underscores"
        )
    return dataset


def validate_table(table: str) -> str:
    allowed = all(unicodedata.category(char).startswith(_TABLE_CHARACTER_CATEGORIES) for char in table)
    if not table or not allowed or len(table.encode("utf-8")) > _MAX_TABLE_NAME_BYTES:
        raise ValueError(
            f"invalid BigQuery table name {table!r}: 1 to {_MAX_TABLE_NAME_BYTES} bytes of letters, marks, "
            "digits, underscores, dashes or spaces"
        )
    return table


@dataclass(frozen=True)
class TableRef:
    """A fully qualified table; every part is validated, so ``quoted`` is safe to put into SQL."""

    project: str
    dataset: str
    table: str

    def __post_init__(self) -> None:
        validate_project(self.project)
        validate_dataset(self.dataset)
        validate_table(self.table)

    @property
    def quoted(self) -> str:
        return f"`{self.project}.{self.dataset}.{self.table}`"

    def __str__(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"


@dataclass(frozen=True)
class MergeStatement:
    """A MERGE for one scope shape; the scope's values travel as named query parameters."""

    sql: str
    scope_columns: tuple[str, ...]

    def query_parameters(
        self, window: DateWindow, scope: Mapping[str, Sequence[str]]
    ) -> list[dict[str, Any]]:
        """``queryParameters`` of the query job, in the BigQuery REST API's shape.

        ``scope`` gives, for each scope column of the statement, the values the load covers, e.g.
        ``{"campaign_id": ["camp_a", "camp_b"]}``.
        """
        if set(scope) != set(self.scope_columns):
            raise ValueError(
                f"this MERGE is scoped by {list(self.scope_columns)} besides the dates; got values for "
                f"{sorted(scope)}"
            )
        parameters = [
            _scalar("window_start", "DATE", window.start.isoformat()),
            _scalar("window_end", "DATE", window.end.isoformat()),
        ]
        for column in self.scope_columns:
            values = scope[column]
            if isinstance(values, str) or not values:
                raise ValueError(
                    f"the scope of {column!r} must be a non-empty list of values, got {values!r}"
                )
            parameters.append(
                {
                    "name": scope_parameter(column),
                    "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                    "parameterValue": {"arrayValues": [{"value": str(value)} for value in values]},
                }
            )
        return parameters


def scope_parameter(column: str) -> str:
    """The query parameter holding the values of a scope column."""
    return f"scope_{column}"


def _scalar(name: str, type_: str, value: str) -> dict[str, Any]:
    return {"name": name, "parameterType": {"type": type_}, "parameterValue": {"value": value}}


def _wrapped(opening: str, items: Sequence[str], closing: str) -> str:
    """``opening`` + the comma-separated ``items`` + ``closing``, wrapped to keep the SQL readable."""
    return textwrap.fill(
        opening + ", ".join(items) + closing,
        width=_SQL_LINE_WIDTH,
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def merge_statement(
    table: TableDefinition,
    target: TableRef,
    staging: TableRef,
    scope_columns: Sequence[str],
) -> MergeStatement:
    """MERGE the rows of ``staging`` into ``target``, making the fresh export the truth for its scope.

    The scope is the report dates ``@window_start..@window_end`` x, for each of ``scope_columns`` (scope
    columns of the table definition), the values in the array parameter ``@scope_<column>``. Within it:
    staging is deduplicated on the primary key keeping the latest ``exported_at``; matched rows are updated
    unless the staged row is older than the stored one; new rows are inserted; stored rows the export no
    longer holds are deleted. Rows outside the scope, in staging or in the target, are left alone.
    """
    if not scope_columns:
        raise ValueError(
            f"a MERGE into {table.name!r} needs at least one of its scope columns "
            f"{list(table.scope_columns)}: the dates alone would make one load the truth for every row"
        )
    unknown = [column for column in scope_columns if column not in table.scope_columns]
    if unknown:
        raise ValueError(
            f"{unknown} are not scope columns of {table.name!r}; its scope columns are "
            f"{list(table.scope_columns)}"
        )
    key = table.primary_key
    exported = table.export_column_names
    date = table.partition_field

    def in_window(alias: str) -> str:
        return f"{alias}.{date} BETWEEN @window_start AND @window_end"

    def in_scope(alias: str) -> list[str]:
        return [
            in_window(alias),
            *(f"{alias}.{column} IN UNNEST(@{scope_parameter(column)})" for column in scope_columns),
        ]

    # The date window in the ON condition changes no match (report_date is part of the key and every
    # fresh row lies in the window) but lets BigQuery prune the target to the window's partitions.
    on = [f"target.{name} = fresh.{name}" for name in key] + [in_window("target")]
    sql = "\n".join(
        [
            f"MERGE {target.quoted} AS target",
            "USING (",
            _wrapped("  SELECT ", exported, ""),
            f"  FROM {staging.quoted} AS staged",
            "  WHERE " + "\n    AND ".join(in_scope("staged")),
            _wrapped("  QUALIFY ROW_NUMBER() OVER (PARTITION BY ", key, " ORDER BY exported_at DESC) = 1"),
            ") AS fresh",
            "ON " + "\n  AND ".join(on),
            "WHEN MATCHED AND fresh.exported_at >= target.exported_at THEN UPDATE SET",
            ",\n".join(
                [f"  {name} = fresh.{name}" for name in exported if name not in key]
                + [f"  {table.loaded_at_field} = CURRENT_TIMESTAMP()"]
            ),
            "WHEN NOT MATCHED BY TARGET THEN",
            _wrapped("  INSERT (", [*exported, table.loaded_at_field], ")"),
            _wrapped("  VALUES (", [*(f"fresh.{name}" for name in exported), "CURRENT_TIMESTAMP()"], ")"),
            "WHEN NOT MATCHED BY SOURCE",
            "  AND " + "\n  AND ".join(in_scope("target")),
            "  THEN DELETE",
        ]
    )
    return MergeStatement(sql=sql, scope_columns=tuple(scope_columns))
