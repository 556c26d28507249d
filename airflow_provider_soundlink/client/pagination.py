"""Walking the paged endpoints without losing a row to a server that serves smaller pages than asked.

Both pagers advance by what the server returned, never by what was asked, stop on an empty page or once
the announced total is reached, and fail loudly if the pages added up to fewer rows than announced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from airflow_provider_soundlink.client.errors import RequestContext, SoundlinkAPIError

Page = dict[str, Any]


def iter_numbered_pages(
    fetch: Callable[[int], Page], context: RequestContext
) -> Iterator[tuple[int, Page, list[dict[str, Any]]]]:
    """``page``/``pageSize`` endpoints (``{data: {items, pagination: {totalCount, totalPages}}}``):
    yields (page number, body, items) from page 1 until the last page or an empty one."""
    page = 1
    seen = 0
    while True:
        body = fetch(page)
        data = body["data"]
        items = list(data["items"])
        seen += len(items)
        yield page, body, items
        pagination = data["pagination"]
        if not items or page >= pagination["totalPages"]:
            _check_total(seen, pagination.get("totalCount"), body, context)
            return
        page += 1


def iter_offset_pages(
    fetch: Callable[[int], Page], context: RequestContext
) -> Iterator[list[dict[str, Any]]]:
    """``offset``/``limit`` endpoints (``{data: [...], meta: {count}}``): yields each page's entries,
    the next offset being this one plus the entries actually returned."""
    offset = 0
    while True:
        body = fetch(offset)
        entries = list(body["data"])
        yield entries
        offset += len(entries)
        total = body["meta"]["count"]
        if not entries or offset >= total:
            _check_total(offset, total, body, context)
            return


def _check_total(seen: int, total: object, body: Page, context: RequestContext) -> None:
    if isinstance(total, int) and seen < total:
        raise SoundlinkAPIError(
            200,
            None,
            f"the pages ended after {seen} of the {total} entries they announced",
            body.get("meta", {}).get("requestId"),
            context,
        )
