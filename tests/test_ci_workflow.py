"""The GitHub Actions workflow users copy, checked statically: GitHub's workflow schema
(vendored in check-jsonschema, offline), root in a privileged Debian 12 / Python 3.11
container, the repo's CI entry, the image's SBOM uploaded from where the build leaves it, and
`make bench-quick` as a job of its own that cannot fail the workflow. actionlint is not run: its
PyPI package downloads its binary at install (README)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.processes import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def test_githubs_workflow_schema_validates_it_offline() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
         "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_job_runs_ci_as_root_in_a_privileged_python_311_bookworm_container() -> None:
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["test"]
    assert job["container"]["image"] == "python:3.11-bookworm"
    assert "--privileged" in job["container"]["options"].split()
    assert "user" not in job["container"]  # the image's root
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == ["bash .ci/run"]
    assert job["timeout-minutes"] <= 90


def test_the_sbom_artifact_is_the_one_make_test_image_keeps_beside_the_image() -> None:
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["test"]
    (upload,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    done = subprocess.run(["make", "-n", "test-image"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    kept = re.findall(r"GLASSBOX_TEST_SBOM=(\S+)", done.stdout)
    assert kept == [upload["with"]["path"]]
    assert upload["with"]["if-no-files-found"] == "error"


def test_the_bench_gate_is_a_job_of_its_own_that_runs_make_bench_quick_and_never_blocks() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert set(jobs) == {"test", "bench-quick"}
    job = jobs["bench-quick"]
    assert job["continue-on-error"] is True
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == ["make bench-quick"]
    assert job["steps"][0]["uses"].startswith("actions/checkout@")
    assert job["container"]["image"] == jobs["test"]["container"]["image"]
    assert "needs" not in job  # beside the tests, not after them
    assert job["timeout-minutes"] <= 30
