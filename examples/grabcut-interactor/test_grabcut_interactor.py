"""The GrabCut interactor through the Nuclio SDK path, as CVAT calls it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cvat_function.core.config import load_function_config
from cvat_function.core.masks import decode_rle
from cvat_function.tools.wire import LocalFunction

HERE = Path(__file__).parent
WIDTH, HEIGHT, CENTRE, RADIUS = 320, 240, (170, 120), 50


def _scene() -> tuple[str, np.ndarray]:
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(90, 20, (HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)
    cv2.circle(image, CENTRE, RADIUS, (40, 40, 220), -1)
    truth = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.circle(truth, CENTRE, RADIUS, 1, -1)
    ok, png = cv2.imencode(".png", image)
    assert ok
    return base64.b64encode(png.tobytes()).decode("ascii"), truth.astype(bool)


IMAGE, TRUTH = _scene()


@pytest.fixture(scope="module")
def function() -> LocalFunction:
    return LocalFunction(HERE)


def _iou(answer: dict, index: int = 0) -> float:
    mask = decode_rle(answer["shapes"][index]["points"]).full_frame(WIDTH, HEIGHT)
    return float((mask & TRUTH).sum() / (mask | TRUTH).sum())


def test_function_yaml_declares_a_version_2_interactor() -> None:
    config = load_function_config(HERE / "function.yaml")
    assert (config.kind, config.version, config.min_pos_points, config.min_neg_points) == ("interactor", 2, 1, 0)
    assert "startswith_box" not in config.annotations
    assert len(config.labels) == 0


def test_one_click_segments_the_disc(function: LocalFunction) -> None:
    response = function.request({"image": IMAGE, "pos_points": [[170, 120]], "neg_points": []})
    assert response.status == 200
    answer = response.json()
    assert list(answer) == ["shapes"]
    assert answer["shapes"][0]["type"] == "mask"
    assert answer["shapes"][0]["attributes"] == [{"spec_id": 0, "value": "1"}]
    assert _iou(answer) > 0.9


def test_a_box_alone_segments_the_disc(function: LocalFunction) -> None:
    body = {"image": IMAGE, "pos_points": [], "neg_points": [], "obj_bbox": [[110, 60], [230, 180]]}
    assert _iou(function.request(body).json()) > 0.9


def test_box_corners_in_any_order_and_negative_clicks_are_honoured(function: LocalFunction) -> None:
    box = [[230, 180], [110, 60]]
    body = {"image": IMAGE, "pos_points": [[170.5, 120.5]], "neg_points": [[20, 20]], "obj_bbox": box}
    answer = function.request(body).json()
    assert _iou(answer) > 0.9
    assert answer["shapes"][0]["attributes"][0]["value"] == "1"


def test_clicks_just_outside_the_frame_are_clipped(function: LocalFunction) -> None:
    body = {"image": IMAGE, "pos_points": [[170, 120]], "neg_points": [[-0.5, HEIGHT - 0.2]]}
    assert function.request(body).status == 200


def test_the_legacy_format_answers_a_full_frame_array(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVAT_FUNCTION_INTERACTOR_FORMAT", "legacy")
    legacy = LocalFunction(HERE)
    answer = legacy.request({"image": IMAGE, "pos_points": [[170, 120]], "neg_points": []}).json()
    assert list(answer) == ["mask"]
    mask = np.asarray(answer["mask"], dtype=bool)
    assert mask.shape == (HEIGHT, WIDTH)
    assert (mask & TRUTH).sum() / (mask | TRUTH).sum() > 0.9


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pos_points": [[1, 2, 3]]}, "pos_points[0]"),
        ({"pos_points": "170,120"}, "pos_points"),
        ({"pos_points": []}, "pos_points"),
        ({"neg_points": [[float("nan"), 3]]}, "neg_points[0][0]"),
        ({"pos_points": [[5000, 10]]}, "pos_points[0]"),
        ({"obj_bbox": [[1, 2]]}, "obj_bbox"),
        ({"threshold": 2}, "threshold"),
        ({"text_prompts": "a coin"}, "text_prompts"),
        ({"image": "not base64!"}, "image"),
    ],
)
def test_a_malformed_field_is_a_400_naming_it(function: LocalFunction, change: dict, field: str) -> None:
    body = {"image": IMAGE, "pos_points": [[170, 120]], "neg_points": [], **change}
    response = function.request(json.dumps(body))
    assert response.status == 400
    assert response.json()["field"] == field
