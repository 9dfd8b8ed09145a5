"""An interactor: OpenCV's GrabCut (Rother et al., 2004) seeded by the user's clicks and optional box.

* Region: the box the user drew, or else the positive clicks' bounding box grown by `GROW` × the image's
  shorter side on each side. GrabCut models colours inside and outside it with two Gaussian mixtures and cuts
  the graph; everything outside the region is background.
* Seeds: a disc around each positive click is sure foreground, around each negative click sure background.
* The answer keeps the connected components that hold a positive click (all of them when only a box was
  given), so stray blobs of similar colour do not come back.
* Confidence: GrabCut has no score. The one we report is the *click agreement*: the share of clicks the
  mask honours (positive inside, negative outside), 1.0 when it honours all — a sanity signal, not a
  probability.
"""

from __future__ import annotations

import cv2
import numpy as np

from cvat_function import InteractorMask, InteractorRequest, Labels, interactor_mask
from cvat_function.core.masks import contour_polygon

# The largest side GrabCut works at; larger regions are scaled down and the mask back up.
WORKING_SIZE = 320
# Without a box, how far the search region extends around the clicks (share of the short side).
GROW = 0.3
ITERATIONS = 4


class ModelHandler:
    """Load once in `__init__` (once per Nuclio worker), answer each interaction in `interact`."""

    # The layout `interact` receives: "RGB", "BGR" (OpenCV) or "GRAY".
    color_order = "BGR"

    def __init__(self, labels: Labels) -> None:
        # GrabCut needs no model (interactors have no labels: `labels` is empty).
        self.rng_seed = 0

    def interact(self, image: np.ndarray, request: InteractorRequest) -> list[InteractorMask]:
        # GrabCut on `image` from `request.pos_points`, `.neg_points`, `.obj_bbox`;
        # return masks built with interactor_mask(...), best first, [] when there is nothing to return.
        height, width = image.shape[:2]
        left, top, right, bottom = self._region(request, width, height)
        crop = image[top : bottom + 1, left : right + 1]
        scale = min(1.0, WORKING_SIZE / max(crop.shape[:2]))
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))  # never 0 pixels
        small = crop if scale == 1.0 else cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        seeds = np.full(small.shape[:2], cv2.GC_PR_FGD if request.obj_bbox else cv2.GC_PR_BGD, dtype=np.uint8)
        if (
            request.obj_bbox is None
        ):  # no box: a probable-foreground core around the clicks, probable background around it
            core = np.zeros(small.shape[:2], dtype=np.uint8)
            for x, y in request.pos_points:
                cv2.circle(core, self._at(x - left, y - top, scale), max(3, int(0.2 * min(small.shape[:2]))), 1, -1)
            seeds[core > 0] = cv2.GC_PR_FGD
        border = max(1, round(2 * scale))
        seeds[:border, :] = seeds[-border:, :] = seeds[:, :border] = seeds[:, -border:] = cv2.GC_BGD
        radius = max(2, int(0.02 * min(small.shape[:2])))
        for points, value in ((request.pos_points, cv2.GC_FGD), (request.neg_points, cv2.GC_BGD)):
            for x, y in points:
                cv2.circle(seeds, self._at(x - left, y - top, scale), radius, int(value), -1)
        if request.obj_bbox is not None and not request.pos_points:
            seeds[:border, :] = seeds[-border:, :] = seeds[:, :border] = seeds[:, -border:] = cv2.GC_PR_BGD
        foreground_seeds = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
        if foreground_seeds.all() or not foreground_seeds.any():
            return []  # a region of a few pixels leaves GrabCut no background (or foreground) to learn from
        cv2.setRNGSeed(self.rng_seed)  # GrabCut initialises its mixtures with k-means: make it repeatable
        background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        colour = small if small.ndim == 3 else cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
        cv2.grabCut(colour, seeds, (0, 0, 1, 1), background, foreground, ITERATIONS, cv2.GC_INIT_WITH_MASK)
        found = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)
        if scale != 1.0:
            found = cv2.resize(found, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST)
        found = self._keep_clicked(found, request, left, top)
        if not found.any():
            return []
        result = interactor_mask(
            found.astype(bool), origin=(left, top), confidence=self._agreement(found, request, left, top)
        )
        if contour_polygon(result.mask) is None:
            return []  # a sliver (e.g. on a 1-pixel-high frame): the CVAT UI ignores masks without a polygon
        return [result]

    @staticmethod
    def _at(x: float, y: float, scale: float) -> tuple[int, int]:
        return round(x * scale), round(y * scale)

    @staticmethod
    def _region(request: InteractorRequest, width: int, height: int) -> tuple[int, int, int, int]:
        if request.obj_bbox is not None:
            x1, y1, x2, y2 = request.obj_bbox
            pad = 2  # GrabCut treats the region's border as background: leave a margin around the box
        else:
            xs = [x for x, _ in request.pos_points + request.neg_points]
            ys = [y for _, y in request.pos_points + request.neg_points]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
            pad = max(32, int(GROW * min(width, height)))
        left, top = max(0, int(x1) - pad), max(0, int(y1) - pad)
        right, bottom = min(width - 1, int(np.ceil(x2)) + pad), min(height - 1, int(np.ceil(y2)) + pad)
        return left, top, right, bottom

    @staticmethod
    def _keep_clicked(found: np.ndarray, request: InteractorRequest, left: int, top: int) -> np.ndarray:
        if not request.pos_points:
            return found
        count, components = cv2.connectedComponents(found)
        keep = {
            int(components[int(y) - top, int(x) - left])
            for x, y in request.pos_points
            if 0 <= int(y) - top < found.shape[0] and 0 <= int(x) - left < found.shape[1]
        } - {0}
        result: np.ndarray = np.isin(components, sorted(keep)).astype(np.uint8) if count > 1 else found
        return result

    @staticmethod
    def _agreement(found: np.ndarray, request: InteractorRequest, left: int, top: int) -> float:
        def inside(x: float, y: float) -> bool:
            row, col = int(y) - top, int(x) - left
            return 0 <= row < found.shape[0] and 0 <= col < found.shape[1] and bool(found[row, col])

        votes = [inside(x, y) for x, y in request.pos_points] + [not inside(x, y) for x, y in request.neg_points]
        return sum(votes) / len(votes) if votes else 1.0
