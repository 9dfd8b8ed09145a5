"""function.yaml and its label spec, read as CVAT reads them; the repo's own yamls must pass."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from cvat_function.core.config import function_config_from_dict, load_function_config
from cvat_function.core.errors import SpecError
from cvat_function.core.labels import parse_labels

from ..support import ROOT


def config(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "metadata": {
            "name": "f",
            "annotations": {"type": "detector", "spec": '[{"id": 0, "name": "cat", "type": "rectangle"}]'},
        },
        "spec": {"description": "a function"},
    }
    for path, value in overrides.items():
        *parents, key = path.split("__")
        node = raw
        for parent in parents:
            node = node[parent]
        if value is None:
            node.pop(key, None)
        else:
            node[key] = value
    return raw


def test_the_repo_function_yamls_are_listable_by_cvat_and_agree():
    cpu = load_function_config(ROOT / "function.yaml")
    gpu = load_function_config(ROOT / "function-gpu.yaml")
    assert cpu.kind == "detector"
    assert cpu.labels.names == ["face", "person"]
    assert (gpu.name, gpu.labels, gpu.annotations, gpu.env) == (cpu.name, cpu.labels, cpu.annotations, cpu.env)


def test_annotations_are_read_as_the_strings_nuclio_stores():
    raw = config(metadata__annotations={"type": "detector", "version": 1, "framework": True, "help_message": None})
    annotations = function_config_from_dict(raw).annotations
    assert annotations == {"type": "detector", "version": "1", "framework": "true", "help_message": ""}


def test_a_false_boolean_annotation_is_refused_because_cvat_reads_it_as_true():
    raw = config(metadata__annotations={"type": "detector", "startswith_box": False})
    with pytest.raises(SpecError, match="which CVAT reads as true"):
        function_config_from_dict(raw)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"metadata__annotations": None}, "metadata.annotations: is missing"),
        ({"spec__description": None}, "spec.description: is missing"),
        ({"spec__description": "  "}, "spec.description: is missing or empty"),
        ({"metadata__annotations__type": None}, "metadata.annotations.type: is missing"),
        ({"metadata__annotations__type": "classifier"}, "is 'classifier'"),
        ({"metadata__name": None}, "metadata.name: is missing"),
    ],
)
def test_function_yaml_defects_that_break_cvat_are_refused(overrides, message):
    with pytest.raises(SpecError) as error:
        function_config_from_dict(config(**overrides))
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('[{"name": "cat",}]', "is not valid JSON"),
        ('{"name": "cat"}', "must be a JSON list"),
        ('["cat"]', "must be an object"),
        ('[{"id": 0}]', "has no 'name'"),
        ('[{"name": "cat"}, {"name": "cat"}]', "duplicates label name 'cat'"),
        ('[{"name": "cat", "type": "box"}]', "unknown type 'box'"),
        ('[{"name": "cat", "id": "0"}]', "non-integer id"),
        ('[{"name": "cat", "attributes": [{"name": "a", "values": []}]}]', "needs 'name', 'input_type' and 'values'"),
        (
            '[{"name": "cat", "attributes": [{"name": "a", "input_type": "text", "values": []},'
            ' {"name": "a", "input_type": "text", "values": []}]}]',
            "duplicates attribute 'a'",
        ),
        ('[{"name": "c", "attributes": [{"name": "a", "input_type": "slider", "values": []}]}]', "unknown input_type"),
        ('[{"name": "c", "attributes": [{"name": "a", "input_type": "number", "values": ["0", "9"]}]}]', "min, max"),
        ('[{"name": "c", "attributes": [{"name": "a", "input_type": "number", "values": ["9", "0", "1"]}]}]', "min <="),
        ('[{"name": "hand", "type": "skeleton", "sublabels": []}]', "skeleton without 'sublabels' and 'svg'"),
    ],
)
def test_label_spec_defects_are_refused_naming_the_label(spec, message):
    with pytest.raises(SpecError) as error:
        parse_labels(spec)
    assert message in str(error.value)


def test_an_empty_spec_is_an_empty_label_list_as_in_cvat():
    assert len(parse_labels("")) == 0
    assert len(parse_labels(None)) == 0


def test_labels_round_trip_to_the_json_cvat_parses():
    spec = [
        {"id": 0, "name": "face", "type": "rectangle", "attributes": [
            {"name": "age", "input_type": "number", "values": ["0", "150", "1"]},
            {"name": "gender", "input_type": "select", "values": ["female", "male"]},
        ]},
        {"id": 4, "name": "hand", "type": "skeleton", "svg": "<circle/>", "sublabels": [
            {"id": 5, "name": "wrist", "type": "points"},
        ]},
    ]  # fmt: skip
    labels = parse_labels(json.dumps(spec))
    assert labels.to_json() == spec
    assert labels.by_id(4).sublabel("wrist") is not None
    assert labels.get("face") is not None
    with pytest.raises(KeyError, match="no label with id 9"):
        labels.by_id(9)


def test_the_spec_in_function_yaml_is_strict_json_in_a_block_scalar():
    """A `spec: |` block keeps the JSON text as written; json.loads must accept it as CVAT's does."""
    raw = yaml.safe_load((ROOT / "function.yaml").read_text())
    text = raw["metadata"]["annotations"]["spec"]
    assert isinstance(text, str)
    assert [label["name"] for label in json.loads(text)] == ["face", "person"]
