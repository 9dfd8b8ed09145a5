"""The answer rules: every result checked against the label spec and what CVAT accepts, in one place.

CVAT gives a function no feedback: unknown labels and bad attribute values are dropped silently, wrong
point counts or NaN coordinates fail the whole request. Each rule here names the label, the field and the
rule, so a broken model output is caught in the tests instead of in a user's task.

The runtime applies `check_shapes`, `check_interactor_masks`, `check_tracked_shape`, `check_state` and
`check_matches` before it answers; the wire-level checks (`tools/answer_checks.py`: the smoke test,
`validate`, `soak`) turn a JSON answer back into the same types and apply the same functions.
`check_contract` holds what the contract suite (and so `validate`) expects of a model beyond what CVAT
accepts: results at or above the requested threshold, coordinates inside the frame.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

from .errors import ShapeError
from .labels import AttributeSpec, Labels, LabelSpec
from .masks import BoxMask, contour_polygon
from .shapes import SHAPE_TYPES, Attribute, InteractorMask, Shape, TrackedShape

_INTEGER = re.compile(r"-?[0-9]+")

POINT_COUNTS: dict[str, tuple[int, int, str]] = {
    # type: (minimum number of coordinates, multiple of, what it is)
    "rectangle": (4, 4, "exactly 4 coordinates [x1, y1, x2, y2]"),
    "ellipse": (4, 4, "exactly 4 coordinates"),
    "cuboid": (16, 16, "exactly 16 coordinates (8 points)"),
    "polygon": (6, 2, "an even number of at least 6 coordinates (3 points)"),
    "polyline": (4, 2, "an even number of at least 4 coordinates (2 points)"),
    "points": (2, 2, "an even number of at least 2 coordinates"),
}


def compatible(label_type: str, shape_type: str) -> bool:
    """Whether CVAT accepts a shape of `shape_type` for a spec label of `label_type`."""
    if label_type == shape_type:
        return True
    if label_type == "any":
        return shape_type != "skeleton"
    return {label_type, shape_type} == {"mask", "polygon"}


def check_shapes(
    shapes: Iterable[Shape], labels: Labels, image_size: tuple[int, int] | None = None
) -> tuple[list[Shape], list[ShapeError]]:
    """Split shapes into the valid ones and one error per invalid shape (its first broken rule)."""
    valid: list[Shape] = []
    errors: list[ShapeError] = []
    for index, shape in enumerate(shapes):
        try:
            check_shape(shape, labels, image_size)
        except ShapeError as e:
            errors.append(ShapeError(e.label, e.field, e.rule, index=index))
        else:
            valid.append(shape)
    return valid, errors


def check_shape(shape: Shape, labels: Labels | None, image_size: tuple[int, int] | None = None) -> None:
    """Raise `ShapeError` for the first rule `shape` breaks; `labels=None` (the spec is unknown) checks all
    but the label, its type and its attributes' declarations."""
    if not isinstance(shape, Shape):
        raise ShapeError(
            "?", "shape", f"must be a cvat_function Shape built with the builders, not {type(shape).__name__}"
        )
    label = labels.get(shape.label) if labels is not None else None
    if labels is not None and label is None:
        raise ShapeError(
            shape.label, "label", f"is not in the spec (declared: {', '.join(labels.names) or 'none'}); CVAT drops it"
        )
    _check_body(shape, label, image_size)


