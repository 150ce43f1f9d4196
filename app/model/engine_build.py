"""Build the compiled engine of a model directory's model file, once per model sha256.

``python -m app.model.engine_build --model-dir models/churn --out .run/engine`` compiles the
model the card vouches for (its sha256 checked first) into ``OUT/<sha256>.lleaves.o`` with its
manifest (app/model/compiled_engine.py). ``--if-stale`` builds only when ``OUT`` holds no
verified artifact of this model for this host. Run by `make train`, `make run` and the image
build; never by a worker.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from app.model.card import CARD_FILE, ModelCard
from app.model.compiled_engine import build, is_current, manifest_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models/churn"))
    parser.add_argument("--out", type=Path, required=True, help="the engine directory")
    parser.add_argument(
        "--if-stale", action="store_true",
        help="build only when OUT has no verified artifact of this model for this host",
    )  # fmt: skip
    args = parser.parse_args(argv)
    card = ModelCard.load(args.model_dir / CARD_FILE)
    model_text = (args.model_dir / card.model_file).read_bytes()
    digest = hashlib.sha256(model_text).hexdigest()
    if digest != card.model_sha256:
        print(
            f"engine_build: {args.model_dir / card.model_file} has sha256 {digest}, its card "
            f"says {card.model_sha256}: not building",
            file=sys.stderr,
        )
        return 1
    if args.if_stale and is_current(args.out, digest):
        print(f"engine_build: {manifest_path(args.out, digest)} is current")
        return 0
    manifest = build(model_text, args.out)
    print(
        f"engine_build: {args.out / manifest['artifact']} ({manifest['engine']} "
        f"{manifest['engine_version']}, llvmlite {manifest['llvmlite']}, for "
        f"{manifest['target']['cpu']}) in {manifest['build_seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
