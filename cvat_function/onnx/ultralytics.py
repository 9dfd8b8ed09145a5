"""A built-in detector for Ultralytics ONNX exports (`yolo export model=yolo11n.pt format=onnx`).

One class serves every task an export can carry, read from the model's own metadata (Ultralytics writes
`task`, `names`, `imgsz`, `stride`, `kpt_shape`, `end2end`, `license` as strings: `names` is a Python dict
literal, `imgsz` and `kpt_shape` list literals; all are parsed with `ast.literal_eval`, never executed):

| task     | output(s)                                                      | CVAT answer                        |
|----------|----------------------------------------------------------------|------------------------------------|
| detect   | `[1, 4 + nc, N]`: cx, cy, w, h, one score per class            | `rectangle`                        |
| segment  | `[1, 4 + nc + nm, N]` + prototypes `[1, nm, h/4, w/4]`         | `mask` (+ polygon)                 |
| pose     | `[1, 4 + nc + K·D, N]`: then K keypoints (x, y[, visibility])  | `skeleton` of K points             |
| obb      | `[1, 4 + nc + 1, N]`: then the angle in radians                | `rectangle` with `rotation`        |
| classify | `[1, nc]`: class probabilities                                 | `tag`                              |

The end-to-end (NMS-free) layout — YOLOv10, YOLO26, or an export with `nms=True` — answers `[1, N, 6 + …]`
instead: x1, y1, x2, y2, score, class (obb: cx, cy, w, h, score, class, angle), then the mask coefficients or
keypoints; it needs no NMS. The transpose `[1, N, 4 + nc + …]` of the classic layout is read too.

What happens to a frame: letterboxed to the input size (aspect kept, grey 114 padding, as Ultralytics does;
classification: short side resized, centre crop), RGB 0..1 NCHW float32 (float16 for `half=True`), run, the
candidates under the threshold dropped (per class when `class_thresholds` says), class-aware NMS (IoU `iou`),
at most `max_detections`, everything mapped back through the letterbox to frame pixels.

Execution providers: CUDA when this onnxruntime has it, else the CPU; the one actually running (onnxruntime
falls back silently) is in `load_info`, logged by the runtime on the "function loaded" line.
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from ..core.errors import SpecError
from ..core.labels import Labels, LabelSpec, keypoint_spec, label_spec, parse_class_names, skeleton_label_spec
from ..core.rules import compatible
from ..core.shapes import Shape, keypoint, mask, rectangle, skeleton, tag
from .resources import ModelRef, model_file, parse_model_ref

TASKS = ("detect", "segment", "pose", "obb", "classify")
SHAPE_OF_TASK = {"detect": "rectangle", "segment": "mask", "pose": "skeleton", "obb": "rectangle", "classify": "tag"}
PAD_VALUE = 114  # Ultralytics' letterbox grey
ENV_MODEL_PATH = "MODEL_PATH"
DEFAULT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip
"""COCO's 17 person keypoints, in the order COCO-pose models (Ultralytics' `*-pose.pt`) answer them."""
_COCO_PAIRS = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9), (8, 10),
    (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip
COCO_EDGES = tuple((COCO_KEYPOINTS[a - 1], COCO_KEYPOINTS[b - 1]) for a, b in _COCO_PAIRS)
"""COCO's person skeleton (1-based pairs in the dataset's definition)."""
# Where CVAT's skeleton editor draws each keypoint (100×100 canvas): a person facing the viewer.
COCO_POSITIONS = {
    "nose": (50, 10), "left_eye": (54, 7), "right_eye": (46, 7), "left_ear": (58, 10), "right_ear": (42, 10),
    "left_shoulder": (62, 26), "right_shoulder": (38, 26), "left_elbow": (68, 42), "right_elbow": (32, 42),
    "left_wrist": (72, 56), "right_wrist": (28, 56), "left_hip": (57, 56), "right_hip": (43, 56),
    "left_knee": (58, 75), "right_knee": (42, 75), "left_ankle": (58, 93), "right_ankle": (42, 93),
}  # fmt: skip


class ExportError(ValueError):
    """An export this adapter cannot serve; the message says what was found and what was expected."""


@dataclass(frozen=True)
class UltralyticsConfig:
    """The knobs of the adapter; a function's model_handler.py sets the ones it needs.

    `model`: a path, `package://PACKAGE/path/model.onnx` or `PACKAGE:path/model.onnx` (a file shipped in an
    installed package); `$MODEL_PATH` overrides it when set. `class_thresholds` maps a class name to the score
    it needs when that is higher than the request's threshold. `input_size` (height, width) is only for an export with
    dynamic height/width and no `imgsz` metadata. `spin=True` lets onnxruntime's CPU threads busy-wait between
    runs (its default: faster back-to-back runs, slower everything else in the request).
    """

    model: str | Path = Path("weights") / "model.onnx"
    iou: float = 0.45
    agnostic_nms: bool = False
    max_detections: int = 300
    class_thresholds: Mapping[str, float] = field(default_factory=dict)
    keypoint_threshold: float = 0.5
    mask_threshold: float = 0.5
    polygon_epsilon: float = 1.0
    top_k: int = 5
    input_size: tuple[int, int] | None = None
    providers: Sequence[str] = DEFAULT_PROVIDERS
    spin: bool = False

    def __post_init__(self) -> None:
        for name in ("iou", "keypoint_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"UltralyticsConfig.{name} is {value!r}; expected a number in [0, 1]")
        if not 0.0 < self.mask_threshold < 1.0:
            raise ValueError(f"UltralyticsConfig.mask_threshold is {self.mask_threshold!r}; expected (0, 1)")
        for name, value in self.class_thresholds.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"UltralyticsConfig.class_thresholds[{name!r}] is {value!r}; expected [0, 1]")
        if self.max_detections < 1 or self.top_k < 1:
            raise ValueError("UltralyticsConfig.max_detections and top_k must be >= 1")


@dataclass(frozen=True)
class ExportInfo:
    """What an Ultralytics export says about itself (its metadata and its input)."""

    task: str
    names: dict[int, str]
    input_size: tuple[int, int]
    input_name: str
    half: bool
    end2end: bool
    stride: int | None = None
    kpt_shape: tuple[int, int] | None = None
    kpt_names: dict[int, tuple[str, ...]] = field(default_factory=dict)
    license: str | None = None
    description: str | None = None
    names_from_model: bool = True

    @property
    def num_classes(self) -> int:
        return max(self.names) + 1

    def keypoint_names(self, class_index: int = 0) -> tuple[str, ...]:
        """Sublabel names of a pose class: `kpt_names` metadata, COCO's for 17 keypoints, else "1"…"K"."""
        count = self.kpt_shape[0] if self.kpt_shape else 0
        given = self.kpt_names.get(class_index)
        if given and len(given) == count:
            return given
        if count == len(COCO_KEYPOINTS):
            return COCO_KEYPOINTS
        return tuple(str(i) for i in range(1, count + 1))


