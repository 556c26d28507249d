"""The manifest an export task hands to the load task through XCom: where each exported object lies.

One entry per object, never data: each covers a window of report dates for one value of each scope column
of its table (e.g. one campaign, or one link-stats grouping with its filters). The BigQuery MERGE derives
its scope (the window and, per scope column, the values covered) from the manifest, so this module also
checks that the manifest describes one complete export: a window missing for some scope value would make
the MERGE delete rows that were never re-exported.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import SoundlinkConfigurationError


class ManifestEntry(TypedDict):
    """One exported object: ``scope`` (scope column -> value) over a window (``YYYY-MM-DD``, inclusive)."""

    export: str
    table: str
    scope: dict[str, str]
    start_date: str
    end_date: str
    uri: str
    row_count: int
    new_fields: list[str]
    new_field_kinds: NotRequired[dict[str, list[str]]]
    """Each new field's JSON kinds (see :mod:`airflow_provider_soundlink.core.new_fields`); absent from the
    manifests of exports that carry no kinds, which count as unknown."""
    snapshot_at: NotRequired[str]
    """When the API answered the export (ISO 8601, UTC): the object holds its scope's rows as of then (see
    :mod:`airflow_provider_soundlink.core.sql`). Absent when the answer carried no time."""


_ENTRY_TYPES: dict[str, type | tuple[type, ...]] = {
    "export": str,
    "table": str,
    "scope": dict,
    "start_date": str,
    "end_date": str,
    "uri": str,
    "row_count": int,
    "new_fields": list,
}


@dataclass(frozen=True)
class ManifestScope:
    """What a manifest is the complete truth for: every combination of ``values`` over ``window``."""

    export: str
    table: str
    window: DateWindow
    values: dict[str, tuple[str, ...]]
    """Scope column -> the values covered, in the order the manifest first names them."""
    snapshots: dict[tuple[str, ...], dt.datetime]
    """Combination of scope values (in the order of ``values``) -> the earliest answer time of its objects,
    for the combinations whose every object has one: the time its export is known to speak for."""

    def describe(self) -> str:
        """Give the scope's size, as a log says it:
        "3 campaign_id value(s) x 1 engagement_context value(s)"."""
        return " x ".join(f"{len(values)} {column} value(s)" for column, values in self.values.items())


def entry_window(entry: ManifestEntry) -> DateWindow:
    return DateWindow(dt.date.fromisoformat(entry["start_date"]), dt.date.fromisoformat(entry["end_date"]))


def flatten_manifests(manifests: Iterable[Any]) -> list[ManifestEntry]:
    """Gather the entries of one manifest, or of the manifests several export tasks returned, into one list.

    Accepts a list of entries, a list of lists of entries (the outputs of several export tasks, or the
    XCom of a mapped task), or a mix; every
    entry is checked to have the fields of :class:`ManifestEntry`.
    """
    if isinstance(manifests, (str, bytes, Mapping)):
        raise SoundlinkConfigurationError(
            f"a manifest is a list of entries (or a list of such lists), got {type(manifests).__name__}; "
            "pass the export task's output"
        )
    entries: list[ManifestEntry] = []
    for item in manifests:
        if isinstance(item, Mapping):
            entries.append(_checked_entry(item, len(entries)))
        elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
            entries.extend(_checked_entry(entry, len(entries) + offset) for offset, entry in enumerate(item))
        else:
            raise SoundlinkConfigurationError(
                f"manifest item {item!r} is neither an entry nor a list of entries"
            )
    return entries


def _checked_entry(entry: object, position: int) -> ManifestEntry:
    if not isinstance(entry, Mapping):
        raise SoundlinkConfigurationError(f"manifest entry {position} is {entry!r}, not a mapping")
    missing = sorted(set(_ENTRY_TYPES) - set(entry))
    if missing:
        raise SoundlinkConfigurationError(f"manifest entry {position} lacks {missing}: {dict(entry)!r}")
    for name, expected in _ENTRY_TYPES.items():
        if not isinstance(entry[name], expected):
            raise SoundlinkConfigurationError(
                f"manifest entry {position} has {name}={entry[name]!r} of the wrong type"
            )
    known = {kind.value: kind.table_name for kind in ExportKind}
    if known.get(entry["export"]) != entry["table"]:
        raise SoundlinkConfigurationError(
            f"manifest entry {position} has export {entry['export']!r} and table {entry['table']!r}; "
            f"known exports and their tables: {known}"
        )
    if not entry["scope"] or not all(
        isinstance(column, str) and isinstance(value, str) for column, value in entry["scope"].items()
    ):
        raise SoundlinkConfigurationError(
            f"manifest entry {position} has scope {entry['scope']!r}; it maps scope columns to strings"
        )
    checked = ManifestEntry(
        export=entry["export"],
        table=entry["table"],
        scope=dict(entry["scope"]),
        start_date=entry["start_date"],
        end_date=entry["end_date"],
        uri=entry["uri"],
        row_count=entry["row_count"],
        new_fields=list(entry["new_fields"]),
    )
    kinds = entry.get("new_field_kinds")
    if kinds is not None:
        if not isinstance(kinds, Mapping) or not all(
            isinstance(name, str) and isinstance(seen, list) for name, seen in kinds.items()
        ):
            raise SoundlinkConfigurationError(
                f"manifest entry {position} has new_field_kinds={kinds!r}; it maps field names to lists"
            )
        checked["new_field_kinds"] = {name: list(seen) for name, seen in kinds.items()}
    snapshot_at = entry.get("snapshot_at")
    if snapshot_at is not None:
        try:
            answered = dt.datetime.fromisoformat(snapshot_at) if isinstance(snapshot_at, str) else None
        except ValueError:
            answered = None
        if answered is None or answered.tzinfo is None:
            raise SoundlinkConfigurationError(
                f"manifest entry {position} has snapshot_at={snapshot_at!r}; it is an ISO 8601 time with "
                "its UTC offset"
            )
        checked["snapshot_at"] = snapshot_at
    try:
        entry_window(checked)
    except ValueError as error:
        raise SoundlinkConfigurationError(
            f"manifest entry {position} has an unusable window: {error}"
        ) from error
    return checked


def manifest_scope(entries: Sequence[ManifestEntry]) -> ManifestScope:
    """Find the scope a complete manifest covers; refuse a manifest that is empty, mixed or has gaps.

    The window runs from the earliest start to the latest end. The MERGE treats the export as the truth for
    every combination of the scope values over every day of that window, so each combination must have been
    exported over the whole window. Overlapping windows are fine: the MERGE keeps the latest ``exported_at``.
    """
    if not entries:
        raise SoundlinkConfigurationError(
            "the manifest is empty: the export task exported nothing, so there is no scope to load"
        )
    exports = {entry["export"] for entry in entries}
    if len(exports) != 1:
        raise SoundlinkConfigurationError(
            f"the manifest mixes exports {sorted(exports)}; load each export with its own merge task"
        )
    shapes = {tuple(sorted(entry["scope"])) for entry in entries}
    if len(shapes) != 1:
        raise SoundlinkConfigurationError(
            f"the manifest mixes scopes bound by {sorted(map(list, shapes))} (e.g. one engagement context "
            "and all contexts); load each with its own merge task"
        )
    columns = list(entries[0]["scope"])
    windows_by_scope: dict[tuple[str, ...], list[DateWindow]] = {}
    answers_by_scope: dict[tuple[str, ...], list[dt.datetime | None]] = {}
    for entry in entries:
        key = tuple(entry["scope"][column] for column in columns)
        windows_by_scope.setdefault(key, []).append(entry_window(entry))
        answered = entry.get("snapshot_at")
        answers_by_scope.setdefault(key, []).append(
            None if answered is None else dt.datetime.fromisoformat(answered)
        )
    window = DateWindow(
        min(entry_window(entry).start for entry in entries), max(entry_window(entry).end for entry in entries)
    )
    values = {
        column: tuple(dict.fromkeys(key[index] for key in windows_by_scope))
        for index, column in enumerate(columns)
    }
    for key in itertools.product(*values.values()):
        gaps = uncovered_days(window, windows_by_scope.get(key, []))
        if gaps:
            raise SoundlinkConfigurationError(
                f"{_describe(columns, key)} was not exported for {', '.join(map(str, gaps))} inside the "
                f"manifest's window {window}; loading it would delete its stored rows for those days. Export "
                "every combination over the same dates (one export task per run) before merging"
            )
    # The earliest answer, so no day of a combination is taken as newer than its oldest object says.
    snapshots = {
        key: min(known)
        for key, answers in answers_by_scope.items()
        if len(known := [answer for answer in answers if answer is not None]) == len(answers)
    }
    return ManifestScope(
        export=exports.pop(), table=entries[0]["table"], window=window, values=values, snapshots=snapshots
    )


def _describe(columns: Sequence[str], key: Sequence[str]) -> str:
    return ", ".join(f"{column} {value!r}" for column, value in zip(columns, key, strict=True))


def uncovered_days(window: DateWindow, parts: Iterable[DateWindow]) -> list[DateWindow]:
    """Find the stretches of ``window`` that none of ``parts`` covers, in date order."""
    gaps = []
    cursor = window.start
    for part in sorted(parts):
        if part.start > cursor:
            gaps.append(DateWindow(cursor, min(part.start - dt.timedelta(days=1), window.end)))
        cursor = max(cursor, part.end + dt.timedelta(days=1))
        if cursor > window.end:
            break
    if cursor <= window.end:
        gaps.append(DateWindow(cursor, window.end))
    return gaps


__all__ = [
    "ManifestEntry",
    "ManifestScope",
    "entry_window",
    "flatten_manifests",
    "manifest_scope",
    "uncovered_days",
]
