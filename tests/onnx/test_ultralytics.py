"""The Ultralytics adapter through the Nuclio path, one tiny graph per real output layout.

Each graph answers a known head (`onnx_graphs.constant_model`) with the metadata Ultralytics writes, in a
function folder written by the scaffold, so each test knows where every box, mask pixel and keypoint must land
on the original frame. Every answer is also checked as CVAT would read it (`answer_checks.check_answer`).
"""

from __future__ import annotations

import base64
import io
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto

from cvat_function.core.config import load_function_config
from cvat_function.core.masks import decode_detector_mask
from cvat_function.onnx import UltralyticsConfig, UltralyticsModel, parse_model_ref
from cvat_function.onnx.resources import PackageResource
from cvat_function.onnx.ultralytics import COCO_KEYPOINTS, Letterbox, letterbox
from cvat_function.tools.answer_checks import check_answer
from cvat_function.tools.onnx_graphs import (
    constant_model,
    detection_head,
    end2end_head,
    ultralytics_metadata,
    write_model,
)
from cvat_function.tools.scaffold import write_onnx_function
from cvat_function.tools.wire import LocalFunction, make_logger

NAMES = {0: "person", 1: "car"}
Load = Callable[..., LocalFunction]


def png(width: int, height: int) -> str:
    image = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return base64.b64encode(data.tobytes()).decode("ascii")


def to_input(box: Sequence[float], width: int, height: int, side: int = 640) -> tuple[float, float, float, float]:
    """Where the letterbox puts the frame box `(x1, y1, x2, y2)`, as `(cx, cy, w, h)` in input pixels."""
    gain = min(side / width, side / height)
    left = round((side - round(width * gain)) / 2 - 0.1)
    top = round((side - round(height * gain)) / 2 - 0.1)
    x1, y1, x2, y2 = (v * gain for v in box)
    return ((x1 + x2) / 2 + left, (y1 + y2) / 2 + top, x2 - x1, y2 - y1)


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Load:
    """Scaffold a function folder around a graph answering `outputs`, and load it as one Nuclio worker.
    `config` replaces the adapter's configuration in model_handler.py."""
    monkeypatch.delenv("MODEL_PATH", raising=False)
    count = 0

    def load(
        outputs: Sequence[np.ndarray],
        metadata: Mapping[str, str],
        *,
        config: str | None = None,
        input_shape: Sequence[int | str] = (1, 3, 640, 640),
        input_type: int = TensorProto.FLOAT,
        log: io.StringIO | None = None,
    ) -> LocalFunction:
        nonlocal count
        count += 1
        model = write_model(
            tmp_path / f"model{count}.onnx",
            constant_model(outputs, metadata, input_shape=input_shape, input_type=input_type),
        )
        folder = tmp_path / f"fn{count}"
        write_onnx_function(folder, model)
        if config is not None:
            handler = folder / "model_handler.py"
            text = handler.read_text()
            start = text.index("    config = UltralyticsConfig(")
            handler.write_text(
                text[:start] + f'    config = UltralyticsConfig(model=HERE / "weights/model.onnx", {config})\n'
            )
        return LocalFunction(folder, make_logger(log or io.StringIO()))

    return load


def answer(function: LocalFunction, image: str, threshold: float | None = 0.5) -> list[dict[str, Any]]:
    """The function's answer, checked as CVAT reads it."""
    body: dict[str, Any] = {"image": image}
    if threshold is not None:
        body["threshold"] = threshold
    response = function.request(body)
    assert response.status == 200, response.text
    data = base64.b64decode(image)
    size = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[1::-1]
    verdict = check_answer(
        "detector",
        response,
        request=body,
        image_size=size,
        labels=load_function_config(function.dir / "function.yaml").labels,
    )
    assert verdict.ok, verdict.problems
    result: list[dict[str, Any]] = response.json()
    return result


