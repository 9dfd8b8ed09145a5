"""The results a function returns, as types, and builders that cannot produce malformed CVAT JSON.

Models build shapes with the functions here (`rectangle(...)`, `polygon(...)`, `mask(...)`, `tag(...)` …); the
runtime checks them against the label spec (`rules.py`) and serializes them with `Shape.to_cvat()`. Labels
are always the spec's label **names** (CVAT matches them to task labels by exact name).

The other function kinds have their own result types: `InteractorMask` (built with `interactor_mask(...)`)
and `TrackedShape` (built with `tracked_rectangle(...)`, `tracked_polygon(...)`, …).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .masks import BoxMask, as_bool_bitmap, contour_polygon, from_frame
from .response import Fragment

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
    mask: BoxMask | tuple[int, ...] | None = None
    elements: tuple[Shape, ...] = ()

    def to_cvat(self, *, pre_encoded: bool = False) -> dict[str, Any]:
        """The JSON object CVAT expects for this shape.

        With `pre_encoded=True` a `BoxMask` becomes a `response.Fragment` holding its JSON text (what the
        runtime sends: `response.dumps` splices it in); otherwise every value is plain JSON data.
        """
        out: dict[str, Any] = {"label": self.label, "type": self.type}
        if self.points is not None:
            out["points"] = list(self.points)
        if isinstance(self.mask, BoxMask):
            out["mask"] = Fragment.of_bitmap(self.mask.bitmap, self.mask.box) if pre_encoded else self.mask.to_list()
        elif self.mask is not None:
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
            out["elements"] = [e.to_cvat(pre_encoded=pre_encoded) for e in self.elements]
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
    shape_type: ShapeType,
    label: str,
    points: PointsLike,
    confidence: float | None,
    attrs: Mapping[str, AttributeValue] | None,
    group_id: int | None,
) -> Shape:
    return Shape(
        label, shape_type, flat_points(points), _confidence(confidence), attribute_values(attrs), group_id=group_id
    )


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
    group_id: int | None = None,
) -> Shape:
    """A frame-level tag (classification result)."""
    return Shape(label, "tag", None, _confidence(confidence), attribute_values(attributes), group_id=group_id)


def ellipse(
    label: str,
    center: Sequence[float] | np.ndarray,
    radii: Sequence[float] | np.ndarray,
    *,
    confidence: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    rotation: float | None = None,
    group_id: int | None = None,
) -> Shape:
    """An ellipse of centre `(cx, cy)` and semi-axes `(rx, ry)`; `rotation` in degrees turns it about its centre.

    CVAT stores an ellipse as `[cx, cy, cx + rx, cy - ry]`: the centre, then the right end of the horizontal
    semi-axis' x and the top end of the vertical semi-axis' y (image y grows downwards).
    """
    cx, cy = (float(v) for v in center)
    rx, ry = (float(v) for v in radii)
    return Shape(
        label,
        "ellipse",
        (cx, cy, cx + rx, cy - ry),
        _confidence(confidence),
        attribute_values(attributes),
        None if rotation is None else float(rotation),
        group_id,
    )


CUBOID_POINT_ORDER = ("tl1", "bl1", "tr1", "br1", "tl2", "bl2", "tr2", "br2")
"""CVAT's cuboid vertex order: the front face (1) then the back face (2); t/b = top/bottom, l/r = left/right."""


def cuboid(
    label: str,
    points: PointsLike,
    *,
    confidence: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    group_id: int | None = None,
) -> Shape:
    """A 2-D projected cuboid: 8 vertices `[[x, y], …]` in `CUBOID_POINT_ORDER` (16 coordinates)."""
    return _poly("cuboid", label, points, confidence, attributes, group_id)


