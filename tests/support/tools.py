"""System tools the tests drive. Missing on a laptop: a loud skip. Missing in CI: a failure."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    message = (
        f"'{name}' is not installed (Debian package '{package}'; `make system-deps` installs it "
        "with root and apt)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}: CI=true, so this is a failure, not a skip")
    pytest.skip(f"SKIPPED LOUDLY: {message}")
