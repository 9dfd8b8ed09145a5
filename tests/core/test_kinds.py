"""Interactor, tracker and ReID functions through the Nuclio SDK path, with stub models.

Each kind gets: a good request, malformed fields → 4xx naming the field, a model that raises → 500 JSON, a
model returning something invalid → a strict error naming the rule (and what drop mode does instead).
"""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from cvat_function import ColorOrder, decode_image
from cvat_function.core.masks import decode_detector_mask, decode_rle
from cvat_function.core.runtime import DROPPED_HEADER
from cvat_function.tools.wire import LocalFunction

from ..support import ASTRONAUT

WIDTH, HEIGHT = 64, 48


def _image() -> str:
    ok, png = cv2.imencode(".png", np.full((HEIGHT, WIDTH, 3), 100, np.uint8))
    assert ok
    return base64.b64encode(png.tobytes()).decode("ascii")


IMAGE = _image()

HANDLERS = {
    "interactor": """
        import numpy as np
        from cvat_function import interactor_mask
        from cvat_function.core.shapes import InteractorMask
        from cvat_function.core.masks import BoxMask

        class ModelHandler:
            mode = "ok"
            def __init__(self, labels):
                self.seen = None
            def interact(self, image, request):
                self.seen = request
                if self.mode == "raise":
                    raise RuntimeError("boom")
                if self.mode == "not-a-mask":
                    return [{"type": "mask"}]
                if self.mode == "outside":
                    return [InteractorMask(BoxMask(np.ones((4, 4), bool), (62, 0, 65, 3)))]
                if self.mode == "none":
                    return []
                frame = np.zeros(image.shape[:2], bool)
                frame[10:20, 5:30] = True
                confidence = 1.5 if self.mode == "bad-confidence" else 0.75
                return [interactor_mask(frame, confidence=confidence)]
    """,
    "tracker": """
        from cvat_function import tracked_rectangle, tracked_shape

        class ModelHandler:
            mode = "ok"
            def __init__(self, labels):
                pass
            def init_tracking(self, image, shape):
                if self.mode == "raise":
                    raise RuntimeError("boom")
                if self.mode == "big-state":
                    return {"blob": "x" * 5000}
                return {"box": list(shape.points), "step": 0}
            def track(self, image, state):
                if self.mode == "raise":
                    raise RuntimeError("boom")
                if self.mode == "lost":
                    return None, {**state, "step": state["step"] + 1}
                if self.mode == "not-a-pair":
                    return tracked_rectangle(state["box"])
                if self.mode == "bad-shape":
                    return tracked_shape("rectangle", [5, 5, 1, 1]), state
                x1, y1, x2, y2 = state["box"]
                box = [x1 + 2, y1 + 1, x2 + 2, y2 + 1]
                return tracked_rectangle(box), {"box": box, "step": state["step"] + 1}
    """,
    "reid": """
        class ModelHandler:
            mode = "ok"
            def __init__(self, labels):
                pass
            def match(self, image0, image1, request):
                if self.mode == "raise":
                    raise RuntimeError("boom")
                if self.mode == "duplicate":
                    return [0] * len(request.boxes0)
                if self.mode == "too-big":
                    return [len(request.boxes1)] * len(request.boxes0)
                return list(range(len(request.boxes0)))[::-1]
    """,
}


def make_function(tmp_path: Path, kind: str, annotations: str = "") -> tuple[LocalFunction, Any]:
    """A function folder of `kind` with a stub model; returns it loaded and its model (to switch `mode`)."""
    folder = tmp_path / kind
    folder.mkdir()
    (folder / "model_handler.py").write_text(textwrap.dedent(HANDLERS[kind]), encoding="utf-8")
    extra = {"interactor": '    version: "2"\n    min_pos_points: "1"\n    min_neg_points: "0"\n'}.get(kind, "")
    (folder / "function.yaml").write_text(
        f'metadata:\n  name: stub-{kind}\n  annotations:\n    type: "{kind}"\n{extra}{annotations}'
        f'    spec: ""\nspec:\n  description: "stub {kind}"\n',
        encoding="utf-8",
    )
    function = LocalFunction(folder)
    return function, function.context.user_data.model


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("CVAT_FUNCTION_INVALID_SHAPES", "CVAT_FUNCTION_INTERACTOR_FORMAT", "CVAT_FUNCTION_MAX_STATE_BYTES"):
        monkeypatch.delenv(key, raising=False)


