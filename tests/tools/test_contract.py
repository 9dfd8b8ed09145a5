"""The contract suite: what every function folder in the repo must satisfy for CVAT, whatever its model.

It runs on the root function (the user's model) and on each examples/<name>/, found by discovery, each loaded
as Nuclio loads it (function.yaml's spec.env set, shape checks strict). Nothing here knows what a model finds
(test_model_handler.py and each example's own tests do): only that its answers are valid CVAT answers, inside
the frame, above the threshold, the same on every run, and that it leaves the frame it was given untouched.
A folder with a make_demo_model.py (its model is generated, never committed) gets its demo model first.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cvat_function import (
    ColorOrder,
    FunctionConfig,
    InteractorRequest,
    ReidBox,
    ReidRequest,
    Shape,
    TrackedShape,
    decode_image,
    load_function_config,
)
from cvat_function.core.image import as_pixel_type
from cvat_function.core.rules import (
    check_interactor_masks,
    check_matches,
    check_shapes,
    check_state,
    check_tracked_shape,
    contract_errors,
    subset_problem,
)
from cvat_function.core.runtime import DEFAULT_MAX_STATE_BYTES, ENV_INVALID_SHAPES, Function
from cvat_function.tools.contract import THRESHOLDS, generated_frames
from cvat_function.tools.wire import LocalFunction, make_logger

from ..support import ASSETS, ROOT, function_folders

FOLDERS = function_folders()
CONFIGS = {folder: load_function_config(folder / "function.yaml") for folder in FOLDERS}
SAMPLES = sorted(p for p in ASSETS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def folder_id(folder: Path) -> str:
    return "root" if folder == ROOT else folder.name


def of_kind(kind: str) -> Any:
    """Parametrize the `loaded` fixture with every folder of `kind` (none: the test is reported as skipped)."""
    folders = [f for f in FOLDERS if CONFIGS[f].kind == kind]
    return pytest.mark.parametrize("loaded", folders, ids=folder_id, indirect=True)


@dataclass
class Loaded:
    folder: Path
    config: FunctionConfig
    local: LocalFunction

    @property
    def function(self) -> Function:
        function: Function = self.local.context.user_data.function
        return function

    @property
    def model(self) -> Any:
        return self.function.model


@pytest.fixture(scope="module")
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """The folder loaded as one Nuclio worker: its spec.env set, strict checks, nothing else of this process's."""
    folder: Path = request.param
    config = CONFIGS[folder]
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("CVAT_FUNCTION_")]:
            patch.delenv(key)
        for key, value in config.env.items():
            patch.setenv(key, value)
        patch.setenv(ENV_INVALID_SHAPES, "error")  # a shape CVAT would reject fails the answer, never dropped
        demo = folder / "make_demo_model.py"
        if demo.is_file():
            out = tmp_path_factory.mktemp(folder_id(folder)) / "model.onnx"
            subprocess.run([sys.executable, str(demo), "--out", str(out)], check=True, capture_output=True, timeout=120)
            patch.setenv("MODEL_PATH", str(out))
        return Loaded(folder, config, LocalFunction(folder, make_logger(io.StringIO())))


def frames(loaded: Loaded, smallest: int = 1) -> list[tuple[str, np.ndarray]]:
    """The sample images and the generated frames, in the colour order and dtype the model declares."""
    order, dtype = loaded.function.color_order, loaded.function.pixel_type
    out = [(path.name, decode_image(path.read_bytes(), order)) for path in SAMPLES]
    for name, rgb in generated_frames():
        if order is ColorOrder.GRAY:
            image = rgb.mean(axis=2).astype(np.uint8)
        else:
            image = rgb if order is ColorOrder.RGB else rgb[:, :, ::-1]
        out.append((name, np.ascontiguousarray(image)))
    return [(name, as_pixel_type(image, dtype)) for name, image in out if min(image.shape[:2]) >= smallest]


def size_of(image: np.ndarray) -> tuple[int, int]:
    return image.shape[1], image.shape[0]


def centre_box(image: np.ndarray) -> tuple[float, float, float, float]:
    width, height = size_of(image)
    return width * 0.25, height * 0.25, width * 0.75, height * 0.75


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def test_there_is_a_sample_image_to_run_on():
    assert SAMPLES, "put at least one sample image (with its licence) in assets/"


def test_the_root_and_every_example_are_in_the_suite():
    assert FOLDERS[0] == ROOT
    assert set(FOLDERS[1:]) == {p.parent for p in (ROOT / "examples").glob("*/function.yaml")}