def literal(metadata: Mapping[str, str], key: str) -> Any:
    """A metadata value parsed as a Python literal (what Ultralytics writes); None when absent."""
    text = metadata.get(key)
    if text is None:
        return None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ExportError(f"the model's {key!r} metadata is {text[:80]!r}, which is not a Python literal") from None


def read_export(
    metadata: Mapping[str, str],
    input_shape: Sequence[int | str | None],
    input_name: str = "images",
    input_type: str = "tensor(float)",
    *,
    spec_labels: Labels | None = None,
    input_size: tuple[int, int] | None = None,
    where: str = "the model",
) -> ExportInfo:
    """The export's task, classes and input from its metadata and input, or `ExportError` saying why not."""
    task = metadata.get("task", "detect")
    if task not in TASKS:
        raise ExportError(f"{where} has task {task!r} in its metadata; this adapter serves {', '.join(TASKS)}")
    if "names" in metadata:
        names = parse_class_names(metadata["names"], f"{where} metadata 'names'")
        from_model = True
    else:  # no names in the model: class index = the spec's "id"
        names = {label.id: label.name for label in spec_labels or () if label.id is not None}
        from_model = False
        if not names:
            raise ExportError(
                f"{where} has no 'names' metadata (keys: {sorted(metadata) or 'none'}) and function.yaml's spec has "
                "no ids to use instead; expected an Ultralytics export (it writes names) or spec labels with ids"
            )
    if input_type not in ("tensor(float)", "tensor(float16)"):
        raise ExportError(f"{where}'s input {input_name!r} is {input_type}; expected float32 or float16 (NCHW 0..1)")
    if len(input_shape) != 4 or (isinstance(input_shape[1], int) and input_shape[1] != 3):
        raise ExportError(
            f"{where}'s input is {list(input_shape)}; expected NCHW with 3 channels, e.g. [1, 3, 640, 640]"
        )
    batch = input_shape[0]
    if isinstance(batch, int) and batch not in (1, -1, 0):
        raise ExportError(f"{where}'s input has batch size {batch}; expected an export with batch=1 (or dynamic)")
    stride = literal(metadata, "stride")
    size = _input_size(input_shape, literal(metadata, "imgsz"), input_size, where)
    kpt_shape = None
    if task == "pose":
        value = literal(metadata, "kpt_shape")
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and value[1] in (2, 3) and value[0] > 0):
            raise ExportError(
                f"{where} is a pose model with kpt_shape {metadata.get('kpt_shape')!r}; expected [K, 2] or [K, 3]"
            )
        kpt_shape = (int(value[0]), int(value[1]))
    args = literal(metadata, "args")
    nms_inside = isinstance(args, dict) and args.get("nms") is True
    return ExportInfo(
        task=task,
        names=names,
        input_size=size,
        input_name=input_name,
        half=input_type == "tensor(float16)",
        end2end=str(metadata.get("end2end", "")).strip() == "True" or nms_inside,
        stride=int(stride) if isinstance(stride, int) else None,
        kpt_shape=kpt_shape,
        kpt_names=_kpt_names(literal(metadata, "kpt_names")),
        license=metadata.get("license"),
        description=metadata.get("description"),
        names_from_model=from_model,
    )


