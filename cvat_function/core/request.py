"""Request bodies → typed requests.

Nuclio hands the handler a dict only when the Content-Type is exactly `application/json`; otherwise the raw
bytes (curl with `; charset=utf-8`, `nuctl invoke` without `-c`, text/plain). Both are accepted here; anything
that is not a JSON object is a 400 naming what was expected.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RequestError
from .shapes import TrackedShape

DEFAULT_THRESHOLD = 0.5
"""CVAT never sends `threshold: 0` (it drops falsy values), so a missing threshold means this default."""

_DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64,", re.ASCII)
_WHITESPACE = re.compile(rb"\s+")


@dataclass(frozen=True, slots=True)
class DetectorRequest:
    """What CVAT sends a detector: the frame's file bytes and an optional score threshold."""

    image: bytes
    threshold: float


def parse_body(body: object) -> dict[str, Any]:
    """The JSON object of a request, whatever form Nuclio delivered it in.

    The body is parsed once per request: a dict (what Nuclio's wrapper hands over for `application/json`, and
    what this returns) passes through as it is, so the `parse_*_request` functions below can be given either."""
    if type(body) is dict:
        return body
    if isinstance(body, Mapping):
        return dict(body)
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        raw = bytes(body) if not isinstance(body, str) else body.encode("utf-8", "surrogatepass")
        if not raw.strip():
            raise RequestError("body", 'a JSON object such as {"image": "<base64>"}', got="an empty body")
        try:
            value = json.loads(raw)
        except RecursionError as e:
            raise RequestError("body", "a JSON object nested less than a few hundred levels deep", got="deeper") from e
        except ValueError as e:  # also UnicodeDecodeError, and an integer past Python's 4300-digit limit
            raise RequestError(
                "body", "a JSON object (send it with Content-Type: application/json)", got=f"invalid JSON ({e})"
            ) from e
        if isinstance(value, dict):
            return value
        body = value
    raise RequestError("body", 'a JSON object such as {"image": "<base64>"}', got=_kind(body))


def decode_base64_image(value: object, field: str = "image") -> bytes:
    """Standard base64 (padded) or a `data:image/...;base64,` URL → file bytes (checked, never empty)."""
    if not isinstance(value, str):
        raise RequestError(field, "a base64 string of the image file", got=_kind(value))
    text = value
    if text.startswith("data:"):
        match = _DATA_URL.match(text)
        if match is None:
            raise RequestError(field, "a data URL of the form data:<mime>;base64,<data>", got=text[:40] + "…")
        text = text[match.end() :]
    raw = text.encode("ascii", "replace")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        try:  # line-wrapped base64 (e.g. `base64` without -w0) carries newlines; nothing else is tolerated
            data = base64.b64decode(_WHITESPACE.sub(b"", raw), validate=True)
        except (binascii.Error, ValueError) as e:
            raise RequestError(
                field, "standard base64 (A-Z, a-z, 0-9, +, / and = padding)", got=f"invalid base64 ({e})"
            ) from e
    if not data:
        raise RequestError(field, "base64 of a non-empty image file", got="an empty string")
    return data


def parse_threshold(value: object, default: float = DEFAULT_THRESHOLD, field: str = "threshold") -> float:
    """An optional number in [0, 1]; `None`/absent gives `default`."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(field, "a number between 0 and 1", got=_kind(value))
    number = _as_float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise RequestError(field, "a number between 0 and 1", got=repr(value))
    return number


def parse_detector_request(body: object, default_threshold: float = DEFAULT_THRESHOLD) -> DetectorRequest:
    """Parse CVAT's detector request `{"image": "<base64>", "threshold": 0.5}`."""
    fields = parse_body(body)
    if "image" not in fields:
        raise RequestError("image", "a base64 string of the image file", got="no 'image' key")
    return DetectorRequest(
        image=decode_base64_image(fields["image"]),
        threshold=parse_threshold(fields.get("threshold"), default_threshold),
    )


