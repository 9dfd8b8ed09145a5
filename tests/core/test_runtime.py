"""The Nuclio glue: init_context failures, model errors, invalid shapes, logging, the wire encoding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nuclio_sdk
import pytest

from cvat_function import Labels, load_function_config, rectangle, tag
from cvat_function.core.errors import SpecError
from cvat_function.core.runtime import (
    DROPPED_HEADER,
    ENV_FUNCTION_YAML,
    ENV_INVALID_SHAPES,
    Settings,
    handle_event,
    init_function,
)
from cvat_function.tools.wire import call, encode_output, make_event

from ..support import FIXTURES, b64, encode, fixture_model

FUNCTION_YAML = FIXTURES / "detector" / "function.yaml"
Model = fixture_model("detector")


class NuclioOnlyLogger:
    """Has exactly the methods Nuclio's logger has; anything else (warning, exception…) raises."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    def _log(self, level: str) -> Any:
        def log(message: str, *args: Any, **kw: Any) -> None:
            self.records.append((level, message, kw))

        return log

    def __getattr__(self, name: str) -> Any:
        allowed = {f"{lvl}{suffix}" for lvl in ("debug", "info", "warn", "error") for suffix in ("", "_with")}
        if name in allowed:
            return self._log(name.removesuffix("_with"))
        if name == "bind":
            return lambda **kw: None
        raise AttributeError(f"Nuclio's logger has no {name!r}")


def make_context(logger: Any | None = None) -> nuclio_sdk.Context:
    return nuclio_sdk.Context(logger or NuclioOnlyLogger(), nuclio_sdk.Platform("test"), "0")


def post(context: Any, body: Any, content_type: str = "application/json"):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return call(handle_event, context, make_event(raw, content_type))


def init(context: Any, model: Any = Model, function_yaml: Path = FUNCTION_YAML) -> None:
    """What main.init_context does, on the fixture detector."""
    init_function(context, model, function_yaml)


PNG = b64(encode(__import__("numpy").zeros((32, 48, 3), "uint8"), "PNG"))


@pytest.fixture
def loaded() -> nuclio_sdk.Context:
    context = make_context()
    init(context)
    return context


def test_init_context_loads_the_model_once_and_logs_the_load_time(loaded):
    assert loaded.user_data.model is loaded.user_data.function.model
    (level, message, fields) = loaded.logger.records[-1]
    assert (level, message) == ("info", "function loaded")
    assert fields["name"] == load_function_config(FUNCTION_YAML).name
    assert fields["load_seconds"] >= 0
    assert fields["warm_up_seconds"] > 0


def test_init_context_with_a_missing_function_yaml_fails_loudly_and_chained(monkeypatch, tmp_path: Path):
    monkeypatch.setenv(ENV_FUNCTION_YAML, str(tmp_path / "nope.yaml"))
    context = make_context()
    with pytest.raises(RuntimeError, match="init_context failed") as failure:
        init(context)
    assert isinstance(failure.value.__cause__, SpecError)
    assert "cannot be read" in str(failure.value)
    assert context.logger.records[-1][0] == "error"


def test_init_context_refuses_a_spec_that_lacks_a_label_the_model_emits(monkeypatch, tmp_path: Path):
    text = FUNCTION_YAML.read_text().replace('{ "id": 2, "name": "peak", "type": "points" },', "")
    (tmp_path / "function.yaml").write_text(text)
    monkeypatch.setenv(ENV_FUNCTION_YAML, str(tmp_path / "function.yaml"))
    with pytest.raises(RuntimeError, match=r"lacks label\(s\) \['peak'\]"):
        init(make_context())


def test_init_context_chains_an_exception_raised_by_the_model_constructor(monkeypatch):
    def broken(labels: Labels) -> None:
        raise OSError("weights file /opt/nuclio/model.onnx not found")

    with pytest.raises(RuntimeError, match="weights file") as failure:
        init(make_context(), broken)
    assert isinstance(failure.value.__cause__, OSError)


def test_a_model_that_raises_gives_a_500_naming_the_stage_and_the_log_has_the_message(loaded, monkeypatch):
    def explode(image: Any, threshold: float) -> list[Any]:
        raise ValueError("input tensor has the wrong shape in /opt/nuclio/weights/model.onnx")

    monkeypatch.setattr(loaded.user_data.function.model, "infer", explode)
    response = post(loaded, {"image": PNG})
    assert (response.status, response.content_type) == (500, "application/json")
    assert response.json() == {"error": "ModelHandler.infer raised ValueError (the function's log has the message)"}
    level, message, fields = loaded.logger.records[-1]
    assert (level, message) == ("error", "model failed")
    assert "ValueError" in fields["traceback"]
    assert "/opt/nuclio/weights/model.onnx" in fields["error"]  # the path stays in the log, off the wire
    assert post(loaded, {"image": PNG}).status == 500  # the worker survives and keeps answering


