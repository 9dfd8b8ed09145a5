"""The ONNX detector through the Nuclio SDK path, as CVAT calls it, with tiny graphs built at test time.

Each graph answers a known detection head (`make_demo_model.build_model`), so the tests know where every box
must land on the original image: letterbox undone, classes named from the metadata, threshold, NMS, layouts.
"""

from __future__ import annotations

import base64
import importlib.util
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest

from cvat_function.onnx.ultralytics import letterbox
from cvat_function.tools.wire import LocalFunction, make_logger

HERE = Path(__file__).parent


def _module(name: str) -> ModuleType:
    """A module of this folder under a unique name (every example folder has its own `model_handler`)."""
    spec = importlib.util.spec_from_file_location(f"onnx_detector_{name}", HERE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _module("make_demo_model")

Loader = Callable[..., LocalFunction]


def png(width: int, height: int) -> str:
    image = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return base64.b64encode(data.tobytes()).decode("ascii")


def to_input(box: Sequence[float], width: int, height: int, side: int = 640) -> tuple[float, float, float, float]:
    """Where the letterbox puts the box `(x1, y1, x2, y2)` of a `width`×`height` image: as `(cx, cy, w, h)`."""
    gain = min(side / width, side / height)
    left = round((side - round(width * gain)) / 2 - 0.1)
    top = round((side - round(height * gain)) / 2 - 0.1)
    x1, y1, x2, y2 = (v * gain for v in box)
    return ((x1 + x2) / 2 + left, (y1 + y2) / 2 + top, x2 - x1, y2 - y1)


def row(box: Sequence[float], scores: Sequence[float]) -> tuple[float, ...]:
    return (*box, *scores)


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Loader:
    """Write a model answering `rows` and load this function folder on it, as one Nuclio worker."""

    def load(
        rows: Sequence[Sequence[float]],
        names: Mapping[int, str] | None = demo.DEMO_NAMES,
        *,
        transposed: bool = False,
        input_shape: Sequence[int | str] = (1, 3, 640, 640),
        metadata: Mapping[str, str] | None = None,
        log: io.StringIO | None = None,
    ) -> LocalFunction:
        model = demo.build_model(
            demo.head(rows, transposed=transposed), names, input_shape=input_shape, metadata=metadata
        )
        path = demo.write_model(tmp_path / "model.onnx", model)
        monkeypatch.setenv("MODEL_PATH", str(path))
        return LocalFunction(HERE, make_logger(log or io.StringIO()))

    return load


def detect(function: LocalFunction, image: str, threshold: float = 0.5) -> list[dict[str, Any]]:
    response = function.request({"image": image, "threshold": threshold})
    assert response.status == 200, response.text
    assert response.content_type == "application/json"
    answer: list[dict[str, Any]] = response.json()
    return answer


@pytest.mark.parametrize(
    ("width", "height", "box"), [(1280, 720, (200, 100, 600, 500)), (333, 1000, (50, 200, 250, 700))]
)
def test_the_box_lands_where_it_is_on_the_original_image(load: Loader, width, height, box) -> None:
    function = load([row(to_input(box, width, height), (0.9, 0.0, 0.0))])
    (shape,) = detect(function, png(width, height))
    assert (shape["label"], shape["type"], shape["confidence"]) == ("person", "rectangle", "0.9")
    assert shape["points"] == pytest.approx(box, abs=1e-3)


def test_the_letterbox_puts_the_image_where_the_boxes_are_mapped_back_from() -> None:
    image = np.zeros((720, 1280, 3), np.uint8)
    image[100:500, 200:600] = 255
    padded, box = letterbox(image, (640, 640))
    gain, left, top = box.gain, box.left, box.top
    assert padded.shape == (640, 640, 3)
    assert (padded[:140] == 114).all()
    assert (padded[-140:] == 114).all()
    ys, xs = np.nonzero(padded[..., 0] > 200)
    mapped = (
        (xs.min() - left) / gain,
        (ys.min() - top) / gain,
        (xs.max() + 1 - left) / gain,
        (ys.max() + 1 - top) / gain,
    )
    assert mapped == pytest.approx((200, 100, 600, 500), abs=2 / gain)


def test_boxes_are_clipped_to_the_frame(load: Loader) -> None:
    function = load([row((620.0, 320.0, 100.0, 100.0), (0.0, 0.0, 0.8))])
    (shape,) = detect(function, png(640, 640))
    assert shape["label"] == "car"
    assert shape["points"] == pytest.approx((570, 270, 640, 370))


def test_class_names_come_from_the_model_metadata(load: Loader) -> None:
    function = load([row((320, 320, 100, 100), (0.0, 0.9))], names={0: "car", 1: "person"})
    assert detect(function, png(640, 640))[0]["label"] == "person"  # class 1 of the model, id 0 of the spec
    assert function.context.user_data.model.labels == ("car", "person")


def test_without_names_metadata_the_spec_ids_name_the_classes(load: Loader) -> None:
    function = load([row((320, 320, 100, 100), (0.0, 0.0, 0.9))], names=None)
    assert detect(function, png(640, 640))[0]["label"] == "car"


def test_the_threshold_filters_and_each_box_keeps_its_best_class(load: Loader) -> None:
    function = load([row((160, 160, 100, 100), (0.9, 0.2, 0.0)), row((480, 480, 100, 100), (0.1, 0.4, 0.3))])
    assert [s["label"] for s in detect(function, png(640, 640), 0.5)] == ["person"]
    assert [s["label"] for s in detect(function, png(640, 640), 0.35)] == ["person", "bicycle"]


def test_nms_removes_a_duplicate_of_the_same_class_and_keeps_other_classes(load: Loader) -> None:
    function = load(
        [
            row((320, 320, 200, 200), (0.8, 0.0, 0.0)),
            row((325, 322, 200, 200), (0.9, 0.0, 0.0)),  # the same person again, scored higher
            row((330, 330, 200, 200), (0.0, 0.0, 0.7)),  # a car on top of it: another class
            row((100, 100, 50, 50), (0.6, 0.0, 0.0)),  # a second person, elsewhere
        ]
    )
    answer = detect(function, png(640, 640))
    assert [(s["label"], s["confidence"]) for s in answer] == [("person", "0.9"), ("car", "0.7"), ("person", "0.6")]
    assert answer[0]["points"] == pytest.approx((225, 222, 425, 422))


def test_the_transposed_layout_gives_the_same_answer(load: Loader) -> None:
    rows = [row((320, 320, 200, 200), (0.9, 0.0, 0.0)), row((100, 500, 80, 60), (0.0, 0.0, 0.75))]
    channels_first = detect(load(rows), png(1280, 720))
    assert detect(load(rows, transposed=True), png(1280, 720)) == channels_first
    assert len(channels_first) == 2


def test_dynamic_input_sizes_come_from_the_imgsz_metadata(load: Loader) -> None:
    box = (200, 100, 600, 500)
    function = load(
        [row(to_input(box, 1280, 720, side=320), (0.9, 0.0, 0.0))],
        input_shape=("batch", 3, "height", "width"),
        metadata={"imgsz": "[320, 320]"},
    )
    assert function.context.user_data.model.export.input_size == (320, 320)
    assert detect(function, png(1280, 720))[0]["points"] == pytest.approx(box, abs=1e-3)


def test_the_active_execution_provider_is_logged_at_start(load: Loader) -> None:
    log = io.StringIO()
    function = load([row((320, 320, 100, 100), (0.9, 0.0, 0.0))], log=log)
    model = function.context.user_data.model
    assert model.provider == model.session.get_providers()[0] == "CPUExecutionProvider"  # no CUDA here
    assert "function loaded" in log.getvalue()
    assert "'model_provider': 'CPUExecutionProvider'" in log.getvalue()


def test_a_class_the_spec_lacks_stops_init_context(load: Loader) -> None:
    with pytest.raises(RuntimeError, match=r"lacks label\(s\) \['dog'\] that the model emits"):
        load([row((320, 320, 100, 100), (0.9, 0.0))], names={0: "person", 1: "dog"})


def test_a_missing_model_file_stops_init_context_naming_the_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    missing = tmp_path / "nowhere" / "model.onnx"
    monkeypatch.setenv("MODEL_PATH", str(missing))
    with pytest.raises(RuntimeError, match="init_context failed") as failure:
        LocalFunction(HERE, make_logger(io.StringIO()))
    assert isinstance(failure.value.__cause__, FileNotFoundError)
    assert f"model file {missing} does not exist" in str(failure.value)
    assert "weights.lock" in str(failure.value)
    assert "MODEL_PATH" in str(failure.value)


def test_a_head_that_does_not_fit_the_class_names_stops_init_context(load: Loader) -> None:
    with pytest.raises(RuntimeError, match=r"3 class\(es\) needs an axis of 7"):
        load([row((320, 320, 100, 100), (0.9, 0.0, 0.0, 0.0, 0.0))])


def test_a_model_for_a_task_the_adapter_does_not_know_is_refused(load: Loader) -> None:
    with pytest.raises(RuntimeError, match="has task 'depth' in its metadata; this adapter serves detect, segment"):
        load([row((320, 320, 100, 100), (0.9, 0.0, 0.0))], metadata={"task": "depth"})


def test_the_demo_model_finds_a_person_and_a_car(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert demo.main(["--out", str(tmp_path / "demo.onnx")]) == 0
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "demo.onnx"))
    answer = detect(LocalFunction(HERE, make_logger(io.StringIO())), png(640, 640))
    assert [(s["label"], s["confidence"]) for s in answer] == [("person", "0.9"), ("car", "0.7")]
