"""cvat_function: turn a computer-vision model into a CVAT AI tool served by Nuclio.

The public surface a model author needs: the shape builders, the label spec types and the errors.
"""

# The one place the version is written: the wheel's metadata (pyproject.toml) and `upgrade` read it here.
__version__ = "0.2.0.dev0"

from .core.config import FunctionConfig, load_function_config
from .core.errors import (
    CvatFunctionError,
    InvalidShapesError,
    ModelError,
    RequestError,
    ShapeError,
    SpecError,
)
from .core.image import ColorOrder, decode_image
from .core.labels import (
    AttributeSpec,
    Labels,
    LabelSpec,
    checkbox_attribute_spec,
    keypoint_spec,
    label_spec,
    number_attribute_spec,
    radio_attribute_spec,
    select_attribute_spec,
    skeleton_label_spec,
    spec_json,
    text_attribute_spec,
)
from .core.masks import BoxMask, decode_rle, encode_rle
from .core.request import InteractorRequest, ReidBox, ReidRequest
from .core.shapes import (
    Attribute,
    InteractorMask,
    Shape,
    TrackedShape,
    cuboid,
    ellipse,
    interactor_mask,
    keypoint,
    mask,
    points,
    polygon,
    polyline,
    rectangle,
    skeleton,
    tag,
    tracked_rectangle,
    tracked_shape,
    xywh,
)

__all__ = [
    "Attribute",
    "AttributeSpec",
    "BoxMask",
    "ColorOrder",
    "CvatFunctionError",
    "FunctionConfig",
    "InteractorMask",
    "InteractorRequest",
    "InvalidShapesError",
    "LabelSpec",
    "Labels",
    "ModelError",
    "ReidBox",
    "ReidRequest",
    "RequestError",
    "Shape",
    "ShapeError",
    "SpecError",
    "TrackedShape",
    "__version__",
    "checkbox_attribute_spec",
    "cuboid",
    "decode_image",
    "decode_rle",
    "ellipse",
    "encode_rle",
    "interactor_mask",
    "keypoint",
    "keypoint_spec",
    "label_spec",
    "load_function_config",
    "mask",
    "number_attribute_spec",
    "points",
    "polygon",
    "polyline",
    "radio_attribute_spec",
    "rectangle",
    "select_attribute_spec",
    "skeleton",
    "skeleton_label_spec",
    "spec_json",
    "tag",
    "text_attribute_spec",
    "tracked_rectangle",
    "tracked_shape",
    "xywh",
]
