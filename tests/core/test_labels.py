"""Label spec builders and the annotation checks CVAT's discovery needs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cvat_function.core.config import function_config_from_dict
from cvat_function.core.errors import SpecError
from cvat_function.core.labels import (
    checkbox_attribute_spec,
    class_label_specs,
    keypoint_spec,
    label_spec,
    number_attribute_spec,
    parse_class_names,
    parse_labels,
    radio_attribute_spec,
    select_attribute_spec,
    skeleton_label_spec,
    skeleton_svg,
    spec_json,
    text_attribute_spec,
)

ROOT = Path(__file__).parents[2]


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


def test_the_labels_verb_prints_json_from_python_builders(tmp_path: Path) -> None:
    module = tmp_path / "my_labels.py"
    module.write_text(
        "from cvat_function import label_spec\nLABELS = [label_spec('cat', 0, 'rectangle')]\n", encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "labels", "--from-python", f"{module}:LABELS"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"id": 0, "name": "cat", "type": "rectangle"}]


def test_the_labels_verb_names_a_target_that_is_not_a_label_list(tmp_path: Path) -> None:
    module = tmp_path / "not_labels.py"
    module.write_text("LABELS = ['cat']\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "labels", "--from-python", f"{module}:LABELS"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "not a list of LabelSpec" in result.stderr


# -- class names a model carries (ONNX metadata) -------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "{0: 'person', 1: 'bicycle'}",
        "['person', 'bicycle']",
        '{"0": "person", "1": "bicycle"}',
        " ('person', 'bicycle')",
    ],
)
def test_class_names_are_read_from_ultralytics_dicts_lists_and_json(text: str) -> None:
    assert parse_class_names(text) == {0: "person", 1: "bicycle"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('true')", "not a dict or list literal"),  # literals only, never code
        ("{0: 'person', 1: 'person'}", "duplicate names ['person']"),
        ("{-1: 'person'}", "class index -1"),
        ("{0: ''}", "class 0 has name ''"),
        ("{}", "non-empty"),
        ("'person'", "non-empty"),
    ],
)
def test_class_names_that_are_not_a_clean_index_to_name_map_are_refused(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_class_names(text)


def test_a_spec_from_class_names_has_the_class_index_as_id() -> None:
    labels = class_label_specs({1: "bicycle", 0: "person"}, "mask")
    assert json.loads(spec_json(labels)) == [
        {"id": 0, "name": "person", "type": "mask"},
        {"id": 1, "name": "bicycle", "type": "mask"},
    ]


def _onnx_model(path: Path, metadata: dict[str, str]) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [value], [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    ])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


def _labels_verb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cvat_function", "labels", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_the_labels_verb_derives_the_labels_from_an_onnx_models_class_names(tmp_path: Path) -> None:
    model = _onnx_model(tmp_path / "m.onnx", {"names": "{0: 'person', 1: 'bicycle', 2: 'traffic light'}"})
    result = _labels_verb("--from-onnx", str(model))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"id": 0, "name": "person", "type": "rectangle"},
        {"id": 1, "name": "bicycle", "type": "rectangle"},
        {"id": 2, "name": "traffic light", "type": "rectangle"},
    ]
    block = _labels_verb("--from-onnx", str(model), "--type", "polygon", "--yaml")
    assert block.stdout.startswith("    spec: |\n      [\n")
    assert '{"id": 2, "name": "traffic light", "type": "polygon"}' in block.stdout


def test_the_labels_verb_says_when_an_onnx_model_carries_no_class_names(tmp_path: Path) -> None:
    result = _labels_verb("--from-onnx", str(_onnx_model(tmp_path / "m.onnx", {"task": "detect"})))
    assert result.returncode == 1
    assert "has no 'names' metadata (keys: ['task'])" in result.stderr
    missing = _labels_verb("--from-onnx", str(tmp_path / "nope.onnx"))
    assert (missing.returncode, missing.stderr.strip()) == (1, f"error: {tmp_path / 'nope.onnx'}: does not exist")
