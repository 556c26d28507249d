"""A local Soundlink API server for tests and demos (standard library only).

It honours the documented Soundlink contract over real HTTP, on deterministic data, with a clock
that tests can move and faults that tests can inject.

Running it
----------
``soundlink-sandbox`` or ``python -m soundlink_sandbox`` with ``--host`` (default
127.0.0.1), ``--port`` (0, the default, picks a free one), ``--port-file PATH`` (the bound port is
written there once the server is ready), ``--today YYYY-MM-DD`` (default: the real UTC date),
``--scale N`` (default 1) and ``--seed N``. SIGTERM stops it.

From tests, :class:`~soundlink_sandbox.testing.SandboxProcess` ``(today=None,
scale=1, seed=DEFAULT_SEED, extra_args=())`` is a context manager that starts the server as a child
process on a free loopback port, waits until it answers and exposes ``.base_url`` and ``.pid``, with
``set_today(date)``, ``add_fault(**spec) -> id``, ``clear_faults()``, ``reset()``, ``state()``,
``requests_log()`` and ``output()`` (the server's log); on exit it stops the process by its pid
(SIGTERM, then SIGKILL).

API keys (``keys.py``)
----------------------
``sk_sandbox_all`` (campaigns:read + metrics:read), ``sk_sandbox_metrics`` (metrics:read),
``sk_sandbox_campaigns`` (campaigns:read), ``sk_sandbox_revoked`` (401 api_key_revoked),
``sk_sandbox_expired`` (401 api_key_expired), ``sk_sandbox_disabled`` (404 not_found on every route).
Any other key or none: 401 invalid_api_key; ``Authorization`` together with ``x-api-key``: 401
mixed_credentials. ``/v1/ping`` needs no scope; link stats need metrics:read. The key is never logged.

Endpoints and envelopes
-----------------------
Every JSON answer is ``{"data": ..., "meta": {"requestId": "req_..."}}`` and every answer carries
``X-Request-Id``. Errors are ``{"error": {"code", "message"}, "meta": {"requestId"}}``.

- ``GET /v1/ping`` -> ``data: {"status": "ok"}``.
- ``GET /v1/campaigns?page&pageSize(<=100, default 20)&sortBy=createdAt&sortOrder(asc|desc, default
  desc)`` -> ``data: {items: [campaign...], pagination: {page, pageSize, totalCount, totalPages}}``,
  the same envelope as the breakdown listing, without ``schemaVersion``.
- ``GET /v1/campaigns/{id}`` -> ``data: {campaignId, organizationId, status, socialPlatform,
  dailyBudget, totalBudget, campaignDuration, strategyType, createdAt, updatedAt}``; an unknown id is
  404 campaign_not_found (on every campaign route).
- ``.../metrics/overview?startDate&endDate`` -> ``data: {campaignId, startDate, endDate, listeners,
  streams, followers, impressions, ad_clicks, link_clicks, spend_media, spend_total, fees, currency,
  cpl, cpf, streams_per_listener}``: sums of the window's breakdown rows and ratios of those sums.
- ``.../metrics/breakdown?startDate&endDate&page&pageSize(<=500, default 100)&sortBy(report_date|
  spend_total)&sortOrder(asc|desc, default asc)`` -> ``data: {schemaVersion, items, pagination}``.
  Ties are broken by (report_date, country_code), and ``desc`` reverses the whole order.
- ``.../metrics/engagement?...&engagementContext`` -> the same envelope; sortBy is report_date only
  and ``asc`` is the export order.
- ``.../metrics/breakdown/export`` and ``.../metrics/engagement/export?engagementContext=catalog|
  playlist`` -> chunked JSONL, ``Content-Type: application/x-ndjson``, ``Content-Disposition:
  attachment; filename="breakdown_{id}_{start}_{end}.jsonl"`` (``engagement_...`` likewise) and
  ``X-Row-Count``. Rows are produced as they are written, so memory stays flat. Order: breakdown by
  (report_date, country_code); engagement by (report_date, engagement_context, country_code,
  engaged_spotify_track_id).
- ``GET /tracking/link/stats/aggregated?period_from&period_to`` (ISO timestamps, both inclusive and
  required) ``&group&offset&limit(<=1000, default 100)&sort(-count|count)&campaign_id&subscriber_id&
  profile_id`` -> ``{"data": [{<group fields>, "count"}], "meta": {"count", "offset", "limit",
  "requestId"}}``; without ``group`` the data is one entry ``{"count": N}``. Ties in the count are
  broken by the group fields, so paging is stable.

Unknown paths and methods other than GET: 404 not_found. A key without the route's scope: 403
insufficient_scope naming the scope. Bad parameters: 400 invalid_query_parameter naming the
parameter; a page size above the maximum: 400 page_size_exceeded.

Dates and revisions
-------------------
Dates are inclusive UTC ``YYYY-MM-DD``. An omitted endDate is today, an omitted startDate 90 days
before the end. endDate before startDate, or more than 90 days, is 400 invalid_date_range; a
malformed date is 400 invalid_query_parameter. With the sandbox's today T, rows exist for report
dates up to T-1 (an endDate of T or later is no error). A report date D closes at 00:00 UTC on D+1
and stays revisable for 7 days: its values are those known on R = min(T, D+8), so moving T changes
the last 7 closed days and never older ones, and ``exported_at`` (R at 06:MM:SSZ) moves with R. Every
answer's ``Date`` header reads T at 12:00:00 UTC, the sandbox's clock: after the rows it serves.

The data (``data.py``)
----------------------
:class:`~soundlink_sandbox.data.SandboxData` ``(seed, scale, full_precision)`` is
the truth for tests: ``account_id``, ``campaigns(today=None)``, ``breakdown_rows(...)``,
``engagement_rows(...)``, ``overview(...)``, ``fee_pct(campaign_id)``, ``click_events(...)`` and
``link_clicks(...)``. It is built from ``hashing.py`` (deterministic values), ``campaigns.py`` (the
campaign model), ``rows.py`` (metric rows as JSON lines) and ``clicks.py`` (link clicks).
One account with six campaigns from 2025-03 on: track, playlist and untargeted ones, ended and
still running, with ``camp_...`` and UUID ids; 25 to 40 countries each. Track campaigns have catalog
engagement rows, playlist campaigns playlist rows with ``playlist_position``. Money and ratios are
exact decimal literals with at most six decimal places. ``--scale N`` multiplies the engaged tracks
per campaign by N and the countries with engagement rows by up to N (all of them from scale 5):
scale 1 gives a few thousand engagement rows per 90 days, scale 100 over a million.

Admin API (no auth, never in the request log, never faulted)
------------------------------------------------------------
``POST /_sandbox/today {"today": "YYYY-MM-DD"}``; ``POST /_sandbox/faults {spec}`` -> ``{"id"}``;
``DELETE /_sandbox/faults``; ``POST /_sandbox/reset`` (clears faults and the request log, restores
the start-up today); ``GET /_sandbox/state`` (today, seed, scale, the faults with their remaining
counts, ``requestCount``, and ``requestsInFlight``: API requests being answered now);
``GET /_sandbox/requests`` -> ``{"requests": [{"method", "path", "query" (a dict), "status" (None
when the connection was reset)}]}``.

Fault spec: ``{"path": regex searched in the request path, "count": n (default 1), "kind": ...}``,
matched in the order added, each consuming its count, with kinds ``status`` (``status``, optional
``retry_after`` and ``code``), ``reset``, ``slow`` (``delay``), ``redirect`` (``status``,
``location``), ``page_cap`` (``max_items``), ``cut`` (``after_lines``), ``short``
(``missing_lines``), ``bad_line`` (``at_line``), ``schema_version`` (``version``), ``extra_field``
(``field``, ``value``), ``set_value`` (``field``, ``json_text``, ``at_line``), ``drop_row``
(``at_line``), ``unframed`` (optional ``row_count_header``, default true), ``trickle``
(``bytes_per_second``), ``echo_key``, ``html_page``, ``shift``, ``no_envelope``, ``json_error``
(optional ``code``), ``row_count`` (``value``) and ``gzip`` (optional ``trailer``). A request meets at most
one fault per stage (arrival, paging, moving, shape, rows, framing, encoding, pacing, errors), so kinds of
different stages combine; see :mod:`~soundlink_sandbox.faults`.
"""