# --- detect -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "box"), [(1280, 720, (200, 100, 600, 500)), (333, 1000, (50, 200, 250, 700))]
)
def test_a_detect_box_lands_where_it_is_on_the_frame(load: Load, width: int, height: int, box: Sequence[int]):
    function = load(
        [detection_head([(*to_input(box, width, height), 0.9, 0.0)])], ultralytics_metadata("detect", NAMES)
    )
    (shape,) = answer(function, png(width, height))
    assert (shape["label"], shape["type"], shape["confidence"]) == ("person", "rectangle", "0.9")
    assert shape["points"] == pytest.approx(box, abs=1e-3)


def test_nms_is_per_class_and_its_iou_is_configurable(load: Load) -> None:
    rows = [
        (320, 320, 200, 200, 0.8, 0.0),
        (330, 322, 200, 200, 0.9, 0.0),  # the same person again (IoU ≈ 0.9), scored higher
        (335, 330, 200, 200, 0.0, 0.7),  # a car on top of it: another class, kept
        (100, 100, 50, 50, 0.6, 0.0),
    ]
    metadata = ultralytics_metadata("detect", NAMES)
    found = answer(load([detection_head(rows)], metadata), png(640, 640))
    assert [(s["label"], s["confidence"]) for s in found] == [("person", "0.9"), ("car", "0.7"), ("person", "0.6")]
    assert found[0]["points"] == pytest.approx((230, 222, 430, 422))
    agnostic = answer(load([detection_head(rows)], metadata, config="agnostic_nms=True"), png(640, 640))
    assert [s["confidence"] for s in agnostic] == ["0.9", "0.6"]
    loose = answer(load([detection_head(rows)], metadata, config="iou=0.95"), png(640, 640))
    assert [s["confidence"] for s in loose] == ["0.9", "0.8", "0.7", "0.6"]


def test_a_class_threshold_raises_the_requests_threshold_for_its_class(load: Load) -> None:
    rows = [(160, 160, 100, 100, 0.55, 0.0), (480, 480, 100, 100, 0.0, 0.3)]
    metadata = ultralytics_metadata("detect", NAMES)
    plain = answer(load([detection_head(rows)], metadata), png(640, 640), threshold=0.2)
    assert [s["label"] for s in plain] == ["person", "car"]
    function = load([detection_head(rows)], metadata, config='class_thresholds={"person": 0.6, "car": 0.25}')
    assert [s["label"] for s in answer(function, png(640, 640), threshold=0.2)] == ["car"]
    assert answer(function, png(640, 640), threshold=0.5) == []  # never below what the request asked for


def test_the_transposed_layout_gives_the_same_answer(load: Load) -> None:
    rows = [(320, 320, 200, 200, 0.9, 0.0), (100, 500, 80, 60, 0.0, 0.75)]
    metadata = ultralytics_metadata("detect", NAMES)
    channels_first = answer(load([detection_head(rows)], metadata), png(1280, 720))
    assert answer(load([detection_head(rows, transposed=True)], metadata), png(1280, 720)) == channels_first
    assert len(channels_first) == 2


def test_a_half_precision_export_is_fed_float16(load: Load) -> None:
    function = load(
        [detection_head([(320, 320, 100, 100, 0.9, 0.0)])],
        ultralytics_metadata("detect", NAMES),
        input_type=TensorProto.FLOAT16,
    )
    assert function.context.user_data.model.export.half
    assert answer(function, png(640, 640))[0]["points"] == pytest.approx((270, 270, 370, 370))


def test_dynamic_height_and_width_come_from_imgsz(load: Load) -> None:
    box = (200, 100, 600, 500)
    function = load(
        [detection_head([(*to_input(box, 1280, 720, side=320), 0.9, 0.0)])],
        ultralytics_metadata("detect", NAMES, (320, 320)),
        input_shape=("batch", 3, "height", "width"),
    )
    assert function.context.user_data.model.export.input_size == (320, 320)
    assert answer(function, png(1280, 720))[0]["points"] == pytest.approx(box, abs=1e-3)


