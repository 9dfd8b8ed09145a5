"""Fixtures for test_model_handler.py, your own test file: calls to the root main.handler the way Nuclio
makes them. Keep this file when you replace test_model_handler.py; the framework's tests (tests/) never use
the root function, so they hold whatever model you put there.

`call(body, content_type="application/json")` answers an HttpAnswer (status, content_type, body, json()).
"""

from __future__ import annotations

import pytest
from nuclio_sdk.test import Platform

from tests.support import Call, astronaut_b64, no_environment_leak, wire_call

__all__ = ["astronaut_b64", "call", "no_environment_leak", "platform"]


@pytest.fixture(scope="session")
def platform() -> Platform:
    """One mock Nuclio platform: it runs main.init_context once, on the first call, like a worker."""
    return Platform()


@pytest.fixture(scope="session")
def call(platform: Platform) -> Call:
    """POST a body to the root main.handler and get back exactly what Nuclio would put on the wire."""
    import main  # here, not at the top: a model that fails to import fails only the tests that call it

    return wire_call(lambda event: platform.call_handler(main.handler, event))
