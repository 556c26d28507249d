"""The BigQuery SQL of the load: identifiers and the MERGE from a staging table into a target table.

The MERGE is written from BigQuery's documentation, not from what the local-bigquery emulator accepts
(which runs it through its own reimplementation and cannot show partition pruning). Two documented rules
make every read of the target prunable to the load's ``report_date`` partitions:

* "Using DML with partitioned tables", Pruning partitions when using a MERGE statement
  (https://cloud.google.com/bigquery/docs/using-dml-with-partitioned-tables): "If you use the WHEN NOT
  MATCHED and WHEN NOT MATCHED BY SOURCE clauses together, then BigQuery usually performs a full outer
  join, which cannot be pruned. However, if the merge condition uses a constant false predicate, then
  BigQuery can use the filter condition for partition pruning." The MERGE is therefore ``ON FALSE``: it
  deletes the scope's stored rows (``WHEN NOT MATCHED BY SOURCE AND <partition filter>``) and inserts its
  new truth (the DML reference calls this "an atomic DELETE on the target plus an INSERT from a source").
* "Query partitioned tables" (https://cloud.google.com/bigquery/docs/querying-partitioned-tables): "To
  limit the partitions that are scanned in a query, use a constant expression in your filter." The
  window's dates are written into the SQL as ``DATE`` literals, never as query parameters or subqueries,
  and the source reads the stored rows it must keep in a subquery filtered the same way ("you can limit
  which partitions are scanned by including the partitioning column in either a subquery filter, a
  search_condition filter, or a merge_condition filter").

Snapshots: Soundlink stamps every row with ``exported_at``, "when this row was generated. Use for
deduplication if the same report_date is re-delivered", so for each scope value (campaign, and context
where the table has one) and report date the newest export wins whole, whatever order loads run in. A
day's version is its latest ``exported_at``; an export's version of a day it has no rows for is the later
of when the API answered it (its ``Date`` header, ``snapshot_at`` in the manifest) and its newest row of
that scope value: the export says "no rows" as of then. A stored day newer than the export's is kept as
it is; an older one is replaced by the export's rows for that day, which deletes rows a revision removed.
A scope value the export holds no rows and no answer time for changes nothing.

Money: NUMERIC holds 9 fractional digits ("Data types", NUMERIC: "Scale: 9"); the API derives values by
division and documents no scale. Staging types those columns BIGNUMERIC (scale 38), so no load rejects
a long decimal, and the MERGE rounds them to 9 digits with ``ROUND(x, 9, 'ROUND_HALF_AWAY_FROM_ZERO')``
("Mathematical functions", ROUND: the default and documented rounding mode), on BigQuery and the
emulator alike, before storing them as NUMERIC.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_soundlink.core.schemas import TableDefinition
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import SoundlinkConfigurationError

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
        raise SoundlinkConfigurationError(
            f"invalid BigQuery project id {project!r}: 6 to 30 lower-case letters, digits or hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    return project


def validate_dataset(dataset: str) -> str:
    if not _DATASET.fullmatch(dataset):
        raise SoundlinkConfigurationError(
            f"invalid BigQuery dataset name {dataset!r}: 1 to 1024 ASCII letters, digits or underscores"
        )
    return dataset


def validate_table(table: str) -> str:
    allowed = all(unicodedata.category(char).startswith(_TABLE_CHARACTER_CATEGORIES) for char in table)
    if not table or not allowed or len(table.encode("utf-8")) > _MAX_TABLE_NAME_BYTES:
        raise SoundlinkConfigurationError(
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


NUMERIC_SCALE = 9
"""Fractional digits of BigQuery's NUMERIC; the MERGE rounds staged BIGNUMERIC values to this."""
ROUNDING_MODE = "ROUND_HALF_AWAY_FROM_ZERO"
FROM_EXPORT = "_from_export"
"""The candidate column that tells a fresh row from a stored one."""
SNAPSHOTS_PARAMETER = "export_snapshots"
"""The query parameter holding, per scope value, when the API answered its export (see ``snapshot_at``)."""
_NO_VERSION = "TIMESTAMP '0001-01-01 00:00:00+00'"


