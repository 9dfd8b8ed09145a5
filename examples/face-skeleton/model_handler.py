"""A detector returning skeletons with attributes: a face skeleton from OpenCV's bundled Haar cascades.

* Faces: the frontal-face cascade (as in the template's default model), confidence `1 − exp(−margin / 3)`
  of the cascade's final-stage margin — a ranking score, not a calibrated probability.
* Keypoints, searched only inside each face: the eye cascade in the upper half (one eye per side of the
  face's vertical midline, the largest detection each) and the smile cascade in the lower third (the
  detection nearest the expected mouth position) — they locate the eye and mouth *regions*; a keypoint is
  the centre of its region.
* A part the cascades miss is placed where a frontal face usually has it (eyes at 30 % / 70 % of the width
  and 38 % of the height, mouth at 50 % / 78 %) and marked with the keypoint attribute `estimated = true`,
  so the annotator knows which points to check. `found_parts` (skeleton attribute) counts the parts found.
* Sides are the subject's, as in COCO: `left_eye` is the person's left eye, on the image's right.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from cvat_function import Labels, Shape, keypoint, skeleton

CASCADES = cv2.data.haarcascades  # type: ignore[attr-defined]
# Where a frontal face has its parts, as fractions of the face box (x, y): used when a cascade finds nothing.
PRIOR = {"right_eye": (0.30, 0.38), "left_eye": (0.70, 0.38), "mouth": (0.50, 0.78)}


class ModelHandler:
    """Load once in `__init__` (once per Nuclio worker), answer each frame in `infer`."""

    # The layout `infer` receives: "RGB", "BGR" (OpenCV) or "GRAY".
    color_order = "GRAY"
    # Every label name the model can emit; checked against function.yaml when the function starts.
    labels = ("face",)

    def __init__(self, labels: Labels) -> None:
        # OpenCV's Haar cascades ship in the wheel: nothing to download.
        self.faces = self._cascade("haarcascade_frontalface_default.xml")
        self.eyes = self._cascade("haarcascade_eye.xml")
        self.mouths = self._cascade("haarcascade_smile.xml")

    @staticmethod
    def _cascade(name: str) -> cv2.CascadeClassifier:
        cascade = cv2.CascadeClassifier(CASCADES + name)
        if cascade.empty():
            raise RuntimeError(f"OpenCV could not load {CASCADES + name}; is opencv-python-headless < 5 installed?")
        return cascade

    def infer(self, image: np.ndarray, threshold: float) -> list[Shape]:
        # skeleton(...) shapes with one keypoint(...) per sublabel in function.yaml.
        gray = cv2.equalizeHist(image)
        side = max(24, min(gray.shape) // 20)
        boxes, _, margins = self.faces.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side), outputRejectLevels=True
        )
        shapes = []
        for (x, y, w, h), margin in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(margins), strict=True):
            confidence = 1.0 - math.exp(-max(float(margin), 0.0) / 3.0)
            if confidence < threshold:
                continue
            parts = self._parts(gray, int(x), int(y), int(w), int(h))
            elements = []
            for name, (fx, fy) in PRIOR.items():
                found = parts.get(name)
                px, py = found if found else (x + fx * w, y + fy * h)
                elements.append(keypoint(name, px, py, attributes={"estimated": found is None}))
            shapes.append(skeleton("face", elements, confidence=confidence, attributes={"found_parts": len(parts)}))
        return shapes

    def _parts(self, gray: np.ndarray, x: int, y: int, w: int, h: int) -> dict[str, tuple[float, float]]:
        """Centres of the parts the cascades find inside the face box (x, y, w, h)."""
        parts: dict[str, tuple[float, float]] = {}
        upper = gray[y : y + h // 2, x : x + w]
        eyes = self.eyes.detectMultiScale(upper, scaleFactor=1.1, minNeighbors=5, minSize=(w // 10, w // 10))
        for ex, ey, ew, eh in sorted(np.asarray(eyes).reshape(-1, 4).tolist(), key=lambda e: -e[2] * e[3]):
            cx, cy = x + ex + ew / 2, y + ey + eh / 2
            name = "right_eye" if cx < x + w / 2 else "left_eye"  # the subject's right eye is on the image's left
            parts.setdefault(name, (cx, cy))
        top = y + 2 * h // 3
        lower = gray[top : y + h, x : x + w]
        mouths = self.mouths.detectMultiScale(lower, scaleFactor=1.1, minNeighbors=15, minSize=(w // 5, h // 12))
        expected = (x + PRIOR["mouth"][0] * w, y + PRIOR["mouth"][1] * h)
        centres = [(x + mx + mw / 2, top + my + mh / 2) for mx, my, mw, mh in np.asarray(mouths).reshape(-1, 4)]
        if centres:
            parts["mouth"] = min(centres, key=lambda c: math.dist(c, expected))
        return parts
