"""The wheel as users get it: built from the source tree, checked as an index would, installed into a
clean virtualenv per tested Airflow version with that version's pinned dependencies, and found by Airflow."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from soundlink_stand_ins.paths import DAGS_FOLDER
from soundlink_stand_ins.pipeline import parse_dags
from support.clean_install import CleanInstall, Release

SHIPPED_TOP_LEVEL = {"airflow_provider_soundlink", "airflow_provider_soundlink-0.1.0.dist-info"}


def test_the_wheel_holds_the_provider_alone_and_passes_an_index_check(release: Release) -> None:
    with zipfile.ZipFile(release.wheel) as wheel:
        names = wheel.namelist()
        metadata = wheel.read("airflow_provider_soundlink-0.1.0.dist-info/METADATA").decode()
    assert {name.split("/")[0] for name in names} == SHIPPED_TOP_LEVEL
    assert not [name for name in names if "sandbox" in name or "stand_ins" in name or "/tests/" in name]
    assert "airflow_provider_soundlink/py.typed" in names
    assert "airflow_provider_soundlink-0.1.0.dist-info/licenses/LICENSE" in names
    assert "airflow_provider_soundlink/core/schemas/campaign_country_daily.json" in names
    for field in ("License-Expression: Apache-2.0", "Project-URL: Changelog", "Author: ", "Keywords: "):
        assert field in metadata
    assert "Requires-Dist: apache-airflow!=3.0.*,!=3.1.*,!=3.2.*,<3.4,>=2.11.2" in metadata
    assert release.twine_report.returncode == 0, release.twine_report.stdout
    assert "PASSED" in release.twine_report.stdout


@pytest.mark.parametrize("install", ["airflow3", "airflow2"], indirect=True)
def test_installed_from_the_wheel_airflow_lists_the_provider_and_parses_the_dags(
    install: CleanInstall, tmp_path: Path
) -> None:
    listed = json.loads(install.airflow("providers", "list", "--output", "json"))
    (provider,) = [entry for entry in listed if entry["package_name"] == "airflow-provider-soundlink"]
    assert provider["version"] == "0.1.0"
    imported = install.python(
        "import airflow_provider_soundlink.hooks.soundlink\n"
        "import airflow_provider_soundlink.operators as operators\n"
        "print(sorted(operators.__all__))"
    )
    assert "SoundlinkBigQueryMergeOperator" in imported
    # Neither the sandbox nor the stand-ins come with the provider.
    for module in ("soundlink_sandbox", "soundlink_stand_ins"):
        with pytest.raises(subprocess.CalledProcessError):
            install.python(f"import {module}")
    report = parse_dags(
        install.venv / "bin" / "python",
        tmp_path / "home",
        {
            "PATH": str(install.venv / "bin"),
            "SOUNDLINK_BIGQUERY_PROJECT": "my-project",
            "SOUNDLINK_GCS_BUCKET": "my-bucket",
        },
    )
    assert report["import_errors"] == {}, report["import_errors"]
    assert len(report["dags"]) == len(list(DAGS_FOLDER.glob("*.py")))
