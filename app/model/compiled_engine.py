"""The compiled engine's artifact: built once per model file (keyed by its sha256), described by
a manifest next to it, and verified before it is loaded.

``ENGINE_DIR/<model sha256>.lleaves.o`` is the object code lleaves (through llvmlite's LLVM)
compiles the model's trees to; ``ENGINE_DIR/<model sha256>.manifest.json`` records the model's
sha256, the artifact's sha256, lleaves' and llvmlite's versions, the target it was compiled for
(LLVM's triple, CPU and the CPU features that code needs) and when.

The target is a stated baseline on x86-64: ``x86-64-v2`` (SSE4.2, POPCNT, CMPXCHG16B: every
x86-64 server CPU since 2009), not the building host's CPU, so an image built on one node runs on
any other; elsewhere (no baseline stated) it is the building host, recorded. Either way the loader
refuses a host that lacks a recorded feature: a worker never dies of an illegal instruction.

:func:`load_verified` trusts neither file on its own word: the manifest must name this model
(its sha256 equal to the card's), these library versions and a target this host supports; the
artifact's bytes are read once, hashed, and those bytes (a private copy, in memory files only
this process holds) are what lleaves loads, never the path again. Anything else raises
:class:`EngineRefused` with the reason; the predictor then serves with LightGBM.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from app.model.engines import LLEAVES, LleavesEngine

MANIFEST_FORMAT = 1
ARTIFACT_SUFFIX = ".lleaves.o"
MANIFEST_SUFFIX = ".manifest.json"
_PRIVATE_MODEL = "model.txt"
_PRIVATE_ARTIFACT = "forest.o"


class EngineRefused(Exception):
    """The compiled engine cannot be used here; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """What LLVM compiles for: the triple, the CPU's name and the features the code may use
    (LLVM's names of the enabled ones)."""

    triple: str
    cpu: str
    features: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"triple": self.triple, "cpu": self.cpu, "features": list(self.features)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Target:
        return cls(str(raw["triple"]), str(raw["cpu"]), tuple(str(f) for f in raw["features"]))

    def missing_on(self, host: Target) -> str | None:
        """Why code compiled for this target may not run on ``host``, or None when it may."""
        if self.triple != host.triple:
            return f"built for {self.triple}, this host is {host.triple}"
        if not self.features:  # features undetectable at build: only the same CPU is safe
            if self.cpu != host.cpu:
                return f"built for CPU {self.cpu} (features unknown), this host is {host.cpu}"
            return None
        lacking = sorted(set(self.features) - set(host.features))
        if lacking:
            return f"built for CPU {self.cpu}; this host ({host.cpu}) lacks {', '.join(lacking)}"
        return None


# x86-64-v2 and what it implies, in LLVM's feature names (the x86-64 psABI's level 2).
X86_64_V2 = "x86-64-v2"
X86_64_V2_FEATURES = (
    "cmov", "cx16", "cx8", "fxsr", "mmx", "popcnt", "sahf", "sse", "sse2", "sse3", "sse4.1",
    "sse4.2", "ssse3",
)  # fmt: skip


def host_target() -> Target:
    """This host: the process triple, the CPU's name and the features LLVM detects on it."""
    import llvmlite.binding as llvm

    try:
        features = tuple(sorted(k for k, on in llvm.get_host_cpu_features().items() if on))
    except RuntimeError:  # LLVM cannot detect them here
        features = ()
    return Target(llvm.get_process_triple(), llvm.get_host_cpu_name(), features)


def build_target(host: Target) -> Target:
    """What to compile for on ``host``: the x86-64-v2 baseline on x86-64, else the host."""
    if host.triple.startswith("x86_64-"):
        return Target(host.triple, X86_64_V2, X86_64_V2_FEATURES)
    return host


def library_versions() -> dict[str, str]:
    return {"engine_version": metadata.version("lleaves"), "llvmlite": metadata.version("llvmlite")}


def artifact_path(engine_dir: Path, model_sha256: str) -> Path:
    return engine_dir / f"{model_sha256}{ARTIFACT_SUFFIX}"


def manifest_path(engine_dir: Path, model_sha256: str) -> Path:
    return engine_dir / f"{model_sha256}{MANIFEST_SUFFIX}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    part.write_bytes(data)
    os.replace(part, path)


def _compile(model_file: Path, cache: Path, target: Target) -> Any:
    """A compiled lleaves.Model of ``model_file`` for ``target``; ``cache`` is lleaves' object
    cache: written when absent, loaded (no code generated) when present."""
    import lleaves

    model = lleaves.Model(model_file=str(model_file))
    features = "" if target.cpu == X86_64_V2 else None
    # One block of all the trees: each row's score is then summed tree by tree in LightGBM's
    # order, bit for bit LightGBM's (lleaves' default blocks of 34 trees sum each block apart
    # first: ~1 ulp off, tests/model/test_engine_equality.py). Costs ~1.5x a row in batches.
    model.compile(
        cache=str(cache), fblocksize=model.num_trees(), target_cpu=target.cpu,
        target_cpu_features=features,
    )  # fmt: skip
    return model