def _input_size(
    shape: Sequence[int | str | None], imgsz: Any, configured: tuple[int, int] | None, where: str
) -> tuple[int, int]:
    height, width = shape[2], shape[3]
    if isinstance(height, int) and height > 0 and isinstance(width, int) and width > 0:
        return height, width
    fallback = configured
    if imgsz is not None:
        sides = [imgsz] * 2 if isinstance(imgsz, int) else list(imgsz) if isinstance(imgsz, (list, tuple)) else []
        if len(sides) != 2 or not all(isinstance(v, int) and v > 0 for v in sides):
            raise ExportError(f"{where}'s 'imgsz' metadata is {imgsz!r}; expected [height, width]")
        fallback = (sides[0], sides[1])
    if fallback is None:
        raise ExportError(
            f"{where}'s input is {list(shape)} (dynamic height/width) and its metadata has no 'imgsz'; expected a "
            "static export (yolo export ... dynamic=False) or input_size=(height, width) in UltralyticsConfig"
        )
    return (
        height if isinstance(height, int) and height > 0 else fallback[0],
        width if isinstance(width, int) and width > 0 else fallback[1],
    )


def _kpt_names(value: Any) -> dict[int, tuple[str, ...]]:
    """`kpt_names` metadata: `{class: [name, …]}` or one `[name, …]` list for class 0; malformed → ignored."""
    if isinstance(value, (list, tuple)):
        value = {0: value}
    if not isinstance(value, dict):
        return {}
    return {
        int(k): tuple(str(n) for n in v)
        for k, v in value.items()
        if isinstance(k, int) and isinstance(v, (list, tuple)) and len(set(map(str, v))) == len(v)
    }


def label_specs(export: ExportInfo) -> list[LabelSpec]:
    """The function.yaml spec an export needs: one label per class, ids = class indices, of the task's type;
    pose classes are skeletons with one sublabel per keypoint and a generated SVG (COCO's layout for 17)."""
    specs: list[LabelSpec] = []
    for index, name in sorted(export.names.items()):
        if export.task == "pose":
            points = export.keypoint_names(index)
            coco = points == COCO_KEYPOINTS
            specs.append(
                skeleton_label_spec(
                    name,
                    index,
                    [keypoint_spec(p, i) for i, p in enumerate(points)],
                    edges=COCO_EDGES if coco else (),
                    positions={k: (float(x), float(y)) for k, (x, y) in COCO_POSITIONS.items()} if coco else None,
                )
            )
        else:
            specs.append(label_spec(name, index, SHAPE_OF_TASK[export.task]))
    return specs


