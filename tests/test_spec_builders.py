"""Label spec builders and the annotation checks CVAT's discovery needs (CONTRACT.md §1–2)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cvat_function.errors import SpecError
from cvat_function.spec import (
    checkbox_attribute_spec,
    function_config_from_dict,
    keypoint_spec,
    label_spec,
    number_attribute_spec,
    parse_labels,
    radio_attribute_spec,
    select_attribute_spec,
    skeleton_label_spec,
    skeleton_svg,
    spec_json,
    text_attribute_spec,
)

ROOT = Path(__file__).parents[1]


def _labels() -> list:
    return [
        label_spec("person", 0, "rectangle", [number_attribute_spec("age", 0, 150), select_attribute_spec("g", ["f"])]),
        label_spec("car", 1, "mask", [checkbox_attribute_spec("parked"), text_attribute_spec("plate")]),
        label_spec("light", 2, "tag", [radio_attribute_spec("colour", ["red", "green"])]),
        skeleton_label_spec(
            "hand", 3, [keypoint_spec("wrist", 4), keypoint_spec("thumb", 5)], edges=[("wrist", "thumb")]
        ),
    ]  # fmt: skip


def test_built_specs_parse_back_to_the_same_labels() -> None:
    labels = _labels()
    assert tuple(parse_labels(spec_json(labels))) == tuple(labels)


def test_number_values_are_integer_strings() -> None:
    assert number_attribute_spec("age", 0, 150, 5).values == ("0", "150", "5")


def test_the_skeleton_svg_has_a_node_per_sublabel_and_an_edge_per_pair() -> None:
    svg = skeleton_svg(["wrist", "thumb", "index"], [("wrist", "thumb"), ("wrist", "index")])
    nodes = re.findall(r'<circle [^>]*data-type="element node" data-element-id="(\d)" data-node-id="(\d)" '
                       r'data-label-name="(\w+)"', svg)  # fmt: skip
    assert nodes == [("1", "1", "wrist"), ("2", "2", "thumb"), ("3", "3", "index")]
    edges = re.findall(r'<line [^>]*data-type="edge" data-node-from="(\d)" data-node-to="(\d)"', svg)
    assert edges == [("1", "2"), ("1", "3")]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: number_attribute_spec("age", 10, 0), "min <= max"),
        (lambda: number_attribute_spec("age", 0, 10, 0), "step > 0"),
        (lambda: select_attribute_spec("gender", []), "non-empty"),
        (lambda: select_attribute_spec("gender", ["f", "f"]), "duplicate"),
        (lambda: label_spec("hand", type="skeleton"), "skeleton_label_spec"),
        (lambda: label_spec("car", type="truck"), "not a plain label type"),
        (lambda: skeleton_label_spec("hand", 0, []), "no sublabels"),
        (lambda: skeleton_label_spec("hand", 0, [label_spec("wrist", type="rectangle")]), "skeleton sublabels"),
        (lambda: skeleton_label_spec("hand", 0, [keypoint_spec("a")], edges=[("a", "b")]), "not declared"),
        (lambda: skeleton_label_spec("hand", 0, [keypoint_spec("a")], edges=[("a", "a")]), "itself"),
        (lambda: spec_json([label_spec("car"), label_spec("car")]), "duplicate"),
    ],
)
def test_builders_refuse_what_cvat_would_reject(build, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        build()


def _config(annotations: dict[str, object]) -> dict:
    return {"metadata": {"name": "f", "annotations": {"type": "interactor", "version": 2, **annotations}},
            "spec": {"description": "d"}}  # fmt: skip


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({"version": "two"}, "not an integer"),
        ({"min_pos_points": "1.5"}, "not an integer"),
        ({"min_neg_points": "none"}, "not an integer"),
        ({"startswith_box": False}, "reads as true"),
        ({"startswith_box_optional": "false"}, "reads as true"),
        ({"version": "1"}, 'must be "2"'),
        ({"supported_shape_types": "rectangle"}, "only read for trackers"),
        ({"type": "tracker", "supported_shape_types": " , "}, "is empty"),
        ({"type": "tracker", "supported_shape_types": "rectangle,mask"}, "names ['mask']"),
    ],
)
def test_annotations_cvat_would_choke_on_are_refused(annotations: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        function_config_from_dict(_config(annotations))


def test_annotations_are_read_as_cvat_reads_them() -> None:
    config = function_config_from_dict(
        _config({"type": "tracker", "version": "1", "supported_shape_types": "rectangle, polygon"})
    )
    assert config.supported_shape_types == ("rectangle", "polygon")
    assert (config.version, config.min_pos_points, config.min_neg_points) == (1, 1, -1)


def test_the_spec_verb_prints_json_from_python_builders(tmp_path: Path) -> None:
    module = tmp_path / "my_labels.py"
    module.write_text(
        "from cvat_function.spec import label_spec\nLABELS = [label_spec('cat', 0, 'rectangle')]\n", encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "spec", "--from-python", f"{module}:LABELS"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"id": 0, "name": "cat", "type": "rectangle"}]


def test_the_spec_verb_names_a_target_that_is_not_a_label_list(tmp_path: Path) -> None:
    module = tmp_path / "not_labels.py"
    module.write_text("LABELS = ['cat']\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "spec", "--from-python", f"{module}:LABELS"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "not a list of LabelSpec" in result.stderr