def mask(
    label: str,
    bitmap: np.ndarray,
    *,
    box: Sequence[int] | None = None,
    origin: tuple[int, int] | None = None,
    polygon: bool = True,
    polygon_epsilon: float = 0.0,
    confidence: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    group_id: int | None = None,
) -> Shape:
    """A mask from a boolean (or integer, non-zero = foreground) bitmap.

    * full-frame H×W bitmap: cut to its foreground's tight box, or to `box = (left, top, right, bottom)`
      (inclusive integer pixels) when given;
    * box-sized bitmap: pass `origin=(left, top)`, the frame position of its top-left pixel.

    With `polygon=True` (default) the outer contour of the largest connected component is added as `points`,
    which CVAT uses instead of the mask when the user asks to convert masks to polygons (CVAT does no
    contouring itself); it is left out when that contour has fewer than 3 points. `polygon_epsilon` > 0
    simplifies it (pixels, Douglas–Peucker). Raises `ValueError` for an empty mask: skip those.
    """
    bits = as_bool_bitmap(bitmap, f"mask for label {label!r}")
    if origin is not None:
        if box is not None:
            raise ValueError("give either box (full-frame bitmap) or origin (box-sized bitmap), not both")
        left, top = (int(v) for v in origin)
        height, width = bits.shape
        box_mask: BoxMask | None = BoxMask(np.ascontiguousarray(bits), (left, top, left + width - 1, top + height - 1))
    else:
        box_mask = from_frame(bits, box)
    if box_mask is None or not box_mask.bitmap.any():
        raise ValueError(f"mask for label {label!r} has no foreground pixel; skip empty masks")
    outline = contour_polygon(box_mask, polygon_epsilon) if polygon else None
    return Shape(
        label,
        "mask",
        None if outline is None else tuple(outline),
        _confidence(confidence),
        attribute_values(attributes),
        group_id=group_id,
        mask=box_mask,
    )


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


@dataclass(frozen=True, slots=True, eq=False)
class InteractorMask:
    """One interactor result: a mask and an optional confidence in [0, 1] (drives the UI's slider)."""

    mask: BoxMask
    confidence: float | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InteractorMask) and (self.mask, self.confidence) == (other.mask, other.confidence)

    def __hash__(self) -> int:
        return hash((self.mask, self.confidence))

    def to_cvat(self) -> dict[str, Any]:
        """`{"type": "mask", "points": <CVAT RLE + box>, "attributes": [{"spec_id": 0, "value": "0.87"}]}`;
        `"attributes": []` without a confidence (CVAT's UI calls `attributes.find` on every shape)."""
        attributes = [] if self.confidence is None else [{"spec_id": 0, "value": format_confidence(self.confidence)}]
        return {"type": "mask", "points": self.mask.to_rle(), "attributes": attributes}


def interactor_mask(
    bitmap: np.ndarray,
    *,
    box: Sequence[int] | None = None,
    origin: tuple[int, int] | None = None,
    confidence: float | None = None,
) -> InteractorMask:
    """An interactor's answer from a boolean/integer bitmap: full-frame (optionally cut to `box`), or box-sized
    with `origin=(left, top)`, as in `mask(...)`. Raises `ValueError` for an empty mask."""
    shape = mask("interactor", bitmap, box=box, origin=origin, polygon=False)
    assert isinstance(shape.mask, BoxMask)
    return InteractorMask(shape.mask, _confidence(confidence))


TRACKER_SHAPE_TYPES: tuple[str, ...] = ("rectangle", "polygon", "polyline", "points", "ellipse", "cuboid")
"""Shape types a tracker may declare in `supported_shape_types` (skeletons, masks and tags are not tracked)."""


@dataclass(frozen=True, slots=True)
class TrackedShape:
    """A tracker's shape: `{"type": ..., "points": [...]}` as CVAT sends and expects it."""

    type: str
    points: tuple[float, ...]

    def to_cvat(self) -> dict[str, Any]:
        return {"type": self.type, "points": list(self.points)}

    @property
    def bounding_box(self) -> tuple[float, float, float, float]:
        """`(x1, y1, x2, y2)` of the points (for rectangles, the rectangle itself)."""
        xs, ys = self.points[0::2], self.points[1::2]
        return min(xs), min(ys), max(xs), max(ys)


def tracked_shape(shape_type: str, points: PointsLike) -> TrackedShape:
    """A tracker's result of `shape_type` with flat or `[[x, y], …]` points."""
    return TrackedShape(shape_type, flat_points(points))


def tracked_rectangle(box: Sequence[float] | np.ndarray) -> TrackedShape:
    """A tracked box `(x1, y1, x2, y2)` in pixels."""
    return TrackedShape("rectangle", flat_points(box))