def test_a_model_returning_a_non_list_gives_a_500(loaded, monkeypatch):
    monkeypatch.setattr(loaded.user_data.function.model, "infer", lambda image, threshold: "bright")
    response = post(loaded, {"image": PNG})
    assert response.status == 500
    assert "must return a list of shapes" in response.json()["error"]


BAD_SHAPES = [
    rectangle("bright", (1, 2, 30, 40), confidence=0.9),
    rectangle("Bright", (1, 2, 30, 40)),  # wrong case: CVAT would drop it
    rectangle("dark", (10, 10, 5, 5)),  # inverted box
    tag("bright"),
]


def test_invalid_shapes_are_an_error_naming_label_and_rule_in_strict_mode(loaded, monkeypatch):
    monkeypatch.setattr(loaded.user_data.function.model, "infer", lambda image, threshold: BAD_SHAPES)
    response = post(loaded, {"image": PNG})
    assert response.status == 500
    answer = response.json()
    assert [(e["index"], e["label"], e["field"]) for e in answer["shapes"]] == [
        (1, "Bright", "label"),
        (2, "dark", "points"),
        (3, "bright", "type"),
    ]
    assert "is not in the spec (declared: bright, dark, peak, glow)" in answer["error"]
    assert "x1 < x2" in answer["error"]


def test_invalid_shapes_are_dropped_and_logged_in_production_mode(loaded, monkeypatch):
    function = loaded.user_data.function
    monkeypatch.setattr(function, "settings", Settings(invalid_shapes="drop"))
    monkeypatch.setattr(function.model, "infer", lambda image, threshold: BAD_SHAPES)
    response = post(loaded, {"image": PNG})
    assert response.status == 200
    assert response.json() == [BAD_SHAPES[0].to_cvat()]
    assert response.headers[DROPPED_HEADER] == "3"
    dropped = [r for r in loaded.logger.records if r[1] == "dropped invalid shape"]
    assert [(r[0], r[2]["label"]) for r in dropped] == [("error", "Bright"), ("error", "dark"), ("error", "bright")]


def test_the_policy_comes_from_the_environment():
    assert Settings.from_env({}).invalid_shapes == "error"
    assert Settings.from_env({ENV_INVALID_SHAPES: "drop"}).invalid_shapes == "drop"
    with pytest.raises(SpecError, match="use 'error'"):
        Settings.from_env({ENV_INVALID_SHAPES: "ignore"})
    with pytest.raises(SpecError):
        Settings.from_env({"CVAT_FUNCTION_MAX_PIXELS": "lots"})


def test_every_answer_is_a_json_response_object_that_nuclio_sends_unchanged(loaded):
    for body in ({"image": PNG}, {"image": 1}, b"junk"):
        output = handle_event(loaded, make_event(json.dumps(body) if isinstance(body, dict) else body))
        assert isinstance(output, nuclio_sdk.Response)
        assert isinstance(output.body, str)  # a str body is sent as is; a list body would be repr()'d
        assert output.content_type == "application/json"
        wire = encode_output(output)
        assert wire.status == output.status_code
        assert json.loads(wire.body) == json.loads(output.body)


def test_the_wrapper_rules_we_avoid_are_real():
    """Why the handler never returns a bare list or a Response with a list body."""
    assert encode_output([{"label": "a"}, {"label": "b"}]).body == b'{"label": "a"}'  # first item only
    assert encode_output(nuclio_sdk.Response(body=[1, 2])).body == b"[1, 2]"
    assert encode_output(nuclio_sdk.Response(body=["a"])).body == b"['a']"  # Python repr, not JSON
    assert encode_output([]).status == 500


def test_logging_uses_only_the_methods_nuclio_provides(loaded, monkeypatch):
    for body in ({"image": PNG}, {"image": "???"}, b"", {"image": PNG, "threshold": 7}):
        post(loaded, body)
    monkeypatch.setattr(loaded.user_data.function, "settings", Settings(invalid_shapes="drop"))
    monkeypatch.setattr(loaded.user_data.function.model, "infer", lambda image, threshold: BAD_SHAPES)
    assert post(loaded, {"image": PNG}).status == 200
    monkeypatch.setattr(loaded.user_data.function.model, "infer", lambda image, threshold: 1 / 0)
    assert post(loaded, {"image": PNG}).status == 500
    levels = {record[0] for record in loaded.logger.records}
    assert levels == {"info", "warn", "error"}


