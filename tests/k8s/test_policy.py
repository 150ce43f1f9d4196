"""checkov (its Kubernetes policies, offline) passes on every rendered overlay, and every check
it skips is skipped by an annotation on the object concerned, with the reason."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.kustomize import OVERLAYS, render, rendered_text
from tests.support.processes import ROOT
from tests.support.tools import missing

SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip\d+$")
# A reason worth the name: more than a few words.
MIN_REASON_CHARS = 60


def checkov() -> str:
    """The Makefile's checkov (its own environment, `make checkov`; CHECKOV names it)."""
    path = os.environ.get("CHECKOV") or str(ROOT / ".tools" / "checkov" / "bin" / "checkov")
    if not Path(path).exists():
        missing(f"checkov is not installed at {path} (`make checkov`)")
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """{overlay: checkov's JSON summary and failed checks}, one checkov run over all of them."""
    directory = tmp_path_factory.mktemp("rendered")
    files = []
    for overlay in OVERLAYS:
        path = directory / f"{overlay}.yaml"
        path.write_text(rendered_text(overlay))
        files += ["-f", str(path)]
    done = subprocess.run(
        [checkov(), *files, "--framework", "kubernetes", "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    by_file: dict[str, dict[str, object]] = {
        o: {"passed": [], "failed": [], "skipped": []} for o in OVERLAYS
    }
    for part in reports:
        for kind in ("passed", "failed", "skipped"):
            for check in part.get("results", {}).get(f"{kind}_checks", []):
                overlay = Path(check["file_path"]).stem
                by_file[overlay][kind].append(check)  # type: ignore[attr-defined]
    return by_file


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_passes(overlay: str, results: dict[str, dict[str, list[dict[str, str]]]]) -> None:
    failed = [(c["check_id"], c["resource"]) for c in results[overlay]["failed"]]
    assert failed == []
    assert len(results[overlay]["passed"]) > 50, "checkov checked next to nothing"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_skip_is_an_annotation_with_its_reason_on_the_object(
    overlay: str, results: dict[str, dict[str, list[dict[str, str]]]]
) -> None:
    annotated = {}
    for obj in render(overlay):
        for key, value in obj["metadata"].get("annotations", {}).items():
            if SKIP_ANNOTATION.match(key):
                check, _, reason = value.partition("=")
                assert len(reason.strip()) >= MIN_REASON_CHARS, (key, value)
                annotated[(check, obj["kind"], obj["metadata"]["name"])] = reason
    skipped = {
        (c["check_id"], c["resource"].split(".")[0], c["resource"].split(".")[-1])
        for c in results[overlay]["skipped"]
    }
    assert set(annotated) == skipped
    assert skipped, "checkov reported no skip: is it reading the annotations?"


def test_without_its_annotations_the_prod_overlay_fails_exactly_the_checks_they_skip(
    tmp_path: Path, results: dict[str, dict[str, list[dict[str, str]]]]
) -> None:
    """No skip is there for nothing: each one stands for a check that fails without it."""
    objects = render("prod")
    for obj in objects:
        annotations = obj["metadata"].get("annotations", {})
        for key in [k for k in annotations if SKIP_ANNOTATION.match(k)]:
            del annotations[key]
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    done = subprocess.run(
        [checkov(), "-f", str(path), "--framework", "kubernetes", "--skip-download", "--output",
         "json", "--quiet"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    failed = {
        (c["check_id"], c["resource"]) for c in json.loads(done.stdout)["results"]["failed_checks"]
    }
    assert failed == {(c["check_id"], c["resource"]) for c in results["prod"]["skipped"]}
