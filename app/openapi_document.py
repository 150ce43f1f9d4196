"""Writes the committed copy of the service's OpenAPI document, ``app/api/openapi.json``, or
checks that it is what the app serves today.

The copy is the document ``create_app(settings)`` serves at ``/openapi.json`` (FastAPI's own,
``app.openapi()``) for the bundled model, with every setting at its default and none read from
the environment: of the settings, the model card (``GLASSBOX_MODEL_DIR``) and
``GLASSBOX_MAX_BATCH_ROWS`` (the batch's ``maxItems``) change the document, which holds no path
or host name, so the copy is the same on every machine. Indented JSON in FastAPI's key order,
ASCII only (whatever the locale), a trailing newline.

    python -m app.openapi_document          # rewrite app/api/openapi.json (`make openapi`)
    python -m app.openapi_document --check  # exit 1 if the committed copy differs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings

from app.main import create_app
from app.settings import Settings
from monitoring import generated

ROOT = Path(__file__).resolve().parent.parent
COPY = ROOT / "app" / "api" / "openapi.json"

_Group = TypeVar("_Group", bound=BaseSettings)


def _defaults(group: type[_Group]) -> _Group:
    """``group`` with each field at its default, every one given explicitly: values passed to a
    settings class outrank the environment, so none is read from it (nor a group's)."""
    values: dict[str, Any] = {}
    for name, field in group.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            values[name] = _defaults(kind)
        else:
            values[name] = field.get_default(call_default_factory=True)
    return group(**values)


def default_settings() -> Settings:
    """Every setting at its default, the bundled model's directory found from the repository's
    root (the default is relative), wherever the command runs."""
    settings = _defaults(Settings)
    return settings.model_copy(update={"model_dir": ROOT / settings.model_dir})


def document() -> dict[str, Any]:
    """The OpenAPI document the app serves with the default settings."""
    return create_app(default_settings()).openapi()


def render(openapi: dict[str, Any]) -> str:
    return json.dumps(openapi, indent=2) + "\n"


def current() -> dict[Path, str]:
    """{the copy's path: the text it should hold}."""
    return {COPY: render(document())}


def main(argv: list[str] | None = None) -> int:
    return generated.main(argv, "the committed copy of /openapi.json", current, "make openapi")


if __name__ == "__main__":
    sys.exit(main())
