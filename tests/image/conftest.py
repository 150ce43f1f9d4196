"""The image's fixtures: the image `make test-image` built, and the pod contract it must meet."""

import pytest

from tests.support.image_contract import ImageContract, image_contract
from tests.support.podman import built_image


@pytest.fixture(scope="session")
def image() -> str:
    return built_image()


@pytest.fixture(scope="session")
def contract() -> ImageContract:
    return image_contract()
