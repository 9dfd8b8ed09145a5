"""CVAT's two mask encodings, vectorized with numpy.

* `BoxMask`: a boolean bitmap of a box region plus its inclusive box `[left, top, right, bottom]` — what the
  builders produce and what both encodings are made from.
* Detector `mask`: the box bitmap, one value per pixel, row-major, followed by the box.
* CVAT RLE (interactor `points`, what CVAT stores): lengths of alternating runs starting with a background
  run (`0` when the first pixel is set), followed by the box; the counts sum to the box area exactly.

No Python loop runs per pixel or per run: encoding finds the run boundaries with one comparison of the flat
bitmap against itself shifted by one, decoding repeats alternating 0/1 values with `np.repeat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]
"""`(left, top, right, bottom)`, integer pixels, inclusive at both ends."""


@dataclass(frozen=True, slots=True, eq=False)
class BoxMask:
    """A boolean bitmap of the box region `box = (left, top, right, bottom)` (inclusive)."""

    bitmap: np.ndarray
    box: Box

    def __post_init__(self) -> None:
        left, top, right, bottom = self.box
        if self.bitmap.dtype != np.bool_ or self.bitmap.ndim != 2:
            raise ValueError("BoxMask.bitmap must be a 2-D boolean array")
        if not (0 <= left <= right and 0 <= top <= bottom):
            raise ValueError(f"mask box {list(self.box)} must satisfy 0 <= left <= right and 0 <= top <= bottom")
        if self.bitmap.shape != (bottom - top + 1, right - left + 1):
            raise ValueError(
                f"mask bitmap is {self.bitmap.shape[1]}x{self.bitmap.shape[0]} but the inclusive box "
                f"{list(self.box)} is {right - left + 1}x{bottom - top + 1}"
            )

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0] + 1

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1] + 1

    @property
    def area(self) -> int:
        return self.width * self.height

    def to_list(self) -> list[int]:
        """The detector `mask` value: `[b_0 … b_{W·H−1}, left, top, right, bottom]` with 0/1 values."""
        return detector_mask(self)

    def to_rle(self) -> list[int]:
        """The CVAT RLE + box (interactor `points`)."""
        return encode_rle(self.bitmap, self.box)

    def full_frame(self, width: int, height: int) -> np.ndarray:
        """The mask pasted into an empty `height`×`width` frame (parts outside the frame are cut)."""
        frame = np.zeros((height, width), dtype=bool)
        left, top, right, bottom = self.box
        r, b = min(right, width - 1), min(bottom, height - 1)
        if left <= r and top <= b:
            frame[top : b + 1, left : r + 1] = self.bitmap[: b - top + 1, : r - left + 1]
        return frame

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BoxMask) and self.box == other.box and bool(np.array_equal(self.bitmap, other.bitmap))

    def __hash__(self) -> int:
        return hash((self.box, self.bitmap.tobytes()))


def as_bool_bitmap(bitmap: np.ndarray | Sequence[Sequence[int]], what: str = "mask") -> np.ndarray:
    """A 2-D bool view/copy of a bool or integer bitmap (non-zero = foreground); floats are refused."""
    array = np.asarray(bitmap)
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (H, W) array, got shape {array.shape}")
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.integer):
        foreground: np.ndarray = array != 0
        return foreground
    raise TypeError(
        f"{what} must be boolean or integer (0 = background), not {array.dtype}; "
        "threshold probabilities first, e.g. `probabilities > 0.5`"
    )


def tight_box(bitmap: np.ndarray) -> Box | None:
    """The inclusive box of the foreground of a 2-D bool array, or None when it is empty."""
    rows = np.flatnonzero(bitmap.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(bitmap[rows[0] : rows[-1] + 1].any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def from_frame(bitmap: np.ndarray, box: Sequence[int] | None = None) -> BoxMask | None:
    """Cut a full-frame mask to `box` (inclusive), or to its foreground's tight box; None when empty."""
    frame = as_bool_bitmap(bitmap)
    if box is None:
        found = tight_box(frame)
        if found is None:
            return None
        left, top, right, bottom = found
    else:
        left, top, right, bottom = check_box(box, frame.shape[1], frame.shape[0])
    return BoxMask(np.ascontiguousarray(frame[top : bottom + 1, left : right + 1]), (left, top, right, bottom))


