"""The Nuclio glue behind `main.py`: load once per worker, then answer each request.

`init_function` runs in `init_context`: it reads the label spec from function.yaml, builds the user's
`ModelHandler`, checks the labels the model can emit against the spec, runs one warm-up inference and logs how
long that took. Any failure is raised, chained, so Nuclio never reports a function ready that cannot answer.

`handle_event` runs per request: parse → decode → infer → check (`rules.py`) → serialize, always answering with
`Response(body=<JSON text>, content_type="application/json")` — the one return form Nuclio sends unchanged.
The JSON text comes from `response.dumps` (strict, numpy-aware, splices pre-encoded mask bitmaps).

Each function kind (`annotations.type`) has a Protocol below naming the `ModelHandler` method(s) it calls, and an
answer function in `_KINDS`: detector → `infer`, interactor → `interact`, tracker → `init_tracking` + `track`,
reid → `match`. See docs/kinds.md.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from .config import FunctionConfig, load_function_config
from .errors import CvatFunctionError, InvalidShapesError, ModelError, RequestError, ShapeError, SpecError
from .image import DEFAULT_MAX_PIXELS, ColorOrder, PixelType, as_pixel_type, decode_image
from .labels import Labels
from .request import (
    DEFAULT_THRESHOLD,
    InteractorRequest,
    ReidBox,
    ReidRequest,
    parse_body,
    parse_detector_request,
    parse_interactor_request,
    parse_reid_request,
    parse_tracked_shape,
    parse_tracker_request,
)
from .response import Fragment, dumps, rows_json
from .rules import check_interactor_masks, check_matches, check_shapes, check_state, check_tracked_shape
from .shapes import InteractorMask, Shape, TrackedShape

InvalidShapePolicy = Literal["error", "drop"]

ENV_FUNCTION_YAML = "CVAT_FUNCTION_YAML"
ENV_MAX_PIXELS = "CVAT_FUNCTION_MAX_PIXELS"
ENV_INVALID_SHAPES = "CVAT_FUNCTION_INVALID_SHAPES"
ENV_DEFAULT_THRESHOLD = "CVAT_FUNCTION_DEFAULT_THRESHOLD"
ENV_INTERACTOR_FORMAT = "CVAT_FUNCTION_INTERACTOR_FORMAT"
ENV_MAX_STATE_BYTES = "CVAT_FUNCTION_MAX_STATE_BYTES"
DROPPED_HEADER = "X-Cvat-Function-Dropped"
DEFAULT_MAX_STATE_BYTES = 1 << 20
"""1 MiB: a tracker state rides (signed) on every request for its object; CVAT's body limit is 32 MiB."""

InteractorFormat = Literal["v2", "legacy"]


class Logger(Protocol):
    """The part of Nuclio's logger we may use: it has no .warning(), .exception() or .critical()."""

    def debug_with(self, message: str, *args: Any, **kw_args: Any) -> None: ...
    def info_with(self, message: str, *args: Any, **kw_args: Any) -> None: ...
    def warn_with(self, message: str, *args: Any, **kw_args: Any) -> None: ...
    def error_with(self, message: str, *args: Any, **kw_args: Any) -> None: ...


class DetectorModel(Protocol):
    """What `ModelHandler` provides for a detector (see model_handler.py)."""

    def infer(self, image: np.ndarray, threshold: float) -> Iterable[Shape]: ...


class InteractorModel(Protocol):
    """What `ModelHandler` provides for an interactor (examples/grabcut-interactor)."""

    def interact(self, image: np.ndarray, request: InteractorRequest) -> Iterable[InteractorMask]:
        """Masks for the user's clicks/box (`request`, clipped into the image); best first; `[]` for none."""
        ...


class TrackerModel(Protocol):
    """What `ModelHandler` provides for a tracker (examples/template-tracker).

    States are plain JSON (dict, list, str, numbers, bool, None): CVAT signs them, hands them to the browser
    and passes them back on the next call. The framework wraps each state with the last shape it answered,
    so `track` may return `None` for a lost object and CVAT still gets the last known shape.
    """

    def init_tracking(self, image: np.ndarray, shape: TrackedShape) -> Any:
        """Start tracking `shape` on `image`; return the JSON state."""
        ...

    def track(self, image: np.ndarray, state: Any) -> tuple[TrackedShape | None, Any]:
        """Find the object on the next `image`: `(shape or None if lost, new JSON state)`."""
        ...


