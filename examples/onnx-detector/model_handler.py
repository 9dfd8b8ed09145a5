"""An ONNX object detector — a YOLOv8 / YOLO11 export (`yolo export model=yolo11n.pt format=onnx`) on onnxruntime.

1. Load: `onnxruntime.InferenceSession` on `$MODEL_PATH` (default `weights/model.onnx` next to this file, i.e.
   /opt/nuclio/weights/model.onnx when deployed), on CUDA when onnxruntime has it, else on the CPU. The provider
   that is actually active (onnxruntime falls back to the CPU when CUDA cannot load) is logged at start.
2. Classes: from the model's metadata `names` (Ultralytics writes `{0: 'person', 1: 'bicycle', …}`); without
   it, from the spec's ids (`"id": 0` → class 0). Every name must be in function.yaml's spec: the runtime checks
   `labels` when the function starts (`python -m cvat_function labels --from-onnx MODEL.onnx` prints the spec).
3. Input: the frame letterboxed to the model's input size (aspect kept, grey 114 padding, as Ultralytics does),
   RGB, scaled to 0..1, NCHW float32 (float16 for a `half=True` export).
4. Output: the detection head `[1, 4 + nc, N]` — per candidate cx, cy, w, h in input pixels, then one score per
   class, no objectness — or its transpose `[1, N, 4 + nc]`. Each candidate keeps its best class; candidates
   under `threshold` go, NMS removes overlaps, boxes are mapped back through the letterbox and clipped.

Limits, honestly: only detection heads (not `task=segment`/`pose`/`obb` exports, nor end-to-end exports with NMS
inside, `nms=True`/YOLOv10/YOLO26, whose output is `[1, N, 6]`); batch size 1; each candidate keeps one class.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnxruntime

from cvat_function import Labels, Shape, rectangle
from cvat_function.core.labels import parse_class_names

# TODO(template): the model file; $MODEL_PATH (function.yaml spec.env) overrides it.
DEFAULT_MODEL_PATH = Path(__file__).with_name("weights") / "model.onnx"
# TODO(template): the input side for a model exported with dynamic shapes (`dynamic=True`) and no `imgsz` metadata.
DEFAULT_INPUT_SIZE = 640
# TODO(template): two boxes overlapping more than this (intersection over union) are one object; NMS keeps the best.
IOU_THRESHOLD = 0.45
# TODO(template): False: NMS per class (Ultralytics' default); True: across classes (one box per object).
AGNOSTIC_NMS = False
# TODO(template): the most boxes answered for one frame (Ultralytics' max_det).
MAX_DETECTIONS = 300
PAD_VALUE = 114  # Ultralytics' letterbox grey
PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")  # first available wins


def model_path() -> Path:
    return Path(os.environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH)


class ModelHandler:
    """Load once in `__init__` (once per Nuclio worker), answer each frame in `infer`."""

    # TODO(template): the layout `infer` receives: Ultralytics models take RGB.
    color_order = "RGB"

    def __init__(self, labels: Labels) -> None:
        path = model_path()
        if not path.is_file():
            here = Path(__file__).parent
            raise FileNotFoundError(
                f"ONNX model {path} does not exist. List your model in {here / 'weights.lock'} with its SHA-256 and "
                f"fetch it (python scripts/fetch_weights.py --manifest {here / 'weights.lock'}), or set MODEL_PATH to "
                f"the file; for the demo model: python {here / 'make_demo_model.py'}"
            )
        available = onnxruntime.get_available_providers()
        self.session = onnxruntime.InferenceSession(str(path), providers=[p for p in PROVIDERS if p in available])
        self.provider = self.session.get_providers()[0]  # what runs, after any fallback
        metadata: dict[str, str] = self.session.get_modelmeta().custom_metadata_map
        task = metadata.get("task", "detect")
        if task != "detect":
            raise ValueError(f"{path} is a {task!r} model; this handler decodes detection heads (task 'detect')")
        if "names" in metadata:
            self.names = parse_class_names(metadata["names"], f"{path} metadata 'names'")
        else:  # no names in the model: class index = the spec's "id"
            self.names = {label.id: label.name for label in labels if label.id is not None}
            if not self.names:
                raise ValueError(f"{path} has no 'names' metadata and function.yaml's spec has no ids to use instead")
        self.names_from_model = "names" in metadata
        self.num_classes = max(self.names) + 1
        self.labels = tuple(self.names.values())  # checked against the spec by the runtime
        model_input = self.session.get_inputs()[0]
        self.input_name: str = model_input.name
        self.input_dtype = np.float16 if model_input.type == "tensor(float16)" else np.float32
        self.input_size = input_size(model_input.shape, metadata.get("imgsz"))
        self.load_info = {
            "path": str(path),
            "provider": self.provider,
            "input": f"{self.input_name} {self.input_size[0]}x{self.input_size[1]}",
            "classes": len(self.names),
        }

    def infer(self, image: np.ndarray, threshold: float) -> list[Shape]:
        # TODO(template): adapt the decoding if your model's head differs (see the module docstring).
        blob, gain, pad = letterbox(image, self.input_size)
        blob = (blob.transpose(2, 0, 1)[np.newaxis].astype(np.float32) / 255.0).astype(self.input_dtype)
        (output,) = self.session.run(None, {self.input_name: blob})[:1]
        candidates = candidate_rows(np.asarray(output, dtype=np.float32), self.num_classes, self.names_from_model)
        scores_per_class = candidates[:, 4:]
        classes = scores_per_class.argmax(axis=1)
        scores = scores_per_class[np.arange(len(candidates)), classes]
        keep = scores >= threshold
        boxes, scores, classes = candidates[keep, :4], scores[keep], classes[keep]
        xywh = np.column_stack([boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2, boxes[:, 2:4]])
        kept = nms(xywh, scores, classes)
        height, width = image.shape[:2]
        shapes = []
        for index in kept[:MAX_DETECTIONS]:
            x, y, w, h = xywh[index]
            x1 = min(max((x - pad[0]) / gain, 0.0), width)
            y1 = min(max((y - pad[1]) / gain, 0.0), height)
            x2 = min(max((x + w - pad[0]) / gain, 0.0), width)
            y2 = min(max((y + h - pad[1]) / gain, 0.0), height)
            if x2 > x1 and y2 > y1:  # nothing left of a box wholly in the padding
                shapes.append(rectangle(self._name(int(classes[index])), (x1, y1, x2, y2), confidence=scores[index]))
        return shapes

    def _name(self, class_index: int) -> str:
        try:
            return self.names[class_index]
        except KeyError:
            known = ", ".join(f"{i}: {n}" for i, n in self.names.items())
            raise ValueError(f"the model answered class {class_index}, which has no name ({known})") from None


def input_size(shape: Sequence[int | str | None], imgsz: str | None) -> tuple[int, int]:
    """(height, width) of an NCHW input; dynamic dimensions come from the `imgsz` metadata or the default."""
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise ValueError(f"the model's input is {list(shape)}; expected NCHW with 3 channels, e.g. [1, 3, 640, 640]")
    fallback = (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)
    if imgsz:  # Ultralytics writes "[640, 640]" (height, width); literal_eval reads literals only, never code
        value = ast.literal_eval(imgsz)
        sides = [value] * 2 if isinstance(value, int) else list(value)
        if len(sides) != 2 or not all(isinstance(v, int) and v > 0 for v in sides):
            raise ValueError(f"the model's 'imgsz' metadata is {imgsz!r}; expected [height, width]")
        fallback = (sides[0], sides[1])
    height, width = shape[2], shape[3]
    return (
        height if isinstance(height, int) and height > 0 else fallback[0],
        width if isinstance(width, int) and width > 0 else fallback[1],
    )


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, tuple[float, float]]:
    """`image` scaled to fit `size` (height, width) with its aspect kept, padded with grey 114 on both sides as
    Ultralytics' `LetterBox` does; returns it, the scale and the (left, top) padding to undo it."""
    height, width = image.shape[:2]
    gain = min(size[0] / height, size[1] / width)
    new_width, new_height = round(width * gain), round(height * gain)
    pad_x, pad_y = (size[1] - new_width) / 2, (size[0] - new_height) / 2
    if (new_width, new_height) != (width, height):
        image = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(pad_y - 0.1), round(pad_y + 0.1)
    left, right = round(pad_x - 0.1), round(pad_x + 0.1)
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return padded, gain, (float(left), float(top))


