"""`python -m cvat_function new`: a function folder from an Ultralytics ONNX export (no code) or a custom skeleton,
which passes `validate`, `invoke` and the contract suite with no file edited."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from cvat_function.__main__ import main as cli
from cvat_function.core.config import load_function_config
from cvat_function.tools.contract import generated_frames
from cvat_function.tools.lint import lint_function_dir, run_contract_suite, sample_images
from cvat_function.tools.onnx_graphs import (
    LICENSE,
    constant_model,
    detection_head,
    end2end_head,
    ultralytics_metadata,
    write_model,
)
from cvat_function.tools.scaffold import MAIN_PY, sha256_of

from ..support import ASTRONAUT, ROOT


def _fetch_weights():
    spec = importlib.util.spec_from_file_location("fetch_weights_for_new", ROOT / "scripts" / "fetch_weights.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


parse_manifest = _fetch_weights().parse_manifest

COCO3 = {0: "person", 1: "bicycle", 2: "car"}


def export(task: str) -> tuple[list[np.ndarray], dict[str, str]]:
    """Outputs and metadata of a tiny export of `task` that finds something on any frame."""
    if task == "detect":
        return [detection_head([(320, 320, 200, 300, 0.9, 0.0, 0.1)])], ultralytics_metadata("detect", COCO3)
    if task == "end2end":
        rows = [(220, 170, 420, 470, 0.9, 2)] + [(0, 0, 0, 0, 0.0, 0)] * 299
        return [end2end_head(rows)], ultralytics_metadata("detect", COCO3, end2end=True)
    if task == "segment":
        protos = np.full((1, 32, 160, 160), -4.0, np.float32)
        protos[0, 0, 50:110, 60:100] = 4.0
        row = (320, 320, 200, 300, 0.9, 0.0, 0.0, 1.0, *([0.0] * 31))
        return [detection_head([row]), protos], ultralytics_metadata("segment", COCO3)
    if task == "pose":
        keypoints = np.stack([np.linspace(280, 360, 17), np.linspace(200, 440, 17), np.full(17, 0.8)], axis=1)
        row = (320, 320, 120, 260, 0.9, *keypoints.ravel())
        return [detection_head([row])], ultralytics_metadata("pose", {0: "person"}, kpt_shape=(17, 3))
    if task == "obb":
        return [detection_head([(320, 320, 200, 80, 0.9, 0.0, 0.0, math.pi / 8)])], ultralytics_metadata("obb", COCO3)
    assert task == "classify"
    return [np.asarray([[0.05, 0.15, 0.8]], np.float32)], ultralytics_metadata("classify", COCO3, (224, 224))


def write_export(path: Path, task: str) -> Path:
    outputs, metadata = export(task)
    side = 224 if task == "classify" else 640
    return write_model(path, constant_model(outputs, metadata, input_shape=(1, 3, side, side)))


@pytest.fixture(autouse=True)
def _no_model_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_PATH", raising=False)


def load_test_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"scaffolded_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("task", ["detect", "end2end", "segment", "pose", "obb", "classify"])
def test_a_scaffolded_function_passes_validate_invoke_and_the_contract_suite_unedited(
    task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_export(tmp_path / "yolo11n-export.onnx", task)
    folder = tmp_path / "my-function"
    assert cli(["new", str(folder), "--from-onnx", str(model)]) == 0
    printed = capsys.readouterr().out
    for name in ("function.yaml", "function-gpu.yaml", "main.py", "model_handler.py", "weights.lock"):
        assert f"wrote {folder / name}" in printed
    assert f"licence (from the model's metadata): {LICENSE}" in printed
    assert cli(["validate", str(folder)]) == 0
    validated = capsys.readouterr().out
    assert "0 error(s), 0 warning(s)" in validated
    assert "detector request with astronaut.jpg" in validated
    assert cli(["invoke", str(ASTRONAUT), "--function", str(folder), "--quiet"]) == 0
    shapes = json.loads(capsys.readouterr().out)
    expected_type = {"detect": "rectangle", "end2end": "rectangle", "segment": "mask", "pose": "skeleton"}
    assert len(shapes) == 1
    assert shapes[0]["type"] == {**expected_type, "obb": "rectangle", "classify": "tag"}[task]
    findings, passed = run_contract_suite(folder, sample_images(ROOT))
    assert findings == []
    assert len(passed) == len(sample_images(ROOT)) + len(generated_frames())  # each sample and generated frame
    load_test_module(folder / "test_yolo11n_export.py").test_a_frame_is_answered_as_cvat_expects()


def test_the_labels_weights_lock_and_handler_come_from_the_model(tmp_path: Path, capsys) -> None:
    model = write_export(tmp_path / "pose.onnx", "pose")
    folder = tmp_path / "fn"
    assert cli(["new", str(folder), "--from-onnx", str(model), "--name", "People Pose"]) == 0
    config = load_function_config(folder / "function.yaml")
    assert config.name == "people-pose"
    (person,) = config.labels
    assert (person.name, person.type, person.id, len(person.sublabels)) == ("person", "skeleton", 0, 17)
    assert load_function_config(folder / "function-gpu.yaml").labels == config.labels
    (entry,) = parse_manifest((folder / "weights.lock").read_text())
    assert entry.sha256 == sha256_of(model) == sha256_of(folder / "weights" / "model.onnx")
    assert (str(entry.dest), entry.url) == ("weights/model.onnx", model.resolve().as_uri())
    assert (folder / "main.py").read_text() == (ROOT / "main.py").read_text() == MAIN_PY
    assert lint_function_dir(folder) == []
    gpu = (folder / "function-gpu.yaml").read_text()
    assert "grep -v '^onnxruntime'" in gpu
    assert "onnxruntime-gpu==1.26.0 && python /opt/nuclio/cvat_function/onnx/gpu_check.py" in gpu
    assert "onnxruntime>=" in (folder / "requirements.txt").read_text()


def test_it_refuses_to_overwrite_without_force_and_says_what_it_would_replace(tmp_path: Path, capsys) -> None:
    model = write_export(tmp_path / "m.onnx", "detect")
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "model_handler.py").write_text("# mine\n")
    assert cli(["new", str(folder), "--from-onnx", str(model)]) == 1
    error = capsys.readouterr().err
    assert f"would overwrite {folder / 'model_handler.py'}; nothing was written. Pass --force" in error
    assert sorted(p.name for p in folder.iterdir()) == ["model_handler.py"]
    assert (folder / "model_handler.py").read_text() == "# mine\n"
    assert cli(["new", str(folder), "--from-onnx", str(model), "--force"]) == 0
    assert "UltralyticsModel" in (folder / "model_handler.py").read_text()


def test_new_dot_turns_the_current_folder_into_the_function(tmp_path: Path, monkeypatch, capsys) -> None:
    model = write_export(tmp_path / "det.onnx", "detect")
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    assert cli(["new", ".", "--from-onnx", str(model)]) == 0
    assert (root / "test_model_handler.py").is_file()  # the root's own expectations file is replaced
    assert cli(["validate", "."]) == 0


def test_a_model_inside_an_installed_package_is_referenced_not_copied(
    tmp_path: Path, monkeypatch, capsys, request: pytest.FixtureRequest
) -> None:
    request.addfinalizer(lambda: sys.modules.pop("acme_weights", None))
    package = tmp_path / "site" / "acme_weights"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    write_export(package / "det.onnx", "detect")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    folder = tmp_path / "fn"
    assert cli(["new", str(folder), "--from-onnx", "package://acme_weights/det.onnx"]) == 0
    assert "the model stays in package acme_weights" in capsys.readouterr().out
    assert not (folder / "weights").exists()
    assert parse_manifest((folder / "weights.lock").read_text()) == []
    assert "acme_weights" in (folder / "requirements.txt").read_text()
    assert "'package://acme_weights/det.onnx'" in (folder / "model_handler.py").read_text()
    assert cli(["validate", str(folder)]) == 0


def test_an_export_it_cannot_serve_writes_nothing_and_says_why(tmp_path: Path, capsys) -> None:
    outputs, metadata = export("detect")
    model = write_model(tmp_path / "m.onnx", constant_model(outputs, {**metadata, "task": "depth"}))
    assert cli(["new", str(tmp_path / "fn"), "--from-onnx", str(model)]) == 1
    assert "task 'depth'" in capsys.readouterr().err
    assert not (tmp_path / "fn").exists()
    assert cli(["new", str(tmp_path / "fn"), "--from-onnx", str(model), "--task", "detect"]) == 0


@pytest.mark.parametrize("kind", ["interactor", "tracker", "reid"])
def test_an_empty_custom_model_of_each_kind_passes_validate(kind: str, tmp_path: Path, capsys) -> None:
    folder = tmp_path / f"my-{kind}"
    assert cli(["new", str(folder), "--kind", kind]) == 0
    assert load_function_config(folder / "function.yaml").kind == kind
    assert cli(["validate", str(folder)]) == 0
    assert f"{kind} request with astronaut.jpg" in capsys.readouterr().out
    load_test_module(folder / f"test_my_{kind}.py").test_a_frame_is_answered_as_cvat_expects()


def test_an_empty_custom_model_runs_and_passes_validate(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "my-model"
    assert cli(["new", str(folder)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert cli(["validate", str(folder)]) == 0
    assert "0 error(s)" in capsys.readouterr().out
    assert cli(["invoke", str(ASTRONAUT), "--function", str(folder), "--quiet"]) == 0
    (shape,) = json.loads(capsys.readouterr().out)
    assert (shape["label"], shape["points"]) == ("object", [128.0, 128.0, 384.0, 384.0])
    assert parse_manifest((folder / "weights.lock").read_text()) == []
    load_test_module(folder / "test_my_model.py").test_a_frame_is_answered_as_cvat_expects()


def test_the_gpu_image_build_filters_and_checks_onnxruntime() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    install = dockerfile.index("pip install --no-cache-dir -r /tmp/requirements.txt")
    check = dockerfile.index('if [ "$VARIANT" = gpu ]; then python /tmp/gpu_check.py; fi')
    assert dockerfile.index("COPY requirements.txt") < install < check
    assert "grep -v '^onnxruntime' /opt/nuclio/requirements.txt" in dockerfile
    assert "COPY cvat_function/onnx/gpu_check.py /tmp/gpu_check.py" in dockerfile
    example = (ROOT / "examples" / "onnx-detector" / "function-gpu.yaml").read_text()
    assert "onnxruntime-gpu==1.26.0 && python /opt/nuclio/cvat_function/onnx/gpu_check.py" in example
