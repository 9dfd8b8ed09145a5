"""The contract suite: what any detector ModelHandler in this repo must satisfy for CVAT.

It runs against whatever model_handler.py holds, the default or yours, on the sample images in assets/ and on
generated ones. Nothing here knows what the model detects; test_default_model.py does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cvat_function import ColorOrder, Shape, decode_image, load_function_config
from cvat_function.core.rules import check_shapes
from model_handler import ModelHandler

from ..support import ASSETS, ROOT, Call, b64

CONFIG = load_function_config(ROOT / "function.yaml")
pytestmark = pytest.mark.skipif(CONFIG.kind != "detector", reason="the root function is not a detector")

SAMPLES = sorted(p for p in ASSETS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
THRESHOLDS = (0.2, 0.5, 0.9)


@pytest.fixture(scope="module")
def model() -> ModelHandler:
    return ModelHandler(CONFIG.labels)


def generated() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        ("noise 640x480", rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)),
        ("black 320x240", np.zeros((240, 320, 3), np.uint8)),
        ("white 1x1", np.full((1, 1, 3), 255, np.uint8)),
        ("odd 33x17", rng.integers(0, 256, (17, 33, 3), dtype=np.uint8)),
        ("wide 2000x50", rng.integers(0, 256, (50, 2000, 3), dtype=np.uint8)),
    ]


def images(order: ColorOrder) -> list[tuple[str, np.ndarray]]:
    out = [(path.name, decode_image(path.read_bytes(), order)) for path in SAMPLES]
    for name, rgb in generated():
        if order is ColorOrder.GRAY:
            out.append((name, np.ascontiguousarray(rgb.mean(axis=2).astype(np.uint8))))
        else:
            out.append((name, np.ascontiguousarray(rgb if order is ColorOrder.RGB else rgb[:, :, ::-1])))
    return out


def order_of(model: ModelHandler) -> ColorOrder:
    return ColorOrder(getattr(model, "color_order", "RGB"))


def test_the_model_declares_a_known_colour_order_and_only_spec_labels(model):
    order_of(model)  # raises for anything but RGB, BGR, GRAY
    for name in getattr(model, "labels", ()):
        assert name in CONFIG.labels, f"the model emits {name!r}, which function.yaml's spec lacks"


def test_there_is_a_sample_image_to_run_on():
    assert SAMPLES, "put at least one sample image (with its licence) in assets/"


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_results_are_valid_cvat_shapes_inside_the_frame_and_above_the_threshold(model, threshold):
    for name, image in images(order_of(model)):
        shapes = model.infer(image, threshold)
        assert isinstance(shapes, (list, tuple)), f"{name}: infer must return a list"
        assert all(isinstance(s, Shape) for s in shapes), f"{name}: build results with cvat_function's builders"
        height, width = image.shape[:2]
        _, errors = check_shapes(shapes, CONFIG.labels, (width, height))
        assert not errors, f"{name}: " + "; ".join(map(str, errors))
        for shape in shapes:
            if shape.confidence is not None:
                assert shape.confidence >= threshold, f"{name}: {shape.label} below the threshold {threshold}"
            xs, ys = (shape.points or ())[0::2], (shape.points or ())[1::2]
            assert all(-1 <= x <= width + 1 for x in xs), f"{name}: {shape.label} x outside 0..{width}"
            assert all(-1 <= y <= height + 1 for y in ys), f"{name}: {shape.label} y outside 0..{height}"


def test_a_higher_threshold_keeps_a_subset(model):
    for name, image in images(order_of(model)):
        low = {s for s in model.infer(image, 0.2)}
        high = {s for s in model.infer(image, 0.9)}
        assert high <= low, f"{name}: raising the threshold produced new results"


def test_the_model_is_deterministic_and_leaves_the_frame_untouched(model):
    for name, image in images(order_of(model)):
        before = image.copy()
        first, second = model.infer(image, 0.5), model.infer(image, 0.5)
        assert first == second, f"{name}: two runs on the same frame differ"
        assert np.array_equal(image, before), f"{name}: infer modified the input frame"


def test_every_sample_image_is_answered_through_the_handler(call: Call):
    for path in SAMPLES:
        response = call({"image": b64(path.read_bytes())})
        assert response.status == 200, f"{path.name}: {response.text[:300]}"
        for item in response.json():
            assert item["label"] in CONFIG.labels
            assert all(math.isfinite(v) for v in item.get("points", []))
