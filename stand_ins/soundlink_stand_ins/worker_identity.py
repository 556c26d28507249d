"""``[core] hostname_callable`` for the Celery workers of the end-to-end tests: each worker's own name.

The workers run on one machine, so the host name cannot tell them apart; task instances record this
instead, and the tests read from it which worker ran each task.
"""

import os


def worker_name() -> str:
    return os.environ["SOUNDLINK_E2E_WORKER"]