def _drop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVAT_FUNCTION_INVALID_SHAPES", "drop")


# --- interactor ------------------------------------------------------------------------------------------------


def _interaction(**change: Any) -> dict[str, Any]:
    return {"image": IMAGE, "pos_points": [[12.0, 15.0]], "neg_points": [], **change}


def test_interactor_answers_rle_masks_with_a_confidence(tmp_path: Path) -> None:
    function, model = make_function(tmp_path, "interactor")
    response = function.request(_interaction(obj_bbox=[[40, 30], [2, 3]], text_prompts=["a box"]))
    assert response.status == 200
    (shape,) = response.json()["shapes"]
    assert shape["attributes"] == [{"spec_id": 0, "value": "0.75"}]
    decoded = decode_rle(shape["points"])
    assert decoded.box == (5, 10, 29, 19)
    assert decoded.bitmap.all()
    assert model.seen.obj_bbox == (2.0, 3.0, 40.0, 30.0)
    assert model.seen.text_prompts == ("a box",)


def test_interactor_points_just_outside_the_image_are_clipped(tmp_path: Path) -> None:
    function, model = make_function(tmp_path, "interactor")
    assert function.request(_interaction(pos_points=[[-0.7, HEIGHT - 0.4]], obj_bbox=None)).status == 200
    assert model.seen.pos_points == ((0.0, HEIGHT - 1.0),)
    assert model.seen.obj_bbox is None


def test_interactor_with_nothing_found_answers_no_shapes(tmp_path: Path) -> None:
    function, model = make_function(tmp_path, "interactor")
    model.mode = "none"
    assert function.request(_interaction()).json() == {"shapes": []}


def test_interactor_minimum_point_counts_come_from_function_yaml(tmp_path: Path) -> None:
    function, _ = make_function(tmp_path, "interactor", annotations='    min_pos_points: "2"\n')
    response = function.request(_interaction())
    assert response.status == 400
    assert response.json()["field"] == "pos_points"
    assert function.request(_interaction(obj_bbox=[[1, 1], [9, 9]])).status == 200  # a box is a prompt too


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pos_points": None, "obj_bbox": None}, "pos_points"),
        ({"pos_points": [[1, "2"]]}, "pos_points[0][1]"),
        ({"pos_points": [[1, 2], [3]]}, "pos_points[1]"),
        ({"neg_points": {"x": 1}}, "neg_points"),
        ({"neg_points": [[-40, 2]]}, "neg_points[0]"),
        ({"obj_bbox": [[1, 2], [3, 4], [5, 6]]}, "obj_bbox"),
        ({"obj_bbox": [[500, 500], [600, 600]]}, "obj_bbox"),
        ({"obj_bbox": [[1, 2], [3, True]]}, "obj_bbox[1][1]"),
        ({"threshold": -1}, "threshold"),
        ({"text_prompts": [1]}, "text_prompts"),
        ({"image": ""}, "image"),
    ],
)
def test_interactor_malformed_field_is_a_400_naming_it(tmp_path: Path, change: dict, field: str) -> None:
    function, _ = make_function(tmp_path, "interactor")
    response = function.request(_interaction(**change))
    assert response.status == 400
    assert response.json()["field"] == field


def test_interactor_model_that_raises_is_a_500_json(tmp_path: Path) -> None:
    function, model = make_function(tmp_path, "interactor")
    model.mode = "raise"
    response = function.request(_interaction())
    assert (response.status, response.content_type) == (500, "application/json")
    assert response.json()["error"] == "ModelHandler.interact raised RuntimeError (the function's log has the message)"


@pytest.mark.parametrize(
    ("mode", "field", "rule"),
    [
        ("bad-confidence", "confidence", "must be in [0, 1]"),
        ("outside", "points", "leaves the 64x48 image"),
        ("not-a-mask", "shape", "InteractorMask"),
    ],
)
def test_interactor_invalid_result_is_a_strict_error_naming_the_rule(
    tmp_path: Path, mode: str, field: str, rule: str
) -> None:
    function, model = make_function(tmp_path, "interactor")
    model.mode = mode
    response = function.request(_interaction())
    assert response.status == 500
    (error,) = response.json()["shapes"]
    assert error["field"] == field
    assert rule in error["rule"]


