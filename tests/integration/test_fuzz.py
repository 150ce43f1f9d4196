"""The OpenAPI fuzzer: schemathesis 4 (pinned in pyproject.toml) against the real server's own
/openapi.json finds nothing.

schemathesis 4 runs every check and both modes (valid and invalid data) by default, in every
phase: the schema's examples, coverage (boundary and negative values derived from the schema),
fuzzing, stateful (not applicable: the operations declare no links). No check is switched off.
The options are 4.x's names (3.x's ``--hypothesis-*`` options are gone): ``--max-examples`` per
operation, ``--seed`` (an explicit seed still applies in deterministic mode),
``--generation-deterministic`` (no example database, the same cases every run),
``--request-timeout``; one worker, so the cases run in one order.
"""

from __future__ import annotations

import os
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx2

from tests.support.processes import BIN, Server

MAX_EXAMPLES = 50
SEED = 26
RUN_BOUND_S = 90


def test_schemathesis_finds_nothing(server: Server, tmp_path: Path) -> None:
    argv = [
        str(BIN / "schemathesis"), "run", f"{server.url}/openapi.json",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--generation-deterministic",
        "--request-timeout", "10", "--workers", "1", "--no-color",
        "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml"),
    ]  # fmt: skip
    started = time.monotonic()
    # In a directory of its own: schemathesis and Hypothesis keep their caches in the cwd.
    run = subprocess.run(
        argv, cwd=tmp_path, env=os.environ | {"NO_COLOR": "1"}, capture_output=True, text=True,
        timeout=RUN_BOUND_S,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    report = ET.parse(tmp_path / "junit.xml").getroot()
    tested = {case.get("name") for case in report.iter("testcase")}
    paths = httpx2.get(f"{server.url}/openapi.json", timeout=10.0).json()["paths"]
    operations = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert tested == operations
    assert report.get("failures") == "0"
    assert report.get("errors") == "0"
    print(f"schemathesis: {len(tested)} operations in {elapsed:.1f} s")