def test_the_active_execution_provider_is_logged_at_start(load: Load) -> None:
    log = io.StringIO()
    function = load([detection_head([(320, 320, 100, 100, 0.9, 0.0)])], ultralytics_metadata("detect", NAMES), log=log)
    model = function.context.user_data.model
    assert model.provider == model.session.get_providers()[0] == "CPUExecutionProvider"  # no CUDA here
    assert "'model_provider': 'CPUExecutionProvider'" in log.getvalue()
    assert "'model_task': 'detect'" in log.getvalue()


# --- end-to-end (NMS-free) ------------------------------------------------------------------------------------


def test_an_end2end_export_is_read_as_boxes_scores_classes_without_nms(load: Load) -> None:
    rows = [
        (100, 240, 300, 400, 0.9, 0),  # x1, y1, x2, y2 in input pixels (1280×720 → gain 0.5, 140 px top pad)
        (110, 245, 300, 400, 0.8, 0),  # overlapping: an end-to-end model already chose; no NMS here
        (400, 300, 500, 380, 0.3, 1),  # under the threshold
    ] + [(0, 0, 0, 0, 0.0, 0)] * 297  # the padding rows of a 300-detection export
    function = load([end2end_head(rows)], ultralytics_metadata("detect", NAMES, end2end=True))
    found = answer(function, png(1280, 720))
    assert [(s["label"], s["confidence"]) for s in found] == [("person", "0.9"), ("person", "0.8")]
    assert found[0]["points"] == pytest.approx((200, 200, 600, 520))


def test_an_nms_export_without_end2end_metadata_is_read_from_its_args(load: Load) -> None:
    metadata = ultralytics_metadata("detect", NAMES, extra={"args": str({"batch": 1, "nms": True})})
    function = load([end2end_head([(100, 100, 200, 200, 0.9, 1)] * 2)], metadata)
    assert [s["label"] for s in answer(function, png(640, 640))] == ["car", "car"]


# --- segment ----------------------------------------------------------------------------------------------


def segment_outputs(task_box: Sequence[float], region: tuple[int, int, int, int], nc: int = 2) -> list[np.ndarray]:
    """One candidate (box in input pixels) whose mask is the prototype-pixel `region` (x1, y1, x2, y2)."""
    coefficients = np.zeros(32, np.float32)
    coefficients[0] = 1.0
    row = (*task_box, 0.9, *([0.0] * (nc - 1)), *coefficients)
    protos = np.zeros((1, 32, 160, 160), np.float32)
    protos[0, 0] = -8.0
    x1, y1, x2, y2 = region
    protos[0, 0, y1:y2, x1:x2] = 8.0
    return [detection_head([row]), protos]


def test_a_segment_mask_is_cropped_to_its_box_on_the_frame_with_a_polygon(load: Load) -> None:
    # frame 1280×720 → input gain 0.5, 140 px top pad; prototypes are 1/4 of the input
    # mask: frame x 400..799, y 200..519 → input x 200..399, y 240..399 → prototype x 50..99, y 60..99
    outputs = segment_outputs(to_input((360, 160, 840, 560), 1280, 720), (50, 60, 100, 100))
    function = load(outputs, ultralytics_metadata("segment", NAMES))
    (shape,) = answer(function, png(1280, 720))
    assert (shape["label"], shape["type"]) == ("person", "mask")
    found = decode_detector_mask(shape["mask"])
    assert found.box == (360, 160, 839, 559)  # the detection box, inclusive
    expected = np.zeros((720, 1280), bool)
    expected[200:520, 400:800] = True
    frame = found.full_frame(1280, 720)
    assert (frame & expected).sum() / (frame | expected).sum() > 0.98
    xs, ys = shape["points"][0::2], shape["points"][1::2]  # the outline for "convert masks to polygons"
    assert min(xs) == pytest.approx(400, abs=2)
    assert max(xs) == pytest.approx(799, abs=2)
    assert min(ys) == pytest.approx(200, abs=2)
    assert max(ys) == pytest.approx(519, abs=2)


