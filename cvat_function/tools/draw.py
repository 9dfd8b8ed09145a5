"""Draw a detector's CVAT JSON answer on the image, to look at what a function returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np

_PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72)]


def draw_shapes(image_bgr: np.ndarray, shapes: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """A copy of `image_bgr` with every shape of a detector answer drawn and labelled."""
    canvas = image_bgr.copy()
    colours: dict[str, tuple[int, int, int]] = {}
    for shape in shapes:
        label = str(shape.get("label", "?"))
        colour = colours.setdefault(label, _PALETTE[len(colours) % len(_PALETTE)])
        shape_type = shape.get("type")
        pts = np.asarray(shape.get("points") or [], dtype=np.float64).reshape(-1, 2)
        if shape_type == "mask" and shape.get("mask"):
            _draw_mask(canvas, list(shape["mask"]), colour)
        if shape_type in ("rectangle", "ellipse") and len(pts) == 2:
            cv2.rectangle(canvas, _pt(pts[0]), _pt(pts[1]), colour, 2)
        elif shape_type in ("polygon", "polyline", "mask", "cuboid") and len(pts) >= 2:
            cv2.polylines(canvas, [pts.round().astype(np.int32)], shape_type != "polyline", colour, 2)
        elif shape_type == "points":
            for p in pts:
                cv2.circle(canvas, _pt(p), 4, colour, -1)
        for element in shape.get("elements") or []:
            if not element.get("outside") and element.get("points"):
                cv2.circle(canvas, _pt(element["points"][:2]), 4, colour, -1)
        text = label + (f" {shape['confidence']}" if "confidence" in shape else "")
        anchor = _pt(pts.min(axis=0)) if len(pts) else (4, 16 + 18 * len(colours))
        cv2.putText(
            canvas, text, (anchor[0], max(anchor[1] - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA
        )
    return np.asarray(canvas)


def _pt(xy: Any) -> tuple[int, int]:
    return round(float(xy[0])), round(float(xy[1]))


def _draw_mask(canvas: np.ndarray, mask: list[int], colour: tuple[int, int, int]) -> None:
    left, top, right, bottom = mask[-4:]
    bitmap = np.asarray(mask[:-4], dtype=bool).reshape(bottom - top + 1, right - left + 1)
    region = canvas[top : bottom + 1, left : right + 1]
    region[bitmap] = (0.5 * region[bitmap] + 0.5 * np.asarray(colour)).astype(np.uint8)