# --- pre-processing -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was fitted into the input: input pixel = frame pixel × gain + (left, top)."""

    gain: float
    left: float
    top: float

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        """(…, 2k) input-pixel x, y pairs → frame pixels."""
        out = np.array(xy, dtype=np.float64, copy=True)
        out[..., 0::2] = (out[..., 0::2] - self.left) / self.gain
        out[..., 1::2] = (out[..., 1::2] - self.top) / self.gain
        return out


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """`image` scaled to fit `size` (height, width) with its aspect kept and centred on grey 114, as
    Ultralytics' `LetterBox` does for a static input."""
    height, width = image.shape[:2]
    gain = min(size[0] / height, size[1] / width)
    new_width, new_height = max(1, round(width * gain)), max(1, round(height * gain))  # 20000×1 keeps a row
    pad_x, pad_y = (size[1] - new_width) / 2, (size[0] - new_height) / 2
    if (new_width, new_height) != (width, height):
        image = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(pad_y - 0.1), round(pad_y + 0.1)
    left, right = round(pad_x - 0.1), round(pad_x + 0.1)
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return padded, Letterbox(gain, float(left), float(top))


def centre_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Classification input: the short side resized to fit, then the centre cut out (Ultralytics' classify
    transform: resize, centre crop)."""
    height, width = image.shape[:2]
    gain = max(size[0] / height, size[1] / width)
    resized = cv2.resize(image, (max(size[1], round(width * gain)), max(size[0], round(height * gain))))
    top = (resized.shape[0] - size[0]) // 2
    left = (resized.shape[1] - size[1]) // 2
    return resized[top : top + size[0], left : left + size[1]]


def to_blob(image: np.ndarray, dtype: type[np.floating[Any]] = np.float32, *, swap: bool = True) -> np.ndarray:
    """H×W×3 uint8 BGR → 1×3×H×W RGB (`swap=False`: channels kept) scaled to 0..1: the planes split, cast and
    scaled in place (~0.5 ms for 640×640; cv2.dnn.blobFromImage takes ~10 ms)."""
    height, width = image.shape[:2]
    blob = np.empty((1, 3, height, width), dtype=dtype)
    planes = cv2.split(image)
    for channel in range(3):
        blob[0, channel] = planes[2 - channel if swap else channel]
    blob *= dtype(1.0 / 255.0)
    return blob


# --- the model ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidates:
    """Detections in input pixels after threshold and NMS: boxes xyxy (obb: cx, cy, w, h, angle)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    extra: np.ndarray


