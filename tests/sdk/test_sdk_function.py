"""The function folder's ModelHandler driven by cvat-sdk's own auto-annotation driver and cvat-cli's loader."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cvat_cli._internal.common import FunctionLoader
from cvat_sdk import masks as sdk_masks
from cvat_sdk.auto_annotation import BadFunctionError, DetectionFunctionSpec, annotate_task
from cvat_sdk.auto_annotation import driver as sdk_driver

from cvat_function.core.config import load_function_config
from cvat_function.core.errors import SpecError
from cvat_function.core.image import ColorOrder, decode_image
from cvat_function.sdk import function as sdk_function
from cvat_function.sdk.function import DetectionFunction, InvalidAnswerError, create
from cvat_function.sdk.loader import device_env
from tests.sdk.fakes import FIXTURES, TASK_LABELS, FakeClient, FakeTask, square_frame, task_labels

DETECTOR = FIXTURES / "detector"


BOX = (40, 30, 90, 70)


@pytest.fixture(scope="module")
def detector() -> DetectionFunction:
    function = create(function=str(DETECTOR))
    assert isinstance(function, DetectionFunction)
    return function


def _annotate(monkeypatch: pytest.MonkeyPatch, function: Any, frames: list[bytes], **kwargs: Any) -> FakeClient:
    task = FakeTask(task_labels(TASK_LABELS), frames)
    monkeypatch.setattr(sdk_driver, "TaskDataset", task.dataset)
    client = FakeClient()
    annotate_task(client, 42, function, **kwargs)  # type: ignore[arg-type]
    return client


def test_spec_is_cvat_sdks_own_type_with_the_yaml_labels_ids_and_attributes(detector: DetectionFunction) -> None:
    spec = detector.spec
    assert isinstance(spec, DetectionFunctionSpec)
    labels = load_function_config(DETECTOR / "function.yaml").labels
    assert [label.name for label in spec.labels] == labels.names
    by_name = {label.name: label for label in spec.labels}
    assert by_name["square"].id == 3  # declared ids are kept
    assert by_name["corners"].id == 7
    assert len({label.id for label in spec.labels}) == len(spec.labels)  # the others get free ones
    assert by_name["square"].type == "rectangle"
    assert [(a.name, a.input_type.value, a.values) for a in by_name["square"].attributes] == [
        ("colour", "select", ["white", "grey"]),
        ("size", "number", ["0", "4000", "1"]),
        ("solid", "checkbox", []),
    ]
    assert [(s.name, s.type) for s in by_name["corners"].sublabels] == [
        ("tl", "points"),
        ("br", "points"),
        ("centre", "points"),
    ]


def test_cvat_sdk_driver_uploads_every_kind_with_the_tasks_ids(
    monkeypatch: pytest.MonkeyPatch, detector: DetectionFunction
) -> None:
    client = _annotate(monkeypatch, detector, [square_frame(*BOX)], conf_threshold=0.5)
    (upload,) = client.uploads
    shapes = {s.label_id: s for s in upload.shapes}
    assert sorted(shapes) == [101, 102, 103, 104]  # faint (0.3) is under the threshold
    square = shapes[101]
    assert square.type.value == "rectangle"
    assert square.points == [40.0, 30.0, 90.0, 70.0]
    assert {a.spec_id: a.value for a in square.attributes} == {501: "white", 502: "50", 503: "true"}
    assert square.group == 1
    assert square.score == pytest.approx(0.9)
    assert square.source == "auto"
    bitmap = sdk_masks.decode_mask(shapes[102].points, image_width=160, image_height=120)
    expected = np.zeros((120, 160), bool)
    expected[30:70, 40:90] = True
    assert np.array_equal(bitmap, expected)
    elements = {e.label_id: e for e in shapes[103].elements}
    assert elements[201].points == [40.0, 30.0]
    assert elements[202].points == [90.0, 70.0]
    assert [(a.spec_id, a.value) for a in elements[203].attributes] == [(504, "true")]
    (scene,) = upload.tags
    assert scene.label_id == 105
    assert [(a.spec_id, a.value) for a in scene.attributes] == [(505, "dark")]


def test_conf_threshold_reaches_infer_and_none_means_the_functions_default(
    monkeypatch: pytest.MonkeyPatch, detector: DetectionFunction
) -> None:
    model = detector.function.model
    low = _annotate(monkeypatch, detector, [square_frame(*BOX)], conf_threshold=0.2)
    assert model.thresholds[-1] == pytest.approx(0.2)
    assert 106 in {s.label_id for s in low.uploads[0].shapes}
    default = _annotate(monkeypatch, detector, [square_frame(*BOX)])
    assert model.thresholds[-1] == detector.function.settings.default_threshold
    assert 106 not in {s.label_id for s in default.uploads[0].shapes}


def test_conv_mask_to_poly_turns_masks_into_polygons_the_driver_accepts(
    monkeypatch: pytest.MonkeyPatch, detector: DetectionFunction
) -> None:
    client = _annotate(monkeypatch, detector, [square_frame(*BOX)], conv_mask_to_poly=True)
    blob = next(s for s in client.uploads[0].shapes if s.label_id == 102)
    assert blob.type.value == "polygon"
    xs, ys = blob.points[0::2], blob.points[1::2]
    assert (min(xs), min(ys), max(xs), max(ys)) == (40.0, 30.0, 89.0, 69.0)  # the mask's pixel outline


def test_the_model_gets_the_same_pixels_as_from_the_nuclio_handler(
    monkeypatch: pytest.MonkeyPatch, detector: DetectionFunction
) -> None:
    frame = square_frame(*BOX, value=200)
    _annotate(monkeypatch, detector, [frame])
    seen = detector.function.model.seen[-1]
    assert seen.dtype == np.uint8
    assert np.array_equal(seen, decode_image(frame, ColorOrder.BGR))


def test_a_shape_cvat_would_reject_fails_naming_label_and_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    function = create(function=str(DETECTOR), invalid_shapes="error", FIXTURE_BAD="1")
    with pytest.raises(BadFunctionError) as caught:
        _annotate(monkeypatch, function, [square_frame(*BOX)])
    assert isinstance(caught.value, InvalidAnswerError)
    message = str(caught.value)
    assert "'square'" in message
    assert "attributes.colour" in message
    assert "purple" in message


def test_drop_mode_logs_the_rejected_shape_and_uploads_the_rest(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    function = create(function=str(DETECTOR), invalid_shapes="drop", FIXTURE_BAD="1")
    with caplog.at_level(logging.ERROR, logger="cvat_function.sdk"):
        client = _annotate(monkeypatch, function, [square_frame(*BOX)])
    squares = [s for s in client.uploads[0].shapes if s.label_id == 101]
    assert len(squares) == 1
    assert any("dropped invalid shape" in r.getMessage() and "square" in r.getMessage() for r in caplog.records)


def test_cvat_clis_own_loader_builds_it_from_p_parameters() -> None:
    loader = FunctionLoader("cvat_function.sdk.function", None, {"function": str(DETECTOR), "device": "cpu"})
    function = loader.load()
    assert isinstance(function.spec, DetectionFunctionSpec)
    assert function.function.config.name == "sdk-fixture-detector"


def test_unknown_lowercase_parameter_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown parameter"):
        create(function=str(DETECTOR), colour="red")


def test_every_frame_of_a_task_is_annotated_on_its_own_frame(
    monkeypatch: pytest.MonkeyPatch, detector: DetectionFunction
) -> None:
    frames = [square_frame(*BOX), io.BytesIO(square_frame(10, 10, 30, 30)).getvalue()]
    client = _annotate(monkeypatch, detector, frames)
    rectangles = sorted((s.frame, s.points) for s in client.uploads[0].shapes if s.label_id == 101)
    assert rectangles == [(0, [40.0, 30.0, 90.0, 70.0]), (1, [10.0, 10.0, 30.0, 30.0])]


def test_function_file_works_as_well_as_function_module() -> None:
    path = Path(sdk_function.__file__)
    function = FunctionLoader(None, path, {"function": str(DETECTOR)}).load()
    names = load_function_config(DETECTOR / "function.yaml").labels.names
    assert [label.name for label in function.spec.labels] == names


@pytest.mark.parametrize(
    ("device", "visible"), [("cpu", ""), ("cuda", "0"), ("cuda:1", "1"), ("2", "2"), ("CUDA:3", "3")]
)
def test_device_becomes_cuda_visible_devices(device: str, visible: str) -> None:
    assert device_env(device) == {"CUDA_VISIBLE_DEVICES": visible}


def test_an_unknown_device_is_refused() -> None:
    with pytest.raises(SpecError, match="cpu, cuda, cuda:N or N"):
        device_env("tpu")


def test_a_reid_function_has_no_cvat_sdk_counterpart() -> None:
    folder = Path(__file__).resolve().parents[2] / "examples" / "histogram-reid"
    with pytest.raises(BadFunctionError, match="reid has no cvat-sdk counterpart"):
        create(function=str(folder))