def _check_body(shape: Shape, label: LabelSpec | None, image_size: tuple[int, int] | None, parent: str = "") -> None:
    name = f"{parent}{shape.label}"
    if shape.type not in SHAPE_TYPES:
        raise ShapeError(name, "type", f"{shape.type!r} is not a CVAT shape type (one of {', '.join(SHAPE_TYPES)})")
    if label is not None and not compatible(label.type, shape.type):
        raise ShapeError(name, "type", f"a {shape.type} does not fit a label of type {label.type!r}")
    if shape.confidence is not None and not (_finite(shape.confidence) and 0.0 <= shape.confidence <= 1.0):
        raise ShapeError(name, "confidence", f"must be in [0, 1], got {shape.confidence!r}")
    if label is not None:
        _check_attributes(name, shape.attributes, label)
    if shape.group_id is not None and (
        isinstance(shape.group_id, bool) or not isinstance(shape.group_id, int) or shape.group_id < 0
    ):
        raise ShapeError(name, "group_id", f"must be a non-negative integer, got {shape.group_id!r}")
    if shape.outside is not None and not isinstance(shape.outside, bool):
        raise ShapeError(name, "outside", f"must be true or false, got {shape.outside!r}")
    if shape.elements and shape.type != "skeleton":
        raise ShapeError(name, "elements", f"only skeletons have elements, this is a {shape.type}")
    if shape.mask is not None and shape.type != "mask":
        raise ShapeError(name, "mask", f"only masks have a mask bitmap, this is a {shape.type}")
    if shape.rotation is not None:
        if shape.type not in ("rectangle", "ellipse"):
            raise ShapeError(name, "rotation", "only rectangles and ellipses can be rotated")
        if not (_finite(shape.rotation) and 0.0 <= shape.rotation <= 360.0):
            raise ShapeError(name, "rotation", f"must be degrees in [0, 360], got {shape.rotation!r}")
    if (shape.type == "tag" or shape.type == "skeleton") and (shape.points is not None or shape.mask is not None):
        raise ShapeError(name, "points", f"a {shape.type} has no points or mask; CVAT fails the request")
    if shape.type == "skeleton":
        _check_skeleton(shape, label, image_size)
    elif shape.type == "mask":
        _check_mask(name, shape, image_size)
        if shape.points is not None:  # the optional polygon for "convert masks to polygons"
            _check_points(name, "polygon", shape.points)
    elif shape.type != "tag":
        if shape.points is None:
            raise ShapeError(name, "points", f"a {shape.type} needs points")
        _check_points(name, shape.type, shape.points)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def points_problem(shape_type: str, points: Sequence[object]) -> str | None:
    """Why CVAT would reject these coordinates for a `shape_type` (a key of POINT_COUNTS), or None."""
    minimum, multiple, what = POINT_COUNTS[shape_type]
    count = len(points)
    exact = shape_type in ("rectangle", "ellipse", "cuboid")  # `points` takes any number of points
    if count < minimum or count % multiple or (exact and count != minimum):
        return f"a {shape_type} needs {what}, got {count}"
    for value in points:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"coordinates must be finite numbers, got {value!r}"
    xy = [float(v) for v in points if isinstance(v, (int, float))]
    if shape_type == "rectangle" and not (xy[0] < xy[2] and xy[1] < xy[3]):
        return f"a rectangle needs x1 < x2 and y1 < y2, got {xy}"
    if shape_type == "ellipse" and not (xy[2] > xy[0] and xy[3] < xy[1]):
        return f"an ellipse is [cx, cy, cx + rx, cy - ry] with rx, ry > 0, got {xy}"
    return None


def _check_points(name: str, shape_type: str, points: Sequence[float]) -> None:
    problem = points_problem(shape_type, points)
    if problem:
        raise ShapeError(name, "points", problem)


def _check_attributes(name: str, values: Sequence[Attribute], label: LabelSpec) -> None:
    seen: set[str] = set()
    for attr in values:
        declared = label.attribute(attr.name)
        if declared is None:
            names = ", ".join(a.name for a in label.attributes) or "none"
            raise ShapeError(name, f"attributes.{attr.name}", f"is not declared on the label (declared: {names})")
        if attr.name in seen:
            raise ShapeError(name, f"attributes.{attr.name}", "is given twice")
        seen.add(attr.name)
        problem = attribute_value_problem(declared, attr.value)
        if problem:
            raise ShapeError(name, f"attributes.{attr.name}", problem)


