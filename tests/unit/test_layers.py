"""The package's layers, as the README's layout names them: each module imports only from the layers below
its own, and the client (with the pure core and the error family) works in a process without Airflow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_soundlink

PACKAGE = Path(airflow_provider_soundlink.__file__).parent
ROOT = "<root>"
"""``import airflow_provider_soundlink`` itself (for ``__version__``)."""

# What each part may import of the package, besides itself: the layers below it.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "core": {"errors"},
    "client": {ROOT, "errors", "core"},
    "compat": set(),
    "metrics": {"errors", "compat"},
    "hooks": {ROOT, "errors", "core", "client", "compat", "metrics"},
    "provider_info": {ROOT, "hooks"},
    "triggers": {"errors", "core", "compat", "hooks"},
    "operators": {ROOT, "errors", "core", "client", "compat", "metrics", "hooks", "triggers"},
    "bigquery_check": {"errors", "core", "compat", "hooks"},
    "dag_factory": {"errors", "core", "client", "compat", "metrics", "hooks", "operators"},
}


def part_of(module: Path) -> str:
    parts = module.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_parts(module: Path) -> set[str]:
    """Return the parts of the package ``module`` imports, at any depth of its code."""
    parts: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name == "airflow_provider_soundlink":
                parts.add(ROOT)
            elif name.startswith("airflow_provider_soundlink."):
                parts.add(name.split(".")[1])
    return parts


MODULES = sorted(
    path for path in PACKAGE.rglob("*.py") if path.name != "__init__.py" or path.parent != PACKAGE
)


def test_every_part_of_the_package_has_a_layer() -> None:
    assert {part_of(module) for module in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_module_imports_only_from_the_layers_below_its_own(module: Path) -> None:
    part = part_of(module)
    assert imported_parts(module) - {part} <= ALLOWED[part]


def test_the_client_works_in_a_process_without_airflow() -> None:
    # Any import of Airflow fails in the child, as where it is not installed.
    script = """
import importlib.abc, sys

class NoAirflow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoAirflow())
from airflow_provider_soundlink.client.api import SoundlinkClient
from airflow_provider_soundlink.client.settings import ClientSettings
from airflow_provider_soundlink.core import load_plan, load_values, sql, windows
from airflow_provider_soundlink.errors import SoundlinkError
client = SoundlinkClient(ClientSettings(base_url="https://api.example", api_key="sk_test_x"))
assert not [name for name in sys.modules if name == "airflow" or name.startswith("airflow.")]
print("ok")
"""
    finished = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (finished.returncode, finished.stdout.strip()) == (0, "ok"), finished.stderr
