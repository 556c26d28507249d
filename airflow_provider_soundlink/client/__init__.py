"""A client for the Soundlink Public API that works without Airflow.

Split by concern: :mod:`.settings` (key, address, limits; defaults in :mod:`.defaults`), :mod:`.transport`
(session, auth, one attempt, retries, error mapping), :mod:`.pagination` (paged endpoints),
:mod:`.streams` (JSONL export streams) and :mod:`.api` (the calls, and :class:`~.api.SoundlinkClient` to
make them); its errors are the provider's one family, :mod:`airflow_provider_soundlink.errors`::

    from airflow_provider_soundlink.client.api import SoundlinkClient
    from airflow_provider_soundlink.client.settings import ClientSettings

    client = SoundlinkClient(ClientSettings(api_key="sk_..."))

Nothing is imported here, so that the provider info Airflow reads at start-up can import
:mod:`.defaults` without importing Airflow back.
"""
