"""A tracker whose whole state is JSON: normalised cross-correlation template matching (OpenCV).

* `init_tracking` cuts the object's patch out of the first frame, shrinks it so its larger side is at most
  `PATCH_SIZE` pixels, and stores it in the state as a base64 grayscale PNG (a few KB) with the box.
* `track` searches a window `SEARCH` × the box size around the last box on the next frame at the same
  scale (`cv2.matchTemplate`, `TM_CCOEFF_NORMED`) and moves the box to the best match. The box keeps its
  size (no scale or rotation change: this is template matching, not a learned tracker).
* A best score under `LOST_SCORE` means the object is lost: `track` returns `None` and the framework
  answers the last known box, as CVAT's UI cannot handle a missing shape.

The template is never updated, so the box does not drift onto the background; it is also why appearance
changes (turning, lighting) lose the object sooner than a learned tracker would.

CVAT signs the states it passes back, but any other client can send a forged one: `track` checks the state
(`_read_state`) and answers a 400 naming the broken key rather than failing with a 500.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import cv2
import numpy as np

from cvat_function import Labels, RequestError, TrackedShape, tracked_rectangle
from cvat_function.core.image import image_size

# The template's larger side in the state (pixels); larger = more detail and a bigger state.
PATCH_SIZE = 64
# The search window around the last box, as a multiple of the box size.
SEARCH = 2.0
# Below this correlation the object counts as lost.
LOST_SCORE = 0.5


class ModelHandler:
    """Load once in `__init__` (once per Nuclio worker); `init_tracking` then `track` per object."""

    # The layout the tracker receives: "RGB", "BGR" (OpenCV) or "GRAY".
    color_order = "GRAY"

    def __init__(self, labels: Labels) -> None:
        # Template matching needs no model (trackers have no labels: `labels` is empty).
        pass

    def init_tracking(self, image: np.ndarray, shape: TrackedShape) -> dict[str, Any]:
        # The state is plain JSON and small (it rides on every request).
        x1, y1, x2, y2 = _clip_box(shape.bounding_box, image.shape[1], image.shape[0])
        patch = image[y1:y2, x1:x2]
        scale = min(1.0, PATCH_SIZE / max(patch.shape))
        small = _resized(patch, scale)
        ok, png = cv2.imencode(".png", small)
        if not ok:
            raise RuntimeError("could not encode the template as PNG")
        return {"template": base64.b64encode(png.tobytes()).decode("ascii"), "scale": scale, "box": list(shape.points)}

    def track(self, image: np.ndarray, state: dict[str, Any]) -> tuple[TrackedShape | None, dict[str, Any]]:
        # Find the object on `image`; return (shape or None when lost, the new state).
        template, scale, (bx1, by1, bx2, by2) = _read_state(state)
        width, height = bx2 - bx1, by2 - by1
        cx, cy = (bx1 + bx2) / 2, (by1 + by2) / 2
        window = _clip_box(
            (cx - SEARCH * width / 2, cy - SEARCH * height / 2, cx + SEARCH * width / 2, cy + SEARCH * height / 2),
            image.shape[1],
            image.shape[0],
        )
        wx1, wy1, wx2, wy2 = window
        region = image[wy1:wy2, wx1:wx2]
        region = _resized(region, scale)
        if region.shape[0] < template.shape[0] or region.shape[1] < template.shape[1]:
            return None, state  # the window was cut by the frame border below the template's size
        scores = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (mx, my) = cv2.minMaxLoc(scores)
        if not np.isfinite(best) or best < LOST_SCORE:
            return None, state
        nx1, ny1 = wx1 + mx / scale, wy1 + my / scale
        box = (nx1, ny1, nx1 + width, ny1 + height)
        return tracked_rectangle(box), {**state, "box": list(box)}


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    """`image` scaled by `scale` (≤ 1), at least 1 pixel per side (a 20000×1 patch would otherwise vanish)."""
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _read_state(state: Any) -> tuple[np.ndarray, float, tuple[float, float, float, float]]:
    """The template, scale and box of a state `init_tracking` made; a forged one raises `RequestError`."""
    if not isinstance(state, dict):
        raise RequestError("", "the object init_tracking returned", got=type(state).__name__)
    scale, box, text = state.get("scale"), state.get("box"), state.get("template")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1:
        raise RequestError("scale", "a number in (0, 1]", got=repr(scale)[:40])
    corners = _finite_numbers(box)
    if len(corners) != 4 or not (corners[0] < corners[2] and corners[1] < corners[3]):
        raise RequestError("box", "[x1, y1, x2, y2] with x1 < x2 and y1 < y2", got=repr(box)[:60])
    try:
        png = base64.b64decode(text if isinstance(text, str) else b"-", validate=True)
        width, height = image_size(png)  # the header only: a forged template must not be a decompression bomb
    except (binascii.Error, ValueError, RequestError):
        raise RequestError("template", "the base64 PNG init_tracking stored", got="something else") from None
    small = max(width, height) <= PATCH_SIZE
    template = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE) if small else None
    if template is None:
        raise RequestError("template", f"a PNG of at most {PATCH_SIZE} pixels a side", got=f"{width}x{height}")
    return template, float(scale), (corners[0], corners[1], corners[2], corners[3])


def _finite_numbers(value: object) -> list[float]:
    """The numbers of a JSON list of finite numbers; [] for anything else."""
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return []
    try:
        numbers = [float(v) for v in value]
    except OverflowError:  # an integer beyond float's range
        return []
    return numbers if all(map(math.isfinite, numbers)) else []


def _clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel bounds `[x1, x2) × [y1, y2)` of `box` inside the frame, at least 1×1."""
    x1 = int(np.clip(np.floor(box[0]), 0, width - 1))
    y1 = int(np.clip(np.floor(box[1]), 0, height - 1))
    x2 = int(np.clip(np.ceil(box[2]), x1 + 1, width))
    y2 = int(np.clip(np.ceil(box[3]), y1 + 1, height))
    return x1, y1, x2, y2
