"""Every function*.yaml in the repository passes CVAT's discovery rules.

One malformed function turns CVAT's whole models page into HTTP 500, so each file is loaded with
`load_function_config` (which refuses what CVAT would choke on) and checked for the kind-specific annotations.
These look at the repo's own files, whatever their labels, names or models: the root is the user's function.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cvat_function.core.config import load_function_config
from cvat_function.core.runtime import ENV_INVALID_SHAPES

ROOT = Path(__file__).parents[2]
SKIP = {".venv", ".git", "build", "node_modules"}
YAMLS = sorted(p for p in ROOT.glob("**/function*.yaml") if not SKIP & set(p.relative_to(ROOT).parts))
DEPLOYED = [p for p in YAMLS if "tests" not in p.relative_to(ROOT).parts]  # the fixtures are never deployed


def test_the_root_function_and_the_fixture_functions_are_found() -> None:
    found = {str(p.relative_to(ROOT)) for p in YAMLS}
    assert {"function.yaml", "function-gpu.yaml"} <= found
    assert {f"tests/fixtures/{kind}/function.yaml" for kind in ("detector", "interactor", "tracker", "reid")} <= found


def test_the_root_cpu_and_gpu_files_describe_the_same_function_to_cvat() -> None:
    cpu = load_function_config(ROOT / "function.yaml")
    gpu = load_function_config(ROOT / "function-gpu.yaml")
    assert (gpu.name, gpu.labels, gpu.annotations, gpu.env) == (cpu.name, cpu.labels, cpu.annotations, cpu.env)


@pytest.mark.parametrize("path", DEPLOYED, ids=lambda p: str(p.relative_to(ROOT)))
def test_deployed_functions_drop_invalid_shapes_instead_of_failing_the_frame(path: Path) -> None:
    assert load_function_config(path).env[ENV_INVALID_SHAPES] == "drop"


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: str(p.relative_to(ROOT)))
def test_function_yaml_satisfies_cvat_discovery(path: Path) -> None:
    config = load_function_config(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    annotations = raw["metadata"]["annotations"]
    assert all(isinstance(v, str) for v in annotations.values()), "quote every annotation"
    assert config.description.strip()
    assert raw["spec"]["runtime"] in ("python:3.10", "python:3.11", "python:3.12")
    assert raw["spec"]["handler"] == "main:handler"
    for trigger in raw["spec"]["triggers"].values():
        assert int(trigger["attributes"]["maxRequestBodySize"]) >= 32 * 1024 * 1024
    assert "startswith_box" not in annotations or annotations["startswith_box"] == "true"
    if config.kind == "interactor":
        assert annotations["version"] == "2"
        int(annotations["min_pos_points"])
        int(annotations["min_neg_points"])
    if config.kind == "tracker":
        assert config.supported_shape_types is None or len(config.supported_shape_types) > 0
    if config.kind != "detector":
        assert len(config.labels) == 0
    assert (path.parent / "model_handler.py").is_file()  # main.py: the root's, or the generic entry