def test_interactor_invalid_result_is_dropped_in_drop_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _drop(monkeypatch)
    function, model = make_function(tmp_path, "interactor")
    model.mode = "bad-confidence"
    response = function.request(_interaction())
    assert response.status == 200
    assert response.json() == {"shapes": []}
    assert response.headers[DROPPED_HEADER] == "1"


def test_interactor_legacy_format_answers_a_full_frame_mask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVAT_FUNCTION_INTERACTOR_FORMAT", "legacy")
    function, _ = make_function(tmp_path, "interactor")
    answer = function.request(_interaction()).json()
    assert list(answer) == ["mask"]
    frame = np.asarray(answer["mask"])
    assert frame.shape == (HEIGHT, WIDTH)
    assert frame.sum() == 10 * 25
    assert frame[10:20, 5:30].all()


# --- tracker ---------------------------------------------------------------------------------------------------


def _signed(states: list[Any]) -> list[Any]:
    """CVAT signs json.dumps(state, separators=(",", ":")) and hands back the decoded JSON."""
    return [json.loads(json.dumps(s, separators=(",", ":"))) for s in states]


def test_tracker_legacy_protocol_takes_and_answers_point_arrays(tmp_path: Path) -> None:
    function, _ = make_function(tmp_path, "tracker")
    start = function.request(
        {"image": IMAGE, "shapes": [[10, 10, 20, 20], {"type": "rectangle", "points": [1, 1, 5, 5]}], "states": []}
    )
    assert start.status == 200
    assert start.json()["shapes"] == [[10, 10, 20, 20], [1, 1, 5, 5]]
    states = _signed(start.json()["states"])
    assert all(len(json.dumps(s, separators=(",", ":"))) < 200 for s in states)
    step = function.request({"image": IMAGE, "shapes": [None, None], "states": states}).json()
    assert step["shapes"] == [[12, 11, 22, 21], [3, 2, 7, 6]]
    legacy_ui = function.request({"image": IMAGE, "shapes": [[12, 11, 22, 21], [3, 2, 7, 6]], "states": step["states"]})
    assert legacy_ui.json()["shapes"] == [[14, 12, 24, 22], [5, 3, 9, 7]]


def test_tracker_declaring_shape_types_answers_objects(tmp_path: Path) -> None:
    function, _ = make_function(tmp_path, "tracker", annotations='    supported_shape_types: "rectangle,polygon"\n')
    start = function.request(
        {"image": IMAGE, "shapes": [{"type": "rectangle", "points": [10, 10, 20, 20]}], "states": []}
    )
    assert start.json()["shapes"] == [{"type": "rectangle", "points": [10, 10, 20, 20]}]
    step = function.request({"image": IMAGE, "shapes": [None], "states": _signed(start.json()["states"])})
    assert step.json()["shapes"] == [{"type": "rectangle", "points": [12, 11, 22, 21]}]


def test_tracker_lost_object_keeps_its_last_shape_and_a_state(tmp_path: Path) -> None:
    function, model = make_function(tmp_path, "tracker")
    start = function.request({"image": IMAGE, "shapes": [[10, 10, 20, 20]], "states": []}).json()
    model.mode = "lost"
    step = function.request({"image": IMAGE, "shapes": [None], "states": _signed(start["states"])}).json()
    assert step["shapes"] == [[10, 10, 20, 20]]
    assert step["states"][0]["state"]["step"] == 1


