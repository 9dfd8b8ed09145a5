"""The contract suite: what any detector ModelHandler in this repo must satisfy for CVAT.

It runs against whatever model_handler.py holds, the default or yours, on the sample images in assets/ and on
generated ones. Nothing here knows what the model detects; test_default_model.py does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cvat_function import ColorOrder, Shape, decode_image, load_function_config
from cvat_function.core.rules import check_shapes, contract_errors, subset_problem
from cvat_function.tools.contract import THRESHOLDS, generated_frames
from model_handler import ModelHandler

from ..support import ASSETS, ROOT, Call, b64

CONFIG = load_function_config(ROOT / "function.yaml")
pytestmark = pytest.mark.skipif(CONFIG.kind != "detector", reason="the root function is not a detector")

SAMPLES = sorted(p for p in ASSETS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


@pytest.fixture(scope="module")
def model() -> ModelHandler:
    return ModelHandler(CONFIG.labels)


def images(order: ColorOrder) -> list[tuple[str, np.ndarray]]:
    out = [(path.name, decode_image(path.read_bytes(), order)) for path in SAMPLES]
    for name, rgb in generated_frames():
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
        # the rules `validate` applies to the same frames through the handler (core/rules.py)
        _, errors = check_shapes(shapes, CONFIG.labels, (width, height))
        errors += contract_errors(shapes, (width, height), threshold)
        assert not errors, f"{name}: " + "; ".join(map(str, errors))


def test_a_higher_threshold_keeps_a_subset(model):
    for name, image in images(order_of(model)):
        low, high = THRESHOLDS[0], THRESHOLDS[-1]
        problem = subset_problem(model.infer(image, low), model.infer(image, high), (low, high))
        assert problem is None, f"{name}: {problem}"


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