@dataclass(frozen=True, slots=True)
class InteractorRequest:
    """What CVAT sends an interactor: clicks and an optional box, in full-frame pixels.

    `obj_bbox` is `(x1, y1, x2, y2)` with sorted corners, or None when the user drew no box (`[]` or `null`).
    `text_prompts` (CVAT ≥ v2.60, not sent by the OSS UI) is empty when absent.
    """

    image: bytes
    pos_points: tuple[tuple[float, float], ...]
    neg_points: tuple[tuple[float, float], ...]
    obj_bbox: tuple[float, float, float, float] | None
    threshold: float
    text_prompts: tuple[str, ...] = ()

    def clipped(self, width: int, height: int, margin: float = 1.0) -> InteractorRequest:
        """Points and box clipped into the `width`×`height` image; a point farther than `margin` pixels
        outside it is a 400 naming the point (a click the user could not have made on this frame)."""

        def clip(xy: tuple[float, float], field: str) -> tuple[float, float]:
            x, y = xy
            if not (-margin <= x <= width - 1 + margin and -margin <= y <= height - 1 + margin):
                raise RequestError(field, f"a point inside the {width}x{height} image", got=f"[{x}, {y}]")
            return min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)

        box = None
        if self.obj_bbox is not None:
            x1, y1, x2, y2 = self.obj_bbox
            if x2 < 0 or y2 < 0 or x1 > width or y1 > height:  # the frame spans [0, width]: 0.2 is in a 1-px crop
                raise RequestError(
                    "obj_bbox", f"a box overlapping the {width}x{height} image", got=str(list(self.obj_bbox))
                )
            (x1, y1), (x2, y2) = (
                (min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)) for x, y in ((x1, y1), (x2, y2))
            )
            box = (x1, y1, x2, y2)
        return InteractorRequest(
            self.image,
            tuple(clip(p, f"pos_points[{i}]") for i, p in enumerate(self.pos_points)),
            tuple(clip(p, f"neg_points[{i}]") for i, p in enumerate(self.neg_points)),
            box,
            self.threshold,
            self.text_prompts,
        )


def parse_interactor_request(
    body: object,
    default_threshold: float = DEFAULT_THRESHOLD,
    *,
    min_pos_points: int = 1,
    min_neg_points: int = -1,
) -> InteractorRequest:
    """Parse `{"image", "pos_points", "neg_points", "obj_bbox"?, "threshold"?, "text_prompts"?}`.

    `min_pos_points` applies unless a box is given (the box is then the positive prompt); `min_neg_points`
    applies when it is >= 0 (CVAT's -1 means the function takes no negative points).
    """
    fields = parse_body(body)
    if "image" not in fields:
        raise RequestError("image", "a base64 string of the image file", got="no 'image' key")
    pos = _point_list(fields.get("pos_points"), "pos_points")
    neg = _point_list(fields.get("neg_points"), "neg_points")
    box = _obj_bbox(fields.get("obj_bbox"))
    if box is None and len(pos) < min_pos_points:
        raise RequestError(
            "pos_points", f"at least {min_pos_points} positive point(s) (or an obj_bbox)", got=f"{len(pos)}"
        )
    if min_neg_points >= 0 and len(neg) < min_neg_points:
        raise RequestError("neg_points", f"at least {min_neg_points} negative point(s)", got=f"{len(neg)}")
    prompts = fields.get("text_prompts")
    if prompts is None:
        prompts = []
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise RequestError("text_prompts", "a list of strings", got=_kind(prompts))
    return InteractorRequest(
        image=decode_base64_image(fields["image"]),
        pos_points=pos,
        neg_points=neg,
        obj_bbox=box,
        threshold=parse_threshold(fields.get("threshold"), default_threshold),
        text_prompts=tuple(prompts),
    )


