"""Shared helpers and fixtures: images drawn at test time, and calls to main.handler the way Nuclio makes them."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from nuclio_sdk.test import Platform
from PIL import Image

import main
from cvat_function.tools.http_answer import HttpAnswer
from cvat_function.tools.wire import encode_output, exception_response, make_event

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
ASTRONAUT = ASSETS / "astronaut.jpg"
ASTRONAUT_FACE = (177.0, 67.0, 270.0, 160.0)  # where the face is, measured once by eye and by the cascade

Call = Callable[..., HttpAnswer]


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


@pytest.fixture(scope="session")
def platform() -> Platform:
    """One mock Nuclio platform: it runs main.init_context once, on the first call, like a worker."""
    return Platform()


@pytest.fixture(scope="session")
def call(platform: Platform) -> Call:
    """POST a body to main.handler and get back exactly what Nuclio would put on the wire."""

    def _call(body: Any, content_type: str = "application/json") -> HttpAnswer:
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
        event = make_event(raw, content_type)
        try:
            output = platform.call_handler(main.handler, event)
        except Exception as e:  # what the wrapper does with an exception
            return exception_response(e)
        return encode_output(output)

    return _call


@pytest.fixture(scope="session")
def astronaut_b64() -> str:
    return b64(ASTRONAUT.read_bytes())