def build(model_text: bytes, engine_dir: Path) -> dict[str, Any]:
    """Compile ``model_text`` into ``engine_dir`` (artifact, then manifest, each replaced
    atomically); returns the manifest."""
    engine_dir.mkdir(parents=True, exist_ok=True)
    model_sha256 = _sha256(model_text)
    started = time.perf_counter()
    target = build_target(host_target())
    with tempfile.TemporaryDirectory(prefix="glassbox-engine-build-") as scratch:
        model_file, cache = Path(scratch) / _PRIVATE_MODEL, Path(scratch) / _PRIVATE_ARTIFACT
        model_file.write_bytes(model_text)
        _compile(model_file, cache, target)
        artifact = cache.read_bytes()
    artifact_file = artifact_path(engine_dir, model_sha256)
    manifest = {
        "format": MANIFEST_FORMAT,
        "engine": LLEAVES,
        **library_versions(),
        "model_sha256": model_sha256,
        "artifact": artifact_file.name,
        "artifact_sha256": _sha256(artifact),
        "target": target.to_dict(),
        "tree_blocks": 1,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    _write_atomically(artifact_file, artifact)
    _write_atomically(
        manifest_path(engine_dir, model_sha256),
        (json.dumps(manifest, indent=2) + "\n").encode(),
    )
    return manifest


def _read_manifest(engine_dir: Path, model_sha256: str) -> dict[str, Any]:
    path = manifest_path(engine_dir, model_sha256)
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise EngineRefused(f"no compiled engine for model sha256 {model_sha256[:12]} in "
                            f"{engine_dir}") from None  # fmt: skip
    except (OSError, ValueError) as exc:
        raise EngineRefused(f"unreadable engine manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise EngineRefused(f"engine manifest {path} is not a JSON object")
    return manifest


def _check_manifest(manifest: dict[str, Any], model_sha256: str) -> Target:
    wanted = {
        "format": MANIFEST_FORMAT, "engine": LLEAVES, **library_versions(), "tree_blocks": 1,
    }  # fmt: skip
    for key, value in wanted.items():
        if manifest.get(key) != value:
            raise EngineRefused(
                f"engine manifest has {key} {manifest.get(key)!r}, this process {value!r}"
            )
    if manifest.get("model_sha256") != model_sha256:
        raise EngineRefused(
            f"engine manifest is for model sha256 {manifest.get('model_sha256')!r}, "
            f"the card's is {model_sha256!r}"
        )
    try:
        return Target.from_dict(manifest["target"])
    except (KeyError, TypeError) as exc:
        raise EngineRefused(f"engine manifest has no valid target: {exc!r}") from exc


def verified_artifact(engine_dir: Path, model_sha256: str) -> tuple[bytes, Target]:
    """The artifact's bytes, read once and matching its manifest, and its target; raises
    :class:`EngineRefused` when either does not match this model, these libraries or this
    host."""
    manifest = _read_manifest(engine_dir, model_sha256)
    target = _check_manifest(manifest, model_sha256)
    path = artifact_path(engine_dir, model_sha256)
    if manifest.get("artifact") != path.name:
        raise EngineRefused(f"engine manifest names artifact {manifest.get('artifact')!r}")
    try:
        artifact = path.read_bytes()
    except OSError as exc:
        raise EngineRefused(f"cannot read the engine artifact {path}: {exc}") from exc
    digest = _sha256(artifact)
    if digest != manifest.get("artifact_sha256"):
        raise EngineRefused(
            f"engine artifact {path} has sha256 {digest}, its manifest says "
            f"{manifest.get('artifact_sha256')!r}: corrupt or replaced"
        )
    reason = target.missing_on(host_target())
    if reason is not None:
        raise EngineRefused(f"engine artifact not runnable here: {reason}")
    return artifact, target


def is_current(engine_dir: Path, model_sha256: str) -> bool:
    """Whether ``engine_dir`` holds a verified artifact of this model for this host."""
    try:
        verified_artifact(engine_dir, model_sha256)
    except EngineRefused:
        return False
    return True


@contextmanager
def _private_copies(
    model_text: bytes, artifact: bytes, scratch_dir: Path | None
) -> Iterator[tuple[Path, Path]]:
    """Paths lleaves reads the model and the artifact from, holding exactly these bytes: on
    Linux anonymous memory files only this process holds (``memfd_create``, read through
    /proc/self/fd), which take no room in a pod's small worker-tmp volume (1 MiB, and three
    workers load side by side); elsewhere files in a fresh directory under ``scratch_dir``."""
    if hasattr(os, "memfd_create"):
        fds = [os.memfd_create(name) for name in (_PRIVATE_MODEL, _PRIVATE_ARTIFACT)]
        try:
            for fd, data in zip(fds, (model_text, artifact), strict=True):
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            yield Path(f"/proc/self/fd/{fds[0]}"), Path(f"/proc/self/fd/{fds[1]}")
        finally:
            for fd in fds:
                os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="glassbox-engine-", dir=scratch_dir) as scratch:
        model_file, cache = Path(scratch) / _PRIVATE_MODEL, Path(scratch) / _PRIVATE_ARTIFACT
        model_file.write_bytes(model_text)
        cache.write_bytes(artifact)
        yield model_file, cache


def load_verified(
    engine_dir: Path, model_text: bytes, model_sha256: str, scratch_dir: Path | None = None
) -> LleavesEngine:
    """The compiled engine of ``model_text`` (verified already against the card's
    ``model_sha256`` by the caller), from ``engine_dir``'s artifact once it checks out.
    lleaves loads private copies of the checked bytes (:func:`_private_copies`; ``scratch_dir``
    where no memory files exist), gone before this returns."""
    artifact, target = verified_artifact(engine_dir, model_sha256)
    try:
        with _private_copies(model_text, artifact, scratch_dir) as (model_file, cache):
            model = _compile(model_file, cache, target)
    except Exception as exc:  # lleaves or LLVM refusing the artifact: LightGBM serves
        raise EngineRefused(f"lleaves could not load the engine artifact: {exc!r}") from exc
    return LleavesEngine(model)
