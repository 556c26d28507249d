"""The built release and clean installs of it: a virtualenv per tested Airflow version, holding Airflow,
the google provider and the wheel, and nothing from this checkout.

There is no network but the package indexes, so Airflow's published constraints files cannot be fetched;
each install is pinned instead to the versions of the repository's own environment of that Airflow
(``uv pip freeze``), which ``make test`` runs every other tier in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from soundlink_stand_ins.paths import AIRFLOW2_VENV, AIRFLOW3_VENV, REPO_ROOT

BOOTSTRAP = REPO_ROOT / "scripts" / "bootstrap.sh"
INSTALL_TIMEOUT_SECONDS = 600
"""A clean install took 20-40 s here from uv's cache: far more than 3x."""
LOCAL_DISTRIBUTIONS = ("airflow-provider-soundlink", "soundlink-sandbox", "soundlink-stand-ins")


def pinned_version(name: str) -> str:
    """Read a version scripts/bootstrap.sh pins (``NAME=version``): the one source of the tested versions."""
    match = re.search(rf"^{name}=(\S+)$", BOOTSTRAP.read_text(), re.MULTILINE)
    assert match, f"scripts/bootstrap.sh pins no {name}"
    return match.group(1)


def uv() -> str:
    found = shutil.which("uv")
    assert found, "uv is missing: scripts/bootstrap.sh installs it"
    return found


@dataclass(frozen=True)
class Release:
    """The wheel and sdist ``uv build`` wrote, and ``twine check --strict`` on both."""

    wheel: Path
    sdist: Path
    twine_report: subprocess.CompletedProcess[str]


def build_release(out_dir: Path) -> Release:
    subprocess.run(
        [uv(), "build", "--quiet", "--out-dir", str(out_dir), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    (wheel,) = out_dir.glob("*.whl")
    (sdist,) = out_dir.glob("*.tar.gz")
    twine = subprocess.run(
        [str(AIRFLOW3_VENV / "bin" / "twine"), "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Release(wheel, sdist, twine)


@dataclass(frozen=True)
class CleanInstall:
    """A virtualenv with one Airflow version, the google provider and the wheel; ``home`` its AIRFLOW_HOME."""

    venv: Path
    home: Path

    def environment(self) -> dict[str, str]:
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        inherited.pop("VIRTUAL_ENV", None)
        return {
            **inherited,
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }

    def airflow(self, *args: str) -> str:
        return self._run([str(self.venv / "bin" / "airflow"), *args])

    def python(self, code: str) -> str:
        return self._run([str(self.venv / "bin" / "python"), "-c", code])

    def _run(self, command: list[str]) -> str:
        completed = subprocess.run(
            command, env=self.environment(), capture_output=True, text=True, timeout=300, check=True
        )
        return completed.stdout


def install_release(wheel: Path, repository_venv: Path, directory: Path) -> CleanInstall:
    """Install the wheel with the Airflow and google provider of ``repository_venv``, pinned to its
    versions."""
    airflow_version = pinned_version(
        "AIRFLOW3_VERSION" if repository_venv == AIRFLOW3_VENV else "AIRFLOW2_VERSION"
    )
    frozen = subprocess.run(
        [uv(), "pip", "freeze", "--python", str(repository_venv / "bin" / "python")],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.splitlines()
    constraints = directory / "constraints.txt"
    constraints.write_text(
        "\n".join(
            line
            for line in frozen
            if "==" in line and not line.startswith("-e") and line.split("==")[0] not in LOCAL_DISTRIBUTIONS
        )
        + "\n"
    )
    venv = directory / "venv"
    subprocess.run([uv(), "venv", "--quiet", "--python", "python3", str(venv)], check=True, timeout=120)
    subprocess.run(
        [
            uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
            "--constraint", str(constraints),
            f"apache-airflow=={airflow_version}",
            f"apache-airflow-providers-google=={pinned_version('GOOGLE_PROVIDER_VERSION')}",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )  # fmt: skip
    home = directory / "home"
    home.mkdir()
    return CleanInstall(venv, home)


__all__ = ["AIRFLOW2_VENV", "AIRFLOW3_VENV", "CleanInstall", "Release", "build_release", "install_release"]
