"""The template-matching tracker through the Nuclio SDK path, as CVAT calls it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from cvat_function.core.config import load_function_config
from cvat_function.tools.wire import LocalFunction

HERE = Path(__file__).parent
WIDTH, HEIGHT = 320, 240
OBJECT = np.random.default_rng(7).integers(0, 256, (40, 50), dtype=np.uint8)  # a textured 50×40 object


def _frame(x: int | None, y: int = 0) -> str:
    """A smooth gradient background with the object's top-left corner at (x, y) (no object when x is None)."""
    image = np.tile(np.linspace(60, 140, WIDTH, dtype=np.uint8), (HEIGHT, 1))
    if x is not None:
        image[y : y + OBJECT.shape[0], x : x + OBJECT.shape[1]] = OBJECT
    ok, png = cv2.imencode(".png", image)
    assert ok
    return base64.b64encode(png.tobytes()).decode("ascii")


def _signed_round_trip(state: Any) -> Any:
    """What CVAT does with a state between two calls: sign json.dumps(state, separators=(",", ":")), decode."""
    return json.loads(json.dumps(state, separators=(",", ":")))


@pytest.fixture(scope="module")
def function() -> LocalFunction:
    return LocalFunction(HERE)


def test_function_yaml_declares_rectangles(function: LocalFunction) -> None:
    config = load_function_config(HERE / "function.yaml")
    assert config.kind == "tracker"
    assert config.supported_shape_types == ("rectangle",)


def test_start_answers_the_shape_and_one_small_json_state(function: LocalFunction) -> None:
    start = {"type": "rectangle", "points": [100.0, 50.0, 150.0, 90.0]}
    response = function.request({"image": _frame(100, 50), "shapes": [start], "states": []})
    assert response.status == 200
    answer = response.json()
    assert answer["shapes"] == [start]
    assert len(answer["states"]) == 1
    assert len(json.dumps(answer["states"][0], separators=(",", ":"))) < 8192


def test_the_object_is_followed_across_frames_with_states_only(function: LocalFunction) -> None:
    start = {"type": "rectangle", "points": [100.0, 50.0, 150.0, 90.0]}
    states = function.request({"image": _frame(100, 50), "shapes": [start], "states": []}).json()["states"]
    for x, y in ((108, 55), (118, 61), (130, 66)):
        states = [_signed_round_trip(s) for s in states]
        answer = function.request({"image": _frame(x, y), "shapes": [None], "states": states}).json()
        assert answer["shapes"][0]["type"] == "rectangle"
        assert answer["shapes"][0]["points"] == pytest.approx([x, y, x + 50, y + 40], abs=1.0)
        states = answer["states"]


def test_a_lost_object_keeps_its_last_known_shape(function: LocalFunction) -> None:
    start = {"type": "rectangle", "points": [100.0, 50.0, 150.0, 90.0]}
    states = function.request({"image": _frame(100, 50), "shapes": [start], "states": []}).json()["states"]
    answer = function.request({"image": _frame(None), "shapes": [None], "states": states}).json()
    assert answer["shapes"] == [start]
    assert answer["states"][0] is not None


def test_several_objects_keep_their_order(function: LocalFunction) -> None:
    shapes = [[100.0, 50.0, 150.0, 90.0], {"type": "rectangle", "points": [10.0, 10.0, 40.0, 40.0]}]
    answer = function.request({"image": _frame(100, 50), "shapes": shapes, "states": []}).json()
    assert [s["points"] for s in answer["shapes"]] == [shapes[0], shapes[1]["points"]]
    assert len(answer["states"]) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"shapes": None}, "shapes"),
        ({"shapes": [{"type": "polygon", "points": [1, 2, 30, 2, 15, 40]}]}, "shapes[0].type"),
        ({"shapes": [[10, 10, 5, 40]]}, "shapes[0]"),
        ({"shapes": [{"type": "rectangle", "points": [1, 2, "3", 4]}]}, "shapes[0].points[2]"),
        ({"shapes": [None]}, "shapes[0]"),
        ({"shapes": [None], "states": [{"made": "up"}]}, "states[0]"),
        ({"states": [{}, {}]}, "states"),
    ],
)
def test_a_malformed_field_is_a_400_naming_it(function: LocalFunction, change: dict, field: str) -> None:
    body = {"image": _frame(100, 50), "shapes": [[100.0, 50.0, 150.0, 90.0]], "states": [], **change}
    response = function.request(body)
    assert response.status == 400
    assert response.json()["field"] == field


def test_the_template_tracker_refuses_every_forged_state_with_a_4xx() -> None:
    """The example checks its own state (CVAT signs states; other clients can forge them)."""
    import random

    from cvat_function.tools.answer_checks import synthetic_request
    from cvat_function.tools.hostile import png, state_cases

    function = LocalFunction(HERE)
    good = synthetic_request("tracker", png(64, 48), (64, 48))
    state = function.request(good).json()["states"][0]
    for case in state_cases(good, state, random.Random(0)):
        response = function.request(case.body, case.content_type)
        assert response.status < 500, f"{case.name}: {response.text[:300]}"
        if case.expect == "4xx":
            assert 400 <= response.status < 500, case.name
            assert response.json()["field"].startswith("states[0]"), case.name
        elif case.expect == "ok":
            assert response.status == 200, case.name
