"""The suite's contract with CI: under CI a missing tool is a failure, never a skip."""

import subprocess

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


def test_ci_run_exports_ci_however_it_is_invoked() -> None:
    """.ci/run's environment for `make test`, read by running its prologue with make stubbed."""
    script = (ROOT / ".ci" / "run").read_text()
    prologue = script.replace("make test", 'printf "%s" "$CI"')
    for inherited, expected in [({}, "true"), ({"CI": "1"}, "1")]:
        done = subprocess.run(
            ["bash", "-c", prologue, str(ROOT / ".ci" / "run")],
            env={"PATH": "/usr/bin:/bin", **inherited}, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        assert done.stdout == expected
