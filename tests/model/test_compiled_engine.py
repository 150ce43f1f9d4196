"""The compiled engine's artifact is used only when it checks out: its manifest names this model
file, these library versions and a target this host has, the artifact's bytes hash to what the
manifest says, and its answers on probe rows are LightGBM's. Anything else serves with LightGBM
and says why; nothing fails the load."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.model import compiled_engine
from app.model import engine_build as engine_build_module
from app.model.card import MODEL_FILE
from app.model.compiled_engine import (
    X86_64_V2_FEATURES,
    Target,
    artifact_path,
    build,
    host_target,
    is_current,
    manifest_path,
)
from app.model.engine_build import main as engine_build
from app.model.predictor import Predictor
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support import second_model

MODEL_SHA = hashlib.sha256((BUNDLED_MODEL_DIR / MODEL_FILE).read_bytes()).hexdigest()


@pytest.fixture
def engine_copy(engine_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's engine directory that a test may damage."""
    return Path(shutil.copytree(engine_dir, tmp_path / "engine"))


def edit_manifest(directory: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = manifest_path(directory, MODEL_SHA)
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def refusal(directory: Path) -> str:
    predictor = Predictor.load(BUNDLED_MODEL_DIR, engine_dir=directory)
    assert predictor.engine == "lightgbm"
    assert predictor.engine_refused is not None
    return predictor.engine_refused


def test_a_verified_artifact_serves(engine_dir: Path) -> None:
    predictor = Predictor.load(BUNDLED_MODEL_DIR, engine_dir=engine_dir)
    assert (predictor.engine, predictor.engine_refused) == ("lleaves", None)


def test_without_an_engine_directory_lightgbm_serves_and_nothing_was_refused() -> None:
    predictor = Predictor.load(BUNDLED_MODEL_DIR)
    assert (predictor.engine, predictor.engine_refused) == ("lightgbm", None)


def test_the_manifest_records_what_the_loader_checks(engine_dir: Path) -> None:
    manifest = json.loads(manifest_path(engine_dir, MODEL_SHA).read_text())
    artifact = artifact_path(engine_dir, MODEL_SHA).read_bytes()
    assert manifest["model_sha256"] == MODEL_SHA
    assert manifest["artifact_sha256"] == hashlib.sha256(artifact).hexdigest()
    assert manifest["engine"] == "lleaves"
    assert manifest["engine_version"].startswith("1.3.")
    assert manifest["llvmlite"].startswith("0.44.")
    # The stated baseline, not this host's CPU: an image built here runs on any x86-64-v2 node.
    target = Target.from_dict(manifest["target"])
    assert (target.cpu, target.features) == ("x86-64-v2", X86_64_V2_FEATURES)
    assert target.triple == host_target().triple
    assert manifest["built_at"].endswith("+00:00")


def test_an_empty_directory_falls_back(tmp_path: Path) -> None:
    assert "no compiled engine for model sha256" in refusal(tmp_path)


def test_a_flipped_byte_in_the_artifact_falls_back(engine_copy: Path) -> None:
    path = artifact_path(engine_copy, MODEL_SHA)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert "corrupt or replaced" in refusal(engine_copy)


def test_a_manifest_for_another_model_falls_back(engine_copy: Path) -> None:
    edit_manifest(engine_copy, lambda m: m.update(model_sha256="0" * 64))
    assert "the card's is" in refusal(engine_copy)


@pytest.mark.parametrize("key", ["engine_version", "llvmlite", "format", "engine"])
def test_a_manifest_of_other_library_versions_falls_back(engine_copy: Path, key: str) -> None:
    edit_manifest(engine_copy, lambda m: m.update({key: "0.0.0"}))
    assert f"engine manifest has {key}" in refusal(engine_copy)


def test_an_unreadable_manifest_falls_back(engine_copy: Path) -> None:
    manifest_path(engine_copy, MODEL_SHA).write_text("{not json")
    assert "unreadable engine manifest" in refusal(engine_copy)


def test_a_target_this_host_lacks_falls_back(engine_copy: Path) -> None:
    """Built on a node with an instruction this one has not: never loaded (an illegal
    instruction would kill the worker)."""
    edit_manifest(engine_copy, lambda m: m["target"]["features"].append("no-such-feature"))
    assert "lacks no-such-feature" in refusal(engine_copy)


def test_another_triple_falls_back(engine_copy: Path) -> None:
    edit_manifest(engine_copy, lambda m: m["target"].update(triple="aarch64-unknown-linux-gnu"))
    assert "built for aarch64-unknown-linux-gnu" in refusal(engine_copy)


ZEN3 = Target("x86_64", "znver3", ("avx2", "sse2"))
SKX = Target("x86_64", "skylake-avx512", ("avx2", "avx512f", "sse2"))
UNKNOWN_ZEN3 = Target("x86_64", "znver3", ())


@pytest.mark.parametrize(
    ("built", "host", "runs"),
    [(ZEN3, SKX, True), (SKX, ZEN3, False), (UNKNOWN_ZEN3, ZEN3, True),
     (UNKNOWN_ZEN3, SKX, False), (ZEN3, Target("aarch64", "znver3", ZEN3.features), False)],
)  # fmt: skip
def test_a_target_runs_on_a_host_with_its_features(built: Target, host: Target, runs: bool) -> None:
    assert (built.missing_on(host) is None) is runs


def test_a_consistent_manifest_for_another_models_artifact_is_caught_by_the_probe_rows(
    engine_copy: Path, tmp_path: Path
) -> None:
    """Whoever can write a cache directory can write matching hashes too: the artifact of
    another model, its manifest rewritten to this model's sha256, passes every hash and still
    does not serve, because its answers are not LightGBM's."""
    (tmp_path / "other").mkdir()
    model, _, _ = second_model.make(tmp_path / "other")
    other = build(model.read_bytes(), tmp_path / "other-engine")
    other_artifact = (tmp_path / "other-engine" / other["artifact"]).read_bytes()
    artifact_path(engine_copy, MODEL_SHA).write_bytes(other_artifact)
    edit_manifest(
        engine_copy,
        lambda m: m.update(artifact_sha256=hashlib.sha256(other_artifact).hexdigest()),
    )
    assert is_current(engine_copy, MODEL_SHA)  # every hash checks out
    assert "disagrees with LightGBM" in refusal(engine_copy)


def test_the_loader_reads_the_artifact_once_and_loads_a_private_copy(
    engine_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What lleaves loads is a copy of the bytes that were hashed, not the cache's path: the
    artifact replaced after its check is never loaded. The copy is a memory file (no room
    taken in the worker-tmp volume) on Linux."""
    path = artifact_path(engine_copy, MODEL_SHA)
    checked = path.read_bytes()
    loaded: list[tuple[str, bytes]] = []
    real = compiled_engine._compile

    def spy(model_file: Path, cache: Path, target: Target) -> Any:
        path.write_bytes(b"replaced after the check")
        loaded.append((str(cache), cache.read_bytes()))
        return real(model_file, cache, target)

    monkeypatch.setattr(compiled_engine, "_compile", spy)
    predictor = Predictor.load(BUNDLED_MODEL_DIR, engine_dir=engine_copy)
    assert predictor.engine == "lleaves"
    ((where, data),) = loaded
    assert data == checked
    assert where.startswith("/proc/self/fd/")


def test_the_build_command_refuses_a_model_its_card_does_not_vouch_for(
    model_copy: Path, tmp_path: Path
) -> None:
    (model_copy / MODEL_FILE).write_bytes(b"tree\nversion=v4\n")
    assert engine_build(["--model-dir", str(model_copy), "--out", str(tmp_path / "e")]) == 1
    assert not (tmp_path / "e").exists()


def test_the_build_command_skips_a_current_engine_and_rebuilds_a_stale_one(
    engine_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run`'s --if-stale: a verified artifact is kept, a damaged one rebuilt (the build
    itself, ~20 s, is the session fixture's: here it only records that it was called)."""
    builds: list[Path] = []
    manifest = json.loads(manifest_path(engine_copy, MODEL_SHA).read_text())
    monkeypatch.setattr(
        engine_build_module, "build", lambda _text, out: builds.append(out) or manifest
    )
    args = ["--model-dir", str(BUNDLED_MODEL_DIR), "--out", str(engine_copy), "--if-stale"]
    assert engine_build(args) == 0
    assert "is current" in capsys.readouterr().out
    assert builds == []
    artifact_path(engine_copy, MODEL_SHA).write_bytes(b"damaged")
    assert engine_build(args) == 0
    assert builds == [engine_copy]
    assert engine_build(args[:-1]) == 0  # without --if-stale: always
    assert builds == [engine_copy, engine_copy]