class ReidModel(Protocol):
    """What `ModelHandler` provides for a ReID function (examples/histogram-reid)."""

    def match(self, image0: np.ndarray, image1: np.ndarray, request: ReidRequest) -> Sequence[int]:
        """For each box of `request.boxes0`, an index into `request.boxes1` or -1; each index at most once."""
        ...


ModelFactory = Callable[[Labels], Any]


@dataclass(frozen=True, slots=True)
class Settings:
    """Per-deployment knobs, read from the environment (function.yaml `spec.env`)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    invalid_shapes: InvalidShapePolicy = "error"
    default_threshold: float = DEFAULT_THRESHOLD
    interactor_format: InteractorFormat = "v2"
    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        policy = env.get(ENV_INVALID_SHAPES, "error")
        if policy not in ("error", "drop"):
            raise SpecError(ENV_INVALID_SHAPES, f"is {policy!r}", "use 'error' (tests, CLI) or 'drop' (production)")
        try:
            max_pixels = int(env.get(ENV_MAX_PIXELS, DEFAULT_MAX_PIXELS))
            threshold = float(env.get(ENV_DEFAULT_THRESHOLD, DEFAULT_THRESHOLD))
        except ValueError as e:
            raise SpecError("environment", f"a numeric setting is not a number ({e})") from e
        if max_pixels <= 0 or not 0.0 <= threshold <= 1.0:
            raise SpecError("environment", f"{ENV_MAX_PIXELS} must be > 0 and {ENV_DEFAULT_THRESHOLD} in [0, 1]")
        interactor_format = env.get(ENV_INTERACTOR_FORMAT, "v2")
        if interactor_format not in ("v2", "legacy"):
            raise SpecError(
                ENV_INTERACTOR_FORMAT, f"is {interactor_format!r}", "use 'v2' (CVAT >= 2.60) or 'legacy' (older CVAT)"
            )
        try:
            max_state_bytes = int(env.get(ENV_MAX_STATE_BYTES, DEFAULT_MAX_STATE_BYTES))
        except ValueError as e:
            raise SpecError(ENV_MAX_STATE_BYTES, f"is not an integer ({e})") from e
        return cls(
            max_pixels,
            "drop" if policy == "drop" else "error",
            threshold,
            "legacy" if interactor_format == "legacy" else "v2",
            max_state_bytes,
        )


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    payload: Any
    headers: dict[str, str]


@dataclass(slots=True)
class Function:
    """One loaded function: its config, the user's model, and the settings it answers with."""

    config: FunctionConfig
    model: Any
    settings: Settings
    stage: str = field(default="parsing the request", init=False, repr=False, compare=False)
    """What the request in progress is doing, for the 500 answer of an unexpected error (one event at a time
    per worker, so one attribute is enough)."""

    @property
    def color_order(self) -> ColorOrder:
        return ColorOrder(getattr(self.model, "color_order", ColorOrder.RGB))

    def answer(self, body: object, logger: Logger) -> Answer:
        """The status, JSON payload and headers for one request body; never raises.

        A 500 never carries a traceback or the text of an exception the model raised (it can hold file paths
        and data): the client gets the stage that failed, the log gets the message and the traceback. CVAT
        drops error bodies anyway; the log is where a user looks."""
        self.stage = "parsing the request"
        try:
            fields = parse_body(body)
            handler = _KINDS[self.config.kind]
            return handler(self, fields, logger)
        except RequestError as e:
            logger.warn_with("bad request", error=str(e), status=e.status)
            return Answer(e.status, e.to_json(), {})
        except InvalidShapesError as e:
            logger.error_with("invalid shapes", error=str(e))
            return Answer(500, {"error": str(e), "shapes": [err.to_json() for err in e.errors]}, {})
        except ModelError as e:
            cause = e.__cause__
            logger.error_with(
                "model failed",
                error=str(e),
                traceback="".join(traceback.format_exception(cause)) if cause else "",
            )
            return Answer(500, {"error": e.public}, {})
        except Exception as e:  # a framework bug or an exhausted resource: still a JSON answer, never a traceback
            logger.error_with(
                "internal error",
                stage=self.stage,
                error=f"{type(e).__name__}: {e}",
                traceback="".join(traceback.format_exception(e)),
            )
            return Answer(500, {"error": f"internal error while {self.stage} (the function's log has the details)"}, {})

    def call_model(self, method: str, *args: Any) -> Any:
        """Call the user's model and return what it returns; exceptions become a `ModelError` (500).

        A lazy result (generator, map, filter) is consumed here, so an error raised while iterating is the
        model's too."""
        self.stage = f"running ModelHandler.{method}"
        try:
            result = getattr(self.model, method)(*args)
            if isinstance(result, (Generator, map, filter)):
                result = list(result)
            return result
        except CvatFunctionError:
            raise
        except (Exception, SystemExit) as e:  # sys.exit() in a model must not reach the wrapper either
            raise ModelError(
                f"ModelHandler.{method} raised {type(e).__name__}: {e}",
                public=f"ModelHandler.{method} raised {type(e).__name__} (the function's log has the message)",
            ) from e
        finally:
            self.stage = f"checking what ModelHandler.{method} answered"

    def handle_invalid(self, errors: list[ShapeError], logger: Logger, what: str = "shape") -> dict[str, str]:
        """Strict mode raises `InvalidShapesError`; drop mode logs each error and returns the dropped header."""
        if not errors:
            return {}
        if self.settings.invalid_shapes == "error":
            raise InvalidShapesError(errors)
        for error in errors:
            logger.error_with(f"dropped invalid {what}", label=error.label, field=error.field, rule=error.rule)
        return {DROPPED_HEADER: str(len(errors))}

    def finish_shapes(self, shapes: list[Shape], image_size: tuple[int, int], logger: Logger) -> Answer:
        """Check shapes against the spec (`rules.check_shapes`); strict mode raises, drop mode logs each dropped one."""
        valid, errors = check_shapes(shapes, self.config.labels, image_size)
        headers = self.handle_invalid(errors, logger)
        return Answer(200, [shape.to_cvat(pre_encoded=True) for shape in valid], headers)

    @property
    def pixel_type(self) -> PixelType:
        return PixelType(getattr(self.model, "dtype", PixelType.UINT8))

    def decode(self, data: bytes, field: str = "image") -> np.ndarray:
        """Image bytes → the colour order and dtype the model declares (`color_order`, `dtype`)."""
        self.stage = f"decoding {field}"
        image = decode_image(data, self.color_order, max_pixels=self.settings.max_pixels, field=field)
        return as_pixel_type(image, self.pixel_type)


