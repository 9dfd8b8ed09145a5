"""A detector that returns masks with polygons: coin segmentation with classical OpenCV steps.

1. Background: a morphological opening with a disc larger than any coin (`BACKGROUND_SIZE`) estimates the
   uneven illumination; subtracting it (a white top-hat) leaves the coins bright on a flat background.
2. Foreground: Otsu's threshold on the top-hat, then an opening removes specks.
3. Instances: connected components of at least `MIN_AREA` pixels. Coins are convex, so each component is
   replaced by its convex hull, which also fills the dark engravings inside a coin.
4. Each coin becomes `mask(...)`: the bitmap of its box plus its contour as `points`, so CVAT's "convert
   masks to polygons" option works.

Limits, honestly: coins that touch merge into one instance (a watershed on the distance transform would
split them), and a coin whose contrast with the background is very low is found only in part. There is no
score, so `threshold` is not used and no confidence is reported.
"""

from __future__ import annotations

import cv2
import numpy as np

from cvat_function import Labels, Shape, mask

# A disc wider than the largest object, to estimate the background (pixels).
BACKGROUND_SIZE = 101
# Smaller components are noise (pixels).
MIN_AREA = 200


class ModelHandler:
    """Load once in `__init__` (once per Nuclio worker), answer each frame in `infer`."""

    # The layout `infer` receives: "RGB", "BGR" (OpenCV) or "GRAY".
    color_order = "GRAY"
    # Every label name the model can emit; checked against function.yaml when the function starts.
    labels = ("coin",)

    def __init__(self, labels: Labels) -> None:
        # A classical pipeline: no weights, only the two morphology kernels.
        self.background_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (BACKGROUND_SIZE, BACKGROUND_SIZE))
        self.speck_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def infer(self, image: np.ndarray, threshold: float) -> list[Shape]:
        # mask(...) shapes (label names from function.yaml), one per instance.
        smooth = cv2.GaussianBlur(image, (5, 5), 0)
        background = cv2.morphologyEx(smooth, cv2.MORPH_OPEN, self.background_kernel)
        top_hat = cv2.subtract(smooth, background)
        _, foreground = cv2.threshold(top_hat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, self.speck_kernel)
        count, components, stats, _ = cv2.connectedComponentsWithStats(foreground)
        shapes = []
        for index in range(1, count):
            if stats[index, cv2.CC_STAT_AREA] < MIN_AREA:
                continue
            x, y, w, h = (int(v) for v in stats[index, :4])
            piece = (components[y : y + h, x : x + w] == index).astype(np.uint8)
            contours, _ = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            filled = np.zeros_like(piece)
            cv2.fillPoly(filled, [cv2.convexHull(np.vstack(contours))], 1)
            shapes.append(mask("coin", filled, origin=(x, y)))
        return shapes
