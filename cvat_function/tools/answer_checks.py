"""CVAT's requests per function kind, and checks of the answers against the contract.

Works on the wire: a status, headers and JSON bytes, whatever produced them (a deployed Nuclio function,
`serve`, or `wire.LocalFunction`). Used by `scripts/smoke_test.py`, `validate` and `soak`.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.config import FUNCTION_KINDS
from ..core.labels import Labels, LabelSpec
from ..core.rules import POINT_COUNTS, attribute_value_problem, compatible, points_problem
from ..core.runtime import DROPPED_HEADER
from ..core.shapes import SHAPE_TYPES


@dataclass
class Verdict:
    """What was checked and what is wrong (empty `problems` = the answer is valid)."""

    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def expect(self, condition: bool, check: str, problem: str) -> bool:
        if condition:
            self.checks.append(check)
        else:
            self.problems.append(problem)
        return condition


def synthetic_request(kind: str, image: bytes, size: tuple[int, int], threshold: float | None = None) -> dict[str, Any]:
    """The request CVAT sends a function of `kind` for a frame of `size` (width, height)."""
    if kind not in FUNCTION_KINDS:
        raise ValueError(f"unknown function kind {kind!r}; use one of {', '.join(FUNCTION_KINDS)}")
    width, height = size
    encoded = base64.b64encode(image).decode("ascii")
    box = [round(width * 0.25, 1), round(height * 0.25, 1), round(width * 0.75, 1), round(height * 0.75, 1)]
    body: dict[str, Any]
    if kind == "detector":
        body = {"image": encoded}
    elif kind == "interactor":
        body = {
            "image": encoded,
            "pos_points": [[round(width / 2, 1), round(height / 2, 1)]],
            "neg_points": [],
            "obj_bbox": [box[:2], box[2:]],
        }
    elif kind == "tracker":
        body = {"image": encoded, "shapes": [box], "states": []}
    else:
        second = [box[0] + 4, box[1] + 4, box[2] - 4, box[3] - 4]
        shapes0 = [_cvat_shape(7, 3, box), _cvat_shape(8, 3, second)]
        shapes1 = [_cvat_shape(9, 4, second), _cvat_shape(10, 4, box)]
        body = {"image0": encoded, "image1": encoded, "max_distance": 50, "boxes0": shapes0, "boxes1": shapes1}
        body["threshold"] = 0.5
    if threshold and kind != "reid":  # CVAT sends a threshold only when it is truthy
        body["threshold"] = threshold
    return body


def _cvat_shape(shape_id: int, frame: int, box: list[float]) -> dict[str, Any]:
    return {"id": shape_id, "type": "rectangle", "frame": frame, "label_id": 5, "points": box, "attributes": []}


def check_answer(
    kind: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    request: Mapping[str, Any],
    image_size: tuple[int, int],
    labels: Labels | None = None,
) -> Verdict:
    """Check one HTTP answer of a function of `kind` to `request` against what CVAT accepts."""
    verdict = Verdict()
    lowered = {k.lower(): v for k, v in headers.items()}
    if not verdict.expect(status == 200, "HTTP 200", f"HTTP {status}: {body[:500].decode('utf-8', 'replace')}"):
        return verdict
    content_type = lowered.get("content-type", "")
    verdict.expect(
        content_type.split(";")[0].strip() == "application/json",
        "Content-Type application/json",
        f"Content-Type is {content_type!r}; answer with Response(body=json.dumps(...), "
        "content_type='application/json')",
    )
    dropped = lowered.get(DROPPED_HEADER.lower(), "0")
    verdict.expect(
        dropped in ("", "0"),
        "no shapes dropped",
        f"{DROPPED_HEADER}: {dropped}: the function dropped shapes CVAT would reject (see the function's log)",
    )
    try:
        payload = json.loads(body)
    except ValueError as e:
        verdict.problems.append(f"the body is not JSON ({e}): {body[:200]!r}")
        return verdict
    verdict.checks.append("body is JSON")
    if kind == "detector":
        _check_detector(verdict, payload, labels, image_size)
    elif kind == "interactor":
        _check_interactor(verdict, payload, image_size)
    elif kind == "tracker":
        _check_tracker(verdict, payload, len(request.get("shapes") or []))
    elif kind == "reid":
        _check_reid(verdict, payload, len(request.get("boxes0") or []), len(request.get("boxes1") or []))
    else:
        verdict.problems.append(f"unknown function kind {kind!r}")
    return verdict


# -- detector ------------------------------------------------------------------------------------------
def _check_detector(verdict: Verdict, payload: object, labels: Labels | None, size: tuple[int, int]) -> None:
    if not verdict.expect(
        isinstance(payload, list), "a JSON list", f"a detector answers a JSON list, got {type(payload).__name__}"
    ):
        return
    assert isinstance(payload, list)
    before = len(verdict.problems)
    for index, item in enumerate(payload):
        verdict.problems += [f"item #{index}: {p}" for p in detector_item_problems(item, labels, size)]
    if len(verdict.problems) == before:
        verdict.checks.append(f"{len(payload)} item(s), each valid" + (" for the spec" if labels is not None else ""))


def detector_item_problems(item: object, labels: Labels | None, size: tuple[int, int]) -> list[str]:
    """Why CVAT would drop or reject one detector result (empty when it is fine)."""
    if not isinstance(item, Mapping):
        return [f"must be an object, got {type(item).__name__}"]
    label, shape_type = item.get("label"), item.get("type")
    if not isinstance(label, str) or not isinstance(shape_type, str):
        return ["needs string 'label' and 'type' (CVAT fails the request)"]
    if shape_type.lower() == "tag":
        shape_type = "tag"
    name = f"label {label!r}"
    if shape_type not in SHAPE_TYPES:
        return [f"{name}: type {shape_type!r} is not one of {', '.join(SHAPE_TYPES)} (lowercase)"]
    spec: LabelSpec | None = None
    if labels is not None:
        spec = labels.get(label)
        if spec is None:
            return [f"{name} is not in function.yaml's spec ({', '.join(labels.names)}); CVAT drops it"]
        if not compatible(spec.type, shape_type):
            return [f"{name}: a {shape_type} does not fit a spec label of type {spec.type!r}"]
    problems = _attribute_problems(name, item.get("attributes"), spec)
    rotation = item.get("rotation")
    if rotation is not None and not (_finite(rotation) and 0 <= rotation <= 360):
        problems.append(f"{name}: rotation must be degrees in [0, 360], got {rotation!r}")
    if shape_type == "skeleton":
        problems += _skeleton_problems(name, item, spec)
    elif item.get("elements"):
        problems.append(f"{name}: only skeletons have 'elements'")
    if shape_type == "mask":
        problems += mask_problems(name, item.get("mask"), size)
        if item.get("points") is not None:
            problems += _points_problems(name, "polygon", item["points"])
    elif shape_type in POINT_COUNTS:
        problems += _points_problems(name, shape_type, item.get("points"))
    elif shape_type in ("tag", "skeleton") and item.get("points"):
        problems.append(f"{name}: a {shape_type} has no points")
    return problems


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _points_problems(name: str, shape_type: str, points: object) -> list[str]:
    if not isinstance(points, list):
        return [f"{name}: a {shape_type} needs 'points', a flat list of numbers"]
    problem = points_problem(shape_type, points)  # the same rule the framework applies before answering
    return [f"{name}: {problem}"] if problem else []


def _attribute_problems(name: str, attributes: object, spec: LabelSpec | None) -> list[str]:
    if attributes is None:
        return []
    if not isinstance(attributes, list):
        return [f"{name}: 'attributes' must be a list"]
    problems = []
    for attr in attributes:
        if not isinstance(attr, Mapping) or "name" not in attr or "value" not in attr:
            problems.append(f"{name}: each attribute is {{'name', 'value'}}, got {attr!r}")
            continue
        if spec is None:
            continue
        declared = spec.attribute(str(attr["name"]))
        if declared is None:
            problems.append(f"{name}: attribute {attr['name']!r} is not declared on the label; CVAT drops it")
            continue
        problem = attribute_value_problem(declared, attr["value"])
        if problem:
            problems.append(f"{name}: attribute {attr['name']!r} {problem}")
    return problems


def _skeleton_problems(name: str, item: Mapping[str, Any], spec: LabelSpec | None) -> list[str]:
    elements = item.get("elements")
    if not isinstance(elements, list) or not elements:
        return [f"{name}: a skeleton needs 'elements'"]
    problems = []
    for element in elements:
        if not isinstance(element, Mapping):
            problems.append(f"{name}: each element is an object")
            continue
        sub = element.get("label")
        if spec is not None and spec.sublabel(str(sub)) is None:
            problems.append(f"{name}: element {sub!r} is not a sublabel; CVAT drops it")
        if element.get("type") != "points":
            problems.append(f"{name}: element {sub!r} must be of type 'points'")
        problems += _points_problems(f"{name}.{sub}", "points", element.get("points"))
        if isinstance(element.get("points"), list) and len(element["points"]) != 2:
            problems.append(f"{name}: element {sub!r} is one point [x, y]")
    if all(isinstance(e, Mapping) and e.get("outside") for e in elements):
        problems.append(f"{name}: every element is outside; CVAT drops the skeleton")
    return problems


def _box_problems(name: str, box: Sequence[object], size: tuple[int, int]) -> tuple[list[str], int]:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in box):
        return [f"{name}: the box [left, top, right, bottom] must be integers, got {list(box)}"], 0
    left, top, right, bottom = (int(v) for v in box)  # type: ignore[call-overload]
    if not (0 <= left <= right < size[0] and 0 <= top <= bottom < size[1]):
        return [f"{name}: box {list(box)} is not inside the {size[0]}x{size[1]} image (inclusive, ordered)"], 0
    return [], (right - left + 1) * (bottom - top + 1)


def mask_problems(name: str, mask: object, size: tuple[int, int]) -> list[str]:
    """A detector `mask`: one value per box pixel, then the inclusive box (§4.5)."""
    if not isinstance(mask, list) or len(mask) < 5:
        return [f"{name}: 'mask' must be the bitmap followed by [left, top, right, bottom]"]
    problems, area = _box_problems(name, mask[-4:], size)
    if problems:
        return problems
    if len(mask) - 4 != area:
        return [f"{name}: mask bitmap has {len(mask) - 4} values, the inclusive box holds {area}"]
    values = {v for v in mask[:-4] if v}
    if len(values) > 1 or not all(isinstance(v, int) for v in values):
        return [f"{name}: the bitmap must hold 0 and one foreground value (1), got {sorted(map(str, values))[:4]}"]
    return []


def rle_problems(name: str, points: object, size: tuple[int, int]) -> list[str]:
    """CVAT RLE + box (interactor `points`): counts start with background and sum to W·H (§4.5)."""
    if not isinstance(points, list) or len(points) < 5:
        return [f"{name}: 'points' must be CVAT RLE counts followed by [left, top, right, bottom]"]
    problems, area = _box_problems(name, points[-4:], size)
    if problems:
        return problems
    counts = points[:-4]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        return [f"{name}: RLE counts must be non-negative integers"]
    if any(c == 0 for c in counts[1:]):
        return [f"{name}: only the first RLE count (background) may be 0"]
    if sum(counts) != area:
        return [f"{name}: RLE counts sum to {sum(counts)}, the inclusive box holds {area} pixels"]
    return []


# -- interactor, tracker, reid -----------------------------------------------------------------------------
def _check_interactor(verdict: Verdict, payload: object, size: tuple[int, int]) -> None:
    if not verdict.expect(
        isinstance(payload, Mapping) and ("shapes" in payload or "mask" in payload),
        "an object with 'shapes' (or legacy 'mask')",
        "an interactor answers {'shapes': [...]} (CVAT ≥ 2.60) or {'mask': [[...]]}; the UI fails otherwise",
    ):
        return
    assert isinstance(payload, Mapping)
    if "shapes" in payload and "mask" in payload:
        verdict.problems.append("both 'shapes' and 'mask': current UIs take the legacy branch; send one format")
        return
    if "mask" in payload:
        mask = payload["mask"]
        width, height = size
        rows_ok = isinstance(mask, list) and len(mask) == height
        rows_ok = rows_ok and all(isinstance(r, list) and len(r) == width and set(r) <= {0, 1} for r in mask)
        verdict.expect(
            rows_ok, f"legacy mask {height}x{width} of 0/1", f"legacy 'mask' must be {height} rows of {width} 0/1"
        )
        return
    shapes = payload["shapes"]
    if not verdict.expect(
        isinstance(shapes, list) and len(shapes) > 0, "non-empty 'shapes'", "'shapes' must be a non-empty list"
    ):
        return
    before = len(verdict.problems)
    for index, shape in enumerate(shapes):
        name = f"shapes[{index}]"
        if not isinstance(shape, Mapping):
            verdict.problems.append(f"{name} must be an object")
            continue
        if shape.get("type", "mask") != "mask":
            verdict.problems.append(f"{name}: the UI ignores non-mask shapes (type {shape.get('type')!r})")
        verdict.problems += rle_problems(name, shape.get("points"), size)
    if len(verdict.problems) == before:
        verdict.checks.append(f"{len(shapes)} mask(s) in CVAT RLE whose counts sum to the box area")


def _check_tracker(verdict: Verdict, payload: object, objects: int) -> None:
    if not verdict.expect(
        isinstance(payload, Mapping)
        and isinstance(payload.get("shapes"), list)
        and isinstance(payload.get("states"), list),
        "an object with 'shapes' and 'states' lists",
        "a tracker answers {'shapes': [...], 'states': [...]}; CVAT fails without 'states'",
    ):
        return
    assert isinstance(payload, Mapping)
    shapes, states = payload["shapes"], payload["states"]
    verdict.expect(
        len(shapes) == objects and len(states) == objects,
        f"{objects} shape(s) and state(s), one per object",
        f"got {len(shapes)} shapes and {len(states)} states for {objects} object(s); one each, in order",
    )
    for index, shape in enumerate(shapes):
        points = shape.get("points") if isinstance(shape, Mapping) else shape
        if not (isinstance(points, list) and len(points) >= 2 and not len(points) % 2 and all(map(_finite, points))):
            verdict.problems.append(f"shapes[{index}] must be [x1, y1, x2, y2] or {{type, points}}, got {shape!r}")


def _check_reid(verdict: Verdict, payload: object, count0: int, count1: int) -> None:
    if not verdict.expect(
        isinstance(payload, list) and len(payload) == count0,
        f"a list of {count0} index(es)",
        f"ReID answers a list of len(boxes0) = {count0} indexes, got {payload!r}",
    ):
        return
    assert isinstance(payload, list)
    ints = all(isinstance(v, int) and not isinstance(v, bool) and -1 <= v < count1 for v in payload)
    if verdict.expect(ints, f"indexes in [-1, {count1})", f"each index must be -1 or in [0, {count1}), got {payload}"):
        matched = [v for v in payload if v != -1]
        verdict.expect(
            len(matched) == len(set(matched)), "each boxes1 index used once", f"duplicate matches in {payload}"
        )