def _as_float(value: int | float) -> float:
    """`float(value)`, with an integer beyond float's range (JSON allows any length) as infinity, not an error."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _finite_number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(_as_float(value)):
        raise RequestError(field, "a finite number", got=_kind(value))
    return float(value)


def _point(value: object, field: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise RequestError(field, "a point [x, y]", got=_kind(value))
    return _finite_number(value[0], f"{field}[0]"), _finite_number(value[1], f"{field}[1]")


def _point_list(value: object, field: str) -> tuple[tuple[float, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RequestError(field, "a list of points [[x, y], …]", got=_kind(value))
    return tuple(_point(p, f"{field}[{i}]") for i, p in enumerate(value))


def _obj_bbox(value: object) -> tuple[float, float, float, float] | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise RequestError("obj_bbox", "two corners [[x1, y1], [x2, y2]], [] or null", got=_kind(value))
    (ax, ay), (bx, by) = (_point(p, f"obj_bbox[{i}]") for i, p in enumerate(value))
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


_TRACKER_POINT_COUNTS = {"rectangle": 4, "ellipse": 4, "cuboid": 16}


@dataclass(frozen=True, slots=True)
class TrackerRequest:
    """What CVAT sends a tracker: one image and index-aligned objects.

    `shapes[i]` is the shape to start tracking from, or None on a continuation; `states[i]` is the state
    this function returned for object i last time, or None on a start. Never both None.
    """

    image: bytes
    shapes: tuple[TrackedShape | None, ...]
    states: tuple[Any, ...]


def parse_tracker_request(body: object, supported_shape_types: tuple[str, ...] | None = None) -> TrackerRequest:
    """Parse `{"image", "shapes", "states"}`; `supported_shape_types` None means the legacy rectangle protocol.

    Shapes may be bare point arrays (`[x1, y1, x2, y2]`, a rectangle) or `{"type", "points"}` objects.
    `states` is padded with None to the length of `shapes` (a start sends `[]`).
    """
    fields = parse_body(body)
    if "image" not in fields:
        raise RequestError("image", "a base64 string of the image file", got="no 'image' key")
    raw_shapes = fields.get("shapes")
    if not isinstance(raw_shapes, list):
        raise RequestError("shapes", "a list with one shape (or null) per tracked object", got=_kind(raw_shapes))
    raw_states = fields.get("states")
    if raw_states is None:
        raw_states = []
    if not isinstance(raw_states, list) or len(raw_states) > len(raw_shapes):
        raise RequestError(
            "states", f"a list of at most {len(raw_shapes)} state(s), one per shape", got=_kind(raw_states)
        )
    allowed = supported_shape_types or ("rectangle",)
    shapes = tuple(parse_tracked_shape(s, f"shapes[{i}]", allowed) for i, s in enumerate(raw_shapes))
    states = tuple(raw_states) + (None,) * (len(shapes) - len(raw_states))
    for i, (shape, state) in enumerate(zip(shapes, states, strict=True)):
        if shape is None and state is None:
            raise RequestError(f"shapes[{i}]", f"a shape to start tracking from (states[{i}] is empty)", got="null")
    return TrackerRequest(decode_base64_image(fields["image"]), shapes, states)


def parse_tracked_shape(value: object, field: str, allowed: tuple[str, ...]) -> TrackedShape | None:
    """A tracker shape as CVAT sends it (a bare rectangle array, `{type, points}` or null), checked: the type
    among `allowed`, finite coordinates, the type's coordinate count, a rectangle's sorted corners."""
    if value is None:
        return None
    shape_type: object = "rectangle"
    points: object = value
    if isinstance(value, Mapping):
        shape_type, points = value.get("type", "rectangle"), value.get("points")
        if not isinstance(shape_type, str):
            raise RequestError(f"{field}.type", f"one of {', '.join(allowed)}", got=_kind(shape_type))
    elif not isinstance(value, list):
        raise RequestError(field, "a point array, a {type, points} object or null", got=_kind(value))
    field_points = f"{field}.points" if isinstance(value, Mapping) else field
    if shape_type not in allowed:
        raise RequestError(
            f"{field}.type", f"one of this tracker's supported_shape_types ({', '.join(allowed)})", got=str(shape_type)
        )
    if not isinstance(points, list):
        raise RequestError(field_points, "a flat list of coordinates", got=_kind(points))
    coords = tuple(_finite_number(v, f"{field_points}[{j}]") for j, v in enumerate(points))
    wanted = _TRACKER_POINT_COUNTS.get(shape_type)
    if (wanted and len(coords) != wanted) or len(coords) % 2 or len(coords) < 2:
        raise RequestError(
            field_points, f"{wanted or 'an even number of'} coordinates for a {shape_type}", got=f"{len(coords)}"
        )
    if shape_type == "rectangle" and not (coords[0] < coords[2] and coords[1] < coords[3]):
        raise RequestError(field_points, "a rectangle [x1, y1, x2, y2] with x1 < x2 and y1 < y2", got=str(list(coords)))
    return TrackedShape(shape_type, coords)


DEFAULT_MAX_DISTANCE = 50.0
"""CVAT's UI default for ReID's max distance (pixels between the boxes' centres)."""


@dataclass(frozen=True, slots=True)
class ReidBox:
    """A box CVAT sends a ReID function: `points` `(x1, y1, x2, y2)` (sorted) and the CVAT ids it carries."""

    points: tuple[float, float, float, float]
    label_id: int | None = None
    id: int | None = None
    frame: int | None = None

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.points
        return (x1 + x2) / 2, (y1 + y2) / 2


@dataclass(frozen=True, slots=True)
class ReidRequest:
    """What CVAT sends a ReID function: two frames and the boxes on each."""

    image0: bytes
    image1: bytes
    boxes0: tuple[ReidBox, ...]
    boxes1: tuple[ReidBox, ...]
    threshold: float
    max_distance: float


def parse_reid_request(body: object, default_threshold: float = DEFAULT_THRESHOLD) -> ReidRequest:
    """Parse `{"image0", "image1", "boxes0", "boxes1", "threshold"?, "max_distance"?}`."""
    fields = parse_body(body)
    for key in ("image0", "image1"):
        if key not in fields:
            raise RequestError(key, "a base64 string of the image file", got=f"no {key!r} key")
    distance = fields.get("max_distance")
    if distance is None:
        max_distance = DEFAULT_MAX_DISTANCE
    else:
        max_distance = _finite_number(distance, "max_distance")
        if max_distance <= 0:
            raise RequestError("max_distance", "a positive number of pixels", got=repr(distance))
    return ReidRequest(
        image0=decode_base64_image(fields["image0"], "image0"),
        image1=decode_base64_image(fields["image1"], "image1"),
        boxes0=_reid_boxes(fields.get("boxes0"), "boxes0"),
        boxes1=_reid_boxes(fields.get("boxes1"), "boxes1"),
        threshold=parse_threshold(fields.get("threshold"), default_threshold),
        max_distance=max_distance,
    )


def _reid_boxes(value: object, field: str) -> tuple[ReidBox, ...]:
    if not isinstance(value, list):
        raise RequestError(field, "a list of CVAT rectangle shapes", got=_kind(value))
    return tuple(_reid_box(item, f"{field}[{i}]") for i, item in enumerate(value))


def _reid_box(value: object, field: str) -> ReidBox:
    if isinstance(value, list):
        value = {"points": value}
    if not isinstance(value, Mapping):
        raise RequestError(field, "a CVAT shape object with 'points'", got=_kind(value))
    points = value.get("points")
    if not isinstance(points, list) or len(points) != 4:
        raise RequestError(f"{field}.points", "a rectangle [x1, y1, x2, y2]", got=_kind(points))
    x1, y1, x2, y2 = (_finite_number(v, f"{field}.points[{j}]") for j, v in enumerate(points))
    ints = {}
    for key in ("label_id", "id", "frame"):
        item = value.get(key)
        if item is not None and (isinstance(item, bool) or not isinstance(item, int)):
            raise RequestError(f"{field}.{key}", "an integer", got=_kind(item))
        ints[key] = item
    return ReidBox((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), ints["label_id"], ints["id"], ints["frame"])


def _kind(value: object) -> str:
    """A short description of a JSON value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int) and value.bit_length() > 64:  # repr of a 5000-digit integer raises ValueError
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:30]!r}{'…' if len(value) > 30 else ''})"
    if isinstance(value, (list, tuple)):
        return f"an array of {len(value)} item(s)"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
