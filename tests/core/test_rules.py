"""Every answer rule (core/rules.py), each with a result that breaks it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cvat_function.core.errors import ShapeError
from cvat_function.core.labels import parse_labels
from cvat_function.core.masks import BoxMask
from cvat_function.core.rules import (
    check_contract,
    check_matches,
    check_shape,
    check_state,
    check_tracked_shape,
    compatible,
    contract_errors,
    subset_problem,
)
from cvat_function.core.shapes import (
    Attribute,
    Shape,
    TrackedShape,
    cuboid,
    ellipse,
    keypoint,
    mask,
    points,
    polygon,
    polyline,
    rectangle,
    skeleton,
    tag,
)

_SPEC = [
    {
        "name": "person",
        "type": "rectangle",
        "attributes": [
            {"name": "age", "input_type": "number", "values": ["0", "150", "5"]},
            {"name": "gender", "input_type": "select", "values": ["female", "male"]},
            {"name": "occluded", "input_type": "checkbox", "values": []},
            {"name": "note", "input_type": "text", "values": []},
        ],
    },
    {"name": "car", "type": "mask"},
    {"name": "thing", "type": "any"},
    {"name": "eye", "type": "ellipse"},
    {"name": "box3d", "type": "cuboid"},
    {"name": "sunny", "type": "tag"},
    {
        "name": "hand",
        "type": "skeleton",
        "svg": "",
        "sublabels": [
            {
                "name": "wrist",
                "type": "points",
                "attributes": [{"name": "visible", "input_type": "checkbox", "values": []}],
            },
            {"name": "thumb", "type": "points"},
        ],
    },
]
LABELS = parse_labels(json.dumps(_SPEC))
FRAME = np.zeros((20, 20), dtype=bool)
FRAME[2:6, 3:9] = True


def _hand(*elements: Shape) -> Shape:
    return skeleton("hand", elements)


VALID = [
    rectangle("person", (1, 2, 30, 40), rotation=15, confidence=0.9, group_id=2,
              attributes={"age": 35, "gender": "male", "occluded": False, "note": "any text"}),
    mask("car", FRAME),
    polygon("car", [[0, 0], [10, 0], [5, 8]]),
    polyline("thing", [0, 0, 10, 10]),
    points("thing", [[3, 4]]),
    points("thing", [[3, 4], [5, 6], [7, 8]]),  # CVAT takes any number of points
    ellipse("eye", (50, 40), (10, 5), rotation=360),
    cuboid("box3d", [[0, 0], [0, 10], [10, 0], [10, 10], [3, -2], [3, 8], [13, -2], [13, 8]]),
    tag("sunny"),
    _hand(keypoint("wrist", 1, 2, attributes={"visible": True}), keypoint("thumb", 3, 4, outside=True)),
]  # fmt: skip


@pytest.mark.parametrize("shape", VALID, ids=lambda s: f"{s.label}-{s.type}")
def test_every_shape_type_with_attributes_passes(shape: Shape) -> None:
    check_shape(shape, LABELS, (20, 20) if shape.type == "mask" else None)


BROKEN = [
    (rectangle("dog", (1, 2, 3, 4)), "label", "not in the spec"),
    (polygon("person", [[0, 0], [1, 0], [1, 1]]), "type", "does not fit a label of type 'rectangle'"),
    (skeleton("thing", [keypoint("wrist", 1, 2)]), "type", "does not fit a label of type 'any'"),
    (rectangle("person", (1, 2, 3, 4), confidence=1.5), "confidence", "[0, 1]"),
    (rectangle("person", (1, 2, 3, 4), attributes={"height": 3}), "attributes.height", "not declared"),
    (rectangle("person", (1, 2, 3, 4), attributes={"age": "34.0"}), "attributes.age", "integer string"),
    (rectangle("person", (1, 2, 3, 4), attributes={"age": " 35"}), "attributes.age", "integer string"),
    (rectangle("person", (1, 2, 3, 4), attributes={"age": 151}), "attributes.age", "in [0, 150]"),
    (rectangle("person", (1, 2, 3, 4), attributes={"age": 33}), "attributes.age", "steps of 5"),
    (rectangle("person", (1, 2, 3, 4), attributes={"gender": "re"}), "attributes.gender", "one of"),
    (rectangle("person", (1, 2, 3, 4), attributes={"occluded": "yes"}), "attributes.occluded", "'true' or 'false'"),
    (Shape("person", "rectangle", (1, 2, 3, 4), attributes=(Attribute("note", "a"), Attribute("note", "b"))),
     "attributes.note", "given twice"),
    (rectangle("person", (1, 2, 3, 4), rotation=361), "rotation", "[0, 360]"),
    (Shape("car", "polygon", (0, 0, 1, 0, 1, 1), rotation=10), "rotation", "only rectangles and ellipses"),
    (rectangle("person", (1, 2, 3, 4), group_id=-1), "group_id", "non-negative integer"),
    (Shape("person", "rectangle", (1, 2, 3, 4), outside="no"), "outside", "true or false"),  # type: ignore[arg-type]
    (rectangle("person", (5, 2, 3, 4)), "points", "x1 < x2"),
    (rectangle("person", (1, 2, 3)), "points", "exactly 4"),
    (rectangle("person", (1, 2, float("nan"), 4)), "points", "finite"),
    (polygon("car", [[0, 0], [1, 1]]), "points", "at least 6"),
    (polyline("thing", [0, 0, 1]), "points", "at least 4"),
    (points("thing", [1, 2, 3]), "points", "even number"),
    (ellipse("eye", (5, 5), (-2, 3)), "points", "rx, ry > 0"),
    (cuboid("box3d", [[0, 0]] * 7), "points", "exactly 16"),
    (Shape("thing", "rectangle", None), "points", "needs points"),
    (Shape("sunny", "tag", (1.0, 2.0)), "points", "no points"),
    (Shape("hand", "skeleton", (1.0, 2.0), elements=(keypoint("wrist", 1, 2),)), "points", "no points"),
    (Shape("thing", "points", (1.0, 2.0), elements=(keypoint("wrist", 1, 2),)), "elements", "only skeletons"),
    (Shape("thing", "rectangle", (1, 2, 3, 4), mask=(1, 0, 0, 0, 0)), "mask", "only masks"),
    (_hand(), "elements", "at least one element"),
    (_hand(keypoint("pinky", 1, 2)), "elements", "not a sublabel"),
    (_hand(keypoint("wrist", 1, 2), keypoint("wrist", 2, 2)), "elements", "appears twice"),
    (_hand(Shape("wrist", "points", (1.0, 2.0, 3.0, 4.0))), "elements.wrist", "one point"),
    (_hand(keypoint("wrist", 1, 2, outside=True)), "elements", "every element is outside"),
    (_hand(keypoint("wrist", 1, 2, attributes={"visible": "1"})), "attributes.visible", "'true' or 'false'"),
    (Shape("car", "mask", mask=(1, 1, 0, 0)), "mask", "followed by"),
    (Shape("car", "mask", mask=(1, 1, 1, 0, 0, 1, 0)), "mask", "bitmap has 3 values, the inclusive box holds 2"),
    (Shape("car", "mask", mask=(1, 1, 2, 0, 0, 0)), "mask", "not ordered"),
    (Shape("car", "mask", mask=(1, 255, 0, 0, 1, 0)), "mask", "mixes foreground values"),
    (Shape("car", "mask", mask=(0, 0, 0, 0, 1, 0)), "mask", "no foreground"),
    (Shape("car", "mask", mask=(1.0, 1.0, 0, 0, 1, 0)), "mask", "integers"),
    (Shape("car", "mask", mask=BoxMask(np.ones((2, 2), bool), (19, 0, 20, 1))), "mask", "leaves the 20x20 image"),
    (Shape("car", "mask", (0.0, 0.0, 1.0, 1.0), mask=BoxMask(np.ones((2, 2), bool), (0, 0, 1, 1))),
     "points", "at least 6"),
]  # fmt: skip


@pytest.mark.parametrize(("shape", "field", "rule"), BROKEN, ids=[f"{b[1]}:{b[2]}" for b in BROKEN])
def test_a_broken_rule_names_label_field_and_rule(shape: Shape, field: str, rule: str) -> None:
    with pytest.raises(ShapeError) as caught:
        check_shape(shape, LABELS, (20, 20))
    assert caught.value.field == field
    assert rule in caught.value.rule
    assert caught.value.label.split(".")[0] == shape.label


def test_mask_and_polygon_labels_accept_each_other_and_any_accepts_all_but_skeletons() -> None:
    assert compatible("mask", "polygon")
    assert compatible("polygon", "mask")
    assert compatible("any", "cuboid")
    assert not compatible("any", "skeleton")
    assert not compatible("rectangle", "ellipse")


def test_tracker_shapes_must_be_declared_and_well_formed() -> None:
    check_tracked_shape(TrackedShape("rectangle", (1, 2, 3, 4)), ("rectangle",))
    for coordinates in ((1, 2), (1, 2, 3, 4, 5, 6)):
        check_tracked_shape(TrackedShape("points", coordinates), ("points",))
    with pytest.raises(ShapeError, match="supported_shape_types"):
        check_tracked_shape(TrackedShape("polygon", (1, 2, 3, 4, 5, 6)), ("rectangle",))
    with pytest.raises(ShapeError, match="x1 < x2"):
        check_tracked_shape(TrackedShape("rectangle", (3, 2, 1, 4)), ("rectangle",))
    with pytest.raises(ShapeError, match="TrackedShape"):
        check_tracked_shape([1, 2, 3, 4], ("rectangle",))


def test_tracker_states_must_be_small_plain_json() -> None:
    assert check_state({"box": [1, 2, 3, 4]}, 100) == len('{"box":[1,2,3,4]}')
    with pytest.raises(ShapeError, match="more than 10"):
        check_state({"box": [1, 2, 3, 4]}, 10)
    with pytest.raises(ShapeError, match="plain JSON"):
        check_state({"features": np.zeros(3)}, 1000)
    with pytest.raises(ShapeError, match="plain JSON"):
        check_state({"score": float("nan")}, 1000)


def test_reid_matches_are_indices_used_once() -> None:
    assert check_matches([1, -1, 0], 3, 2) == ([1, -1, 0], [])
    cleaned, errors = check_matches([1, 1, 5, "0"], 4, 2)
    assert cleaned == [1, -1, -1, -1]
    assert [e.field for e in errors] == ["matches[1]", "matches[2]", "matches[3]"]
    assert "already matched" in errors[0].rule
    cleaned, errors = check_matches([0], 3, 2)
    assert cleaned == [0, -1, -1]
    assert "one entry per box" in errors[0].rule


# -- the model contract (the contract suite and validate) ------------------------------------------------------
def test_the_contract_threshold_and_frame_rules():
    inside = rectangle("person", (0, 0, 21, 20), confidence=0.6)
    check_contract(inside, (20, 20), 0.5)
    with pytest.raises(ShapeError, match=r"below the requested threshold 0\.7"):
        check_contract(inside, (20, 20), 0.7)
    with pytest.raises(ShapeError, match="outside the 20x20 frame"):
        check_contract(rectangle("person", (0, 0, 22, 20)), (20, 20))
    with pytest.raises(ShapeError, match="outside"):
        check_contract(skeleton("hand", [keypoint("wrist", -2, 3)]), (20, 20))
    assert [e.index for e in contract_errors([inside, rectangle("person", (-5, 0, 3, 3))], (20, 20))] == [1]
    assert subset_problem([1, 2], [2], (0.2, 0.9)) is None
    assert "not among those at 0.2" in (subset_problem([1], [1, 3], (0.2, 0.9)) or "")


def test_a_rotated_box_at_the_edge_passes_while_its_centre_is_inside():
    """An object at the frame's edge, rotated: its corners lie outside, and clipping would change the box."""
    edge = rectangle("person", (-8, 5, 12, 15), rotation=90)  # centre (2, 10)
    check_contract(edge, (20, 20))
    with pytest.raises(ShapeError, match="outside the 20x20 frame"):
        check_contract(rectangle("person", (-30, 5, -10, 15), rotation=90), (20, 20))
