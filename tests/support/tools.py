"""System tools the tests drive. Missing on a laptop: a loud skip. Missing in CI: a failure."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """CI sets ``CI`` (``true`` on most services; ``1``, ``yes`` and ``on`` count too)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def missing(message: str) -> NoReturn:
    """What a test needs is not here: a loud skip on a laptop, a failure under CI."""
    if under_ci():
        pytest.fail(f"{message}: under CI this is a failure, not a skip")
    pytest.skip(f"SKIPPED LOUDLY: {message}")


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    missing(
        f"'{name}' is not installed (Debian package '{package}'; `make system-deps` installs it "
        "with root and apt)"
    )