class UltralyticsModel:
    """A `ModelHandler` for an Ultralytics ONNX export: subclass it and set `config`, or pass one.

    `labels` (the names it emits) is checked by the runtime against function.yaml's spec at start; the adapter
    also checks that each spec label fits the task (a segment model's labels are `mask` or `polygon`, a pose
    model's `skeleton`s with one sublabel per keypoint).
    """

    config: ClassVar[UltralyticsConfig] = UltralyticsConfig()
    # Ultralytics models take RGB; the frame is asked for in OpenCV's BGR (what the decoder has anyway) and the
    # channels are swapped for free while the input blob is written
    color_order = "BGR"

    def __init__(self, labels: Labels, config: UltralyticsConfig | None = None) -> None:
        import onnxruntime  # lazily: the core never needs it

        self.settings = config or type(self).config
        override = os.environ.get(ENV_MODEL_PATH)
        self.model_ref: ModelRef = parse_model_ref(override or self.settings.model)
        available = onnxruntime.get_available_providers()
        wanted = [p for p in self.settings.providers if p in available] or ["CPUExecutionProvider"]
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: the fallback to the CPU is reported through load_info
        if not self.settings.spin:
            # onnxruntime's CPU threads busy-wait after each run by default, taking the cores from the letterbox,
            # decoding and serialization that follow in this same process
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            with model_file(self.model_ref) as path:
                self.session = onnxruntime.InferenceSession(str(path), options, providers=wanted)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f"{e}. List the model in weights.lock with its SHA-256 and fetch it (python scripts/fetch_weights.py "
                f"--manifest weights.lock), or set {ENV_MODEL_PATH} to the file"
            ) from e
        self.provider = self.session.get_providers()[0]  # what runs, after any fallback
        metadata: dict[str, str] = self.session.get_modelmeta().custom_metadata_map
        model_input = self.session.get_inputs()[0]
        self.export = read_export(
            metadata,
            model_input.shape,
            model_input.name,
            model_input.type,
            spec_labels=labels,
            input_size=self.settings.input_size,
            where=str(self.model_ref),
        )
        self.output_names = [o.name for o in self.session.get_outputs()]
        if self.export.task == "segment" and len(self.output_names) < 2:
            raise ExportError(
                f"{self.model_ref} is a segment model with {len(self.output_names)} output; expected 2: the "
                "detections and the mask prototypes [1, nm, h, w]"
            )
        self.names = self.export.names
        self.labels = tuple(self.names.values())
        self.sublabels = self._check_spec(labels)
        self._class_names = [self.names.get(i, "") for i in range(self.export.num_classes)]
        self._unnamed = np.asarray([i for i in range(self.export.num_classes) if i not in self.names], dtype=np.int64)
        height, width = self.export.input_size
        self.load_info = {
            "file": str(self.model_ref),
            "provider": self.provider,
            "task": self.export.task + (" end2end" if self.export.end2end else ""),
            "input": f"{self.export.input_name} {height}x{width}",
            "classes": len(self.names),
        }

    def _check_spec(self, labels: Labels) -> dict[str, tuple[str, ...]]:
        """Each label the model emits must have a spec label of a fitting type; pose: the keypoint sublabels."""
        shape_type = SHAPE_OF_TASK[self.export.task]
        sublabels: dict[str, tuple[str, ...]] = {}
        for index, name in self.names.items():
            spec = labels.get(name)
            if spec is None:
                continue  # the runtime names every missing label at once
            if not compatible(spec.type, shape_type):
                raise SpecError(
                    f"function.yaml spec label {name!r}",
                    f"has type {spec.type!r}, but this {self.export.task} model answers {shape_type}s",
                    f'use "type": "{shape_type}" (`python -m cvat_function labels --from-onnx MODEL.onnx` prints it)',
                )
            if shape_type == "skeleton":
                assert self.export.kpt_shape is not None
                count = self.export.kpt_shape[0]
                if len(spec.sublabels) != count:
                    raise SpecError(
                        f"function.yaml spec label {name!r}",
                        f"has {len(spec.sublabels)} sublabels, but the model answers {count} keypoints per skeleton",
                        f"list {count} points sublabels in keypoint order: {list(self.export.keypoint_names(index))}",
                    )
                sublabels[name] = tuple(s.name for s in spec.sublabels)
        return sublabels

    # The three steps of `infer`, apart so that `bench` can time onnxruntime's share alone.
    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """Frame (H×W×3 BGR uint8, `color_order`) → the RGB input blob and how to map back."""
        size = self.export.input_size
        if self.export.task == "classify":
            fitted, box = centre_crop(image, size), Letterbox(1.0, 0.0, 0.0)
        else:
            fitted, box = letterbox(image, size)
        return to_blob(fitted, np.float16 if self.export.half else np.float32), box

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        outputs = self.session.run(self.output_names, {self.export.input_name: blob})
        return [np.asarray(o, dtype=np.float32) for o in outputs]

    def infer(self, image: np.ndarray, threshold: float) -> list[Shape]:
        blob, box = self.prepare(image)
        return self.decode(self.run(blob), box, (image.shape[1], image.shape[0]), threshold)

    def decode(
        self, outputs: Sequence[np.ndarray], box: Letterbox, frame_size: tuple[int, int], threshold: float
    ) -> list[Shape]:
        """The model's outputs → CVAT shapes on the `frame_size` (width, height) frame."""
        task = self.export.task
        if task == "classify":
            return self._tags(outputs[0], threshold)
        if task == "segment":  # the detections are 3-D, the prototypes 4-D, whatever the exporter's order
            outputs = sorted(outputs[:2], key=lambda o: o.ndim)
        protos = outputs[1] if task == "segment" else None
        if protos is not None and (protos.ndim != 4 or protos.shape[0] != 1):
            raise ExportError(f"{self.model_ref}'s mask prototypes are {list(protos.shape)}; expected [1, nm, h, w]")
        found = self.candidates(outputs[0], threshold, 0 if protos is None else protos.shape[1])
        if task == "detect":
            return self._rectangles(found, box, frame_size)
        if task == "obb":
            return self._rotated(found, box)
        if task == "segment":
            assert protos is not None
            return self._masks(found, protos, box, frame_size)
        return self._skeletons(found, box, frame_size)

    def extra_channels(self, protos: int) -> int:
        task = self.export.task
        if task == "segment":
            return protos
        if task == "pose":
            assert self.export.kpt_shape is not None
            return self.export.kpt_shape[0] * self.export.kpt_shape[1]
        return 1 if task == "obb" else 0

    def thresholds(self, threshold: float) -> np.ndarray:
        """The score each class needs: the request's, or its own from `class_thresholds` where that is higher
        (CVAT's user asked for nothing below the request's). Float64, so a float32 score equal to the threshold
        in float32 but below it as the answered number is not let through."""
        own = self.settings.class_thresholds
        needed = np.asarray([max(threshold, own.get(name, 0.0)) for name in self._class_names], dtype=np.float64)
        if self._unnamed.size:
            needed[self._unnamed] = np.inf  # a class index without a name is never answered
        return needed

    def candidates(self, output: np.ndarray, threshold: float, protos: int = 0) -> Candidates:
        """Threshold, NMS and `max_detections` over the raw detection output (`protos`: mask channels)."""
        nc = self.export.num_classes
        extra = self.extra_channels(protos)
        needed = self.thresholds(threshold)
        if output.ndim != 3 or output.shape[0] != 1:
            raise ExportError(f"{self.model_ref} answered {list(output.shape)}; expected a batch of 1, [1, C, N]")
        end2end_width = 6 + extra  # obb: its angle is the one extra
        classic_width = 4 + nc + extra
        if self.export.end2end or (
            output.shape[1] != classic_width and output.shape[2] == end2end_width != classic_width
        ):
            if output.shape[2] != end2end_width:
                raise ExportError(
                    f"{self.model_ref} is an end-to-end {self.export.task} export answering {list(output.shape)}; "
                    f"expected [1, N, {end2end_width}] (box, score, class" + (", then extras)" if extra else ")")
                )
            rows = output[0]
            scores, classes = rows[:, 4], rows[:, 5].astype(np.int64)
            valid = (classes >= 0) & (classes < nc)
            keep = valid & (scores >= needed[np.clip(classes, 0, nc - 1)])
            rows, scores, classes = rows[keep], scores[keep], classes[keep]
            boxes = rows[:, :4] if self.export.task != "obb" else np.column_stack([rows[:, :4], rows[:, 6]])
            order = np.argsort(-scores, kind="stable")[: self.settings.max_detections]
            return Candidates(boxes[order], scores[order], classes[order], rows[order, 6 : 6 + extra])
        head = self._classic_head(output, classic_width)  # (C, N): one row per channel
        # the best score of each candidate first, on the contiguous (nc, N) block; the rest only for the few kept
        best = head[4 : 4 + nc].max(axis=0)
        chosen = np.flatnonzero(best >= needed.min())
        rows = head[:, chosen].T
        classes = rows[:, 4 : 4 + nc].argmax(axis=1)
        scores = best[chosen]
        keep = scores >= needed[classes]
        rows, scores, classes = rows[keep], scores[keep], classes[keep]
        xywh = rows[:, :4]
        if self.export.task == "obb":
            angles = rows[:, 4 + nc]
            kept = self._nms_rotated(xywh, angles, scores, classes)
            boxes = np.column_stack([xywh, angles])[kept]
        else:
            xyxy = np.column_stack([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2])
            kept = self._nms(xyxy, scores, classes)
            boxes = xyxy[kept]
        extras = rows[kept, 4 + nc : 4 + nc + extra] if self.export.task != "obb" else rows[kept, :0]
        return Candidates(boxes, scores[kept], classes[kept], extras)

    def _classic_head(self, output: np.ndarray, width: int) -> np.ndarray:
        """`[1, C, N]` (Ultralytics' layout) or its transpose `[1, N, C]` → the `(C, N)` view."""
        _, first, second = output.shape
        if first == width:
            head: np.ndarray = output[0]
            return head
        if second == width:
            head = output[0].T
            return head
        what = {
            "detect": "4 box values + one score per class",
            "segment": "4 box values + one score per class + the mask coefficients",
            "pose": "4 box values + one score per class + K×D keypoint values",
            "obb": "4 box values + one score per class + the angle",
        }[self.export.task]
        raise ExportError(
            f"{self.model_ref} answered {list(output.shape)}, but a {self.export.task} export with "
            f"{self.export.num_classes} class(es) needs an axis of {width} ({what}); an end-to-end export "
            "(end2end/nms=True) answers [1, N, 6+…]"
        )

    def _nms(self, xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
        if len(scores) == 0:
            return np.zeros(0, dtype=np.int64)
        boxes = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]]).astype(np.float64).tolist()
        iou = self.settings.iou
        if self.settings.agnostic_nms:
            kept = cv2.dnn.NMSBoxes(boxes, scores.tolist(), 0.0, iou)
        else:
            kept = cv2.dnn.NMSBoxesBatched(boxes, scores.tolist(), classes.tolist(), 0.0, iou)
        return self._best_first(np.ravel(kept).astype(np.int64), scores)

    def _nms_rotated(self, xywh: np.ndarray, angles: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
        if len(scores) == 0:
            return np.zeros(0, dtype=np.int64)
        groups = [np.arange(len(scores))] if self.settings.agnostic_nms else [
            np.flatnonzero(classes == c) for c in np.unique(classes)
        ]  # fmt: skip
        kept: list[int] = []
        for group in groups:
            rects = [((float(x), float(y)), (float(w), float(h)), math.degrees(float(a))) for (x, y, w, h), a in
                     zip(xywh[group], angles[group], strict=True)]  # fmt: skip
            found = cv2.dnn.NMSBoxesRotated(rects, scores[group].tolist(), 0.0, self.settings.iou)
            kept.extend(int(group[i]) for i in np.ravel(found))
        return self._best_first(np.asarray(kept, dtype=np.int64), scores)

    def _best_first(self, kept: np.ndarray, scores: np.ndarray) -> np.ndarray:
        order = np.argsort(-scores[kept], kind="stable")
        return kept[order][: self.settings.max_detections]

    # --- the answers per task ---
    def _rectangles(self, found: Candidates, box: Letterbox, frame_size: tuple[int, int]) -> list[Shape]:
        width, height = frame_size
        xyxy = box.to_frame(found.boxes)
        xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, width)
        xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, height)
        return [
            rectangle(self.names[int(c)], b, confidence=float(s))
            for b, s, c in zip(xyxy, found.scores, found.classes, strict=True)
            if b[2] > b[0] and b[3] > b[1]  # nothing left of a box wholly in the padding
        ]

    def _rotated(self, found: Candidates, box: Letterbox) -> list[Shape]:
        shapes = []
        for (cx, cy, w, h, angle), score, cls in zip(found.boxes, found.scores, found.classes, strict=True):
            (x, y), side_w, side_h = box.to_frame(np.asarray([cx, cy]))[:2], w / box.gain, h / box.gain
            if not (side_w > 0 and side_h > 0 and math.isfinite(angle)):
                continue
            # Ultralytics' angle turns the box clockwise on screen (y grows downwards), as CVAT's rotation does
            rotation = math.degrees(float(angle)) % 360.0
            points = (x - side_w / 2, y - side_h / 2, x + side_w / 2, y + side_h / 2)
            shapes.append(rectangle(self.names[int(cls)], points, confidence=float(score), rotation=rotation))
        return shapes

    def _masks(self, found: Candidates, protos: np.ndarray, box: Letterbox, frame_size: tuple[int, int]) -> list[Shape]:
        planes = protos[0]
        channels, proto_h, proto_w = planes.shape
        scale = proto_w / self.export.input_size[1]  # input pixel → prototype pixel (Ultralytics: 1/4)
        logit = math.log(self.settings.mask_threshold / (1 - self.settings.mask_threshold))  # sigmoid(x) > t
        width, height = frame_size
        frame_boxes = box.to_frame(found.boxes)
        shapes = []
        for (fx1, fy1, fx2, fy2), coefficients, score, cls in zip(
            frame_boxes, found.extra, found.scores, found.classes, strict=True
        ):
            left, top = max((math.floor(fx1)), 0), max((math.floor(fy1)), 0)
            right, bottom = min((math.ceil(fx2)), width) - 1, min((math.ceil(fy2)), height) - 1
            if right < left or bottom < top:
                continue
            # the prototype window under the box (one pixel of margin for the interpolation)
            x_in = np.array([left, right + 1]) * box.gain + box.left
            y_in = np.array([top, bottom + 1]) * box.gain + box.top
            wx1, wx2 = max(int(x_in[0] * scale) - 1, 0), min((math.ceil(x_in[1] * scale)) + 1, proto_w)
            wy1, wy2 = max(int(y_in[0] * scale) - 1, 0), min((math.ceil(y_in[1] * scale)) + 1, proto_h)
            if wx2 <= wx1 or wy2 <= wy1:
                continue
            window = planes[:, wy1:wy2, wx1:wx2].reshape(channels, -1)
            logits = (coefficients.astype(np.float32) @ window).reshape(wy2 - wy1, wx2 - wx1)
            # frame pixel centre (u + 0.5) → prototype pixel index, as one affine map per box
            step = box.gain * scale
            tx = ((left + 0.5) * box.gain + box.left) * scale - 0.5 - wx1
            ty = ((top + 0.5) * box.gain + box.top) * scale - 0.5 - wy1
            matrix = np.array([[step, 0.0, tx], [0.0, step, ty]], dtype=np.float64)
            size = (right - left + 1, bottom - top + 1)
            sampled = cv2.warpAffine(
                logits, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
            )
            bits = sampled > logit
            if not bits.any():
                continue
            shapes.append(
                mask(
                    self.names[int(cls)],
                    bits,
                    origin=(left, top),
                    polygon_epsilon=self.settings.polygon_epsilon,
                    confidence=float(score),
                )
            )
        return shapes

    def _skeletons(self, found: Candidates, box: Letterbox, frame_size: tuple[int, int]) -> list[Shape]:
        assert self.export.kpt_shape is not None
        count, dims = self.export.kpt_shape
        width, height = frame_size
        shapes = []
        for values, score, cls in zip(found.extra, found.scores, found.classes, strict=True):
            name = self.names[int(cls)]
            sublabels = self.sublabels.get(name) or self.export.keypoint_names(int(cls))
            points = values.reshape(count, dims)
            xy = box.to_frame(points[:, :2].reshape(1, -1)).reshape(count, 2)
            visible = points[:, 2] >= self.settings.keypoint_threshold if dims == 3 else np.ones(count, dtype=bool)
            inside = (xy[:, 0] >= 0) & (xy[:, 0] <= width) & (xy[:, 1] >= 0) & (xy[:, 1] <= height)
            xy[:, 0] = np.clip(xy[:, 0], 0, width)
            xy[:, 1] = np.clip(xy[:, 1], 0, height)
            shown = visible & inside & np.isfinite(xy).all(axis=1)
            if not shown.any():
                continue  # CVAT drops a skeleton whose every point is outside
            xy = np.nan_to_num(xy)
            elements = [
                keypoint(sub, float(x), float(y), outside=not bool(on))
                for sub, (x, y), on in zip(sublabels, xy, shown, strict=True)
            ]
            shapes.append(skeleton(name, elements, confidence=float(score)))
        return shapes

    def _tags(self, output: np.ndarray, threshold: float) -> list[Shape]:
        nc = self.export.num_classes
        if output.ndim != 2 or output.shape[0] != 1 or output.shape[1] != nc:
            raise ExportError(
                f"{self.model_ref} is a classify export answering {list(output.shape)}; expected [1, {nc}] "
                f"(one probability per class)"
            )
        probabilities = output[0]
        needed = self.thresholds(threshold)
        order = np.argsort(-probabilities, kind="stable")[: self.settings.top_k]
        return [
            tag(self.names[int(i)], confidence=float(np.clip(probabilities[i], 0.0, 1.0)))
            for i in order
            if int(i) in self.names and probabilities[i] >= needed[i]
        ]


def open_metadata(ref: ModelRef) -> tuple[dict[str, str], Any]:
    """The metadata and first input of an ONNX model, read with onnxruntime without optimizing the graph."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL  # metadata only
    options.log_severity_level = 3
    with model_file(ref) as path:
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise ExportError(f"{ref} cannot be loaded by onnxruntime ({type(e).__name__}: {e})") from e
    metadata: dict[str, str] = session.get_modelmeta().custom_metadata_map
    return metadata, session.get_inputs()[0]
