"""One import site for the Airflow names whose home moved between Airflow 2.11 and 3.x."""

from __future__ import annotations

try:  # Airflow 3
    from airflow.sdk import DAG as DAG
    from airflow.sdk import Asset as Asset
    from airflow.sdk import BaseHook as BaseHook
    from airflow.sdk import BaseOperator as BaseOperator
    from airflow.sdk import BaseOperatorLink as BaseOperatorLink
    from airflow.sdk import Context as Context
    from airflow.sdk import Param as Param
    from airflow.sdk import task as task
    from airflow.sdk.execution_time.xcom import XCom as XCom
    from airflow.sdk.log import mask_secret as mask_secret
except ImportError:  # Airflow 2.11
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef,attr-defined]
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]
    from airflow.models.baseoperator import BaseOperator  # type: ignore[no-redef]
    from airflow.models.baseoperatorlink import BaseOperatorLink  # type: ignore[no-redef,assignment]
    from airflow.models.dag import DAG  # type: ignore[no-redef,assignment]
    from airflow.models.param import Param  # type: ignore[no-redef,assignment]
    from airflow.models.xcom import XCom  # type: ignore[no-redef,assignment]
    from airflow.utils.context import Context  # type: ignore[no-redef,attr-defined]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

try:  # Airflow 3
    from airflow.sdk.exceptions import AirflowFailException as AirflowFailException
    from airflow.sdk.exceptions import AirflowSkipException as AirflowSkipException
    from airflow.sdk.exceptions import TaskDeferred as TaskDeferred
except ImportError:  # Airflow 2.11
    from airflow.exceptions import (  # type: ignore[no-redef,assignment]
        AirflowFailException,
        AirflowSkipException,
        TaskDeferred,
    )

from airflow.exceptions import AirflowProviderDeprecationWarning as AirflowProviderDeprecationWarning

try:  # Airflow 3
    from airflow.sdk.observability.stats import Stats as Stats
except ImportError:  # Airflow 2.11
    from airflow.stats import Stats  # type: ignore[no-redef,attr-defined]

try:  # Airflow 3
    from airflow.sdk.configuration import conf as _conf
except ImportError:  # Airflow 2.11
    from airflow.configuration import conf as _conf  # type: ignore[no-redef]


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable``: whether deferrable operators defer unless told."""
    return _conf.getboolean("operators", "default_deferrable", fallback=False)


__all__ = [
    "DAG",
    "AirflowFailException",
    "AirflowProviderDeprecationWarning",
    "AirflowSkipException",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "Context",
    "Param",
    "Stats",
    "TaskDeferred",
    "XCom",
    "default_deferrable",
    "mask_secret",
    "task",
]
