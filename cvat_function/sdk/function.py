"""The module to give cvat-cli: the function folder's unchanged `ModelHandler` and function.yaml labels as a
cvat-sdk function.

    cvat-cli --server-host URL task auto-annotate TASK_ID --function-module cvat_function.sdk.function \\
        -p function=str:examples/coins-segmentation [--conf-threshold 0.6] [--conv-mask-to-poly]
    cvat-cli --server-host URL function create-native "My model" --function-module cvat_function.sdk.function
    cvat-cli --server-host URL function run-agent FUNCTION_ID --function-module cvat_function.sdk.function

Parameters (`-p NAME=TYPE:VALUE`, all optional):
  function=str:PATH         the function folder (model_handler.py + function.yaml); default: the current folder
  invalid_shapes=str:MODE   error (raise, naming the label and rule) or drop (log and drop); default: function.yaml's
  device=str:DEVICE         cpu, cuda, cuda:N or N (sets CUDA_VISIBLE_DEVICES before the model loads)
  NAME=str:VALUE            an UPPERCASE name is set as an environment variable before the model loads
                            (e.g. -p MODEL_PATH=str:/models/best.onnx), as function.yaml's spec.env is under Nuclio

The kind comes from function.yaml's `annotations.type`: detector → a detection function (task auto-annotation
and agents), interactor → an interaction function, tracker → a tracking function (agents only). Every answer
passes the same checks as on the Nuclio route (`core.rules`) before cvat-sdk sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cvat_sdk.auto_annotation as cvataa
import numpy as np
import PIL.Image
from cvat_sdk import models

from cvat_function.core.errors import InvalidShapesError, ModelError, ShapeError
from cvat_function.core.image import as_pixel_type, decode_pil_image
from cvat_function.core.request import InteractorRequest
from cvat_function.core.rules import check_interactor_masks, check_shapes, check_state, check_tracked_shape
from cvat_function.core.runtime import Function
from cvat_function.core.shapes import InteractorMask, TrackedShape, format_confidence
from cvat_function.sdk.convert import detection_spec, to_annotation
from cvat_function.sdk.loader import LOG, LogAdapter, load_folder


class InvalidAnswerError(InvalidShapesError, cvataa.BadFunctionError):  # type: ignore[misc]  # cvat-sdk is untyped
    """A shape CVAT would reject, named by label, field and rule; also cvat-sdk's own error type."""


class _Adapter:
    def __init__(self, function: Function) -> None:
        self.function = function
        self.log = LogAdapter()

    def image(self, image: PIL.Image.Image) -> np.ndarray:
        """The decoding, colour order and dtype the Nuclio handler gives the model."""
        fn = self.function
        array = decode_pil_image(image, fn.color_order, max_pixels=fn.settings.max_pixels)
        return as_pixel_type(array, fn.pixel_type)

    def invalid(self, errors: list[ShapeError], what: str = "shape") -> None:
        try:
            self.function.handle_invalid(errors, self.log, what)
        except InvalidShapesError as e:
            raise InvalidAnswerError(e.errors) from None


class DetectionFunction(_Adapter):
    """cvat-sdk's `DetectionFunction` over a detector's `ModelHandler.infer`."""

    def __init__(self, function: Function) -> None:
        super().__init__(function)
        self.spec, self._ids = detection_spec(function.config.labels)

    def detect(
        self, context: cvataa.DetectionFunctionContext, image: PIL.Image.Image
    ) -> list[cvataa.DetectionAnnotation]:
        fn = self.function
        threshold = fn.settings.default_threshold if context.conf_threshold is None else context.conf_threshold
        array = self.image(image)
        shapes = fn.call_model("infer", array, threshold)
        if isinstance(shapes, tuple):
            shapes = list(shapes)
        if not isinstance(shapes, list):
            raise ModelError(f"ModelHandler.infer must return a list of shapes, not {type(shapes).__name__}")
        valid, errors = check_shapes(shapes, fn.config.labels, (array.shape[1], array.shape[0]))
        self.invalid(errors)
        out = []
        for shape in valid:
            if shape.confidence is not None and shape.confidence < threshold:
                continue  # cvat-sdk: "must only return objects with confidence levels >= this value"
            annotation = to_annotation(shape, self._ids, fn.config.labels, conv_mask_to_poly=context.conv_mask_to_poly)
            if annotation is None:
                LOG.warning("mask of label %r has no polygon of 3 points; left out (conv_mask_to_poly)", shape.label)
                continue
            out.append(annotation)
        return out


def interaction_spec(function: Function) -> cvataa.InteractionFunctionSpec:
    """function.yaml's interactor annotations as cvat-sdk's prompt rules (CVAT reads the box keys as bool(str))."""
    config = function.config
    box: int | None = None
    if config.annotations.get("startswith_box"):
        box = 1
    elif config.annotations.get("startswith_box_optional"):
        box = 0
    negative = config.min_neg_points
    return cvataa.InteractionFunctionSpec(
        min_pos_points=max(0, config.min_pos_points),
        min_neg_points=None if negative < 0 else negative,
        min_bounding_boxes=box,
    )


