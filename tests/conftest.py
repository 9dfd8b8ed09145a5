"""The shared fixtures (tests/support.py) for every test below this folder."""

from .support import astronaut_b64, call, platform

__all__ = ["astronaut_b64", "call", "platform"]