def test_a_segment_mask_outside_its_box_is_cut_to_the_box(load: Load) -> None:
    # the prototype region is larger than the box: the mask is the box (Ultralytics crops masks to boxes)
    outputs = segment_outputs((320, 320, 80, 80), (0, 0, 160, 160))
    (shape,) = answer(load(outputs, ultralytics_metadata("segment", NAMES)), png(640, 640))
    found = decode_detector_mask(shape["mask"])
    assert found.box == (280, 280, 359, 359)
    assert found.bitmap.all()


def test_an_end2end_segment_export_reads_coefficients_after_box_score_class(load: Load) -> None:
    coefficients = [1.0] + [0.0] * 31
    rows = [(280, 280, 360, 360, 0.9, 1, *coefficients)] + [(0, 0, 0, 0, 0.0, 0, *([0.0] * 32))] * 9
    protos = np.full((1, 32, 160, 160), 8.0, np.float32)
    function = load([end2end_head(rows), protos], ultralytics_metadata("segment", NAMES, end2end=True))
    (shape,) = answer(function, png(640, 640))
    assert shape["label"] == "car"
    assert decode_detector_mask(shape["mask"]).box == (280, 280, 359, 359)


# --- pose -------------------------------------------------------------------------------------------------


def test_pose_answers_skeletons_with_coco_keypoints_and_hidden_ones_outside(load: Load) -> None:
    keypoints = np.stack([np.linspace(260, 380, 17), np.linspace(200, 440, 17), np.full(17, 0.9)], axis=1)
    keypoints[3, 2] = keypoints[4, 2] = 0.2  # the ears: not visible
    keypoints[16, 0] = -30.0  # the right ankle off the frame, however visible
    row = (320, 320, 160, 260, 0.85, *keypoints.ravel())
    metadata = ultralytics_metadata("pose", {0: "person"}, kpt_shape=(17, 3))
    function = load([detection_head([row])], metadata)
    spec = load_function_config(function.dir / "function.yaml").labels.get("person")
    assert spec is not None
    assert spec.type == "skeleton"
    assert tuple(s.name for s in spec.sublabels) == COCO_KEYPOINTS
    assert spec.svg.count('data-type="edge"') == 19
    (shape,) = answer(function, png(640, 640))
    assert (shape["label"], shape["type"], shape["confidence"]) == ("person", "skeleton", "0.85")
    elements = {e["label"]: e for e in shape["elements"]}
    assert list(elements) == list(COCO_KEYPOINTS)
    assert elements["nose"]["points"] == pytest.approx(keypoints[0, :2])
    assert [name for name, e in elements.items() if e["outside"]] == ["left_ear", "right_ear", "right_ankle"]
    assert elements["right_ankle"]["points"][0] == 0.0  # clipped onto the frame


def test_pose_without_visibility_and_with_other_keypoint_counts(load: Load) -> None:
    keypoints = [(300.0 + 10 * i, 300.0) for i in range(5)]
    row = (320, 320, 160, 160, 0.9, *np.ravel(keypoints))
    metadata = ultralytics_metadata("pose", {0: "hand"}, kpt_shape=(5, 2))
    (shape,) = answer(load([detection_head([row])], metadata), png(640, 640))
    assert [e["label"] for e in shape["elements"]] == ["1", "2", "3", "4", "5"]
    assert not any(e["outside"] for e in shape["elements"])


def test_a_pose_skeleton_whose_every_keypoint_is_hidden_is_left_out(load: Load) -> None:
    row = (320, 320, 160, 160, 0.9, *([300.0, 300.0, 0.1] * 17))
    metadata = ultralytics_metadata("pose", {0: "person"}, kpt_shape=(17, 3))
    assert answer(load([detection_head([row])], metadata), png(640, 640)) == []


# --- obb --------------------------------------------------------------------------------------------------


