"""A StatsD server on loopback that keeps every metric it receives, for the metrics Airflow's ``Stats``
sends from the tasks of the end-to-end tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StatsdListener:
    """``received`` holds ``(name, value, kind)`` of every metric, in the order they came."""

    port: int
    received: list[tuple[str, float, str]] = field(default_factory=list)

    def mark(self) -> int:
        """Mark a position in ``received``: :meth:`counters` counts from there."""
        return len(self.received)

    def counters(self, since: int = 0) -> dict[str, float]:
        """Sum each counter received since ``since``."""
        sums: dict[str, float] = {}
        for name, value, kind in self.received[since:]:
            if kind == "c":
                sums[name] = sums.get(name, 0) + value
        return sums

    def settings(self) -> dict[str, str]:
        """Airflow's settings that send its metrics here."""
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        }


@contextmanager
def statsd_listener() -> Iterator[StatsdListener]:
    """Listen on a free UDP port of 127.0.0.1 until the block ends."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.2)
    listener = StatsdListener(server.getsockname()[1])
    stopping = threading.Event()

    def receive() -> None:
        while not stopping.is_set():
            try:
                packet = server.recv(65536).decode("utf-8", errors="replace")
            except TimeoutError:
                continue
            # "name:value|kind[|@rate][|#tags]", several per packet separated by newlines.
            for line in packet.splitlines():
                name, _, rest = line.partition(":")
                value, _, kind = rest.partition("|")
                try:
                    listener.received.append((name, float(value), kind.split("|")[0]))
                except ValueError:
                    continue

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stopping.set()
        thread.join()
        server.close()