def attribute_value_problem(attribute: AttributeSpec, value: object) -> str | None:
    """Why CVAT would drop `value` for this attribute, or None if it is accepted."""
    if not isinstance(value, str):
        return f"values are strings, got {type(value).__name__}"
    if attribute.input_type == "checkbox":
        return None if value in ("true", "false") else f"a checkbox takes 'true' or 'false', got {value!r}"
    if attribute.input_type in ("select", "radio"):
        return None if value in attribute.values else f"must be one of {list(attribute.values)}, got {value!r}"
    if attribute.input_type == "number":
        low, high, step = (int(v) for v in attribute.values)
        # int() would also take " 3", "+3" and "3_0" (CVAT would not), and refuses more than 4300 digits
        if len(value) > 20 or not _INTEGER.fullmatch(value):
            return f"a number attribute takes an integer string such as '3', got {value[:40]!r}"
        number = int(value)
        if not low <= number <= high or (number - low) % step:
            return f"must be an integer in [{low}, {high}] on steps of {step}, got {value!r}"
    return None


def _check_skeleton(shape: Shape, label: LabelSpec | None, image_size: tuple[int, int] | None) -> None:
    if not shape.elements:
        raise ShapeError(shape.label, "elements", "a skeleton needs at least one element")
    seen: set[str] = set()
    for element in shape.elements:
        if not isinstance(element, Shape):
            raise ShapeError(shape.label, "elements", "each element is a keypoint(...) shape")
        sub = label.sublabel(element.label) if label is not None else None
        if label is not None and sub is None:
            declared = ", ".join(s.name for s in label.sublabels)
            raise ShapeError(
                shape.label, "elements", f"{element.label!r} is not a sublabel (declared: {declared}); CVAT drops it"
            )
        if element.label in seen:
            raise ShapeError(shape.label, "elements", f"sublabel {element.label!r} appears twice")
        seen.add(element.label)
        if element.type != "points" or element.points is None or len(element.points) != 2:
            raise ShapeError(shape.label, f"elements.{element.label}", "each element is one point: type points, [x, y]")
        _check_body(element, sub, image_size, parent=f"{shape.label}.")
    if all(e.outside is True for e in shape.elements):
        raise ShapeError(shape.label, "elements", "every element is outside; CVAT drops such a skeleton")


def _check_mask(name: str, shape: Shape, image_size: tuple[int, int] | None) -> None:
    mask = shape.mask
    if isinstance(mask, BoxMask):
        box = list(mask.box)
        values = mask.bitmap
    else:
        if mask is None or len(mask) < 5:
            raise ShapeError(name, "mask", "a mask needs its bitmap followed by [left, top, right, bottom]")
        box = list(mask[-4:])
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in box):
            raise ShapeError(name, "mask", f"box [left, top, right, bottom] must be integers, got {box}")
        try:
            values = np.asarray(mask[:-4])
        except (ValueError, TypeError):
            values = np.asarray([], dtype=object)
        if values.dtype.kind not in "biu" or values.ndim != 1:
            raise ShapeError(name, "mask", f"bitmap values must be integers (0 and 1), got {values.dtype} values")
    left, top, right, bottom = box
    if not (0 <= left <= right and 0 <= top <= bottom):
        raise ShapeError(name, "mask", f"box [left, top, right, bottom] is not ordered: {box}")
    if image_size is not None and (right >= image_size[0] or bottom >= image_size[1]):
        raise ShapeError(name, "mask", f"box {box} leaves the {image_size[0]}x{image_size[1]} image (it is inclusive)")
    area = (right - left + 1) * (bottom - top + 1)
    if values.size != area:
        raise ShapeError(name, "mask", f"bitmap has {values.size} values, the inclusive box holds {area}")
    if values.dtype != np.bool_:
        foreground = np.unique(values[values != 0])
        if foreground.size > 1:
            raise ShapeError(name, "mask", f"bitmap mixes foreground values {foreground[:5].tolist()}; use 0 and 1")
        if foreground.size and foreground[0] < 0:
            raise ShapeError(name, "mask", f"bitmap values must be 0 or 1, got {int(foreground[0])}")
    if not values.any():
        raise ShapeError(name, "mask", "has no foreground pixel; CVAT stores an empty mask")