@dataclass(frozen=True)
class MergeStatement:
    """A MERGE for one window and scope shape; the scope's values travel as named query parameters."""

    sql: str
    scope_columns: tuple[str, ...]

    def query_parameters(
        self,
        scope: Mapping[str, Sequence[str]],
        snapshots: Mapping[tuple[str, ...], dt.datetime] | None = None,
    ) -> list[dict[str, Any]]:
        """``queryParameters`` of the query job, in the BigQuery REST API's shape.

        ``scope`` gives, for each scope column of the statement, the values the load covers, e.g.
        ``{"campaign_id": ["camp_a", "camp_b"]}``. ``snapshots`` maps a combination of scope values (in
        the order of ``scope_columns``) to when the API answered its export; combinations left out have
        no answer time, and a day they hold no rows for keeps what is stored.
        """
        if set(scope) != set(self.scope_columns):
            raise SoundlinkConfigurationError(
                f"this MERGE is scoped by {list(self.scope_columns)} besides the dates; got values for "
                f"{sorted(scope)}"
            )
        parameters = []
        for column in self.scope_columns:
            values = scope[column]
            if isinstance(values, str) or not values:
                raise SoundlinkConfigurationError(
                    f"the scope of {column!r} must be a non-empty list of values, got {values!r}"
                )
            parameters.append(string_array_parameter(scope_parameter(column), values))
        parameters.append(self._snapshots_parameter(snapshots or {}))
        return parameters

    def _snapshots_parameter(self, snapshots: Mapping[tuple[str, ...], dt.datetime]) -> dict[str, Any]:
        fields = [*self.scope_columns, "snapshot_at"]
        types = ["STRING"] * len(self.scope_columns) + ["TIMESTAMP"]
        values = []
        for combination, answered in snapshots.items():
            if len(combination) != len(self.scope_columns) or answered.tzinfo is None:
                raise SoundlinkConfigurationError(
                    f"a snapshot is a combination of {list(self.scope_columns)} values with an aware "
                    f"time; got {combination!r} at {answered!r}"
                )
            members = [*combination, answered.astimezone(dt.UTC).isoformat()]
            values.append(
                {
                    "structValues": {
                        name: {"value": value} for name, value in zip(fields, members, strict=True)
                    }
                }
            )
        return {
            "name": SNAPSHOTS_PARAMETER,
            "parameterType": {
                "type": "ARRAY",
                "arrayType": {
                    "type": "STRUCT",
                    "structTypes": [
                        {"name": name, "type": {"type": type_}}
                        for name, type_ in zip(fields, types, strict=True)
                    ],
                },
            },
            "parameterValue": {"arrayValues": values},
        }


def string_array_parameter(name: str, values: Sequence[object]) -> dict[str, Any]:
    """Build a named ``ARRAY<STRING>`` query parameter in the BigQuery REST API's shape."""
    return {
        "name": name,
        "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
        "parameterValue": {"arrayValues": [{"value": str(value)} for value in values]},
    }


def scope_parameter(column: str) -> str:
    """Name the query parameter holding the values of a scope column."""
    return f"scope_{column}"


