"""Built-in models on onnxruntime: an Ultralytics YOLO export served with a few lines of configuration.

    from cvat_function.onnx import UltralyticsConfig, UltralyticsModel

    class ModelHandler(UltralyticsModel):
        config = UltralyticsConfig(model="weights/model.onnx", iou=0.45)

onnxruntime (and onnx, never) is imported only when a model loads; this package never imports
cvat_function.tools.
"""

from .resources import PackageResource, model_file, parse_model_ref
from .ultralytics import ExportError, ExportInfo, UltralyticsConfig, UltralyticsModel, label_specs, read_export

__all__ = [
    "ExportError",
    "ExportInfo",
    "PackageResource",
    "UltralyticsConfig",
    "UltralyticsModel",
    "label_specs",
    "model_file",
    "parse_model_ref",
    "read_export",
]