def check_interactor_masks(
    results: Iterable[InteractorMask], image_size: tuple[int, int]
) -> tuple[list[InteractorMask], list[ShapeError]]:
    """Split interactor results into the ones the CVAT UI shows and one error per other."""
    valid: list[InteractorMask] = []
    errors: list[ShapeError] = []
    for index, result in enumerate(results):
        try:
            check_interactor_mask(result, image_size)
        except ShapeError as e:
            errors.append(ShapeError(e.label, e.field, e.rule, index=index))
        else:
            valid.append(result)
    return valid, errors


def check_interactor_mask(result: InteractorMask, image_size: tuple[int, int]) -> None:
    """Raise `ShapeError` when the UI would ignore or misplace this interactor mask."""
    name = "interactor"
    if not isinstance(result, InteractorMask):
        raise ShapeError(
            name, "shape", f"must be an InteractorMask built with interactor_mask(...), not {type(result).__name__}"
        )
    if result.confidence is not None and not (_finite(result.confidence) and 0.0 <= result.confidence <= 1.0):
        raise ShapeError(name, "confidence", f"must be in [0, 1], got {result.confidence!r}")
    _, _, right, bottom = result.mask.box
    if right >= image_size[0] or bottom >= image_size[1]:
        raise ShapeError(
            name, "points", f"box {list(result.mask.box)} leaves the {image_size[0]}x{image_size[1]} image"
        )
    if contour_polygon(result.mask) is None:
        raise ShapeError(name, "points", "the mask's contour has fewer than 3 points; the CVAT UI ignores it")


def check_tracked_shape(shape: object, supported: Sequence[str], name: str = "tracker") -> None:
    """Raise `ShapeError` when CVAT would reject a tracker's shape (type not declared, bad points)."""
    if not isinstance(shape, TrackedShape):
        raise ShapeError(
            name, "shape", f"must be a TrackedShape built with tracked_shape(...), not {type(shape).__name__}"
        )
    if shape.type not in supported:
        raise ShapeError(name, "type", f"{shape.type!r} is not among supported_shape_types {list(supported)}")
    if shape.type not in POINT_COUNTS:
        raise ShapeError(name, "type", f"{shape.type!r} cannot be tracked")
    _check_points(name, shape.type, shape.points)