def _wrapped(opening: str, items: Sequence[str], closing: str, indent: int = 4) -> str:
    """Return ``opening`` + the comma-separated ``items`` + ``closing``, wrapped between items (never inside
    one) to keep the SQL readable."""
    pieces = [f"{item}," for item in items[:-1]] + [f"{items[-1]}{closing}"]
    lines = [opening + pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + 1 + len(piece) > _SQL_LINE_WIDTH:
            lines.append(" " * indent + piece)
        else:
            lines[-1] += " " + piece
    return "\n".join(lines)


def merge_statement(
    table: TableDefinition,
    target: TableRef,
    staging: TableRef,
    window: DateWindow,
    scope_columns: Sequence[str],
    extra_columns: Sequence[str] = (),
) -> MergeStatement:
    """MERGE the rows of ``staging`` into ``target``: for each scope value and day, the newest export wins.

    ``extra_columns`` are columns of both tables beyond the table definition (new export fields added as
    columns): they are carried like the defined ones, so a stored row that is kept keeps their values.

    The scope is the report dates of ``window`` x, for each of ``scope_columns`` (scope columns of the
    table definition), the values in the array parameter ``@scope_<column>``. Within it, per scope value
    and report date, the stored rows stay as they are when their latest ``exported_at`` is newer than the
    export's version of that day (see the module docstring), and are otherwise replaced by the export's
    rows of that day: per primary key its row with the latest ``exported_at``, stamped with the load time.
    Rows outside the scope, in staging or in the target, are left alone. See the module docstring for why
    this is one ``ON FALSE`` MERGE.
    """
    if not scope_columns:
        raise SoundlinkConfigurationError(
            f"a MERGE into {table.name!r} needs at least one of its scope columns "
            f"{list(table.scope_columns)}: the dates alone would make one load the truth for every row"
        )
    unknown = [column for column in scope_columns if column not in table.scope_columns]
    if unknown:
        raise SoundlinkConfigurationError(
            f"{unknown} are not scope columns of {table.name!r}; its scope columns are "
            f"{list(table.scope_columns)}"
        )
    key = table.primary_key
    exported = [*table.export_column_names, *extra_columns]
    loaded_at = table.loaded_at_field
    stored_columns = [*exported, loaded_at]
    scope = list(scope_columns)
    day = [*scope, table.partition_field]

    def in_scope(alias: str) -> str:
        conditions = [
            f"{alias}.{table.partition_field} BETWEEN {_date_literal(window.start)} AND "
            f"{_date_literal(window.end)}",
            *(f"{alias}.{column} IN UNNEST(@{scope_parameter(column)})" for column in scope_columns),
        ]
        return "\n      AND ".join(conditions)

    def fresh_value(name: str) -> str:
        if name in extra_columns or table.column(name).type != "NUMERIC":
            return name
        return f"CAST(ROUND({name}, {NUMERIC_SCALE}, '{ROUNDING_MODE}') AS NUMERIC) AS {name}"

    def latest(exported_at_of: str, partition: Sequence[str], alias: str) -> str:
        return _wrapped(f"      MAX({exported_at_of}) OVER (PARTITION BY ", partition, f") AS {alias},", 8)

    fresh, stored = f"IF({FROM_EXPORT}, exported_at, NULL)", f"IF({FROM_EXPORT}, NULL, exported_at)"
    sql = "\n".join(
        [
            f"MERGE {target.quoted} AS target",
            "USING (",
            _wrapped("  SELECT ", stored_columns, ""),
            "  FROM (",
            "    SELECT candidate.*, snapshot._snapshot_at,",
            latest(fresh, day, "_export_day"),
            latest(fresh, scope, "_export_newest"),
            latest(stored, day, "_stored_day"),
            _wrapped(
                "      ROW_NUMBER() OVER (PARTITION BY ",
                [FROM_EXPORT, *key],
                " ORDER BY exported_at DESC) AS _key_rank",
                8,
            ),
            "    FROM (",
            _wrapped(
                "      SELECT ",
                [
                    *map(fresh_value, exported),
                    f"CURRENT_TIMESTAMP() AS {loaded_at}",
                    f"TRUE AS {FROM_EXPORT}",
                ],
                "",
                indent=8,
            ),
            f"      FROM {staging.quoted} AS staged",
            "      WHERE " + in_scope("staged").replace("\n      AND ", "\n        AND "),
            "      UNION ALL",
            _wrapped("      SELECT ", [*stored_columns, f"FALSE AS {FROM_EXPORT}"], "", indent=8),
            f"      FROM {target.quoted} AS stored",
            "      WHERE " + in_scope("stored").replace("\n      AND ", "\n        AND "),
            "    ) AS candidate",
            "    LEFT JOIN (",
            _wrapped(
                "      SELECT ",
                [
                    *(f"answer.{column} AS _snapshot_{column}" for column in scope),
                    "answer.snapshot_at AS _snapshot_at",
                ],
                "",
                indent=8,
            ),
            f"      FROM UNNEST(@{SNAPSHOTS_PARAMETER}) AS answer",
            "    ) AS snapshot",
            "      ON "
            + "\n      AND ".join(f"candidate.{column} = snapshot._snapshot_{column}" for column in scope),
            "  )",
            # Per scope value and day the newer side wins whole, the export a tie; an export's version of
            # a day it has no rows for is the later of its answer time and its newest row of the scope
            # value (an IF, since GREATEST is NULL when either is).
            "  WHERE IF(",
            "    COALESCE(_export_day,",
            "      IF(_export_newest IS NULL OR _snapshot_at > _export_newest,",
            "        _snapshot_at, _export_newest))",
            f"      >= COALESCE(_stored_day, {_NO_VERSION}),",
            f"    {FROM_EXPORT} AND _key_rank = 1,",
            f"    NOT {FROM_EXPORT})",
            ") AS source",
            "ON FALSE",
            "WHEN NOT MATCHED BY TARGET THEN",
            _wrapped("  INSERT (", stored_columns, ")"),
            _wrapped("  VALUES (", [f"source.{name}" for name in stored_columns], ")"),
            "WHEN NOT MATCHED BY SOURCE",
            "  AND " + in_scope("target").replace("\n      AND ", "\n  AND "),
            "  THEN DELETE",
        ]
    )
    return MergeStatement(sql=sql, scope_columns=tuple(scope_columns))


def _date_literal(day: dt.date) -> str:
    """Write a DATE literal: a constant expression, which is what prunes partitions (see the module
    docstring)."""
    return f"DATE '{day.isoformat()}'"


def campaign_totals_query(
    table: TableDefinition, target: TableRef, window: DateWindow, metrics: Sequence[str]
) -> str:
    """Per campaign in the array parameter ``@campaign_ids``, the sums of ``metrics`` over the report dates
    of ``window``: one row per campaign that has rows. It reads only ``campaign_id``, the partitioning
    column and the metrics, from the window's partitions alone (its date filter is a constant expression;
    see the module docstring)."""
    unknown = [name for name in metrics if name not in table.column_names]
    if unknown or "campaign_id" not in table.column_names:
        raise SoundlinkConfigurationError(
            f"{table.name!r} has no campaign_id or no column {unknown}: campaign totals need both"
        )
    return "\n".join(
        [
            _wrapped("SELECT ", ["campaign_id", *(f"SUM({name}) AS {name}" for name in metrics)], ""),
            f"FROM {target.quoted}",
            f"WHERE {table.partition_field} BETWEEN {_date_literal(window.start)}"
            f" AND {_date_literal(window.end)}",
            "  AND campaign_id IN UNNEST(@campaign_ids)",
            "GROUP BY campaign_id",
        ]
    )