@pytest.mark.parametrize("loaded", FOLDERS, ids=folder_id, indirect=True)
def test_the_function_loads_and_its_model_emits_only_spec_labels(loaded: Loaded):
    """init_context ran (load, label check, warm-up); a model that declares its labels declares spec names."""
    for name in getattr(loaded.model, "labels", ()):
        assert name in loaded.config.labels, f"the model emits {name!r}, which function.yaml's spec lacks"


# --- detector ------------------------------------------------------------------------------------------------


@of_kind("detector")
@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_detector_results_are_valid_cvat_shapes_inside_the_frame_and_above_the_threshold(loaded, threshold):
    for name, image in frames(loaded):
        shapes = loaded.model.infer(image, threshold)
        assert isinstance(shapes, (list, tuple)), f"{name}: infer must return a list"
        assert all(isinstance(s, Shape) for s in shapes), f"{name}: build results with cvat_function's builders"
        width, height = size_of(image)
        _, errors = check_shapes(shapes, loaded.config.labels, (width, height))
        errors += contract_errors(shapes, (width, height), threshold)
        assert not errors, f"{name}: " + "; ".join(map(str, errors))


@of_kind("detector")
def test_detector_a_higher_threshold_keeps_a_subset(loaded):
    low, high = THRESHOLDS[0], THRESHOLDS[-1]
    for name, image in frames(loaded):
        problem = subset_problem(loaded.model.infer(image, low), loaded.model.infer(image, high), (low, high))
        assert problem is None, f"{name}: {problem}"


@of_kind("detector")
def test_detector_is_deterministic_and_leaves_the_frame_untouched(loaded):
    for name, image in frames(loaded):
        before = image.copy()
        first, second = loaded.model.infer(image, 0.5), loaded.model.infer(image, 0.5)
        assert first == second, f"{name}: two runs on the same frame differ"
        assert np.array_equal(image, before), f"{name}: infer modified the input frame"


@of_kind("detector")
def test_detector_every_sample_image_is_answered_through_the_handler(loaded):
    for path in SAMPLES:
        response = loaded.local.request({"image": b64(path)})
        assert response.status == 200, f"{path.name}: {response.text[:300]}"
        for item in response.json():
            assert item["label"] in loaded.config.labels
            assert all(math.isfinite(v) for v in item.get("points", []))


# --- interactor ----------------------------------------------------------------------------------------------


def interaction(image: np.ndarray) -> InteractorRequest:
    """A click in the middle of the frame and a box around it: what any interactor must be able to answer."""
    width, height = size_of(image)
    return InteractorRequest(b"", ((width / 2, height / 2),), (), centre_box(image), 0.5)


@of_kind("interactor")
def test_interactor_masks_are_valid_inside_the_frame_deterministic_and_the_frame_untouched(loaded):
    for name, image in frames(loaded, smallest=16):
        before = image.copy()
        request = interaction(image)
        first = list(loaded.model.interact(image, request))
        _, errors = check_interactor_masks(first, size_of(image))
        assert not errors, f"{name}: " + "; ".join(map(str, errors))
        assert first == list(loaded.model.interact(image, request)), f"{name}: two runs on the same frame differ"
        assert np.array_equal(image, before), f"{name}: interact modified the input frame"


@of_kind("interactor")
def test_interactor_every_sample_image_is_answered_through_the_handler(loaded):
    for path in SAMPLES:
        width, height = size_of(decode_image(path.read_bytes(), ColorOrder.RGB))
        body = {
            "image": b64(path),
            "pos_points": [[width / 2, height / 2]],
            "neg_points": [],
            "obj_bbox": [[width * 0.25, height * 0.25], [width * 0.75, height * 0.75]],
        }
        response = loaded.local.request(body)
        assert response.status == 200, f"{path.name}: {response.text[:300]}"
        assert isinstance(response.json(), dict)


# --- tracker -------------------------------------------------------------------------------------------------