def _answer_detector(fn: Function, fields: dict[str, Any], logger: Logger) -> Answer:
    request = parse_detector_request(fields, fn.settings.default_threshold)
    image = fn.decode(request.image)
    shapes = fn.call_model("infer", image, request.threshold)
    if isinstance(shapes, tuple):
        shapes = list(shapes)
    if not isinstance(shapes, list):
        raise ModelError(f"ModelHandler.infer must return a list of shapes, not {type(shapes).__name__}")
    return fn.finish_shapes(shapes, (image.shape[1], image.shape[0]), logger)


def _answer_interactor(fn: Function, fields: dict[str, Any], logger: Logger) -> Answer:
    request = parse_interactor_request(
        fields,
        fn.settings.default_threshold,
        min_pos_points=fn.config.min_pos_points,
        min_neg_points=fn.config.min_neg_points,
    )
    image = fn.decode(request.image)
    height, width = image.shape[:2]
    results = fn.call_model("interact", image, request.clipped(width, height))
    if isinstance(results, InteractorMask):
        results = [results]
    if not isinstance(results, (list, tuple)):
        raise ModelError(
            f"ModelHandler.interact must return a list of interactor_mask(...) results, not {type(results).__name__}"
        )
    valid, errors = check_interactor_masks(results, (width, height))
    headers = fn.handle_invalid(errors, logger, "interactor mask")
    if fn.settings.interactor_format == "legacy":  # CVAT < 2.60: one full-frame 0/1 array; the first mask wins
        frame = valid[0].mask.full_frame(width, height) if valid else np.zeros((height, width), dtype=bool)
        return Answer(200, {"mask": Fragment(rows_json(frame))}, headers)
    return Answer(200, {"shapes": [result.to_cvat() for result in valid]}, headers)


