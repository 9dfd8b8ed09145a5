"""The shared fixtures (tests/support.py) for every test below this folder.

`call` here is the fixture detector's (tests/fixtures/detector), not the root function's: it overrides the
root conftest.py's `call`, which belongs to the user's test_model_handler.py.
"""

from .support import astronaut_b64, call, detector, no_environment_leak

__all__ = ["astronaut_b64", "call", "detector", "no_environment_leak"]