def test_tracker_with_no_objects_answers_empty_lists(tmp_path: Path) -> None:
    function, _ = make_function(tmp_path, "tracker")
    assert function.request({"image": IMAGE, "shapes": [], "states": []}).json() == {"shapes": [], "states": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"shapes": "none"}, "shapes"),
        ({"shapes": [{"type": "polygon", "points": [1, 2, 3, 4, 5, 6]}]}, "shapes[0].type"),
        ({"shapes": [{"type": 3, "points": [1, 2, 3, 4]}]}, "shapes[0].type"),
        ({"shapes": [{"type": "rectangle", "points": "1,2,3,4"}]}, "shapes[0].points"),
        ({"shapes": [[1, 2, 3]]}, "shapes[0]"),
        ({"shapes": [None]}, "shapes[0]"),
        ({"shapes": [None], "states": ["garbage"]}, "states[0]"),
        ({"shapes": [None], "states": [{"shape": {"type": "rectangle"}, "state": 1}]}, "states[0].shape.points"),
        ({"shapes": [[1, 2, 3, 4]], "states": 5}, "states"),
    ],
)
def test_tracker_malformed_field_is_a_400_naming_it(tmp_path: Path, body: dict, field: str) -> None:
    function, _ = make_function(tmp_path, "tracker")
    response = function.request({"image": IMAGE, "states": [], **body})
    assert response.status == 400
    assert response.json()["field"] == field


def test_tracker_model_that_raises_is_a_500_json(tmp_path: Path) -> None:
    function, model = make_function(tmp_path, "tracker")
    model.mode = "raise"
    response = function.request({"image": IMAGE, "shapes": [[10, 10, 20, 20]], "states": []})
    assert response.status == 500
    assert (
        response.json()["error"]
        == "ModelHandler.init_tracking raised RuntimeError (the function's log has the message)"
    )


@pytest.mark.parametrize(
    ("mode", "field", "rule"),
    [
        ("not-a-pair", "track", "must return a pair"),
        ("bad-shape", "points", "x1 < x2"),
    ],
)
def test_tracker_invalid_result_is_a_strict_error_naming_the_rule(
    tmp_path: Path, mode: str, field: str, rule: str
) -> None:
    function, model = make_function(tmp_path, "tracker")
    start = function.request({"image": IMAGE, "shapes": [[10, 10, 20, 20]], "states": []}).json()
    model.mode = mode
    response = function.request({"image": IMAGE, "shapes": [None], "states": start["states"]})
    assert response.status == 500
    (error,) = response.json()["shapes"]
    assert (error["field"], error["index"]) == (field, 0)
    assert rule in error["rule"]


def test_tracker_invalid_result_keeps_the_object_in_drop_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _drop(monkeypatch)
    function, model = make_function(tmp_path, "tracker")
    start = function.request({"image": IMAGE, "shapes": [[10, 10, 20, 20]], "states": []}).json()
    model.mode = "bad-shape"
    response = function.request({"image": IMAGE, "shapes": [None], "states": start["states"]})
    assert response.status == 200
    assert response.json() == {"shapes": [[10, 10, 20, 20]], "states": start["states"]}
    assert response.headers[DROPPED_HEADER] == "1"


def test_tracker_state_over_the_size_limit_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVAT_FUNCTION_MAX_STATE_BYTES", "1000")
    function, model = make_function(tmp_path, "tracker")
    model.mode = "big-state"
    response = function.request({"image": IMAGE, "shapes": [[10, 10, 20, 20]], "states": []})
    assert response.status == 500
    (error,) = response.json()["shapes"]
    assert error["field"] == "states"
    assert "more than 1000" in error["rule"]


# --- reid ------------------------------------------------------------------------------------------------------


def _reid(**change: Any) -> dict[str, Any]:
    box = {"id": 1, "type": "rectangle", "frame": 0, "label_id": 2, "points": [1, 2, 10, 20], "attributes": []}
    return {"image0": IMAGE, "image1": IMAGE, "boxes0": [box, box], "boxes1": [box, box, box], **change}


def test_reid_answers_one_index_per_box(tmp_path: Path) -> None:
    function, _ = make_function(tmp_path, "reid")
    response = function.request(_reid(threshold=0.7, max_distance=20))
    assert response.status == 200
    assert response.json() == [1, 0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"image0": 5}, "image0"),
        ({"boxes1": None}, "boxes1"),
        ({"boxes0": [{"points": [1, 2, float("inf"), 4]}]}, "boxes0[0].points[2]"),
        ({"boxes0": [5]}, "boxes0[0]"),
        ({"max_distance": 0}, "max_distance"),
        ({"max_distance": "far"}, "max_distance"),
    ],
)
def test_reid_malformed_field_is_a_400_naming_it(tmp_path: Path, change: dict, field: str) -> None:
    function, _ = make_function(tmp_path, "reid")
    response = function.request(_reid(**change))
    assert response.status == 400
    assert response.json()["field"] == field