def test_a_model_declaring_float32_gets_float_frames_in_the_unit_interval(loaded, monkeypatch):
    seen: list[Any] = []
    model = loaded.user_data.function.model
    monkeypatch.setattr(type(model), "dtype", "float32", raising=False)
    monkeypatch.setattr(model, "infer", lambda image, threshold: seen.append(image) or [])
    assert post(loaded, {"image": PNG}).status == 200
    (frame,) = seen
    assert frame.dtype.name == "float32"
    assert frame.shape == (32, 48, 3)
    assert 0.0 <= float(frame.min()) <= float(frame.max()) <= 1.0


@pytest.mark.parametrize(
    ("attribute", "value", "allowed"), [("color_order", "bgr", "'BGR'"), ("dtype", "f32", "'float32'")]
)
def test_a_misspelled_colour_order_or_dtype_stops_init_context(monkeypatch, attribute, value, allowed):
    monkeypatch.setattr(Model, attribute, value, raising=False)
    with pytest.raises(RuntimeError, match=f"ModelHandler.{attribute}: is '{value}'.*{allowed}"):
        init(make_context())


def test_what_the_model_says_about_its_loading_is_logged_with_the_load(monkeypatch):
    class OnGpu(Model):  # type: ignore[misc, valid-type]
        def __init__(self, labels: Labels) -> None:
            super().__init__(labels)
            self.load_info = {"provider": "CUDAExecutionProvider", "device": 0}

    context = make_context()
    init(context, OnGpu)
    (_, message, fields) = context.logger.records[-1]
    assert message == "function loaded"
    assert (fields["model_provider"], fields["model_device"]) == ("CUDAExecutionProvider", 0)


def test_a_load_info_that_is_not_a_dict_stops_init_context(monkeypatch):
    class Odd(Model):  # type: ignore[misc, valid-type]
        load_info = ("CUDAExecutionProvider",)

    with pytest.raises(RuntimeError, match=r"ModelHandler\.load_info: is not a dict with identifier keys"):
        init(make_context(), Odd)


LEAK = ("Traceback", 'File "', "/work/", "/opt/", ".py")


def assert_generic_500(response: Any, stage: str) -> None:
    assert (response.status, response.content_type) == (500, "application/json"), response.text
    message = response.json()["error"]
    assert stage in message
    assert not any(fragment in response.text for fragment in LEAK), response.text


@pytest.mark.parametrize(
    "error",
    [KeyError("/opt/nuclio/secret.key"), RecursionError("deep"), MemoryError(), AttributeError("x")],
    ids=lambda e: type(e).__name__,
)
def test_an_unexpected_error_in_the_framework_is_a_json_500_naming_the_stage(loaded, monkeypatch, error):
    def broken(*args: Any, **kw: Any) -> Any:
        raise error

    monkeypatch.setattr("cvat_function.core.runtime.decode_image", broken)
    response = post(loaded, {"image": PNG})
    assert_generic_500(response, "internal error while decoding image")
    level, message, fields = loaded.logger.records[-1]
    assert (level, message, fields["stage"]) == ("error", "internal error", "decoding image")
    assert type(error).__name__ in fields["traceback"]


def test_sys_exit_in_the_model_is_a_json_500_and_the_worker_lives_on(loaded, monkeypatch):
    def leave(image: Any, threshold: float) -> None:
        raise SystemExit("/opt/nuclio/model_handler.py gave up")

    monkeypatch.setattr(loaded.user_data.function.model, "infer", leave)
    assert_generic_500(post(loaded, {"image": PNG}), "ModelHandler.infer raised SystemExit")
    assert "/opt/nuclio/model_handler.py" in loaded.logger.records[-1][2]["error"]


def test_an_answer_that_cannot_be_serialized_is_a_json_500(loaded, monkeypatch):
    def too_deep(value: Any) -> str:
        raise RecursionError("maximum recursion depth exceeded while encoding a JSON object")

    monkeypatch.setattr("cvat_function.core.runtime.dumps", too_deep)
    assert_generic_500(post(loaded, {"image": PNG}), "serializing the answer")


def test_a_model_message_with_paths_stays_in_the_log(loaded, monkeypatch):
    def explode(image: Any, threshold: float) -> None:
        raise FileNotFoundError(2, "No such file", "/opt/nuclio/weights/model.onnx")

    monkeypatch.setattr(loaded.user_data.function.model, "infer", explode)
    assert_generic_500(post(loaded, {"image": PNG}), "ModelHandler.infer raised FileNotFoundError")
    assert "/opt/nuclio/weights/model.onnx" in loaded.logger.records[-1][2]["error"]