def candidate_rows(output: np.ndarray, num_classes: int, exact: bool = True) -> np.ndarray:
    """The head as `(N, 4 + nc)` rows, from `[1, 4 + nc, N]` or `[1, N, 4 + nc]`: the axis of length 4 + nc holds
    the box and the scores. When nc is a guess (`exact=False`: the spec's largest id + 1, the model carries no
    names) and neither axis fits it, the shorter axis does (N is thousands: 8400 candidates at 640×640)."""
    if output.ndim != 3 or output.shape[0] != 1:
        raise ValueError(f"the model answered shape {list(output.shape)}; expected [1, 4 + nc, N] or [1, N, 4 + nc]")
    _, first, second = output.shape
    if first == 4 + num_classes:
        channels_first = True
    elif second == 4 + num_classes:
        channels_first = False
    elif not exact:
        channels_first = first <= second
    else:
        raise ValueError(
            f"the model answered shape {list(output.shape)}, but its {num_classes} class names need an axis of "
            f"{4 + num_classes} (4 box values + one score per class)"
        )
    rows: np.ndarray = output[0].T if channels_first else output[0]
    if rows.shape[1] < 5:
        raise ValueError(f"the model answered shape {list(output.shape)}: no class scores after the 4 box values")
    return rows


def nms(xywh: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> list[int]:
    """Indices kept by non-maximum suppression (OpenCV's), best score first."""
    if len(scores) == 0:
        return []
    boxes = xywh.astype(np.float64).tolist()
    if AGNOSTIC_NMS:
        kept = cv2.dnn.NMSBoxes(boxes, scores.tolist(), 0.0, IOU_THRESHOLD)
    else:
        kept = cv2.dnn.NMSBoxesBatched(boxes, scores.tolist(), classes.tolist(), 0.0, IOU_THRESHOLD)
    return sorted((int(i) for i in np.ravel(kept)), key=lambda i: -float(scores[i]))
