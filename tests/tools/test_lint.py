"""`validate`: one fixture function.yaml per rule proves its message appears; the repo's own files pass."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from cvat_function.tools.contract import generated_frames
from cvat_function.tools.lint import lint_config, lint_file, lint_function_dir, run_contract_suite, sample_images

REPO = Path(__file__).resolve().parents[2]

GOOD: dict = {
    "metadata": {
        "name": "pth-acme-yolo",
        "namespace": "cvat",
        "annotations": {
            "name": "ACME YOLO",
            "type": "detector",
            "spec": json.dumps([{"id": 0, "name": "person", "type": "rectangle"}]),
        },
    },
    "spec": {
        "description": "ACME YOLO 1.2.0 detector",
        "runtime": "python:3.12",
        "handler": "main:handler",
        "eventTimeout": "60s",
        "env": [{"name": "MODEL_PATH", "value": "/opt/nuclio/m.onnx"}],
        "build": {"directives": {"postCopy": [{"kind": "RUN", "value": "pip install -r requirements.txt"}]}},
        "triggers": {
            "myHttpTrigger": {
                "kind": "http",
                "numWorkers": 2,
                "workerAvailabilityTimeoutMilliseconds": 10000,
                "attributes": {"maxRequestBodySize": 33554432},
            }
        },
    },
}


def variant(**changes) -> dict:
    """GOOD with dotted-path changes (value None deletes the key)."""
    raw = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(key, None)
        else:
            node[key] = value
    return raw


def spec_json(*labels) -> str:
    return json.dumps(list(labels))


def messages(raw: dict, severity: str | None = None) -> str:
    return "\n".join(str(f) for f in lint_config(raw) if severity is None or f.severity == severity)


def test_the_good_fixture_has_no_finding():
    assert lint_config(GOOD) == []


@pytest.mark.parametrize(
    ("changes", "severity", "expected"),
    [
        ({"metadata__annotations__type": None}, "error", "metadata.annotations.type: is missing"),
        ({"metadata__annotations__type": "classifier"}, "error", "is 'classifier', which CVAT does not know"),
        ({"metadata__annotations": None}, "error", "metadata.annotations: is missing"),
        ({"metadata__name": None}, "error", "metadata.name: is missing"),
        ({"metadata__name": "ACME_Yolo"}, "error", "'ACME_Yolo' is not a DNS label"),
        ({"metadata__name": "pth-yolo\nrelease_id=1"}, "error", "is not a DNS label"),
        ({"metadata__name": "-yolo"}, "error", "is not a DNS label"),
        ({"metadata__name": "a" * 64}, "error", "is 64 characters; Nuclio takes at most 63"),
        ({"metadata__name": "a" * 57}, "warning", "on Kubernetes nuclio-<name> exceeds 63"),
        ({"metadata__annotations__spec": '[{"name": "person",}]'}, "error", "is not valid JSON"),
        ({"metadata__annotations__spec": '{"name": "person"}'}, "error", "must be a JSON list of labels"),
        (
            {"metadata__annotations__spec": spec_json({"name": "car"}, {"name": "car"})},
            "error",
            "duplicates label name 'car'; CVAT skips the function",
        ),
        (
            {"metadata__annotations__spec": spec_json({"name": "car", "attributes": [{"name": "color"}]})},
            "error",
            "needs 'name', 'input_type' and 'values'",
        ),
        (
            {"metadata__annotations__spec": spec_json({"name": "hand", "type": "skeleton"})},
            "error",
            "is a skeleton without 'sublabels' and 'svg'",
        ),
        ({"metadata__annotations__spec": spec_json({"type": "rectangle"})}, "error", "has no 'name'"),
        ({"metadata__annotations__spec": spec_json({"name": "x", "type": "box"})}, "error", "unknown type 'box'"),
        ({"spec__description": None}, "error", "spec.description: is missing or empty"),
        ({"spec__description": "  "}, "error", "spec.description: is missing or empty"),
        ({"metadata__annotations__version": "two"}, "error", "'two' is not an integer"),
        ({"metadata__annotations__version": 1.5}, "error", "'1.5' is not an integer"),
        ({"metadata__annotations__min_pos_points": "one"}, "error", "min_pos_points: 'one' is not an integer"),
        ({"metadata__annotations__min_neg_points": "x"}, "error", "min_neg_points: 'x' is not an integer"),
        ({"metadata__annotations__startswith_box": False}, "error", "startswith_box: is False, but CVAT reads it"),
        ({"metadata__annotations__startswith_box": "false"}, "error", "omit the key"),
        ({"metadata__annotations__startswith_box_optional": "False"}, "error", "startswith_box_optional"),
        ({"metadata__annotations__version": 2}, "warning", 'quote it: version: "2"'),
        (
            {"metadata__annotations__type": "interactor", "metadata__annotations__spec": ""},
            "error",
            "disables interactors whose version is not 2",
        ),
        (
            {"metadata__annotations__type": "tracker", "metadata__annotations__supported_shape_types": " "},
            "error",
            "supported_shape_types: is empty",
        ),
        ({"metadata__name": "pth-facebookresearch-sam-vit-h"}, "error", "special-cased"),
        ({"spec__triggers__myHttpTrigger__maxWorkers": 2}, "warning", "maxWorkers: is deprecated"),
        ({"spec__triggers__myHttpTrigger__numWorkers": "2"}, "error", "numWorkers: '2' is not an integer >= 1"),
        ({"spec__runtime": "python:3.9"}, "error", "is 'python:3.9'; current Nuclio runs only python:3.10"),
        ({"spec__runtime": "python:3.13"}, "error", "spec.runtime"),
        ({"spec__runtime": None}, "error", "spec.runtime: is None"),
        ({"spec__handler": "main.handler"}, "error", "'main.handler' is not module:function"),
        ({"spec__build__commands": ["pip install x"]}, "error", "Nuclio ignores spec.build.directives entirely"),
        (
            {"spec__build__commands": ["pip install x"], "spec__build__directives": None},
            "warning",
            "replaces build.directives",
        ),
        (
            {"spec__triggers__myHttpTrigger__attributes__maxRequestBodySize": 4194304},
            "warning",
            "is 4194304 bytes: too small for large frames",
        ),
        (
            {"spec__triggers__myHttpTrigger__attributes": None},
            "warning",
            "not set (Nuclio's default is 4 MiB)",
        ),
        ({"spec__triggers": None}, "warning", "has no http trigger"),
        ({"spec__eventTimeout": None}, "warning", "eventTimeout: is not set"),
        ({"spec__eventTimeout": "60"}, "error", "is not a Go duration"),
        ({"spec__eventTimeout": "5m"}, "warning", "longer than CVAT's 120 s"),
        ({"spec__env": [{"value": "x"}]}, "error", "spec.env[0]: has no 'name'"),
        ({"spec__readinessTimeoutSeconds": "600"}, "error", "is not a positive integer"),
    ],
)
def test_each_rule_reports_its_message(changes, severity, expected):
    text = messages(variant(**changes), severity)
    assert expected in text, text or "(no finding)"


def test_every_problem_of_a_file_is_reported_not_only_the_first():
    raw = variant(
        metadata__annotations__type="classifier",
        metadata__annotations__spec=spec_json({"name": "a"}, {"name": "a"}, {"name": "h", "type": "skeleton"}),
        spec__description=None,
        spec__runtime="python:3.8",
    )
    text = messages(raw, "error")
    for expected in ("classifier", "duplicates label name 'a'", "skeleton without", "spec.description", "python:3.8"):
        assert expected in text
    assert len([f for f in lint_config(raw) if f.severity == "error"]) == 5


def test_each_message_says_how_to_fix_it():
    raw = variant(metadata__annotations__type=None, spec__description=None, spec__build__commands=["x"])
    findings = lint_config(raw)
    assert findings
    assert all(f.fix for f in findings)


def test_invalid_yaml_is_one_error(tmp_path):
    path = tmp_path / "function.yaml"
    path.write_text("metadata: [unclosed\n")
    (finding,) = lint_file(path)
    assert finding.severity == "error"
    assert "is not valid YAML" in finding.message


# -- the folder: CPU vs GPU, model labels, handler file -------------------------------------------------------
def write_folder(folder: Path, cpu: dict, gpu: dict | None = None, model_labels: tuple[str, ...] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "function.yaml").write_text(yaml.safe_dump(cpu))
    if gpu is not None:
        (folder / "function-gpu.yaml").write_text(yaml.safe_dump(gpu))
    labels = f"labels = {model_labels!r}" if model_labels is not None else ""
    (folder / "main.py").write_text(
        textwrap.dedent(
            f"""
            class ModelHandler:
                {labels or "pass"}

            def handler(context, event):
                return "ok"
            """
        )
    )
    return folder


def gpu_variant(**changes) -> dict:
    raw = variant(**changes)
    raw["spec"]["build"] = {"baseImage": "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"}
    raw["spec"]["triggers"]["myHttpTrigger"]["numWorkers"] = 1
    raw["spec"]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    return raw


def test_cpu_and_gpu_files_may_differ_in_build_resources_and_workers(tmp_path):
    folder = write_folder(tmp_path / "fn", GOOD, gpu_variant())
    assert lint_function_dir(folder) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"metadata__annotations__spec": spec_json({"name": "person"}, {"name": "car"})},
            "label 'car' is here but not",
        ),
        ({"metadata__annotations__name": "Other"}, "metadata.annotations.name: 'Other' differs"),
        ({"spec__env": [{"name": "MODEL_PATH", "value": "/gpu.onnx"}]}, "spec.env.MODEL_PATH: '/gpu.onnx' differs"),
        ({"spec__handler": "gpu_main:handler"}, "spec.handler: 'gpu_main:handler' differs"),
        ({"spec__runtime": "python:3.10"}, "spec.runtime: 'python:3.10' differs"),
        ({"metadata__name": "other-name"}, "metadata.name: 'other-name' differs"),
    ],
)
def test_cpu_and_gpu_specs_that_differ_are_errors(tmp_path, changes, expected):
    folder = write_folder(tmp_path / "fn", GOOD, gpu_variant(**changes))
    text = "\n".join(str(f) for f in lint_function_dir(folder) if f.severity == "error")
    assert expected in text
    assert "function-gpu.yaml" in text


def test_labels_the_model_emits_must_be_in_the_spec(tmp_path):
    folder = write_folder(tmp_path / "fn", GOOD, model_labels=("person", "bicycle"))
    (finding,) = lint_function_dir(folder)
    assert finding.severity == "error"
    assert "lacks label(s) ['bicycle'] that ModelHandler.labels says the model emits" in finding.message
    assert lint_function_dir(write_folder(tmp_path / "ok", GOOD, model_labels=("person",))) == []


def test_a_handler_module_that_does_not_exist_is_an_error(tmp_path):
    folder = write_folder(tmp_path / "fn", variant(spec__handler="detector:handler"))
    assert "detector.py is not in" in "\n".join(str(f) for f in lint_function_dir(folder))


# -- the repo's own files ------------------------------------------------------------------------------------
def repo_function_dirs() -> list[Path]:
    dirs = [REPO, *sorted(p for p in (REPO / "examples").glob("*") if (p / "function.yaml").is_file())]
    return dirs + sorted(p.parent for p in (REPO / "tests" / "fixtures").glob("*/function.yaml"))


@pytest.mark.parametrize("folder", repo_function_dirs(), ids=lambda p: p.name)
def test_the_repos_own_function_yamls_pass(folder):
    findings = lint_function_dir(folder)
    assert not [f for f in findings if f.severity == "error"], "\n".join(map(str, findings))


@pytest.mark.slow
def test_the_contract_suite_passes_on_the_sample_images():
    findings, passed = run_contract_suite(REPO, sample_images(REPO))
    assert findings == []
    assert len(passed) == len(sample_images(REPO)) + len(generated_frames())
    assert len(sample_images(REPO)) >= 2


def test_the_contract_suite_catches_a_detector_answering_unknown_labels(tmp_path):
    folder = write_folder(tmp_path / "fn", GOOD)
    (folder / "main.py").write_text(
        "import json\n"
        "def handler(context, event):\n"
        "    body = json.dumps([{'label': 'dog', 'type': 'rectangle', 'points': [1, 1, 5, 5]}])\n"
        "    return context.Response(body=body, content_type='application/json', status_code=200)\n"
    )
    findings, passed = run_contract_suite(folder, sample_images(REPO)[:1])
    assert passed == []
    assert "(label 'dog') label: is not in the spec" in findings[0].message


def test_validate_cli_exit_codes(tmp_path):
    bad = write_folder(tmp_path / "bad", variant(spec__description=None, spec__triggers=None))
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "validate", "--no-run", str(bad)],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "spec.description: is missing or empty" in result.stdout
    assert "fix: add description" in result.stdout
    assert "1 error(s), 1 warning(s)" in result.stdout
    warn_only = write_folder(tmp_path / "warn", variant(spec__eventTimeout=None))
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "validate", "--no-run", str(warn_only)],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert "0 error(s), 1 warning(s)" in result.stdout


@pytest.mark.slow
def test_validate_cli_on_the_repo_passes(tmp_path):
    env = dict(os.environ)
    demo = REPO / "examples" / "onnx-detector" / "make_demo_model.py"
    if demo.is_file():  # its model is generated, never committed: `make demo-model` writes it before `validate`
        subprocess.run([sys.executable, demo, "--out", tmp_path / "demo.onnx"], check=True, capture_output=True)
        env["MODEL_PATH"] = str(tmp_path / "demo.onnx")
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "validate"],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "request with astronaut.jpg" in result.stdout  # whatever kind the root function is


@pytest.mark.parametrize(
    "annotations",
    [
        {"type": "tracker", "supported_shape_types": "rectangle,circle"},
        {"type": "detector", "supported_shape_types": "rectangle"},
        {"type": "interactor", "version": "2", "startswith_box": "none"},
        {"type": "interactor", "version": "2", "min_pos_points": "1.5"},
    ],
)
def test_validate_reports_whatever_the_runtime_refuses_to_start_with(annotations):
    """One rule set (spec.annotation_problems): a function validate passes never fails init_context on it."""
    from cvat_function.core.config import function_config_from_dict
    from cvat_function.core.errors import SpecError

    raw = variant()
    raw["metadata"]["annotations"] = {**raw["metadata"]["annotations"], **annotations, "spec": ""}
    with pytest.raises(SpecError) as refused:
        function_config_from_dict(raw)
    errors = [f for f in lint_config(raw) if f.severity == "error"]
    assert errors
    assert refused.value.where.split(": ")[-1] in [f.where for f in errors]


def test_maximum_retry_count_with_restart_policy_always_is_a_warning_naming_both_keys():
    policy = {"attributes": {"restartPolicy": {"name": "always", "maximumRetryCount": 3}}}
    (finding,) = [f for f in lint_config(variant(spec__platform=policy)) if "restartPolicy" in f.where]
    assert finding.severity == "warning"
    assert finding.where == "spec.platform.attributes.restartPolicy.maximumRetryCount"
    assert "'on-failure'" in finding.message
    assert "'always'" in finding.message
    assert "delete maximumRetryCount" in finding.fix
    on_failure = {"attributes": {"restartPolicy": {"name": "on-failure", "maximumRetryCount": 3}}}
    assert not [f for f in lint_config(variant(spec__platform=on_failure)) if "restartPolicy" in f.where]
    assert not [f for f in lint_config(variant(spec__platform={"attributes": {"restartPolicy": {"name": "always"}}}))]


HOSTILE = {
    "bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)),
    "latin1": "metadata:\n  name: caf\xe9\n".encode("latin-1"),
    "scalar": "metadata: 5\nspec: 6\n",
    "nested": "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "huge-number": "spec:\n  readinessTimeoutSeconds: " + "9" * 10_000 + "\n",
    "label-types": yaml.safe_dump(variant(metadata__annotations__spec='[{"name": ["x"], "attributes": 5}]')),
}


def test_every_malformed_file_is_findings_and_exit_code_1_never_a_traceback(tmp_path):
    folders = []
    for name, text in HOSTILE.items():
        folder = write_folder(tmp_path / name, GOOD)
        path = folder / "function.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        findings = lint_function_dir(folder)
        assert [f for f in findings if f.severity == "error"], name
        folders.append(str(folder))
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "validate", *folders],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{len(HOSTILE)} function folder(s)" in result.stdout
    assert "expands to more than" in result.stdout
    assert "is not UTF-8" in result.stdout


def test_serve_and_its_dashboard_read_through_the_same_bounded_reader(tmp_path):
    from cvat_function.core.errors import SpecError
    from cvat_function.tools.serve import read_settings

    folder = write_folder(tmp_path / "fn", GOOD)
    (folder / "function.yaml").write_text(HOSTILE["bomb"] + yaml.safe_dump(GOOD))
    with pytest.raises(SpecError, match="aliases"):
        read_settings(folder)
