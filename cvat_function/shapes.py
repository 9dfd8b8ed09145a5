"""The results a function returns, as types, and builders that cannot produce malformed CVAT JSON.

Models build shapes with the functions here (`rectangle(...)`, `polygon(...)`, `tag(...)` …); the runtime
validates them against the label spec (`validate.py`) and serializes them with `Shape.to_cvat()`. Labels are
always the spec's label **names** (CVAT matches them to task labels by exact name).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ShapeType = Literal["rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag"]
SHAPE_TYPES: tuple[str, ...] = (
    "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag",
)  # fmt: skip

AttributeValue = str | int | float | bool
PointsLike = Sequence[float] | Sequence[Sequence[float]] | np.ndarray


@dataclass(frozen=True, slots=True)
class Attribute:
    """An attribute value on a shape; CVAT wants strings (`"true"`/`"false"` for checkboxes)."""

    name: str
    value: str

    def to_cvat(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value}


@dataclass(frozen=True, slots=True)
class Shape:
    """One detector result. Prefer the builders below to constructing this directly."""

    label: str
    type: ShapeType
    points: tuple[float, ...] | None = None
    confidence: float | None = None
    attributes: tuple[Attribute, ...] = ()
    rotation: float | None = None
    group_id: int | None = None
    outside: bool | None = None
    mask: tuple[int, ...] | None = None
    elements: tuple[Shape, ...] = ()

    def to_cvat(self) -> dict[str, Any]:
        """The JSON object CVAT expects for this shape (CONTRACT.md §4.1)."""
        out: dict[str, Any] = {"label": self.label, "type": self.type}
        if self.points is not None:
            out["points"] = list(self.points)
        if self.mask is not None:
            out["mask"] = list(self.mask)
        if self.confidence is not None:
            out["confidence"] = format_confidence(self.confidence)
        if self.attributes:
            out["attributes"] = [a.to_cvat() for a in self.attributes]
        if self.rotation is not None:
            out["rotation"] = self.rotation
        if self.group_id is not None:
            out["group_id"] = self.group_id
        if self.outside is not None:
            out["outside"] = self.outside
        if self.type == "skeleton":
            out["elements"] = [e.to_cvat() for e in self.elements]
        return out


def format_confidence(value: float) -> str:
    """CVAT ignores `confidence`; by convention it is sent as a short decimal string (`"0.8731"`)."""
    return f"{float(value):.4f}".rstrip("0").rstrip(".") if value else "0"


def attribute_values(values: Mapping[str, AttributeValue] | None) -> tuple[Attribute, ...]:
    """`{"age": 34, "occluded": False}` → CVAT attribute values (`"34"`, `"false"`)."""
    if not values:
        return ()
    return tuple(Attribute(str(name), _attribute_string(value)) for name, value in values.items())


def _attribute_string(value: AttributeValue) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def flat_points(points: PointsLike) -> tuple[float, ...]:
    """`[[x, y], …]`, `[x0, y0, x1, y1, …]` or an (N, 2) array → a flat tuple of Python floats."""
    array = np.asarray(points, dtype=np.float64).reshape(-1)
    return tuple(array.tolist())


def _confidence(value: float | None) -> float | None:
    return None if value is None else float(value)


def rectangle(
    label: str,
    box: Sequence[float] | np.ndarray,
    *,
    confidence: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    rotation: float | None = None,
    group_id: int | None = None,
) -> Shape:
    """An axis-aligned box `(x1, y1, x2, y2)` in pixels; `rotation` in degrees turns it about its centre."""
    return Shape(
        label,
        "rectangle",
        flat_points(box),
        _confidence(confidence),
        attribute_values(attributes),
        None if rotation is None else float(rotation),
        group_id,
    )


def xywh(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    """OpenCV's `(x, y, width, height)` → CVAT's `(x1, y1, x2, y2)`."""
    return (float(x), float(y), float(x) + float(w), float(y) + float(h))


def _poly(
    kind: ShapeType,
    label: str,
    points: PointsLike,
    confidence: float | None,
    attrs: Mapping[str, AttributeValue] | None,
    group_id: int | None,
) -> Shape:
    return Shape(label, kind, flat_points(points), _confidence(confidence), attribute_values(attrs), group_id=group_id)


def polygon(
    label: str,
    points: PointsLike,
    *,
    confidence: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    group_id: int | None = None,
) -> Shape:
    """A closed polygon of at least 3 vertices, `[[x, y], …]` or flat."""
    return _poly("polygon", label, points, confidence, attributes, group_id)


def polyline(
    label: str,
    points: PointsLike,
    *,
    confidence: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    group_id: int | None = None,
) -> Shape:
    """An open line of at least 2 vertices."""
    return _poly("polyline", label, points, confidence, attributes, group_id)


def points(
    label: str,
    points: PointsLike,
    *,
    confidence: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    group_id: int | None = None,
) -> Shape:
    """One or more loose points."""
    return _poly("points", label, points, confidence, attributes, group_id)


def tag(
    label: str,
    *,
    confidence: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Shape:
    """A frame-level tag (classification result)."""
    return Shape(label, "tag", None, _confidence(confidence), attribute_values(attributes))


def keypoint(
    label: str,
    x: float,
    y: float,
    *,
    outside: bool = False,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Shape:
    """One skeleton element: a point of sublabel `label`; `outside=True` when the keypoint is not visible."""
    return Shape(label, "points", (float(x), float(y)), attributes=attribute_values(attributes), outside=outside)


def skeleton(
    label: str,
    elements: Iterable[Shape],
    *,
    confidence: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    group_id: int | None = None,
) -> Shape:
    """A skeleton: one `keypoint(...)` per sublabel (CVAT adds missing ones as outside)."""
    return Shape(
        label,
        "skeleton",
        None,
        _confidence(confidence),
        attribute_values(attributes),
        group_id=group_id,
        elements=tuple(elements),
    )


def is_finite(values: Iterable[float]) -> bool:
    return all(math.isfinite(v) for v in values)
