"""The suite's contract with CI: under CI a missing tool is a failure, never a skip."""

import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ROOT
from tests.support.tools import under_ci


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", "yes", "on", " true\n"])
def test_the_usual_truthy_values_mean_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert under_ci()


@pytest.mark.parametrize("value", ["", "false", "0", "no", "off"])
def test_anything_else_is_not_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert not under_ci()


def test_ci_run_runs_make_test_then_make_test_image_each_under_timeout_with_ci_exported(
    tmp_path: Path,
) -> None:
    """.ci/run with a stand-in `make` first on PATH that records its arguments and CI."""
    record = tmp_path / "calls"
    (tmp_path / "make").write_text(f'#!/bin/sh\necho "$* CI=$CI" >> {record}\n')
    (tmp_path / "make").chmod(0o755)
    script = ROOT / ".ci" / "run"
    assert "\ntimeout " in script.read_text()
    for inherited, expected in [({}, "true"), ({"CI": "1"}, "1")]:
        record.unlink(missing_ok=True)
        subprocess.run(
            ["bash", str(script)], env={"PATH": f"{tmp_path}:/usr/bin:/bin", **inherited},
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        assert record.read_text().splitlines() == [
            f"test CI={expected}",
            f"test-image CI={expected}",
        ]
