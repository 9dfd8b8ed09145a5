"""CVAT's requests per function kind, and checks of the answers against the contract.

Works on the wire: an `HttpAnswer` (status, headers, JSON bytes), whatever produced it (a deployed Nuclio
function, `serve`, or `wire.LocalFunction`). Used by `scripts/smoke_test.py` (`tools/smoke.py`), `validate`
and `soak`.

The JSON is turned back into the runtime's own result types (`Shape`, `InteractorMask`, `TrackedShape`) and
checked with the runtime's own rules (`core/rules.py`), plus the model contract (`rules.check_contract`: at
or above the threshold the request asked for, inside the frame). What only exists on the wire is checked
here: status, Content-Type, the dropped-shapes header, the JSON structure, the legacy interactor mask.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.config import FUNCTION_KINDS
from ..core.errors import ShapeError
from ..core.labels import Labels
from ..core.masks import BoxMask, check_box, decode_rle
from ..core.rules import (
    check_contract,
    check_interactor_mask,
    check_matches,
    check_shape,
    check_state,
    check_tracked_shape,
)
from ..core.runtime import DEFAULT_MAX_STATE_BYTES, DROPPED_HEADER
from ..core.shapes import TRACKER_SHAPE_TYPES, Attribute, InteractorMask, Shape, TrackedShape
from .http_answer import HttpAnswer


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
    answer: HttpAnswer,
    *,
    request: Mapping[str, Any],
    image_size: tuple[int, int],
    labels: Labels | None = None,
    supported_shape_types: Sequence[str] | None = None,
    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES,
    contract: bool = True,
) -> Verdict:
    """Check one HTTP answer of a function of `kind` to `request` against what CVAT accepts (and, with
    `contract`, against the model contract); `labels=None` when the spec is unknown."""
    verdict = Verdict()
    status, body = answer.status, answer.body
    if not verdict.expect(status == 200, "HTTP 200", f"HTTP {status}: {body[:500].decode('utf-8', 'replace')}"):
        return verdict
    content_type = answer.header("Content-Type")
    verdict.expect(
        content_type.split(";")[0].strip() == "application/json",
        "Content-Type application/json",
        f"Content-Type is {content_type!r}; answer with Response(body=json.dumps(...), "
        "content_type='application/json')",
    )
    dropped = answer.header(DROPPED_HEADER, "0")
    verdict.expect(
        dropped in ("", "0"),
        "no shapes dropped",
        f"{DROPPED_HEADER}: {dropped}: the function dropped shapes CVAT would reject (see the function's log)",
    )
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as e:
        verdict.problems.append(f"the body is not JSON ({str(e)[:200]}): {body[:200]!r}")
        return verdict
    verdict.checks.append("body is JSON")
    if kind == "detector":
        threshold = request.get("threshold") if contract else None
        _check_detector(verdict, payload, labels, image_size, threshold if _number(threshold) else None, contract)
    elif kind == "interactor":
        _check_interactor(verdict, payload, image_size)
    elif kind == "tracker":
        objects = len(request.get("shapes") or [])
        _check_tracker(verdict, payload, objects, supported_shape_types, max_state_bytes)
    elif kind == "reid":
        _check_reid(verdict, payload, len(request.get("boxes0") or []), len(request.get("boxes1") or []))
    else:
        verdict.problems.append(f"unknown function kind {kind!r}")
    return verdict


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(error: ShapeError) -> str:
    return f"(label {error.label!r}) {error.field}: {error.rule}"


# -- detector ------------------------------------------------------------------------------------------
def _check_detector(
    verdict: Verdict,
    payload: object,
    labels: Labels | None,
    size: tuple[int, int],
    threshold: float | None,
    contract: bool,
) -> None:
    if not verdict.expect(
        isinstance(payload, list), "a JSON list", f"a detector answers a JSON list, got {type(payload).__name__}"
    ):
        return
    assert isinstance(payload, list)
    before = len(verdict.problems)
    for index, item in enumerate(payload):
        problems = detector_item_problems(item, labels, size, threshold=threshold, contract=contract)
        verdict.problems += [f"item #{index} {p}" for p in problems]
    if len(verdict.problems) == before:
        verdict.checks.append(f"{len(payload)} item(s), each valid" + (" for the spec" if labels is not None else ""))


def detector_item_problems(
    item: object,
    labels: Labels | None,
    size: tuple[int, int],
    *,
    threshold: float | None = None,
    contract: bool = True,
) -> list[str]:
    """Why CVAT would drop or reject one detector result, or why it breaks the contract (empty when fine)."""
    try:
        shape = shape_from_json(item)
        check_shape(shape, labels, size)
        if contract:
            check_contract(shape, size, threshold)
    except ShapeError as e:
        return [_describe(e)]
    return []


def shape_from_json(item: object) -> Shape:
    """A detector result on the wire → the `Shape` the runtime checks; what cannot be one raises `ShapeError`.

    Values are kept as they came (a string coordinate stays a string), so the rules name them."""
    if not isinstance(item, Mapping):
        raise ShapeError("?", "item", f"must be an object, got {type(item).__name__}")
    label, shape_type = item.get("label"), item.get("type")
    if not isinstance(label, str) or not isinstance(shape_type, str):
        raise ShapeError(str(label)[:40], "label", "needs string 'label' and 'type' (CVAT fails the request)")
    if shape_type.lower() == "tag":  # the one value CVAT reads case-insensitively
        shape_type = "tag"
    points = item.get("points")
    if shape_type in ("tag", "skeleton") and points == []:
        points = None
    if points is not None and not isinstance(points, list):
        raise ShapeError(label, "points", f"must be a flat list of numbers, got {type(points).__name__}")
    rotation = item.get("rotation")
    if rotation is not None and not _number(rotation):
        raise ShapeError(label, "rotation", f"must be degrees in [0, 360], got {str(rotation)[:40]!r}")
    mask = item.get("mask")
    if mask is not None and not isinstance(mask, list):
        raise ShapeError(label, "mask", "must be the bitmap followed by [left, top, right, bottom]")
    elements = item.get("elements")
    if elements is not None and not isinstance(elements, list):
        raise ShapeError(label, "elements", "must be a list of points shapes")
    return Shape(
        label,
        shape_type,  # type: ignore[arg-type]  # checked by the rules
        tuple(points) if points is not None else None,
        _confidence(label, item.get("confidence")),
        _attributes(label, item.get("attributes")),
        rotation,
        item.get("group_id"),
        item.get("outside"),
        tuple(mask) if mask is not None else None,
        tuple(shape_from_json(e) for e in elements or ()),
    )


def _confidence(label: str, value: object) -> float | None:
    """CVAT ignores `confidence`; by convention it is a decimal string (numbers pass too)."""
    if value is None:
        return None
    problem = ShapeError(label, "confidence", f"must be a number in [0, 1] (or its string), got {str(value)[:40]!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise problem
    try:
        return float(value)
    except ValueError:
        raise problem from None


def _attributes(label: str, values: object) -> tuple[Attribute, ...]:
    if values is None:
        return ()
    if not isinstance(values, list):
        raise ShapeError(label, "attributes", "must be a list of {'name', 'value'}")
    out = []
    for value in values:
        if not isinstance(value, Mapping) or not isinstance(value.get("name"), str) or "value" not in value:
            raise ShapeError(label, "attributes", f"each attribute is {{'name', 'value'}}, got {str(value)[:60]}")
        out.append(Attribute(value["name"], value["value"]))
    return tuple(out)


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
        rows_ok = rows_ok and all(
            isinstance(r, list) and len(r) == width and all(type(v) is int and v in (0, 1) for v in r) for r in mask
        )
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
        try:
            check_interactor_mask(interactor_mask_from_json(shape, size), size)
        except ShapeError as e:
            verdict.problems.append(f"shapes[{index}] {e.field}: {e.rule}")
    if len(verdict.problems) == before:
        verdict.checks.append(f"{len(shapes)} mask(s) in CVAT RLE whose counts sum to the box area")


def interactor_mask_from_json(shape: object, size: tuple[int, int]) -> InteractorMask:
    """An interactor's answer shape → the `InteractorMask` the runtime checks; raises `ShapeError`."""
    name = "interactor"
    if not isinstance(shape, Mapping):
        raise ShapeError(name, "shape", f"must be an object, got {type(shape).__name__}")
    if shape.get("type", "mask") != "mask":
        raise ShapeError(name, "type", f"the UI ignores non-mask shapes (type {str(shape.get('type'))[:40]!r})")
    attributes = shape.get("attributes")
    if not isinstance(attributes, list):
        raise ShapeError(
            name, "attributes", "is missing; CVAT's UI calls attributes.find(...) on every shape: send [] at least"
        )
    confidence: float | None = None
    for attribute in attributes:
        if isinstance(attribute, Mapping) and attribute.get("spec_id") == 0:
            try:
                confidence = float(attribute.get("value"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ShapeError(name, "attributes", "the confidence (spec_id 0) must be a number string") from None
    return InteractorMask(rle_from_json(shape.get("points"), size), confidence)


def rle_from_json(points: object, size: tuple[int, int]) -> BoxMask:
    """CVAT RLE + box (interactor `points`) → `BoxMask`; the box must lie in the frame before anything is
    decoded (so a forged box cannot make the decoder allocate more than the frame)."""
    name = "interactor"
    if not isinstance(points, list) or len(points) < 5:
        raise ShapeError(name, "points", "must be CVAT RLE counts followed by [left, top, right, bottom]")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in points):
        raise ShapeError(name, "points", "RLE counts and the box must be integers")
    try:
        check_box(points[-4:], *size)
        return decode_rle(points)
    except ValueError as e:
        raise ShapeError(name, "points", str(e)) from None


def _check_tracker(
    verdict: Verdict, payload: object, objects: int, supported: Sequence[str] | None, max_state_bytes: int
) -> None:
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
        try:
            tracked = tracked_shape_from_json(shape)
            # without supported_shape_types (the legacy protocol) CVAT sends and expects rectangles
            allowed = supported or (TRACKER_SHAPE_TYPES if isinstance(shape, Mapping) else ("rectangle",))
            check_tracked_shape(tracked, allowed)
        except ShapeError as e:
            verdict.problems.append(f"shapes[{index}] {e.field}: {e.rule}")
    for index, state in enumerate(states):
        try:
            check_state(state, max_state_bytes)
        except ShapeError as e:
            verdict.problems.append(f"states[{index}]: {e.rule}")


def tracked_shape_from_json(shape: object) -> TrackedShape:
    """`[x1, y1, x2, y2]` (the legacy protocol) or `{type, points}` → `TrackedShape`; raises `ShapeError`."""
    if isinstance(shape, list):
        return TrackedShape("rectangle", tuple(shape))
    if isinstance(shape, Mapping) and isinstance(shape.get("type"), str) and isinstance(shape.get("points"), list):
        return TrackedShape(shape["type"], tuple(shape["points"]))
    raise ShapeError("tracker", "shapes", f"must be [x1, y1, x2, y2] or {{type, points}}, got {str(shape)[:60]}")


def _check_reid(verdict: Verdict, payload: object, count0: int, count1: int) -> None:
    if not verdict.expect(
        isinstance(payload, list),
        "a list of indexes",
        f"ReID answers a list of len(boxes0) = {count0} indexes, got {type(payload).__name__}",
    ):
        return
    assert isinstance(payload, list)
    _, errors = check_matches(payload, count0, count1)
    verdict.problems += [f"{e.field}: {e.rule}" for e in errors]
    if not errors:
        verdict.checks.append(f"{count0} index(es) in [-1, {count1}), each boxes1 index used once")
