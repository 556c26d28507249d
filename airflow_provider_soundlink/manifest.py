"""The manifest an export task hands to the load task through XCom: where each exported slice lies.

One entry per campaign x <= 90-day window, never data. The BigQuery MERGE derives its scope (campaigns,
date window, engagement context) from the manifest, so this module also checks that the manifest
describes one complete export: a window missing for a campaign would make the MERGE delete rows that
were never re-exported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from airflow_provider_soundlink.exports import ExportKind
from airflow_provider_soundlink.windows import DateWindow


class ManifestEntry(TypedDict):
    """One exported object: an export of one campaign over one window (dates ``YYYY-MM-DD``, inclusive)."""

    export: str
    table: str
    campaign_id: str
    start_date: str
    end_date: str
    engagement_context: str | None
    uri: str
    row_count: int
    new_fields: list[str]


_ENTRY_TYPES: dict[str, type | tuple[type, ...]] = {
    "export": str,
    "table": str,
    "campaign_id": str,
    "start_date": str,
    "end_date": str,
    "engagement_context": (str, type(None)),
    "uri": str,
    "row_count": int,
    "new_fields": list,
}


@dataclass(frozen=True)
class ManifestScope:
    """What a manifest is the complete truth for: these campaigns over this window (in this context)."""

    export: ExportKind
    campaign_ids: tuple[str, ...]
    window: DateWindow
    engagement_context: str | None


def entry_window(entry: ManifestEntry) -> DateWindow:
    return DateWindow(dt.date.fromisoformat(entry["start_date"]), dt.date.fromisoformat(entry["end_date"]))


def flatten_manifests(manifests: Iterable[Any]) -> list[ManifestEntry]:
    """The entries of one manifest, or of the manifests a mapped export task returned, as one list.

    Accepts a list of entries, a list of lists of entries (the XCom of a mapped task), or a mix; every
    entry is checked to have the fields of :class:`ManifestEntry`.
    """
    if isinstance(manifests, (str, bytes, Mapping)):
        raise TypeError(
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
            raise TypeError(f"manifest item {item!r} is neither an entry nor a list of entries")
    return entries


def _checked_entry(entry: object, position: int) -> ManifestEntry:
    if not isinstance(entry, Mapping):
        raise TypeError(f"manifest entry {position} is {entry!r}, not a mapping")
    missing = sorted(set(_ENTRY_TYPES) - set(entry))
    if missing:
        raise ValueError(f"manifest entry {position} lacks {missing}: {dict(entry)!r}")
    for name, expected in _ENTRY_TYPES.items():
        if not isinstance(entry[name], expected):
            raise ValueError(f"manifest entry {position} has {name}={entry[name]!r} of the wrong type")
    known_exports = [kind.value for kind in ExportKind]
    if entry["export"] not in known_exports:
        raise ValueError(f"manifest entry {position} has export {entry['export']!r}; known: {known_exports}")
    checked = ManifestEntry(
        export=entry["export"],
        table=entry["table"],
        campaign_id=entry["campaign_id"],
        start_date=entry["start_date"],
        end_date=entry["end_date"],
        engagement_context=entry["engagement_context"],
        uri=entry["uri"],
        row_count=entry["row_count"],
        new_fields=list(entry["new_fields"]),
    )
    try:
        entry_window(checked)
    except ValueError as error:
        raise ValueError(f"manifest entry {position} has an unusable window: {error}") from error
    return checked


def manifest_scope(entries: Sequence[ManifestEntry]) -> ManifestScope:
    """The scope a complete manifest covers; refuses a manifest that is empty, mixed or has gaps.

    The window runs from the earliest start to the latest end. Every campaign's windows must cover that
    whole window without a gap, because the MERGE treats the export as the truth for every campaign
    over every day of it. Overlapping windows are fine: the MERGE keeps the latest ``exported_at``.
    """
    if not entries:
        raise ValueError(
            "the manifest is empty: the export task exported nothing, so there is no scope to load"
        )
    exports = {entry["export"] for entry in entries}
    if len(exports) != 1:
        raise ValueError(
            f"the manifest mixes exports {sorted(exports)}; load each export with its own merge task"
        )
    contexts = {entry["engagement_context"] for entry in entries}
    if len(contexts) != 1:
        shown = sorted("all contexts" if context is None else context for context in contexts)
        raise ValueError(
            f"the manifest mixes engagement contexts {shown}; load each context with its own merge task"
        )
    windows_by_campaign: dict[str, list[DateWindow]] = {}
    for entry in entries:
        windows_by_campaign.setdefault(entry["campaign_id"], []).append(entry_window(entry))
    window = DateWindow(
        min(w.start for windows in windows_by_campaign.values() for w in windows),
        max(w.end for windows in windows_by_campaign.values() for w in windows),
    )
    for campaign_id, windows in windows_by_campaign.items():
        gaps = uncovered_days(window, windows)
        if gaps:
            raise ValueError(
                f"campaign {campaign_id!r} was not exported for {', '.join(map(str, gaps))} inside the "
                f"manifest's window {window}; loading it would delete that campaign's stored rows for those "
                "days. Export every campaign over the same dates (one export task per run) before merging"
            )
    return ManifestScope(
        export=ExportKind(exports.pop()),
        campaign_ids=tuple(windows_by_campaign),
        window=window,
        engagement_context=contexts.pop(),
    )


def uncovered_days(window: DateWindow, parts: Iterable[DateWindow]) -> list[DateWindow]:
    """The stretches of ``window`` that none of ``parts`` covers, in date order."""
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
