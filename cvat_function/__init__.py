"""cvat_function: turn a computer-vision model into a CVAT AI tool served by Nuclio.

The public surface a model author needs: the shape builders, the label spec types and the errors.
"""

from .errors import (
    CvatFunctionError,
    InvalidShapesError,
    ModelError,
    RequestError,
    ShapeError,
    SpecError,
)
from .image import ColorOrder, decode_image
from .shapes import (
    Attribute,
    Shape,
    keypoint,
    points,
    polygon,
    polyline,
    rectangle,
    skeleton,
    tag,
    xywh,
)
from .spec import AttributeSpec, FunctionConfig, Labels, LabelSpec, load_function_config

__all__ = [
    "Attribute",
    "AttributeSpec",
    "ColorOrder",
    "CvatFunctionError",
    "FunctionConfig",
    "InvalidShapesError",
    "LabelSpec",
    "Labels",
    "ModelError",
    "RequestError",
    "Shape",
    "ShapeError",
    "SpecError",
    "decode_image",
    "keypoint",
    "load_function_config",
    "points",
    "polygon",
    "polyline",
    "rectangle",
    "skeleton",
    "tag",
    "xywh",
]
