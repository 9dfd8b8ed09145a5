"""Property: whatever body a client sends, every function kind answers 2xx or 4xx, never 5xx.

The functions are the repo's own (the default detector and the interactor, tracker and ReID examples), loaded
as Nuclio workers; the bodies are CVAT's request for the kind with fields replaced by arbitrary JSON values
(NaN, huge integers and deep nesting included), arbitrary JSON documents, and arbitrary bytes.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvat_function.tools.answer_checks import synthetic_request
from cvat_function.tools.hostile import png
from cvat_function.tools.wire import LocalFunction, make_logger

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
FOLDERS = {kind: FIXTURES / kind for kind in ("detector", "interactor", "tracker", "reid")}  # never the user's model
IMAGE = png(40, 30)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from([base64.b64encode(IMAGE).decode(), "data:image/png;base64,", "\ud800"])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=15,
)


@pytest.fixture(scope="module")
def functions() -> dict[str, tuple[LocalFunction, dict[str, Any]]]:
    loaded = {}
    for kind, folder in FOLDERS.items():
        function = LocalFunction(folder, make_logger(io.StringIO()))
        good = synthetic_request(kind, IMAGE, (40, 30))
        if kind == "tracker":  # continuations too: the state this function returns
            state = function.request(good).json()["states"][0]
            good = {**good, "shapes": [None], "states": [state]}
        loaded[kind] = (function, good)
    return loaded


def assert_not_5xx(function: LocalFunction, body: bytes, content_type: str = "text/plain") -> None:
    response = function.request(body, content_type)
    assert response.status < 500, response.text[:500]
    assert response.content_type == "application/json"
    if response.status >= 400:
        assert response.json()["field"]


HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("kind", list(FOLDERS))
@HYPOTHESIS
@given(data=st.data())
def test_any_field_replaced_by_any_json_is_answered_2xx_or_4xx(functions, kind: str, data: st.DataObject) -> None:
    function, good = functions[kind]
    body = dict(good)
    if kind == "tracker" and data.draw(st.booleans()):  # reach inside the state this function returned
        state = json.loads(json.dumps(body["states"][0]))
        where = data.draw(st.sampled_from(["shape", "state"]))
        if where == "state" and isinstance(state["state"], dict):
            state["state"][data.draw(st.sampled_from([*sorted(state["state"]), "other"]))] = data.draw(json_values)
        else:
            state[where] = data.draw(json_values)
        body["states"] = [state]
    else:
        for key in data.draw(st.lists(st.sampled_from([*sorted(good), "threshold", "other"]), min_size=1, max_size=3)):
            body[key] = data.draw(json_values)
    assert_not_5xx(function, json.dumps(body).encode())


@pytest.mark.parametrize("kind", list(FOLDERS))
@HYPOTHESIS
@given(value=json_values)
def test_any_json_document_is_answered_2xx_or_4xx(functions, kind: str, value: Any) -> None:
    assert_not_5xx(functions[kind][0], json.dumps(value).encode(), "application/json")


@pytest.mark.parametrize("kind", list(FOLDERS))
@HYPOTHESIS
@given(raw=st.binary(max_size=300))
def test_any_bytes_are_answered_2xx_or_4xx(functions, kind: str, raw: bytes) -> None:
    assert_not_5xx(functions[kind][0], raw)


EXAMPLES = sorted(p.parent for p in ROOT.glob("examples/*/function.yaml"))  # none once examples/ is deleted


@pytest.mark.slow
@pytest.mark.parametrize("folder", [ROOT, *EXAMPLES], ids=lambda p: p.name or "default")
def test_tiny_and_extreme_frames_are_answered_by_the_default_model_and_every_example(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if (folder / "make_demo_model.py").is_file():  # the ONNX example runs on its demo model, built here
        import importlib.util

        spec = importlib.util.spec_from_file_location("demo_model_for_frames", folder / "make_demo_model.py")
        assert spec is not None
        assert spec.loader is not None
        demo = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(demo)
        monkeypatch.setenv("MODEL_PATH", str(demo.write_demo_model(tmp_path / "model.onnx")))
    function = LocalFunction(folder, make_logger(io.StringIO()))
    kind = function.context.user_data.function.config.kind
    for width, height in ((1, 1), (2, 2), (3, 1), (1, 20000), (20000, 1)):
        request = synthetic_request(kind, png(width, height), (width, height))
        response = function.request(request)
        assert response.status == 200, f"{width}x{height}: {response.text[:300]}"
        if kind == "tracker":  # and the continuation on the same frame
            follow = {**request, "shapes": [None], "states": response.json()["states"]}
            assert function.request(follow).status == 200, f"{width}x{height} (continuation)"
