"""A ReID function: colour-histogram appearance + optimal one-to-one assignment.

* Appearance: a hue–saturation histogram (`HUE_BINS` × `SAT_BINS`, OpenCV HSV) of each box, L1-normalised;
  hue/saturation rather than RGB so that a change of brightness between the frames matters less.
* Similarity of two boxes: `1 − Bhattacharyya distance` of their histograms (`cv2.compareHist`), in [0, 1].
* A pair may match only if its similarity is at least `threshold` and its box centres are at most
  `max_distance` pixels apart (both sent by CVAT's UI: defaults 0.5 and 50).
* Among the allowed pairs, the assignment with the largest total similarity is chosen
  (`cvat_function.core.assignment.linear_assignment`, the Hungarian method), so each box of the second frame is
  used at most once — greedy best-first matching can steal a box from the pair that needed it.
"""

from __future__ import annotations

import cv2
import numpy as np

from cvat_function import Labels, ReidBox, ReidRequest
from cvat_function.core.assignment import linear_assignment

# Histogram resolution; more bins separate colours better and tolerate less change.
HUE_BINS, SAT_BINS = 30, 32


class ModelHandler:
    """Load once in `__init__` (once per Nuclio worker), answer each pair of frames in `match`."""

    # The layout `match` receives: "RGB", "BGR" (OpenCV) or "GRAY".
    color_order = "BGR"

    def __init__(self, labels: Labels) -> None:
        # Histograms need no model (ReID functions have no labels).
        pass

    def match(self, image0: np.ndarray, image1: np.ndarray, request: ReidRequest) -> list[int]:
        # For each box of request.boxes0, an index into request.boxes1 or -1.
        if not request.boxes0 or not request.boxes1:
            return [-1] * len(request.boxes0)
        features0 = np.stack([self._features(image0, box) for box in request.boxes0])
        features1 = np.stack([self._features(image1, box) for box in request.boxes1])
        similarity = self._similarity(features0, features1)
        centres0 = np.asarray([box.center for box in request.boxes0])
        centres1 = np.asarray([box.center for box in request.boxes1])
        distance = np.linalg.norm(centres0[:, None, :] - centres1[None, :, :], axis=2)
        allowed = (similarity >= request.threshold) & (distance <= request.max_distance)
        cost = np.where(allowed, 1.0 - similarity, np.inf)
        matches = [-1] * len(request.boxes0)
        for row, col in linear_assignment(cost):
            matches[row] = col
        return matches

    @staticmethod
    def _features(image: np.ndarray, box: ReidBox) -> np.ndarray:
        height, width = image.shape[:2]
        x1, y1, x2, y2 = box.points
        left, top = int(np.clip(np.floor(x1), 0, width - 1)), int(np.clip(np.floor(y1), 0, height - 1))
        right, bottom = int(np.clip(np.ceil(x2), left + 1, width)), int(np.clip(np.ceil(y2), top + 1, height))
        hsv = cv2.cvtColor(image[top:bottom, left:right], cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
        total = float(hist.sum())
        return (hist / total if total else hist).astype(np.float32)

    @staticmethod
    def _similarity(features0: np.ndarray, features1: np.ndarray) -> np.ndarray:
        """1 − Bhattacharyya distance for every pair: sqrt(1 − Σ sqrt(p·q)) for normalised histograms."""
        coefficient = np.sqrt(features0) @ np.sqrt(features1).T
        result: np.ndarray = 1.0 - np.sqrt(np.clip(1.0 - coefficient, 0.0, 1.0))
        return result