def check_box(box: Sequence[int], width: int | None = None, height: int | None = None) -> Box:
    """Check an inclusive integer box (and that it lies in a `width`×`height` frame)."""
    if len(box) != 4:
        raise ValueError(f"a mask box is [left, top, right, bottom], got {list(box)}")
    values = []
    for v in box:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"mask box values must be integers, got {list(box)}")
        values.append(int(v))
    left, top, right, bottom = values
    if not (0 <= left <= right and 0 <= top <= bottom):
        raise ValueError(f"mask box {values} must satisfy 0 <= left <= right and 0 <= top <= bottom")
    if width is not None and height is not None and (right >= width or bottom >= height):
        raise ValueError(f"mask box {values} leaves the {width}x{height} frame (the box is inclusive)")
    return left, top, right, bottom


def detector_mask(mask: BoxMask) -> list[int]:
    """`[b_0 … b_{W·H−1}, left, top, right, bottom]` as Python ints (0/1)."""
    values: list[int] = mask.bitmap.ravel().view(np.uint8).tolist()
    values.extend(mask.box)
    return values


def encode_rle(bitmap: np.ndarray, box: Sequence[int] | None = None) -> list[int]:
    """CVAT RLE of a box bitmap: `[c_0, c_1, …, left, top, right, bottom]`, first run background.

    `bitmap` is the box region (H×W bool); `box` its inclusive placement (default: at the origin).
    """
    flat = as_bool_bitmap(bitmap).ravel()
    if flat.size == 0:
        raise ValueError("cannot encode an empty bitmap")
    height, width = bitmap.shape[:2]
    if box is None:
        box = (0, 0, width - 1, height - 1)
    left, top, right, bottom = check_box(box)
    if (bottom - top + 1, right - left + 1) != (height, width):
        raise ValueError(f"bitmap is {width}x{height} but box {list(box)} is {right - left + 1}x{bottom - top + 1}")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs: list[int] = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    runs.extend((left, top, right, bottom))
    return runs


def decode_rle(encoded: Sequence[int]) -> BoxMask:
    """CVAT RLE + box → `BoxMask`; rejects counts that do not sum to the box area or are negative."""
    if len(encoded) < 5:
        raise ValueError("a CVAT RLE needs at least one count followed by [left, top, right, bottom]")
    left, top, right, bottom = check_box([int(v) for v in encoded[-4:]])
    counts = np.asarray(encoded[:-4], dtype=np.int64)
    if (counts < 0).any() or (counts[1:] == 0).any():
        raise ValueError("RLE counts must be >= 0, and only the first RLE count (background) may be 0")
    width, height = right - left + 1, bottom - top + 1
    if int(counts.sum()) != width * height:
        raise ValueError(f"RLE counts sum to {int(counts.sum())}, the box {width}x{height} holds {width * height}")
    values = (np.arange(counts.size) % 2).astype(bool)
    return BoxMask(np.repeat(values, counts).reshape(height, width), (left, top, right, bottom))


def decode_detector_mask(encoded: Sequence[int]) -> BoxMask:
    """Detector `mask` list → `BoxMask` (any non-zero value is foreground)."""
    if len(encoded) < 5:
        raise ValueError("a detector mask needs its bitmap followed by [left, top, right, bottom]")
    left, top, right, bottom = check_box([int(v) for v in encoded[-4:]])
    width, height = right - left + 1, bottom - top + 1
    if len(encoded) - 4 != width * height:
        raise ValueError(f"bitmap has {len(encoded) - 4} values, the inclusive box holds {width * height}")
    bitmap = np.asarray(encoded[:-4]).reshape(height, width) != 0
    return BoxMask(bitmap, (left, top, right, bottom))


def contour_polygon(mask: BoxMask, epsilon: float = 0.0) -> list[float] | None:
    """Outer contour of the largest connected component, in frame pixels; None if it has < 3 points.

    `epsilon` > 0 simplifies the contour with Douglas–Peucker (`cv2.approxPolyDP`, in pixels).
    """
    image = np.ascontiguousarray(mask.bitmap).view(np.uint8)
    contours, _ = cv2.findContours(image, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    largest = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    if epsilon > 0:
        largest = cv2.approxPolyDP(largest, epsilon, True)
    points = largest.reshape(-1, 2)
    if len(points) < 3:
        return None
    offset = np.asarray(mask.box[:2], dtype=np.float64)
    flat: list[float] = (points.astype(np.float64) + offset).ravel().tolist()
    return flat
