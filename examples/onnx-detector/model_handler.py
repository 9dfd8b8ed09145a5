"""An ONNX object detector — a YOLOv8 / YOLO11 export (`yolo export model=yolo11n.pt format=onnx`) on onnxruntime.

The work is cvat_function's built-in Ultralytics adapter (cvat_function/onnx/ultralytics.py): letterbox, the
head in any of Ultralytics' layouts (also segment, pose, obb, classify and end-to-end exports, read from the
model's `task` metadata), class-aware NMS, class names from the metadata (without them, the spec's ids), the
execution provider (CUDA, else CPU) logged with the function's load. This file only configures it.
`python -m cvat_function new DIR --from-onnx model.onnx` writes a folder like this one for your own export.
"""

from __future__ import annotations

from pathlib import Path

from cvat_function.onnx import UltralyticsConfig, UltralyticsModel


class ModelHandler(UltralyticsModel):
    config = UltralyticsConfig(
        # The model file; $MODEL_PATH (function.yaml spec.env) overrides it. A model shipped in
        # an installed package: "package://PACKAGE/path/model.onnx".
        model=Path(__file__).with_name("weights") / "model.onnx",
        # The input side of a `dynamic=True` export without `imgsz` metadata.
        input_size=(640, 640),
        iou=0.45,  # Boxes of one class overlapping more than this are one object
        agnostic_nms=False,  # True: NMS across classes (one box per object)
        max_detections=300,  # The most boxes answered for one frame (Ultralytics' max_det)
        class_thresholds={},  # e.g. {"car": 0.6}: a class that needs more than the request's threshold
    )