def test_obb_answers_rotated_rectangles_in_degrees_around_the_centre(load: Load) -> None:
    rows = [
        (320, 200, 100, 40, 0.9, math.pi / 6),
        (322, 201, 100, 40, 0.8, math.pi / 6),  # the same plane again: rotated NMS removes it
        (150, 450, 60, 30, 0.7, -math.pi / 12),
    ]
    function = load([detection_head(rows)], ultralytics_metadata("obb", {0: "plane"}))
    found = answer(function, png(640, 640))
    assert [(s["label"], s["confidence"]) for s in found] == [("plane", "0.9"), ("plane", "0.7")]
    assert found[0]["points"] == pytest.approx((270, 180, 370, 220))
    assert found[0]["rotation"] == pytest.approx(30.0)
    assert found[1]["rotation"] == pytest.approx(345.0)  # CVAT wants [0, 360]


def test_an_end2end_obb_export_is_xywh_score_class_angle(load: Load) -> None:
    rows = [(320, 200, 100, 40, 0.9, 0, math.pi / 2)] + [(0, 0, 0, 0, 0.0, 0, 0.0)] * 9
    function = load([end2end_head(rows)], ultralytics_metadata("obb", {0: "ship"}, end2end=True))
    (shape,) = answer(function, png(640, 640))
    assert shape["rotation"] == pytest.approx(90.0)
    assert shape["points"] == pytest.approx((270, 180, 370, 220))


# --- classify ---------------------------------------------------------------------------------------------


def test_classify_answers_tags_best_first(load: Load) -> None:
    probabilities = np.asarray([[0.1, 0.7, 0.2]], np.float32)
    metadata = ultralytics_metadata("classify", {0: "cat", 1: "dog", 2: "bird"}, (224, 224))
    function = load([probabilities], metadata, input_shape=(1, 3, 224, 224))
    assert answer(function, png(640, 480)) == [{"label": "dog", "type": "tag", "confidence": "0.7"}]
    assert [t["label"] for t in answer(function, png(640, 480), 0.15)] == ["dog", "bird"]


# --- exports it cannot serve ------------------------------------------------------------------------------


def test_an_unknown_task_is_refused_naming_it(load: Load) -> None:
    with pytest.raises(ValueError, match=r"task 'depth'.*serves detect, segment, pose, obb, classify"):
        load([detection_head([(320, 320, 100, 100, 0.9, 0.0)])], ultralytics_metadata("depth", NAMES))


def test_dynamic_sides_without_imgsz_are_refused(tmp_path: Path) -> None:
    model = write_model(
        tmp_path / "m.onnx",
        constant_model(
            [detection_head([(320, 320, 100, 100, 0.9, 0.0)])],
            ultralytics_metadata("detect", NAMES, imgsz=None),
            input_shape=(1, 3, "height", "width"),
        ),
    )
    with pytest.raises(ValueError, match=r"dynamic height/width.*no 'imgsz'.*dynamic=False.*input_size"):
        write_onnx_function(tmp_path / "fn", model)


def test_a_model_without_names_uses_the_spec_ids_or_says_what_is_missing(tmp_path: Path) -> None:
    from cvat_function.core.labels import Labels, label_spec

    model = write_model(
        tmp_path / "m.onnx",
        constant_model([detection_head([(320, 320, 100, 100, 0.0, 0.9)])], ultralytics_metadata("detect", None)),
    )
    config = UltralyticsConfig(model=model)
    handler = UltralyticsModel(Labels((label_spec("bus", 1, "rectangle"), label_spec("tram", 0))), config)
    assert [s.label for s in handler.infer(np.zeros((640, 640, 3), np.uint8), 0.5)] == ["bus"]
    with pytest.raises(ValueError, match=r"no 'names' metadata \(keys: \[.*'task'.*\]\).*expected"):
        UltralyticsModel(Labels(()), config)


