"""Fixtures for test_model_handler.py: calls to main.handler the way Nuclio makes them."""

from tests.support import astronaut_b64, call, platform

__all__ = ["astronaut_b64", "call", "platform"]
