"""Walking the paged endpoints without losing a row or counting one twice.

Both pagers advance by what the server returned, never by what was asked, stop on an empty page or once
the announced total is reached, and fail loudly if the pages added up to fewer rows than announced. Each
entry has a key (a campaign's id, a row's primary key, a link-stats group): an entry seen twice, or a
total that changed from the first page, means the listing moved while it was read (an entry inserted
before the page being read pushes one seen entry onto the next page and is itself never seen), which
raises :class:`~airflow_provider_soundlink.errors.SoundlinkListingChangedError`: read from the
start again, the listing is whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, TypeVar

from airflow_provider_soundlink.errors import (
    RequestContext,
    SoundlinkAPIError,
    SoundlinkListingChangedError,
    SoundlinkUnexpectedResponseError,
)

Page = dict[str, Any]
EntryKey = Callable[[Mapping[str, Any]], Hashable]
_Listing = TypeVar("_Listing")
log = logging.getLogger("airflow_provider_soundlink.client")


def reread_when_changed(read: Callable[[], _Listing], max_reads: int) -> _Listing:
    """``read()`` a whole listing, again from the start while it changes under it, at most ``max_reads``
    times; a listing that keeps changing raises its last :class:`SoundlinkListingChangedError`."""
    number = 1
    while True:
        try:
            return read()
        except SoundlinkListingChangedError as error:
            if number >= max_reads:
                raise
            log.warning(
                "Reading the listing again from the start (read %d of %d): %s", number, max_reads, error
            )
            number += 1


def iter_numbered_pages(
    fetch: Callable[[int], Page], context: RequestContext, key: EntryKey
) -> Iterator[tuple[int, Page, list[dict[str, Any]]]]:
    """``page``/``pageSize`` endpoints (``{data: {items, pagination: {totalCount, totalPages}}}``):
    yields (page number, body, items) from page 1 until the last page or an empty one."""
    page = 1
    seen = _SeenEntries(context, key)
    while True:
        body = fetch(page)
        items, pagination = _numbered_page(body, context)
        seen.add(items, pagination["totalCount"], body)
        yield page, body, items
        if not items or page >= pagination["totalPages"]:
            _check_total(seen.count, pagination["totalCount"], body, context)
            return
        page += 1


def iter_offset_pages(
    fetch: Callable[[int], Page], context: RequestContext, key: EntryKey
) -> Iterator[list[dict[str, Any]]]:
    """``offset``/``limit`` endpoints (``{data: [...], meta: {count}}``): yields each page's entries,
    the next offset being this one plus the entries actually returned."""
    offset = 0
    seen = _SeenEntries(context, key)
    while True:
        body = fetch(offset)
        entries, total = _offset_page(body, context)
        seen.add(entries, total, body)
        yield entries
        offset += len(entries)
        if not entries or offset >= total:
            _check_total(offset, total, body, context)
            return


class _SeenEntries:
    """The keys of a listing's entries so far and its total as its first page announced it."""

    def __init__(self, context: RequestContext, key: EntryKey) -> None:
        self._context = context
        self._key = key
        self._keys: set[Hashable] = set()
        self._total: int | None = None
        self.count = 0

    def add(self, entries: list[dict[str, Any]], total: int, body: Page) -> None:
        if self._total is None:
            self._total = total
        moved = None
        if total != self._total:
            moved = f"its total went from {self._total} to {total}"
        for entry in entries:
            entry_key = self._key(entry)
            if entry_key in self._keys:
                # Not shown: a link-stats group may be personal data (an IP address).
                moved = f"an entry came twice after {self.count} entries"
                break
            self._keys.add(entry_key)
            self.count += 1
        if moved is not None:
            raise SoundlinkListingChangedError(
                f"Soundlink {self._context.target} changed while its pages were read: {moved}; read again "
                "from the start, it is whole",
                _request_id(body),
            )


def _numbered_page(body: Page, context: RequestContext) -> tuple[list[dict[str, Any]], dict[str, int]]:
    data = body.get("data")
    items = data.get("items") if isinstance(data, dict) else None
    pagination = data.get("pagination") if isinstance(data, dict) else None
    if (
        not isinstance(items, list)
        or not all(isinstance(item, dict) for item in items)
        or not isinstance(pagination, dict)
        or not all(_is_count(pagination.get(name)) for name in ("totalCount", "totalPages"))
    ):
        raise _unexpected(
            body, context, "a page {data: {items: [...], pagination: {totalCount, totalPages}}}"
        )
    return items, pagination


def _offset_page(body: Page, context: RequestContext) -> tuple[list[dict[str, Any]], int]:
    entries = body.get("data")
    meta = body.get("meta")
    total = meta.get("count") if isinstance(meta, dict) else None
    if (
        not isinstance(entries, list)
        or not all(isinstance(entry, dict) for entry in entries)
        or not _is_count(total)
    ):
        raise _unexpected(body, context, "a page {data: [...], meta: {count}}")
    return entries, int(total)  # type: ignore[arg-type]


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _unexpected(body: Page, context: RequestContext, expected: str) -> SoundlinkUnexpectedResponseError:
    return SoundlinkUnexpectedResponseError(
        200,
        None,
        f"the answer lacks the documented envelope (members: {sorted(body)})",
        _request_id(body),
        context,
        expected=expected,
    )


def _request_id(body: Page) -> str | None:
    meta = body.get("meta")
    return str(meta["requestId"]) if isinstance(meta, dict) and meta.get("requestId") else None


def _check_total(seen: int, total: object, body: Page, context: RequestContext) -> None:
    if isinstance(total, int) and seen < total:
        raise SoundlinkAPIError(
            200,
            None,
            f"the pages ended after {seen} of the {total} entries they announced",
            _request_id(body),
            context,
        )
