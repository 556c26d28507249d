"""The BigQuery SQL of the load: identifiers and the MERGE from a staging table into a target table.

The MERGE is written once for real BigQuery and the local-bigquery emulator alike. The emulator runs
it faithfully but, lacking partitions, reads the whole target; on BigQuery the ``report_date`` window
in the ON condition and in the NOT MATCHED BY SOURCE condition prunes the target to the window's
partitions.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
import unicodedata
from collections.abc import Sequence
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
    extra_scope_columns: tuple[str, ...]

    def query_parameters(
        self,
        campaign_ids: Sequence[str],
        window_start: dt.date,
        window_end: dt.date,
        **extra_scope: str,
    ) -> list[dict[str, Any]]:
        """``queryParameters`` of the query job, in the BigQuery REST API's shape.

        ``extra_scope`` gives one value per extra scope column, e.g. ``engagement_context="catalog"``.
        """
        if isinstance(campaign_ids, str) or not campaign_ids:
            raise ValueError(f"campaign_ids must be a non-empty list of campaign ids, got {campaign_ids!r}")
        window = DateWindow(window_start, window_end)
        if set(extra_scope) != set(self.extra_scope_columns):
            raise ValueError(
                f"this MERGE is scoped by {list(self.extra_scope_columns)} besides campaigns and dates; "
                f"got values for {sorted(extra_scope)}"
            )
        parameters: list[dict[str, Any]] = [
            {
                "name": "campaign_ids",
                "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                "parameterValue": {
                    "arrayValues": [{"value": str(campaign_id)} for campaign_id in campaign_ids]
                },
            },
            _scalar("window_start", "DATE", window.start.isoformat()),
            _scalar("window_end", "DATE", window.end.isoformat()),
        ]
        parameters += [_scalar(column, "STRING", extra_scope[column]) for column in self.extra_scope_columns]
        return parameters


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
    *,
    extra_scope_columns: Sequence[str] = (),
) -> MergeStatement:
    """MERGE the rows of ``staging`` into ``target``, making the fresh export the truth for its scope.

    The scope is the campaigns in ``@campaign_ids`` x the report dates ``@window_start..@window_end``
    (x each of ``extra_scope_columns`` equal to the parameter of that name). Within it: staging is
    deduplicated on the primary key keeping the latest ``exported_at``; matched rows are updated unless
    the staged row is older than the stored one; new rows are inserted; stored rows the export no longer
    holds are deleted. Rows outside the scope, in staging or in the target, are left alone.
    """
    for column_name in extra_scope_columns:
        column = table.column(column_name)
        if column.type != "STRING" or not column.required:
            raise ValueError(
                f"scope column {column_name!r} must be a REQUIRED STRING column of {table.name!r}"
            )
    key = table.primary_key
    exported = table.export_column_names
    date = table.partition_field

    def in_window(alias: str) -> str:
        return f"{alias}.{date} BETWEEN @window_start AND @window_end"

    def in_scope(alias: str) -> list[str]:
        campaigns = f"{alias}.campaign_id IN UNNEST(@campaign_ids)"
        return [
            in_window(alias),
            campaigns,
            *(f"{alias}.{column} = @{column}" for column in extra_scope_columns),
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
    return MergeStatement(sql=sql, extra_scope_columns=tuple(extra_scope_columns))