def test_a_head_that_does_not_fit_the_class_names_stops_init_context(load: Load) -> None:
    with pytest.raises(RuntimeError, match=r"answered \[1, 9, 1\].*2 class\(es\) needs an axis of 6"):
        load([detection_head([(320, 320, 100, 100, 0.9, 0.0, 0.0, 0.0, 0.0)])], ultralytics_metadata("detect", NAMES))


def test_a_segment_export_without_prototypes_is_refused(load: Load) -> None:
    with pytest.raises(RuntimeError, match=r"segment model with 1 output; expected 2"):
        load([detection_head([(320, 320, 100, 100, 0.9, 0.0)])], ultralytics_metadata("segment", NAMES))


def test_a_spec_label_of_the_wrong_type_is_refused_with_the_fix(load: Load, tmp_path: Path) -> None:
    function = load([detection_head([(320, 320, 100, 100, 0.9, 0.0)])], ultralytics_metadata("detect", NAMES))
    yaml_path = function.dir / "function.yaml"
    yaml_path.write_text(yaml_path.read_text().replace('"type": "rectangle"', '"type": "polygon"'))
    with pytest.raises(RuntimeError, match=r"label 'person'.*type 'polygon'.*detect model answers rectangles"):
        LocalFunction(function.dir, make_logger(io.StringIO()))


def test_a_missing_model_file_names_the_path_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "model.onnx"
    monkeypatch.setenv("MODEL_PATH", str(missing))
    with pytest.raises(FileNotFoundError, match=rf"model file {missing} does not exist.*weights.lock.*MODEL_PATH"):
        UltralyticsModel(__import__("cvat_function").Labels(()))


# --- models inside a package ------------------------------------------------------------------------------


def test_a_model_inside_an_installed_package_is_found_by_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    request.addfinalizer(lambda: sys.modules.pop("acme_models", None))  # a later test may make another one
    package = tmp_path / "site" / "acme_models"
    (package / "yolo").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    write_model(
        package / "yolo" / "det.onnx",
        constant_model([detection_head([(320, 320, 100, 100, 0.0, 0.9)])], ultralytics_metadata("detect", NAMES)),
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delenv("MODEL_PATH", raising=False)
    from cvat_function.core.labels import Labels, label_spec

    labels = Labels((label_spec("person", 0, "rectangle"), label_spec("car", 1, "rectangle")))
    for ref in ("package://acme_models/yolo/det.onnx", "acme_models:yolo/det.onnx"):
        assert parse_model_ref(ref) == PackageResource("acme_models", "yolo/det.onnx")
        handler = UltralyticsModel(labels, UltralyticsConfig(model=ref))
        assert [s.label for s in handler.infer(np.zeros((640, 640, 3), np.uint8), 0.5)] == ["car"]
    with pytest.raises(FileNotFoundError, match=r"package 'acme_models' \(at .*\) has no file 'yolo/seg.onnx'"):
        UltralyticsModel(labels, UltralyticsConfig(model="package://acme_models/yolo/seg.onnx"))
    with pytest.raises(FileNotFoundError, match=r"package 'no_such_pkg' is not installed"):
        UltralyticsModel(labels, UltralyticsConfig(model="package://no_such_pkg/m.onnx"))


@pytest.mark.parametrize("text", ["weights/model.onnx", "/abs/m.onnx", "C:\\models\\m.onnx", "./pkg:odd.onnx"])
def test_paths_stay_paths(text: str) -> None:
    assert parse_model_ref(text) == Path(text)


def test_the_config_refuses_out_of_range_knobs() -> None:
    with pytest.raises(ValueError, match=r"iou is 1.5; expected a number in \[0, 1\]"):
        UltralyticsConfig(iou=1.5)
    with pytest.raises(ValueError, match=r"class_thresholds\['car'\] is -0.1"):
        UltralyticsConfig(class_thresholds={"car": -0.1})


# --- the letterbox ----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(16, 2000),
    height=st.integers(16, 2000),
    side=st.sampled_from([320, 640]),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
)
def test_the_letterbox_mapping_inverts_where_the_image_was_put(width, height, side, fx, fy) -> None:
    padded, box = letterbox(np.full((height, width, 3), 255, np.uint8), (side, side))
    assert padded.shape == (side, side, 3)
    x, y = fx * width, fy * height
    placed = np.asarray([x * box.gain + box.left, y * box.gain + box.top])
    assert box.to_frame(placed) == pytest.approx([x, y], abs=1e-6)
    assert Letterbox(box.gain, box.left, box.top) == box
    # the image itself sits where the mapping says: its far corner within half an input pixel
    ys, xs = np.nonzero(padded[..., 0] == 255)
    assert (xs.min(), ys.min()) == (box.left, box.top)
    assert box.to_frame(np.asarray([xs.max() + 1.0, ys.max() + 1.0])) == pytest.approx(
        [width, height], abs=0.5 / box.gain + 1e-9
    )