def check_state(state: object, max_bytes: int, name: str = "tracker") -> int:
    """The size of a tracker state as CVAT signs it (`json.dumps(state, separators=(",", ":"))`); raises
    `ShapeError` if it is not plain JSON, holds NaN, or is larger than `max_bytes`."""
    try:
        text = json.dumps(state, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ShapeError(name, "states", f"must be plain JSON (dict, list, str, int, float, bool, None): {e}") from e
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise ShapeError(
            name, "states", f"is {size} bytes as JSON, more than {max_bytes}; it rides on every request, keep it small"
        )
    return size


def check_matches(matches: Sequence[object], count0: int, count1: int) -> tuple[list[int], list[ShapeError]]:
    """A ReID answer: one index into `boxes1` (or -1) per box of `boxes0`, each index used at most once.

    Returns the answer with every invalid entry replaced by -1 (and the list cut or padded to `count0`), and
    one error per broken rule.
    """
    errors: list[ShapeError] = []
    if len(matches) != count0:
        errors.append(
            ShapeError(
                "reid", "matches", f"needs one entry per box of boxes0 (len(boxes0) = {count0}), got {len(matches)}"
            )
        )
    cleaned: list[int] = []
    used: dict[int, int] = {}
    for i, match in enumerate(list(matches)[:count0]):
        field = f"matches[{i}]"
        if isinstance(match, (bool, np.bool_)) or not isinstance(match, (int, np.integer)):
            errors.append(ShapeError("reid", field, f"must be an integer index or -1, got {match!r}", index=i))
            cleaned.append(-1)
            continue
        value = int(match)
        if not -1 <= value < count1:
            rule = f"must be -1 or an index into boxes1, in [0, {count1}), got {value}"
            errors.append(ShapeError("reid", field, rule, index=i))
            value = -1
        elif value >= 0 and value in used:
            rule = f"boxes1[{value}] is already matched to boxes0[{used[value]}] (duplicate matches); use each once"
            errors.append(ShapeError("reid", field, rule, index=i))
            value = -1
        if value >= 0:
            used[value] = i
        cleaned.append(value)
    cleaned.extend([-1] * (count0 - len(cleaned)))
    return cleaned, errors


# --- The contract: what the contract suite and `validate` expect of a model beyond what CVAT accepts ---------

FRAME_TOLERANCE = 1.0
"""Pixels a coordinate may lie outside the frame (a box edge on the last pixel ends at width or width + 1)."""


def check_contract(shape: Shape, image_size: tuple[int, int], threshold: float | None = None) -> None:
    """Raise `ShapeError` when a (CVAT-valid) result breaks the model contract: a confidence below the
    `threshold` the request asked for, or a coordinate more than `FRAME_TOLERANCE` pixels outside the frame.
    A rotated rectangle or ellipse cannot be clipped without changing it (an object at the edge has corners
    outside): its centre must be inside."""
    width, height = image_size
    if threshold is not None and shape.confidence is not None and shape.confidence < threshold:
        raise ShapeError(
            shape.label, "confidence", f"{shape.confidence:g} is below the requested threshold {threshold:g}"
        )
    for part in (shape, *shape.elements):
        xy = part.points or ()
        xs, ys = xy[0::2], xy[1::2]
        if part is shape and shape.rotation and len(xy) == 4 and shape.type in ("rectangle", "ellipse"):
            centre = (xy[0], xy[1]) if shape.type == "ellipse" else ((xy[0] + xy[2]) / 2, (xy[1] + xy[3]) / 2)
            xs, ys = (centre[0],), (centre[1],)
        elif shape.type == "ellipse":  # [cx, cy, cx + rx, cy - ry]: the far ends are cx ± rx, cy ± ry
            xs = (*xs, 2 * xy[0] - xy[2])
            ys = (*ys, 2 * xy[1] - xy[3])
        low, high_x, high_y = -FRAME_TOLERANCE, width + FRAME_TOLERANCE, height + FRAME_TOLERANCE
        outside = [v for v in xs if not low <= v <= high_x] + [v for v in ys if not low <= v <= high_y]
        if outside:
            raise ShapeError(
                f"{shape.label}.{part.label}" if part is not shape else shape.label,
                "points",
                f"{outside[0]:g} lies outside the {width}x{height} frame (0..{width} x 0..{height}); clip the result",
            )


def contract_errors(
    shapes: Iterable[Shape], image_size: tuple[int, int], threshold: float | None = None
) -> list[ShapeError]:
    """One error per result that breaks `check_contract`."""
    errors: list[ShapeError] = []
    for index, shape in enumerate(shapes):
        try:
            check_contract(shape, image_size, threshold)
        except ShapeError as e:
            errors.append(ShapeError(e.label, e.field, e.rule, index=index))
    return errors


def subset_problem(low: Sequence[object], high: Sequence[object], thresholds: tuple[float, float]) -> str | None:
    """Raising the threshold may only remove results: every result at `thresholds[1]` (`high`) must be one of
    those at `thresholds[0]` (`low`)."""
    new = [item for item in high if item not in low]
    if not new:
        return None
    return (
        f"{len(new)} result(s) at threshold {thresholds[1]:g} are not among those at {thresholds[0]:g}; raising the "
        "threshold must only remove results"
    )
