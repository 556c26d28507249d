"""Parse a DAGs folder the way Airflow's DAG processor does and print what came out, as JSON.

Run with the interpreter of the Airflow environment under test:
``python dagbag_report.py DAGS_FOLDER REPORT_FILE`` (a file, because Airflow logs to stdout).
Any attempt to open a network connection while parsing fails the parse, so a DAG file that calls an
API or a cloud service at import shows up as an import error.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from typing import Any

try:  # Airflow 3
    from airflow.dag_processing.dagbag import DagBag

    EXTRA_ARGUMENTS: dict[str, Any] = {}
except ImportError:  # Airflow 2.11
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    EXTRA_ARGUMENTS = {"include_examples": False}


class NetworkUsedAtImport(RuntimeError):
    pass


def refuse_connections(self: socket.socket, address: Any) -> None:
    raise NetworkUsedAtImport(f"a DAG file opened a network connection to {address!r} while being parsed")


def main() -> None:
    dags_folder, report_file = sys.argv[1:3]
    socket.socket.connect = refuse_connections  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = refuse_connections  # type: ignore[method-assign,assignment]
    started = time.monotonic()
    bag = DagBag(dags_folder, **EXTRA_ARGUMENTS)
    report = {
        "parse_seconds": time.monotonic() - started,
        "import_errors": {str(path): str(error) for path, error in bag.import_errors.items()},
        "dags": {
            dag.dag_id: {
                "timetable": type(dag.timetable).__name__,
                "schedule": getattr(dag.timetable, "summary", None),
                "catchup": dag.catchup,
                "params": sorted(dag.params),
                "tasks": {
                    task.task_id: {
                        "type": type(task).__name__,
                        "mapped": bool(getattr(task, "is_mapped", False))
                        or type(task).__name__ == "MappedOperator",
                        "pool": task.pool,
                        "upstream": sorted(task.upstream_task_ids),
                        "outlets": sorted(getattr(outlet, "uri", str(outlet)) for outlet in task.outlets),
                    }
                    for task in dag.tasks
                },
            }
            for dag in bag.dags.values()
        },
    }
    with open(report_file, "w", encoding="utf-8") as output:
        json.dump(report, output)


if __name__ == "__main__":
    main()