def test_scaffolded_model_handler_is_a_few_lines_of_configuration(load: Load) -> None:
    function = load([detection_head([(320, 320, 100, 100, 0.9, 0.0)])], ultralytics_metadata("detect", NAMES))
    code = [
        line
        for line in (function.dir / "model_handler.py").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(code) < 25
    assert json.loads(json.dumps(function.context.user_data.model.load_info))["classes"] == 2


def test_the_labels_verb_follows_the_exports_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cvat_function.__main__ import main as cli

    pose = write_model(
        tmp_path / "pose.onnx",
        constant_model([detection_head([(1.0,) * 56])], ultralytics_metadata("pose", {0: "person"}, kpt_shape=(17, 3))),
    )
    segment = write_model(
        tmp_path / "seg.onnx",
        constant_model(
            [detection_head([(1.0,) * 38]), np.zeros((1, 32, 160, 160))], ultralytics_metadata("segment", NAMES)
        ),
    )
    assert cli(["labels", "--from-onnx", str(pose)]) == 0
    (person,) = json.loads(capsys.readouterr().out)
    assert (person["type"], [s["name"] for s in person["sublabels"]]) == ("skeleton", list(COCO_KEYPOINTS))
    assert 'data-label-name="left_wrist"' in person["svg"]
    assert cli(["labels", "--from-onnx", str(segment)]) == 0
    assert [label["type"] for label in json.loads(capsys.readouterr().out)] == ["mask", "mask"]
    assert cli(["labels", "--from-onnx", str(segment), "--type", "polygon"]) == 0
    assert [label["type"] for label in json.loads(capsys.readouterr().out)] == ["polygon", "polygon"]


def test_the_model_is_fed_rgb_from_the_frame_cvat_sends(load: Load) -> None:
    function = load([detection_head([(320, 320, 100, 100, 0.9, 0.0)])], ultralytics_metadata("detect", NAMES))
    red = np.zeros((360, 640, 3), np.uint8)
    red[..., 2] = 255  # OpenCV writes BGR: this PNG is pure red
    ok, data = cv2.imencode(".png", red)
    assert ok
    runtime = function.context.user_data.function
    blob, box = runtime.model.prepare(runtime.decode(data.tobytes()))
    assert (box.top, blob.shape) == (140.0, (1, 3, 640, 640))
    assert blob[0, :, 320, 320].tolist() == [1.0, 0.0, 0.0]  # R, G, B
    assert blob[0, :, 10, 320] == pytest.approx([114 / 255] * 3)  # the letterbox's grey


def test_a_class_index_without_a_name_is_never_answered(load: Load) -> None:
    rows = [(160, 160, 100, 100, 0.0, 0.9, 0.0), (480, 480, 100, 100, 0.0, 0.0, 0.8)]
    function = load([detection_head(rows)], ultralytics_metadata("detect", {0: "cat", 2: "dog"}))
    assert [s["label"] for s in answer(function, png(640, 640))] == ["dog"]