def _answer_tracker(fn: Function, fields: dict[str, Any], logger: Logger) -> Answer:
    supported = fn.config.supported_shape_types
    request = parse_tracker_request(fields, supported)
    image = fn.decode(request.image)
    allowed = supported or ("rectangle",)
    shapes: list[Any] = []
    states: list[Any] = []
    errors: list[ShapeError] = []
    for index, (start, state) in enumerate(zip(request.shapes, request.states, strict=True)):
        try:
            shape, new_state = _track_one(fn, image, start, state, index, allowed)
        except ShapeError as e:
            errors.append(ShapeError(e.label, e.field, e.rule, index=index))
            if state is None:
                if fn.settings.invalid_shapes == "drop":  # no earlier shape or state to fall back on
                    raise InvalidShapesError(errors[-1:]) from None
                continue  # strict mode: handle_invalid raises with every error below
            shape, new_state = _unwrap_state(fn, state, index, allowed)[0], state  # drop mode: the object stays put
        shapes.append(shape.to_cvat() if supported else list(shape.points))
        states.append(new_state)
    headers = fn.handle_invalid(errors, logger, "tracker result")
    return Answer(200, {"shapes": shapes, "states": states}, headers)


STATE_SHAPE_KEY = "shape"
STATE_MODEL_KEY = "state"


def _track_one(
    fn: Function, image: np.ndarray, start: TrackedShape | None, state: Any, index: int, allowed: Sequence[str]
) -> tuple[TrackedShape, dict[str, Any]]:
    """One object: start (no state) or continue; returns the shape to answer and the wrapped state."""
    if state is None:
        assert start is not None  # parse_tracker_request guarantees a shape where there is no state
        shape: TrackedShape | None = start
        model_state = fn.call_model("init_tracking", image, start)
    else:
        last, previous = _unwrap_state(fn, state, index, allowed)
        try:
            result = fn.call_model("track", image, previous)
        except RequestError as e:  # the model refused its own state (forged, or from another function)
            raise RequestError(
                f"states[{index}].{STATE_MODEL_KEY}{'.' + e.field if e.field else ''}", e.expected, got=e.got
            ) from e
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ShapeError("tracker", "track", "must return a pair (TrackedShape or None, state)")
        shape, model_state = result
        if shape is None:  # lost: CVAT's UI cannot handle null; the object keeps its last known shape
            shape = last
    check_tracked_shape(shape, allowed)
    assert isinstance(shape, TrackedShape)  # checked just above
    wrapped = {STATE_SHAPE_KEY: shape.to_cvat(), STATE_MODEL_KEY: model_state}
    check_state(wrapped, fn.settings.max_state_bytes)
    return shape, wrapped


def _unwrap_state(fn: Function, state: Any, index: int, allowed: Sequence[str]) -> tuple[TrackedShape, Any]:
    """The last shape and the model's state out of a state this framework returned.

    CVAT signs states, but a client that is not CVAT can send anything: the wrapper is checked like a request
    (its shape with the same rules as `shapes[i]`, its size against the limit the answers keep), so a forged
    or foreign state is a 400 naming it, never a 500."""
    field = f"states[{index}]"
    if not isinstance(state, dict) or STATE_SHAPE_KEY not in state or STATE_MODEL_KEY not in state:
        raise RequestError(
            field, "a state this tracker returned earlier (an object with 'shape' and 'state')", got=_json_kind(state)
        )
    last = state[STATE_SHAPE_KEY]
    if not isinstance(last, Mapping):
        raise RequestError(f"{field}.shape", "the {type, points} shape this tracker returned", got=_json_kind(last))
    shape = parse_tracked_shape(last, f"{field}.shape", tuple(allowed))
    assert shape is not None  # a mapping is never the null shape
    try:
        size = len(json.dumps(state, separators=(",", ":"), allow_nan=False).encode("utf-8"))
    except (ValueError, TypeError, RecursionError) as e:
        raise RequestError(field, "a plain JSON state this tracker returned", got=f"{type(e).__name__}") from e
    if size > fn.settings.max_state_bytes:
        raise RequestError(
            field, f"a state of at most {fn.settings.max_state_bytes} bytes (no answer is larger)", got=f"{size} bytes"
        )
    return shape, state[STATE_MODEL_KEY]


