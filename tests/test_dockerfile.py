"""The Dockerfile, read statically (make test): the image `make test-image` builds and runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.support.image_contract import image_contract
from tests.support.processes import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(name: str) -> list[str]:
    """The arguments of every `NAME` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(f"{name} ")]


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([str(HADOLINT), "Dockerfile"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_base_is_an_argument_defaulting_to_the_slim_python_by_tag_only() -> None:
    assert instructions("ARG")[0] == "BASE=python:3.11-slim-bookworm"
    assert all(line.split()[0] == "${BASE}" for line in instructions("FROM"))
    # No digest that was not read from a registry: the README's command pins one.
    assert not re.search(r"@sha256:[0-9a-f]{64}", DOCKERFILE)


def test_only_python3_and_the_pinned_uv_from_the_context_build_it() -> None:
    runs = " ".join(instructions("RUN"))
    assert "--python python3" in runs
    # No interpreter but python3 and the venv made from it (which builds the compiled engine),
    # no installer but the pinned uv.
    parts = (
        re.sub(r"^do\s+", "", part.strip())
        for run in instructions("RUN")
        for part in re.split(r"&&|;", run)
    )
    # A command's own environment assignments (NAME=value before it) are not the command.
    commands = [next(w for w in part.split() if "=" not in w) for part in parts if part]
    assert set(commands) == {"for", "dpkg-deb", "done", "uv", "mkdir", "/opt/venv/bin/python"}, (
        commands
    )
    assert "COPY .run/image/context/uv /usr/local/bin/uv" in DOCKERFILE
    assert "--require-hashes" in runs
    assert "--offline" in runs


def test_the_final_stage_states_the_pod_contract() -> None:
    contract = image_contract()
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    assert f"\nUSER {contract.uid}:{contract.gid}\n" in final
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(instructions("ENV"))))
    assert env["PROMETHEUS_MULTIPROC_DIR"] == contract.multiprocess_dir
    assert env["GLASSBOX_WORKER_TMP_DIR"] == contract.worker_tmp_dir
    assert env["GLASSBOX_MODEL_DIR"] == contract.model_dir
    assert (int(env["PORT"]), int(env["GLASSBOX_ADMIN_PORT"])) == (
        contract.public_port, contract.admin_port,
    )  # fmt: skip
    assert instructions("EXPOSE") == [f"{contract.public_port} {contract.admin_port}"]
    assert instructions("WORKDIR") == [contract.workdir]
    assert tuple(json.loads(instructions("ENTRYPOINT")[0])) == contract.entrypoint
    assert instructions("CMD") == []
    assert instructions("HEALTHCHECK") == []


def test_the_build_context_is_what_the_dockerfile_copies() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    sources = {
        words[-2].rstrip("/")
        for words in (line.split() for line in instructions("COPY"))
        if not words[0].startswith("--from")
    }
    assert ignored[ignored.index("*") :][0] == "*"  # an allow-list: everything else is out
    assert all(any(s == a or s.startswith(f"{a}/") for a in allowed) for s in sources), sources
    assert {"app", "models", "gunicorn.conf.py"} <= sources
    assert not {"tests", "examples", "bench"} & allowed


def test_the_final_stage_builds_the_engine_read_only_before_it_becomes_the_user() -> None:
    """Built once in the image for its model (README: Model engine), by the venv's python,
    into the directory the service reads, which is not one of the user's writable volumes."""
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    build = re.search(r"RUN .*?-m app\.model\.engine_build\b(.*?)(?<!\\)\n", final, re.S)
    assert build is not None
    out = re.search(r"--out\s+(\S+)", build.group(1))
    model = re.search(r"--model-dir\s+(\S+)", build.group(1))
    assert out is not None
    assert model is not None
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(instructions("ENV"))))
    contract = image_contract()
    assert env["GLASSBOX_MODEL_ENGINE_DIR"] == out.group(1)
    assert model.group(1) == contract.model_dir
    assert not any(out.group(1).startswith(volume) for volume in contract.volumes)
    assert final.index("app.model.engine_build") > final.index("COPY --from=venv /opt/venv")
    assert final.index("app.model.engine_build") < final.index("\nUSER ")
