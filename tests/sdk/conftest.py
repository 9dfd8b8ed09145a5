"""Loading a function folder sets its function.yaml `spec.env` in the process environment (as Nuclio does for a
worker); each test gets the environment back as it found it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