def start_shape(shape_type: str, box: tuple[float, float, float, float]) -> TrackedShape:
    """A shape of `shape_type` inside `box`, as a user would draw it."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    points = {
        "rectangle": (x1, y1, x2, y2),
        "ellipse": (cx, cy, x2, y2),
        "polygon": (x1, y1, x2, y1, x2, y2, x1, y2),
        "polyline": (x1, y1, x2, y2),
        "points": (cx, cy),
        "cuboid": (x1, y1, x1, y2, cx, y1, cx, y2, cx, y1, cx, y2, x2, y1, x2, y2),
    }[shape_type]
    return TrackedShape(shape_type, tuple(float(v) for v in points))


@of_kind("tracker")
def test_tracker_shapes_and_states_are_valid_deterministic_and_the_frames_untouched(loaded):
    supported = loaded.config.supported_shape_types or ("rectangle",)
    for name, image in frames(loaded, smallest=16):
        moved = np.ascontiguousarray(np.roll(image, (2, 3), axis=(0, 1)))
        before, moved_before = image.copy(), moved.copy()
        for shape_type in supported:
            start = start_shape(shape_type, centre_box(image))
            runs = []
            for _ in range(2):
                state = loaded.model.init_tracking(image, start)
                check_state(state, DEFAULT_MAX_STATE_BYTES, f"{name}: init_tracking")
                result = loaded.model.track(moved, state)
                assert isinstance(result, (tuple, list)), f"{name}: track returns a pair (shape, state)"
                shape, new_state = result
                if shape is not None:  # None: the object is lost, CVAT keeps the last shape
                    check_tracked_shape(shape, supported, f"{name}: track")
                check_state(new_state, DEFAULT_MAX_STATE_BYTES, f"{name}: track")
                runs.append((json.dumps(state, sort_keys=True), shape, json.dumps(new_state, sort_keys=True)))
            assert runs[0] == runs[1], f"{name}: two runs on the same frames differ ({shape_type})"
        assert np.array_equal(image, before), f"{name}: the model modified the first frame"
        assert np.array_equal(moved, moved_before), f"{name}: track modified the frame"


@of_kind("tracker")
def test_tracker_every_sample_image_is_answered_through_the_handler(loaded):
    supported = loaded.config.supported_shape_types
    for path in SAMPLES:
        box = centre_box(decode_image(path.read_bytes(), ColorOrder.RGB))
        shape: Any = start_shape(supported[0], box).to_cvat() if supported else list(box)
        first = loaded.local.request({"image": b64(path), "shapes": [shape], "states": []})
        assert first.status == 200, f"{path.name}: {first.text[:300]}"
        answer = first.json()
        assert len(answer["shapes"]) == len(answer["states"]) == 1
        second = loaded.local.request({"image": b64(path), "shapes": answer["shapes"], "states": answer["states"]})
        assert second.status == 200, f"{path.name} (with the state): {second.text[:300]}"
        assert len(second.json()["shapes"]) == 1


# --- reid ----------------------------------------------------------------------------------------------------


def reid_request(image: np.ndarray) -> ReidRequest:
    x1, y1, x2, y2 = centre_box(image)
    boxes = (ReidBox((x1, y1, x2, y2)), ReidBox((x1 + 2, y1 + 2, x2 - 2, y2 - 2)))
    return ReidRequest(b"", b"", boxes, boxes[::-1], 0.5, 50.0)


@of_kind("reid")
def test_reid_matches_are_valid_deterministic_and_the_frames_untouched(loaded):
    for name, image in frames(loaded, smallest=16):
        other = np.ascontiguousarray(image[:, ::-1])
        before, other_before = image.copy(), other.copy()
        request = reid_request(image)
        first = list(loaded.model.match(image, other, request))
        _, errors = check_matches(first, len(request.boxes0), len(request.boxes1))
        assert not errors, f"{name}: " + "; ".join(map(str, errors))
        assert first == list(loaded.model.match(image, other, request)), f"{name}: two runs differ"
        assert np.array_equal(image, before), f"{name}: match modified the first frame"
        assert np.array_equal(other, other_before), f"{name}: match modified the second frame"


@of_kind("reid")
def test_reid_every_sample_image_is_answered_through_the_handler(loaded):
    for path in SAMPLES:
        x1, y1, x2, y2 = centre_box(decode_image(path.read_bytes(), ColorOrder.RGB))
        boxes = [
            {"id": i, "type": "rectangle", "frame": 0, "label_id": 1, "points": points, "attributes": []}
            for i, points in enumerate(([x1, y1, x2, y2], [x1 + 2, y1 + 2, x2 - 2, y2 - 2]))
        ]
        body = {"image0": b64(path), "image1": b64(path), "boxes0": boxes, "boxes1": boxes[::-1]}
        response = loaded.local.request({**body, "threshold": 0.5, "max_distance": 50})
        assert response.status == 200, f"{path.name}: {response.text[:300]}"
        matches = response.json()
        assert len(matches) == 2
        assert all(isinstance(m, int) for m in matches)
