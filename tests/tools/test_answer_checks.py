"""The wire checks apply the runtime's own rules: the same result is refused for the same reason either way."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvat_function.core.errors import ShapeError
from cvat_function.core.rules import check_shape
from cvat_function.core.shapes import InteractorMask, interactor_mask, mask
from cvat_function.tools.answer_checks import (
    check_answer,
    detector_item_problems,
    interactor_mask_from_json,
    shape_from_json,
    synthetic_request,
)
from cvat_function.tools.http_answer import HttpAnswer

from ..core.test_rules import BROKEN, LABELS, VALID

SIZE = (20, 20)


def wire(shape) -> dict:
    """The JSON CVAT receives for a result (what the runtime sends, through a JSON round trip)."""
    return json.loads(json.dumps(shape.to_cvat()))


@pytest.mark.parametrize("shape", VALID, ids=lambda s: f"{s.label}-{s.type}")
def test_what_the_runtime_accepts_passes_on_the_wire(shape):
    check_shape(shape, LABELS, SIZE)
    assert detector_item_problems(wire(shape), LABELS, SIZE, contract=False) == []


@pytest.mark.parametrize(("shape", "field", "rule"), BROKEN, ids=[f"{b[1]}:{b[2]}" for b in BROKEN])
def test_what_the_runtime_refuses_is_refused_on_the_wire_for_the_same_reason(shape, field, rule):
    if field == "elements" and shape.type != "skeleton":
        pytest.skip("to_cvat writes elements for skeletons only: this one cannot reach the wire")
    item = wire(shape)
    problems = detector_item_problems(item, LABELS, SIZE, contract=False)
    assert len(problems) == 1, problems
    assert f"{field}: " in problems[0]
    assert rule in problems[0]


def test_wire_values_stay_as_sent_so_the_rules_name_them():
    shape = shape_from_json({"label": "person", "type": "rectangle", "points": [1, 2, "3", 4], "confidence": "0.5"})
    assert shape.points == (1, 2, "3", 4)
    assert shape.confidence == 0.5
    with pytest.raises(ShapeError, match="finite numbers"):
        check_shape(shape, LABELS, SIZE)
    assert shape_from_json({"label": "sunny", "type": "Tag"}).type == "tag"


def test_validate_style_check_refuses_results_below_the_threshold_or_outside_the_frame():
    request = synthetic_request("detector", b"x", SIZE, 0.5)
    low = [{"label": "person", "type": "rectangle", "points": [1, 1, 5, 5], "confidence": "0.3"}]
    outside = [{"label": "person", "type": "rectangle", "points": [1, 1, 50, 5]}]
    for payload, message in ((low, "below the requested threshold"), (outside, "outside the 20x20 frame")):
        answer = HttpAnswer(200, "application/json", json.dumps(payload).encode())
        verdict = check_answer("detector", answer, request=request, image_size=SIZE, labels=LABELS)
        assert message in " ".join(verdict.problems)
        relaxed = check_answer("detector", answer, request=request, image_size=SIZE, labels=LABELS, contract=False)
        assert relaxed.ok, relaxed.problems


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 15), st.integers(0, 15), st.integers(1, 5), st.integers(1, 5), st.none() | st.floats(0, 1))
def test_an_interactor_mask_survives_the_wire_unchanged(left, top, width, height, confidence):
    frame = np.zeros((20, 20), dtype=bool)
    frame[top : top + height, left : left + width] = True
    result = interactor_mask(frame, confidence=confidence)
    back = interactor_mask_from_json(json.loads(json.dumps(result.to_cvat())), SIZE)
    assert back.mask == result.mask
    assert back.confidence == (None if confidence is None else pytest.approx(confidence, abs=1e-4))
    assert isinstance(back, InteractorMask)


def test_a_mask_result_survives_the_wire_and_the_same_rules_pass():
    frame = np.zeros((20, 20), dtype=bool)
    frame[2:6, 3:9] = True
    shape = mask("car", frame)
    assert detector_item_problems(wire(shape), LABELS, SIZE) == []
