"""The Nuclio glue behind `main.py`: load once per worker, then answer each request.

`init_function` runs in `init_context`: it reads the label spec from function.yaml, builds the user's
`ModelHandler`, checks the labels the model can emit against the spec, runs one warm-up inference and logs how
long that took. Any failure is raised, chained, so Nuclio never reports a function ready that cannot answer.

`handle_event` runs per request: parse → decode → infer → validate → serialize, always answering with
`Response(body=<JSON text>, content_type="application/json")` — the one return form Nuclio sends unchanged.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from .errors import CvatFunctionError, InvalidShapesError, ModelError, RequestError, SpecError
from .image import DEFAULT_MAX_PIXELS, ColorOrder, decode_image
from .request import DEFAULT_THRESHOLD, parse_body, parse_detector_request
from .shapes import Shape
from .spec import FunctionConfig, Labels, load_function_config
from .validate import check_shapes

InvalidShapePolicy = Literal["error", "drop"]

ENV_FUNCTION_YAML = "CVAT_FUNCTION_YAML"
ENV_MAX_PIXELS = "CVAT_FUNCTION_MAX_PIXELS"
ENV_INVALID_SHAPES = "CVAT_FUNCTION_INVALID_SHAPES"
ENV_DEFAULT_THRESHOLD = "CVAT_FUNCTION_DEFAULT_THRESHOLD"
DROPPED_HEADER = "X-Cvat-Function-Dropped"


class Logger(Protocol):
    """The part of Nuclio's logger we may use: it has no .warning(), .exception() or .critical()."""

    def debug_with(self, message: str, *args: Any, **kw_args: Any) -> None: ...
    def info_with(self, message: str, *args: Any, **kw_args: Any) -> None: ...
    def warn_with(self, message: str, *args: Any, **kw_args: Any) -> None: ...
    def error_with(self, message: str, *args: Any, **kw_args: Any) -> None: ...


class DetectorModel(Protocol):
    """What `ModelHandler` provides for a detector (see model_handler.py)."""

    def infer(self, image: np.ndarray, threshold: float) -> Iterable[Shape]: ...


ModelFactory = Callable[[Labels], Any]


@dataclass(frozen=True, slots=True)
class Settings:
    """Per-deployment knobs, read from the environment (function.yaml `spec.env`)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    invalid_shapes: InvalidShapePolicy = "error"
    default_threshold: float = DEFAULT_THRESHOLD

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
        return cls(max_pixels, "drop" if policy == "drop" else "error", threshold)


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

    @property
    def color_order(self) -> ColorOrder:
        return ColorOrder(getattr(self.model, "color_order", ColorOrder.RGB))

    def answer(self, body: object, logger: Logger) -> Answer:
        """The status, JSON payload and headers for one request body; never raises."""
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
            return Answer(500, {"error": str(e)}, {})

    def run_model(self, method: str, *args: Any) -> Any:
        """Call the user's model; whatever it raises becomes a `ModelError` (500) naming the exception."""
        try:
            result = getattr(self.model, method)(*args)
            if isinstance(result, (Generator, map, filter)):
                result = list(result)  # consume lazy results inside the try: their errors are the model's too
            return result
        except CvatFunctionError:
            raise
        except Exception as e:
            raise ModelError(f"ModelHandler.{method} raised {type(e).__name__}: {e}") from e

    def finish_shapes(self, shapes: list[Shape], image_size: tuple[int, int], logger: Logger) -> Answer:
        """Validate shapes against the spec; strict mode raises, drop mode logs each dropped shape."""
        valid, errors = check_shapes(shapes, self.config.labels, image_size)
        headers: dict[str, str] = {}
        if errors:
            if self.settings.invalid_shapes == "error":
                raise InvalidShapesError(errors)
            for error in errors:
                logger.error_with("dropped invalid shape", label=error.label, field=error.field, rule=error.rule)
            headers[DROPPED_HEADER] = str(len(errors))
        return Answer(200, [shape.to_cvat() for shape in valid], headers)


def _answer_detector(fn: Function, fields: dict[str, Any], logger: Logger) -> Answer:
    request = parse_detector_request(fields, fn.settings.default_threshold)
    image = decode_image(request.image, fn.color_order, max_pixels=fn.settings.max_pixels)
    shapes = fn.run_model("infer", image, request.threshold)
    if isinstance(shapes, tuple):
        shapes = list(shapes)
    if not isinstance(shapes, list):
        raise ModelError(f"ModelHandler.infer must return a list of shapes, not {type(shapes).__name__}")
    return fn.finish_shapes(shapes, (image.shape[1], image.shape[0]), logger)


_KINDS: dict[str, Callable[[Function, dict[str, Any], Logger], Answer]] = {"detector": _answer_detector}


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
    loaded = time.perf_counter()
    function = Function(config, model, settings)
    warm_up = getattr(model, "warm_up", None)
    if callable(warm_up):
        warm_up()
    elif config.kind == "detector":
        function.run_model("infer", _warm_up_image(function.color_order), 0.5)
    done = time.perf_counter()
    return function, {"load_seconds": loaded - started, "warm_up_seconds": done - loaded}


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
    )


def handle_event(context: Any, event: Any) -> Any:
    """Body of `handler`: answer one event with a JSON `Response`."""
    function: Function = context.user_data.function
    answer = function.answer(event.body, context.logger)
    try:
        body = json.dumps(answer.payload, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        context.logger.error_with("response is not JSON-serializable", error=str(e))
        answer = Answer(500, {"error": f"the response is not JSON-serializable: {e}"}, {})
        body = json.dumps(answer.payload)
    return context.Response(
        body=body, content_type="application/json", status_code=answer.status, headers=answer.headers
    )
