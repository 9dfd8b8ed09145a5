"""Check every shape against the label spec before it leaves (CONTRACT.md §4.1, §5).

CVAT gives a function no feedback: unknown labels and bad attribute values are dropped silently, wrong
point counts or NaN coordinates fail the whole request. Each rule here names the label, the field and the
rule, so a broken model output is caught in the tests instead of in a user's task.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from .errors import ShapeError
from .shapes import SHAPE_TYPES, Attribute, Shape
from .spec import AttributeSpec, Labels, LabelSpec

_POINT_COUNTS: dict[str, tuple[int, int, str]] = {
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


def check_shape(shape: Shape, labels: Labels, image_size: tuple[int, int] | None = None) -> None:
    """Raise `ShapeError` for the first rule `shape` breaks."""
    if not isinstance(shape, Shape):
        raise ShapeError(
            "?", "shape", f"must be a cvat_function Shape built with the builders, not {type(shape).__name__}"
        )
    label = labels.get(shape.label)
    if label is None:
        raise ShapeError(
            shape.label, "label", f"is not in the spec (declared: {', '.join(labels.names) or 'none'}); CVAT drops it"
        )
    _check_body(shape, label, image_size)


def _check_body(shape: Shape, label: LabelSpec, image_size: tuple[int, int] | None, parent: str = "") -> None:
    name = f"{parent}{shape.label}"
    if shape.type not in SHAPE_TYPES:
        raise ShapeError(name, "type", f"{shape.type!r} is not a CVAT shape type")
    if not compatible(label.type, shape.type):
        raise ShapeError(name, "type", f"a {shape.type} does not fit a label of type {label.type!r}")
    if shape.confidence is not None and not (math.isfinite(shape.confidence) and 0.0 <= shape.confidence <= 1.0):
        raise ShapeError(name, "confidence", f"must be in [0, 1], got {shape.confidence!r}")
    _check_attributes(name, shape.attributes, label)
    if shape.rotation is not None:
        if shape.type not in ("rectangle", "ellipse"):
            raise ShapeError(name, "rotation", "only rectangles and ellipses can be rotated")
        if not (math.isfinite(shape.rotation) and 0.0 <= shape.rotation <= 360.0):
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
        if shape.elements:
            raise ShapeError(name, "elements", f"only skeletons have elements, this is a {shape.type}")
        if shape.points is None:
            raise ShapeError(name, "points", f"a {shape.type} needs points")
        _check_points(name, shape.type, shape.points)


def _check_points(name: str, shape_type: str, points: Sequence[float]) -> None:
    minimum, multiple, what = _POINT_COUNTS[shape_type]
    count = len(points)
    if count < minimum or count % multiple or (multiple == minimum and count != minimum):
        raise ShapeError(name, "points", f"a {shape_type} needs {what}, got {count}")
    for value in points:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ShapeError(name, "points", f"coordinates must be finite numbers, got {value!r}")
    if shape_type == "rectangle" and not (points[0] < points[2] and points[1] < points[3]):
        raise ShapeError(name, "points", f"a rectangle needs x1 < x2 and y1 < y2, got {list(points)}")


def _check_attributes(name: str, values: Sequence[Attribute], label: LabelSpec) -> None:
    seen: set[str] = set()
    for attr in values:
        spec = label.attribute(attr.name)
        if spec is None:
            declared = ", ".join(a.name for a in label.attributes) or "none"
            raise ShapeError(name, f"attributes.{attr.name}", f"is not declared on the label (declared: {declared})")
        if attr.name in seen:
            raise ShapeError(name, f"attributes.{attr.name}", "is given twice")
        seen.add(attr.name)
        problem = attribute_value_problem(spec, attr.value)
        if problem:
            raise ShapeError(name, f"attributes.{attr.name}", problem)


def attribute_value_problem(spec: AttributeSpec, value: object) -> str | None:
    """Why CVAT would drop `value` for this attribute, or None if it is accepted."""
    if not isinstance(value, str):
        return f"values are strings, got {type(value).__name__}"
    if spec.input_type == "checkbox":
        return None if value in ("true", "false") else f"a checkbox takes 'true' or 'false', got {value!r}"
    if spec.input_type in ("select", "radio"):
        return None if value in spec.values else f"must be one of {list(spec.values)}, got {value!r}"
    if spec.input_type == "number":
        low, high, step = (int(v) for v in spec.values)
        try:
            number = int(value)
        except ValueError:
            return f"a number attribute takes an integer string, got {value!r}"
        if not low <= number <= high or (number - low) % step:
            return f"must be an integer in [{low}, {high}] on steps of {step}, got {value!r}"
    return None


def _check_skeleton(shape: Shape, label: LabelSpec, image_size: tuple[int, int] | None) -> None:
    if not shape.elements:
        raise ShapeError(shape.label, "elements", "a skeleton needs at least one element")
    seen: set[str] = set()
    for element in shape.elements:
        sub = label.sublabel(element.label)
        if sub is None:
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
    if all(e.outside for e in shape.elements):
        raise ShapeError(shape.label, "elements", "every element is outside; CVAT drops such a skeleton")


def _check_mask(name: str, shape: Shape, image_size: tuple[int, int] | None) -> None:
    mask = shape.mask
    if mask is None or len(mask) < 5:
        raise ShapeError(name, "mask", "a mask needs its bitmap followed by [left, top, right, bottom]")
    left, top, right, bottom = mask[-4:]
    if not (0 <= left <= right and 0 <= top <= bottom):
        raise ShapeError(name, "mask", f"box [left, top, right, bottom] is not ordered: {list(mask[-4:])}")
    if image_size is not None and (right >= image_size[0] or bottom >= image_size[1]):
        raise ShapeError(name, "mask", f"box {list(mask[-4:])} leaves the {image_size[0]}x{image_size[1]} image")
    area = (right - left + 1) * (bottom - top + 1)
    if len(mask) - 4 != area:
        raise ShapeError(name, "mask", f"bitmap has {len(mask) - 4} values, the inclusive box holds {area}")
    foreground = {v for v in mask[:-4] if v}
    if len(foreground) > 1:
        raise ShapeError(name, "mask", f"bitmap mixes foreground values {sorted(foreground)[:5]}; use 0 and 1")