def test_reid_model_that_raises_is_a_500_json(tmp_path: Path) -> None:
    function, model = make_function(tmp_path, "reid")
    model.mode = "raise"
    response = function.request(_reid())
    assert response.status == 500
    assert response.json()["error"] == "ModelHandler.match raised RuntimeError (the function's log has the message)"


@pytest.mark.parametrize(("mode", "rule"), [("duplicate", "already matched"), ("too-big", "index into boxes1")])
def test_reid_invalid_matches_are_a_strict_error_naming_the_rule(tmp_path: Path, mode: str, rule: str) -> None:
    function, model = make_function(tmp_path, "reid")
    model.mode = mode
    response = function.request(_reid())
    assert response.status == 500
    assert rule in response.json()["shapes"][0]["rule"]


def test_reid_invalid_matches_become_minus_one_in_drop_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _drop(monkeypatch)
    function, model = make_function(tmp_path, "reid")
    model.mode = "duplicate"
    response = function.request(_reid())
    assert response.json() == [0, -1]
    assert response.headers[DROPPED_HEADER] == "1"


# --- detector masks through the wire ---------------------------------------------------------------------------


def test_a_mask_detector_answer_on_the_wire_equals_the_plain_shape_json(detector: LocalFunction) -> None:
    """The runtime splices pre-encoded mask bitmaps into the JSON; the result must equal the plain encoding."""
    response = detector.request({"image": base64.b64encode(ASTRONAUT.read_bytes()).decode("ascii")})
    model = detector.context.user_data.model
    rgb = decode_image(ASTRONAUT.read_bytes(), ColorOrder.RGB)
    assert response.json() == [shape.to_cvat() for shape in model.infer(rgb, 0.5)]
    (glow,) = [shape for shape in response.json() if shape["type"] == "mask"]
    assert decode_detector_mask(glow["mask"]).bitmap.any()


def test_an_interactor_mask_without_a_confidence_still_carries_attributes() -> None:
    """CVAT's UI calls `attributes.find(...)` on every interactor shape: `[]`, never a missing key."""
    from cvat_function import interactor_mask

    frame = np.zeros((8, 8), bool)
    frame[2:6, 2:6] = True
    assert interactor_mask(frame).to_cvat()["attributes"] == []
    assert interactor_mask(frame, confidence=0.5).to_cvat()["attributes"] == [{"spec_id": 0, "value": "0.5"}]


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ([0, -1, 2], "states[0]"),  # a ReID answer: another function's
        ({"shape": {"type": "rectangle", "points": [float("nan"), 1, 2, 3]}, "state": {}}, "states[0].shape.points[0]"),
        ({"shape": {"type": "rectangle", "points": [10**400, 1, 2, 3]}, "state": {}}, "states[0].shape.points[0]"),
        ({"shape": {"type": "rectangle", "points": [5, 5, -5, -5]}, "state": {}}, "states[0].shape.points"),
        ({"shape": {"type": "polygon", "points": [0, 0, 5, 0, 5, 5]}, "state": {}}, "states[0].shape.type"),
        ({"shape": [1, 2, 3, 4], "state": {}}, "states[0].shape"),
        ({"shape": {"type": "rectangle", "points": [1, 2, 3, 4]}, "state": "x" * 5000}, "states[0]"),
    ],
)
def test_a_forged_or_foreign_state_is_a_400_naming_it(tmp_path: Path, monkeypatch, state: Any, field: str) -> None:
    monkeypatch.setenv("CVAT_FUNCTION_MAX_STATE_BYTES", "4096")
    function, _ = make_function(tmp_path, "tracker")
    body = json.dumps({"image": IMAGE, "shapes": [None], "states": [state]})  # NaN stays a literal NaN
    response = function.request(body, "text/plain")
    assert response.status == 400, response.text
    assert response.json()["field"] == field
