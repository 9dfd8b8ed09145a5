"""The colour-histogram ReID function through the Nuclio SDK path, as CVAT calls it."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest

from cvat_function.tools.wire import LocalFunction

HERE = Path(__file__).parent
COLOURS = [(0, 0, 220), (0, 200, 0), (220, 0, 0), (0, 200, 200)]  # BGR: red, green, blue, yellow


def _frame(boxes: list[list[int]], colours: list[tuple[int, int, int]]) -> str:
    image = np.full((240, 320, 3), 128, np.uint8)
    for (x1, y1, x2, y2), colour in zip(boxes, colours, strict=True):
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, -1)
    ok, png = cv2.imencode(".png", image)
    assert ok
    return base64.b64encode(png.tobytes()).decode("ascii")


def _shapes(boxes: list[list[int]], frame: int) -> list[dict]:
    return [
        {"id": i, "type": "rectangle", "frame": frame, "label_id": 5, "points": b, "attributes": []}
        for i, b in enumerate(boxes)
    ]


BOXES0 = [[20, 20, 60, 60], [100, 20, 140, 60], [180, 20, 220, 60]]


@pytest.fixture(scope="module")
def function() -> LocalFunction:
    return LocalFunction(HERE)


def test_moved_and_reordered_boxes_are_matched_by_colour(function: LocalFunction) -> None:
    boxes1 = [[190, 30, 230, 70], [30, 25, 70, 65], [110, 15, 150, 55]]  # blue, red, green, each moved a little
    body = {
        "image0": _frame(BOXES0, COLOURS[:3]),
        "image1": _frame(boxes1, [COLOURS[2], COLOURS[0], COLOURS[1]]),
        "boxes0": _shapes(BOXES0, 3),
        "boxes1": _shapes(boxes1, 4),
        "threshold": 0.5,
        "max_distance": 50,
    }
    response = function.request(body)
    assert response.status == 200
    assert response.json() == [1, 2, 0]


def test_a_box_that_vanished_or_moved_too_far_gets_minus_one(function: LocalFunction) -> None:
    boxes1 = [[30, 25, 70, 65], [200, 150, 240, 190]]  # red nearby; green moved 150 px (> max_distance)
    body = {
        "image0": _frame(BOXES0, COLOURS[:3]),
        "image1": _frame(boxes1, [COLOURS[0], COLOURS[1]]),
        "boxes0": _shapes(BOXES0, 3),
        "boxes1": _shapes(boxes1, 4),
    }
    assert function.request(body).json() == [0, -1, -1]


def test_each_box_of_the_second_frame_is_used_once(function: LocalFunction) -> None:
    boxes0 = [[20, 20, 60, 60], [40, 20, 80, 60]]  # two red boxes, one red box on the next frame
    boxes1 = [[30, 20, 70, 60]]
    body = {
        "image0": _frame(boxes0, [COLOURS[0], COLOURS[0]]),
        "image1": _frame(boxes1, [COLOURS[0]]),
        "boxes0": _shapes(boxes0, 0),
        "boxes1": _shapes(boxes1, 1),
    }
    answer = function.request(body).json()
    assert sorted(answer) == [-1, 0]


def test_empty_box_lists_are_answered(function: LocalFunction) -> None:
    image = _frame([], [])
    body = {"image0": image, "image1": image, "boxes0": _shapes(BOXES0, 0), "boxes1": []}
    assert function.request(body).json() == [-1, -1, -1]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"image1": None}, "image1"),
        ({"boxes0": "none"}, "boxes0"),
        ({"boxes1": [{"points": [1, 2, 3]}]}, "boxes1[0].points"),
        ({"boxes1": [{"points": [1, 2, 3, 4], "label_id": "car"}]}, "boxes1[0].label_id"),
        ({"max_distance": -5}, "max_distance"),
        ({"threshold": "high"}, "threshold"),
    ],
)
def test_a_malformed_field_is_a_400_naming_it(function: LocalFunction, change: dict, field: str) -> None:
    image = _frame(BOXES0, COLOURS[:3])
    body = {"image0": image, "image1": image, "boxes0": _shapes(BOXES0, 0), "boxes1": _shapes(BOXES0, 1), **change}
    response = function.request(body)
    assert response.status == 400
    assert response.json()["field"] == field