def _json_kind(value: object) -> str:
    return (
        "an object" if isinstance(value, Mapping) else "an array" if isinstance(value, list) else type(value).__name__
    )


def _answer_reid(fn: Function, fields: dict[str, Any], logger: Logger) -> Answer:
    request = parse_reid_request(fields, fn.settings.default_threshold)
    image0 = fn.decode(request.image0, "image0")
    image1 = fn.decode(request.image1, "image1")
    matches = fn.call_model("match", image0, image1, request)
    if isinstance(matches, np.ndarray):
        matches = matches.tolist()
    if not isinstance(matches, (list, tuple)):
        raise ModelError(f"ModelHandler.match must return a list of indices, not {type(matches).__name__}")
    cleaned, errors = check_matches(matches, len(request.boxes0), len(request.boxes1))
    headers = fn.handle_invalid(errors, logger, "reid match")
    return Answer(200, cleaned, headers)


_KINDS: dict[str, Callable[[Function, dict[str, Any], Logger], Answer]] = {
    "detector": _answer_detector,
    "interactor": _answer_interactor,
    "tracker": _answer_tracker,
    "reid": _answer_reid,
}


def function_yaml_path(default: str | Path) -> Path:
    """function.yaml next to main.py (in Nuclio: /opt/nuclio/function.yaml), unless $CVAT_FUNCTION_YAML says."""
    return Path(os.environ.get(ENV_FUNCTION_YAML) or default)


def load_function(
    model_factory: ModelFactory, function_yaml: str | Path, env: Mapping[str, str] = os.environ
) -> tuple[Function, dict[str, float]]:
    """Load config and model, check the model's labels, warm it up; returns the function and timings."""
    started = time.perf_counter()
    config = load_function_config(function_yaml)
    if config.kind not in _KINDS:
        raise SpecError(str(function_yaml), f"type {config.kind!r} has no handler in this framework")
    settings = Settings.from_env(env)
    model = model_factory(config.labels)
    check_model_labels(model, config.labels)
    model_load_info(model)  # a malformed load_info fails init here, not after the function is stored
    loaded = time.perf_counter()
    function = Function(config, model, settings)
    check_model_layout(model)
    warm_up = getattr(model, "warm_up", None)
    if callable(warm_up):
        warm_up()
    else:
        _warm_up(function)
    done = time.perf_counter()
    return function, {"load_seconds": loaded - started, "warm_up_seconds": done - loaded}


def check_model_layout(model: object) -> None:
    """`color_order` and `dtype`, when the model declares them, must be values the decoder knows."""
    for attribute, choices in (("color_order", ColorOrder), ("dtype", PixelType)):
        value = getattr(model, attribute, None)
        if value is not None and value not in {c.value for c in choices}:
            allowed = ", ".join(repr(c.value) for c in choices)
            raise SpecError(f"ModelHandler.{attribute}", f"is {value!r}", f"use one of {allowed}")


def check_model_labels(model: object, labels: Labels) -> None:
    """A model that declares `labels` (names it can emit) must emit only names the spec declares."""
    emitted = getattr(model, "labels", None)
    if emitted is None:
        return
    missing = [name for name in emitted if name not in labels]
    if missing:
        raise SpecError(
            "function.yaml metadata.annotations.spec",
            f"lacks label(s) {missing} that the model emits",
            "add them to the spec (CVAT would drop these results silently)",
        )


