"""Every function*.yaml in the repository passes CVAT's discovery rules.

One malformed function turns CVAT's whole models page into HTTP 500, so each file is loaded with
`load_function_config` (which refuses what CVAT would choke on) and checked for the kind-specific annotations.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cvat_function.core.config import load_function_config

ROOT = Path(__file__).parents[2]
SKIP = {".venv", ".git", "build", "node_modules"}
YAMLS = sorted(p for p in ROOT.glob("**/function*.yaml") if not SKIP & set(p.relative_to(ROOT).parts))


def test_the_examples_are_found() -> None:
    names = {p.parent.name for p in YAMLS}
    assert {"grabcut-interactor", "template-tracker", "histogram-reid", "coins-segmentation", "face-skeleton"} <= names


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