class InteractionFunction(_Adapter):
    """cvat-sdk's `InteractionFunction` (agents, CVAT >= 2.71) over `ModelHandler.interact`."""

    def __init__(self, function: Function) -> None:
        super().__init__(function)
        self.spec = interaction_spec(function)

    def preprocess_image(self, context: cvataa.InteractionFunctionContext, image: PIL.Image.Image) -> np.ndarray:
        return self.image(image)  # the agent caches this per frame, so a frame is decoded once

    def detect(
        self, context: cvataa.InteractionFunctionContext, pp_image: np.ndarray, prompts: cvataa.InteractionPrompts
    ) -> list[cvataa.InteractionResultShape]:
        height, width = pp_image.shape[:2]
        box = None
        if prompts.bounding_box is not None:
            (ax, ay), (bx, by) = prompts.bounding_box
            box = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
        request = InteractorRequest(
            b"",
            tuple((float(x), float(y)) for x, y in prompts.pos_points),
            tuple((float(x), float(y)) for x, y in prompts.neg_points),
            box,
            self.function.settings.default_threshold,
        ).clipped(width, height)
        results = self.function.call_model("interact", pp_image, request)
        if isinstance(results, InteractorMask):
            results = [results]
        if not isinstance(results, (list, tuple)):
            raise ModelError(
                "ModelHandler.interact must return a list of interactor_mask(...) results, "
                f"not {type(results).__name__}"
            )
        valid, errors = check_interactor_masks(results, (width, height))
        self.invalid(errors, "interactor mask")
        return [_interaction_shape(result) for result in valid]


def _interaction_shape(result: InteractorMask) -> cvataa.InteractionResultShape:
    attributes = []
    if result.confidence is not None:
        attributes.append(
            models.AttributeValRequest(
                spec_id=int(cvataa.InteractionResultAttributes.CONFIDENCE), value=format_confidence(result.confidence)
            )
        )
    return cvataa.InteractionResultShape(type="mask", points=result.mask.to_rle(), attributes=attributes)


class TrackingState:
    """What the agent keeps per object (in its worker's memory): the model's state and the last shape.

    A plain class, not a dataclass: cvat-cli's `--function-file` runs this file as a module it never registers
    in `sys.modules`, where `dataclasses` cannot resolve the annotations."""

    __slots__ = ("last", "model_state")

    def __init__(self, model_state: Any, last: TrackedShape) -> None:
        self.model_state = model_state
        self.last = last


class TrackingFunction(_Adapter):
    """cvat-sdk's `TrackingFunction` (agents, CVAT >= 2.42) over `ModelHandler.init_tracking` and `track`."""

    def __init__(self, function: Function) -> None:
        super().__init__(function)
        self.allowed: Sequence[str] = function.config.supported_shape_types or ("rectangle",)
        self.spec = cvataa.TrackingFunctionSpec(supported_shape_types=self.allowed)

    def preprocess_image(self, context: cvataa.TrackingFunctionContext, image: PIL.Image.Image) -> np.ndarray:
        return self.image(image)

    def init_tracking_state(
        self, context: cvataa.TrackingFunctionShapeContext, pp_image: np.ndarray, shape: cvataa.TrackableShape
    ) -> TrackingState:
        start = TrackedShape(shape.type, tuple(float(v) for v in shape.points))
        model_state = self.function.call_model("init_tracking", pp_image, start)
        self._check_state(model_state)
        return TrackingState(model_state, start)

    def track(
        self, context: cvataa.TrackingFunctionShapeContext, pp_image: np.ndarray, state: TrackingState
    ) -> cvataa.TrackableShape | None:
        result = self.function.call_model("track", pp_image, state.model_state)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            self.invalid([ShapeError("tracker", "track", "must return a pair (TrackedShape or None, state)")])
            return _trackable(state.last)
        shape, model_state = result
        self._check_state(model_state)
        state.model_state = model_state
        if shape is None:
            return None  # lost: cvat-sdk's tracking protocol has a "not found" answer
        try:
            check_tracked_shape(shape, [context.original_shape_type])
        except ShapeError as e:
            self.invalid([e], "tracker result")
            return _trackable(state.last)  # drop mode: the object stays where it was, as on the Nuclio route
        state.last = shape
        return _trackable(shape)

    def _check_state(self, model_state: Any) -> None:
        # the agent keeps states in memory, but the same model must also work on Nuclio, where they travel as JSON
        wrapped = {"shape": None, "state": model_state}
        try:
            check_state(wrapped, self.function.settings.max_state_bytes)
        except ShapeError as e:
            self.invalid([e], "tracker state")


def _trackable(shape: TrackedShape) -> cvataa.TrackableShape:
    return cvataa.TrackableShape(type=shape.type, points=list(shape.points))


AnyFunction = DetectionFunction | InteractionFunction | TrackingFunction
_ADAPTERS: dict[str, type[DetectionFunction] | type[InteractionFunction] | type[TrackingFunction]] = {
    "detector": DetectionFunction,
    "interactor": InteractionFunction,
    "tracker": TrackingFunction,
}


def adapt(function: Function) -> AnyFunction:
    """The cvat-sdk function for a loaded function, by its kind."""
    adapter = _ADAPTERS.get(function.config.kind)
    if adapter is None:
        raise cvataa.BadFunctionError(
            f"a {function.config.kind} has no cvat-sdk counterpart (detector, interactor and tracker have)"
        )
    return adapter(function)


def create(
    function: str = ".",
    invalid_shapes: str | None = None,
    device: str | None = None,
    **environment: str,
) -> AnyFunction:
    """cvat-cli's factory: `-p` parameters arrive here as keyword arguments (see the module docstring)."""
    bad = [name for name in environment if not name.isupper()]
    if bad:
        raise TypeError(
            f"unknown parameter(s) {bad}: use function, invalid_shapes, device, or UPPERCASE environment variables"
        )
    loaded = load_folder(
        function, env={k: str(v) for k, v in environment.items()}, invalid_shapes=invalid_shapes, device=device
    )
    return adapt(loaded)