_WARM_UP_SHAPES = {
    "rectangle": (100.0, 80.0, 180.0, 160.0),
    "ellipse": (140.0, 120.0, 180.0, 90.0),
    "polygon": (100.0, 80.0, 180.0, 80.0, 180.0, 160.0, 100.0, 160.0),
    "polyline": (100.0, 80.0, 180.0, 160.0),
    "points": (140.0, 120.0),
    "cuboid": (100, 80, 100, 160, 180, 80, 180, 160, 120, 70, 120, 150, 200, 70, 200, 150),
}


def _warm_up(function: Function) -> None:
    """One call of the kind's model method(s) on a random 320×240 frame: the first call is often slow (lazy
    initialisation, JIT, caches) and a broken model should fail `init_context`, not the first user."""
    image = as_pixel_type(_warm_up_image(function.color_order), function.pixel_type)
    kind = function.config.kind
    if kind == "detector":
        function.call_model("infer", image, 0.5)
    elif kind == "interactor":
        request = InteractorRequest(b"", ((140.0, 120.0),), (), (100.0, 80.0, 180.0, 160.0), 0.5)
        function.call_model("interact", image, request)
    elif kind == "tracker":
        shape_type = (function.config.supported_shape_types or ("rectangle",))[0]
        shape = TrackedShape(shape_type, tuple(float(v) for v in _WARM_UP_SHAPES[shape_type]))
        state = function.call_model("init_tracking", image, shape)
        function.call_model("track", image, state)
    elif kind == "reid":
        box = ReidBox((100.0, 80.0, 180.0, 160.0))
        function.call_model("match", image, image, ReidRequest(b"", b"", (box,), (box,), 0.5, 50.0))


def _warm_up_image(order: ColorOrder) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (240, 320) if order is ColorOrder.GRAY else (240, 320, 3)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def init_function(context: Any, model_factory: ModelFactory, function_yaml: str | Path) -> None:
    """Body of `init_context`: load once per worker into `context.user_data`; fail loudly."""
    path = function_yaml_path(function_yaml)
    try:
        function, timings = load_function(model_factory, path)
    except Exception as e:
        context.logger.error_with("init_context failed; the function will not become ready", error=str(e))
        raise RuntimeError(f"init_context failed for {path}: {type(e).__name__}: {e}") from e
    context.user_data.function = function
    context.user_data.model = function.model  # the name CVAT's own functions use
    context.logger.info_with(
        "function loaded",
        name=function.config.name,
        kind=function.config.kind,
        labels=len(function.config.labels),
        invalid_shapes=function.settings.invalid_shapes,
        **{key: round(value, 4) for key, value in timings.items()},
        **model_load_info(function.model),
    )


def model_load_info(model: object) -> dict[str, str | int | float | bool]:
    """What the model says about how it loaded (`load_info`, e.g. the device or onnxruntime execution provider
    it runs on), as `model_<key>` fields of the "function loaded" log line; `{}` when it says nothing."""
    info = getattr(model, "load_info", None)
    if info is None:
        return {}
    if not isinstance(info, Mapping) or not all(isinstance(k, str) and k.isidentifier() for k in info):
        raise SpecError("ModelHandler.load_info", "is not a dict with identifier keys", 'e.g. {"provider": "CUDA"}')
    return {f"model_{key}": v if isinstance(v, (str, int, float, bool)) else str(v) for key, v in info.items()}


def handle_event(context: Any, event: Any) -> Any:
    """Body of `handler`: answer one event with a JSON `Response`."""
    function: Function = context.user_data.function
    answer = function.answer(event.body, context.logger)
    try:
        body = dumps(answer.payload)
    except (TypeError, ValueError) as e:  # their messages name a type or a value, never a path
        context.logger.error_with("response is not JSON-serializable", error=str(e))
        answer = Answer(500, {"error": f"the response is not JSON-serializable: {e}"}, {})
        body = json.dumps(answer.payload)
    except Exception as e:  # e.g. RecursionError on an absurdly nested answer
        context.logger.error_with(
            "response could not be serialized", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()
        )
        answer = Answer(500, {"error": "internal error while serializing the answer (the function's log has it)"}, {})
        body = json.dumps(answer.payload)
    return context.Response(
        body=body, content_type="application/json", status_code=answer.status, headers=answer.headers
    )
