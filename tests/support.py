"""Shared helpers and fixtures: images drawn at test time, the framework's fixture functions, and calls to a
function's handler the way Nuclio makes them.

The framework's tests run against the function folders under tests/fixtures/, never the root function: the root
is the user's model, and only test_model_handler.py (with the root conftest.py) may depend on it."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from cvat_function.tools.http_answer import HttpAnswer
from cvat_function.tools.wire import (
    LocalFunction,
    encode_output,
    exception_response,
    make_event,
    make_logger,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
"""Function folders of the framework's tests: detector/, interactor/, tracker/, reid/ (see its README.md)."""
ASSETS = ROOT / "assets"
ASTRONAUT = ASSETS / "astronaut.jpg"
ASTRONAUT_FACE = (177.0, 67.0, 270.0, 160.0)  # where the face is, measured once by eye and by the cascade

Call = Callable[..., HttpAnswer]


def function_folders(root: Path = ROOT) -> list[Path]:
    """Every function folder the repo ships: the root and each examples/<name>/ with a function.yaml (found, not
    listed, so a deleted examples/ or a new example changes the cases and nothing else)."""
    examples = sorted(p.parent for p in (root / "examples").glob("*/function.yaml"))
    return [root, *examples]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode(image: Image.Image | np.ndarray, fmt: str, **params: Any) -> bytes:
    """Image → file bytes in `fmt` (a Pillow format name)."""
    pil = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    out = io.BytesIO()
    pil.save(out, format=fmt, **params)
    return out.getvalue()


def astronaut_rgb() -> np.ndarray:
    return np.asarray(Image.open(ASTRONAUT).convert("RGB"))


def silhouette(height: int = 200) -> np.ndarray:
    """A drawn, blurred standing person on a light background (BGR): OpenCV's HOG finds it with margin ~3."""
    img = np.full((400, 300, 3), 200, np.uint8)
    cx, top, u = 150, 60, height / 8
    dark = (40, 40, 40)
    cv2.circle(img, (cx, int(top + u * 0.5)), int(u * 0.5), dark, -1)
    cv2.ellipse(img, (cx, int(top + u * 2.3)), (int(u * 0.8), int(u * 1.4)), 0, 0, 360, dark, -1)
    for side in (-1, 1):
        hip, foot = (cx + side * int(u * 0.3), int(top + u * 3.5)), (cx + side * int(u * 0.6), int(top + height))
        cv2.line(img, hip, foot, dark, int(u * 0.45))
        shoulder, hand = (cx + side * int(u * 0.7), int(top + u * 1.3)), (cx + side * int(u * 1.0), int(top + u * 3.5))
        cv2.line(img, shoulder, hand, dark, int(u * 0.3))
    return cv2.GaussianBlur(img, (5, 5), 0)


def iou(a: Any, b: Any) -> float:
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    h = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = w * h
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)


def fixture_function(kind: str) -> LocalFunction:
    """Load tests/fixtures/<kind> as one Nuclio worker, with none of the CVAT_FUNCTION_* settings a test may
    have set: it answers with the defaults (strict shape checks), whichever test loads it first."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("CVAT_FUNCTION_")]:
            patch.delenv(key)
        return LocalFunction(FIXTURES / kind, logger=make_logger(io.StringIO()))


def wire_call(handler: Callable[[Any], Any]) -> Call:
    """`call(body, content_type)` for a `handler(event)`: what Nuclio would put on the wire."""

    def _call(body: Any, content_type: str = "application/json") -> HttpAnswer:
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
        try:
            output = handler(make_event(raw, content_type))
        except Exception as e:  # what the wrapper does with an exception
            return exception_response(e)
        return encode_output(output)

    return _call


def fixture_model(kind: str) -> Any:
    """The ModelHandler class of tests/fixtures/<kind>, imported under a name of its own (never `model_handler`,
    which is the root's)."""
    path = FIXTURES / kind / "model_handler.py"
    name = f"fixture_{kind}_model_handler"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].ModelHandler


@pytest.fixture(scope="session")
def detector() -> LocalFunction:
    """The fixture detector (tests/fixtures/detector), loaded once."""
    return fixture_function("detector")


@pytest.fixture(scope="session")
def call(detector: LocalFunction) -> Call:
    """POST a body to the fixture detector's handler and get back exactly what Nuclio would put on the wire."""
    return wire_call(lambda event: detector.module.handler(detector.context, event))


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # pytest's own, set per phase


@pytest.fixture(autouse=True)
def no_environment_leak() -> Iterator[None]:
    """A test that changes os.environ without monkeypatch would change what every later test loads
    (MODEL_PATH, CVAT_FUNCTION_*): fail it, naming the keys, and put the environment back."""
    before = _environment()
    yield
    after = _environment()
    if after != before:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        for key in changed:
            if key in before:
                os.environ[key] = before[key]
            else:
                os.environ.pop(key, None)
        pytest.fail(f"the test left os.environ changed ({', '.join(changed)}): use monkeypatch.setenv/delenv")


@pytest.fixture(scope="session")
def astronaut_b64() -> str:
    return b64(ASTRONAUT.read_bytes())
