"""The model: the one file you replace (with the label list in function.yaml).

The default is a detector that runs offline on a fresh clone, built only from what the OpenCV wheel ships:
* `face`: the frontal-face Haar cascade (`cv2.data.haarcascades`, Viola–Jones);
* `person`: OpenCV's built-in HOG + linear SVM people detector (Dalal–Triggs, upright full-body pedestrians
  of at least ~64×128 px at the working scale; it does not find seated or half-visible people).

Confidence: both detectors give an uncalibrated margin, not a probability. It is mapped monotonically with
`confidence = 1 − exp(−margin / s)` — 0 on the decision boundary, approaching 1 for strong detections —
with s = 3 for the cascade's final-stage sum and s = 1.5 for the SVM margin, so the default threshold 0.5
needs a margin ≥ s·ln 2 (2.1 and 1.04). Measured on the shipped samples: the astronaut's face scores a
margin of 6.6 (0.89); the strongest HOG false hit on that image's background has a margin of 0.7 (0.37);
a drawn standing silhouette scores about 3 (0.86). Treat it as a
ranking score: the numbers are not calibrated probabilities.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from cvat_function import Labels, Shape, rectangle, xywh

# TODO(template): the largest side the model works at; images above it are scaled down and the boxes back up.
WORKING_SIZE = 960


class ModelHandler:
    """Load once in `__init__` (once per Nuclio worker), answer each frame in `infer`."""

    # TODO(template): the layout `infer` receives: "RGB", "BGR" (OpenCV) or "GRAY".
    color_order = "BGR"
    # TODO(template): every label name the model can emit; checked against function.yaml when the function starts.
    labels = ("face", "person")

    def __init__(self, labels: Labels) -> None:
        # TODO(template): load your model here, e.g. an onnxruntime.InferenceSession from $MODEL_PATH.
        self.spec = labels
        cascade_file = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self.faces = cv2.CascadeClassifier(cascade_file)
        if self.faces.empty():
            raise RuntimeError(f"OpenCV could not load {cascade_file}; is opencv-python-headless < 5 installed?")
        self.people = cv2.HOGDescriptor()
        self.people.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))

    def infer(self, image: np.ndarray, threshold: float) -> list[Shape]:
        # TODO(template): run your model; return shapes built with cvat_function's builders, label *names*
        # from function.yaml, coordinates in pixels of `image`, and only results with confidence >= threshold.
        height, width = image.shape[:2]
        scale = min(1.0, WORKING_SIZE / max(height, width))
        # at least 1 pixel per side: a 20000×1 frame would otherwise shrink to nothing (OpenCV refuses that)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = image if scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        sx, sy = size[0] / width, size[1] / height
        shapes = []
        for label, box, margin, s in self._detect(small):
            confidence = 1.0 - math.exp(-max(margin, 0.0) / s)
            if confidence >= threshold:
                x1, y1, x2, y2 = xywh(*box)
                shapes.append(rectangle(label, (x1 / sx, y1 / sy, x2 / sx, y2 / sy), confidence=confidence))
        return shapes

    def _detect(self, image: np.ndarray) -> list[tuple[str, list[int], float, float]]:
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        side = max(24, min(gray.shape) // 20)
        boxes, _, face_margins = self.faces.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side), outputRejectLevels=True
        )
        found = [
            ("face", list(b), float(m), 3.0)
            for b, m in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(face_margins), strict=True)
        ]
        if min(image.shape[:2]) >= 128:  # the HOG window is 64×128
            boxes, person_margins = self.people.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.05)
            found += [
                ("person", list(b), float(m), 1.5)
                for b, m in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(person_margins), strict=True)
            ]
        return found
