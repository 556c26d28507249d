"""The part of an Airflow task context the operators read, for running them outside a DAG run."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any


def task_context(task_id: str, execution_id: str | None = None, try_number: int = 1) -> Any:
    """Build a context of one task try, as Airflow 3 gives it: ``ti.id`` names the execution of that try.

    Each call is a new execution unless ``execution_id`` repeats one (a task delivered twice). What the
    task pushes to XCom is kept in ``ti.xcom``.
    """
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="soundlink_test",
        run_id="manual__1",
        task_id=task_id,
        map_index=-1,
        try_number=try_number,
        id=execution_id or str(uuid.uuid4()),
        xcom=pushed,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    return {"ti": ti}
