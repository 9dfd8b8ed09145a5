"""Labels are written once: `sync-gpu` writes function-gpu.yaml's metadata and env from function.yaml, and
validate names the label, annotation or env key that differs when they are out of step."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cvat_function.tools.gpu_sync import SyncError, sync_gpu_text
from cvat_function.tools.lint import lint_function_dir, lint_pair

from ..support import FIXTURES, ROOT

LABELS = [
    {"id": 0, "name": "bright", "type": "rectangle"},
    {"id": 1, "name": "dark", "type": "rectangle"},
    {"id": 2, "name": "peak", "type": "points"},
    {"id": 3, "name": "glow", "type": "mask"},
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the fixture detector, which has both files."""
    return Path(shutil.copytree(FIXTURES / "detector", tmp_path / "detector"))


def set_labels(path: Path, labels: list[dict]) -> None:
    """Rewrite the label spec inside the `spec: |` block, leaving the rest of the text as it is."""
    text = path.read_text()
    start = text.index("    spec: |\n") + len("    spec: |\n")
    end = text.index("spec:\n  description")
    body = "".join(f"      {line}\n" for line in json.dumps(labels, indent=2).splitlines())
    path.write_text(text[:start] + body + text[end:])


def sync(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cvat_function", "sync-gpu", str(folder), *args],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip


def pair_errors(folder: Path) -> str:
    return "\n".join(str(f) for f in lint_pair(folder / "function.yaml", folder / "function-gpu.yaml"))


def test_validate_names_the_label_and_field_that_differ(folder: Path):
    changed = [
        {**LABELS[0], "type": "polygon"},
        LABELS[1],
        {"id": 4, "name": "halo", "type": "ellipse"},
        {**LABELS[3], "attributes": [{"name": "area", "input_type": "number", "values": ["0", "9", "1"]}]},
    ]
    set_labels(folder / "function.yaml", changed)
    set_labels(folder / "function-gpu.yaml", [*LABELS[:3], {**LABELS[3], "attributes": [
        {"name": "area", "input_type": "number", "values": ["0", "5", "1"]}]}])  # fmt: skip
    text = pair_errors(folder)
    assert "spec['bright'].type: label 'bright': type is 'rectangle' here, 'polygon' in function.yaml" in text
    assert "spec['halo']: label 'halo' is missing here but in function.yaml" in text
    assert "spec['peak']: label 'peak' is here but not in function.yaml" in text
    assert "label 'glow': attribute 'area': values is ['0', '5', '1'] here, ['0', '9', '1'] in function.yaml" in text
    assert "spec['dark']" not in text  # the label that agrees is not reported
    assert "fix: run `python -m cvat_function sync-gpu" in text


def test_validate_names_the_annotation_and_env_key_that_differ(folder: Path):
    cpu = folder / "function.yaml"
    cpu.write_text(cpu.read_text().replace('framework: "numpy"', 'framework: "onnx"').replace('"100000000"', '"5"'))
    text = pair_errors(folder)
    assert "metadata.annotations.framework: 'numpy' differs from function.yaml's 'onnx'" in text
    assert "spec.env.CVAT_FUNCTION_MAX_PIXELS: '100000000' differs from function.yaml's '5'" in text


def test_sync_gpu_writes_labels_annotations_and_env_and_keeps_what_may_differ(folder: Path):
    cpu, gpu = folder / "function.yaml", folder / "function-gpu.yaml"
    set_labels(cpu, [*LABELS, {"id": 4, "name": "halo", "type": "ellipse"}])
    cpu.write_text(cpu.read_text().replace('"100000000"', '"5"').replace("fixture-detector", "renamed"))
    gpu_before = yaml.safe_load(gpu.read_text())

    check = sync(folder, "--check")
    assert check.returncode == 1
    assert "label 'halo' is missing here but in function.yaml" in check.stdout
    assert yaml.safe_load(gpu.read_text()) == gpu_before  # --check writes nothing

    done = sync(folder)
    assert done.returncode == 0, done.stderr
    assert pair_errors(folder) == ""
    assert lint_function_dir(folder) == []
    after, source = yaml.safe_load(gpu.read_text()), yaml.safe_load(cpu.read_text())
    assert after["metadata"] == source["metadata"]
    assert after["spec"]["env"] == source["spec"]["env"]
    for key in ("build", "resources", "triggers"):  # the GPU deployment's own settings stay
        assert after["spec"][key] == gpu_before["spec"][key]
    assert gpu.read_text().startswith("# The GPU deployment of the fixture detector")  # its comments too
    assert "# may differ from function.yaml" in gpu.read_text()
    again = sync(folder, "--check")
    assert (again.returncode, "in step" in again.stdout) == (0, True)


def test_sync_gpu_adds_and_removes_env_when_function_yaml_does(folder: Path):
    cpu, gpu = folder / "function.yaml", folder / "function-gpu.yaml"
    without_env = cpu.read_text().replace(
        '  env:\n    - name: CVAT_FUNCTION_MAX_PIXELS\n      value: "100000000"\n', ""
    )
    cpu.write_text(without_env)
    synced = sync_gpu_text(cpu.read_text(), gpu.read_text())
    assert "env" not in yaml.safe_load(synced)["spec"]
    with_env = sync_gpu_text(
        cpu.read_text().replace("  handler:", "  env:\n    - {name: A, value: b}\n  handler:"), synced
    )
    assert yaml.safe_load(with_env)["spec"]["env"] == [{"name": "A", "value": "b"}]


def test_a_layout_it_cannot_follow_is_refused_not_rewritten(folder: Path):
    gpu = folder / "function-gpu.yaml"
    gpu.write_text(yaml.safe_dump(yaml.safe_load(gpu.read_text()), default_flow_style=True))
    with pytest.raises(SyncError, match="by hand"):
        sync_gpu_text((folder / "function.yaml").read_text(), gpu.read_text())
    before = gpu.read_text()
    assert sync(folder).returncode == 2
    assert gpu.read_text() == before


def test_without_a_gpu_file_there_is_nothing_to_do(tmp_path: Path):
    shutil.copy(FIXTURES / "detector" / "function.yaml", tmp_path / "function.yaml")
    done = sync(tmp_path)
    assert (done.returncode, "nothing to keep in step" in done.stdout) == (0, True)


NAMES = st.text(alphabet="abcdefghij -_", min_size=1, max_size=8)
TYPES = st.sampled_from(["rectangle", "polygon", "points", "mask", "ellipse", "any"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(NAMES, TYPES), min_size=1, max_size=6, unique_by=lambda t: t[0]))
def test_after_sync_the_gpu_file_has_exactly_the_cpu_labels(labels: list[tuple[str, str]]):
    spec = [{"id": i, "name": name, "type": kind} for i, (name, kind) in enumerate(labels)]
    cpu_text = (FIXTURES / "detector" / "function.yaml").read_text()
    start = cpu_text.index("    spec: |\n") + len("    spec: |\n")
    end = cpu_text.index("spec:\n  description")
    cpu_text = cpu_text[:start] + f"      {json.dumps(spec)}\n" + cpu_text[end:]
    gpu_text = (FIXTURES / "detector" / "function-gpu.yaml").read_text()
    synced = sync_gpu_text(cpu_text, gpu_text)
    parsed = yaml.safe_load(synced)
    assert json.loads(parsed["metadata"]["annotations"]["spec"]) == spec
    assert parsed["spec"]["build"] == yaml.safe_load(gpu_text)["spec"]["build"]
    assert sync_gpu_text(cpu_text, synced) == synced  # in step stays in step
