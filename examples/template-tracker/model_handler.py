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
"""

from __future__ import annotations

import base64
from typing import Any

import cv2
import numpy as np

from cvat_function import Labels, TrackedShape, tracked_rectangle

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
        small = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else patch
        ok, png = cv2.imencode(".png", small)
        if not ok:
            raise RuntimeError("could not encode the template as PNG")
        return {"template": base64.b64encode(png.tobytes()).decode("ascii"), "scale": scale, "box": list(shape.points)}

    def track(self, image: np.ndarray, state: dict[str, Any]) -> tuple[TrackedShape | None, dict[str, Any]]:
        # Find the object on `image`: (shape or None when lost, the new state).
        template = cv2.imdecode(np.frombuffer(base64.b64decode(state["template"]), np.uint8), cv2.IMREAD_GRAYSCALE)
        if template is None:
            raise ValueError("the state's template is not a PNG image")
        scale = float(state["scale"])
        bx1, by1, bx2, by2 = (float(v) for v in state["box"])
        width, height = bx2 - bx1, by2 - by1
        cx, cy = (bx1 + bx2) / 2, (by1 + by2) / 2
        window = _clip_box(
            (cx - SEARCH * width / 2, cy - SEARCH * height / 2, cx + SEARCH * width / 2, cy + SEARCH * height / 2),
            image.shape[1],
            image.shape[0],
        )
        wx1, wy1, wx2, wy2 = window
        region = image[wy1:wy2, wx1:wx2]
        if scale < 1:
            region = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if region.shape[0] < template.shape[0] or region.shape[1] < template.shape[1]:
            return None, state  # the window was cut by the frame border below the template's size
        scores = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (mx, my) = cv2.minMaxLoc(scores)
        if not np.isfinite(best) or best < LOST_SCORE:
            return None, state
        nx1, ny1 = wx1 + mx / scale, wy1 + my / scale
        box = (nx1, ny1, nx1 + width, ny1 + height)
        return tracked_rectangle(box), {**state, "box": list(box)}


def _clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel bounds `[x1, x2) × [y1, y2)` of `box` inside the frame, at least 1×1."""
    x1 = int(np.clip(np.floor(box[0]), 0, width - 1))
    y1 = int(np.clip(np.floor(box[1]), 0, height - 1))
    x2 = int(np.clip(np.ceil(box[2]), x1 + 1, width))
    y2 = int(np.clip(np.ceil(box[3]), y1 + 1, height))
    return x1, y1, x2, y2
