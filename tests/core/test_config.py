"""function.yaml and its label spec, read as CVAT reads them; the repo's own yamls must pass."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvat_function.core.config import (
    function_config_from_dict,
    function_name_problem,
    load_function_config,
    load_nuclio_settings,
    parse_yaml,
    read_function_yaml,
)
from cvat_function.core.errors import SpecError
from cvat_function.core.labels import parse_labels
from cvat_function.tools.lint import lint_config, lint_file

from ..support import FIXTURES, fixture_model

FIXTURE_YAML = FIXTURES / "detector" / "function.yaml"


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


def test_a_function_yaml_is_read_with_its_name_kind_and_labels():
    config = load_function_config(FIXTURE_YAML)
    assert (config.name, config.kind) == ("fixture-detector", "detector")
    assert config.labels.names == list(fixture_model("detector").labels)
    assert config.labels.get("glow").type == "mask"


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
        ({"metadata__name": "Pth_Yolo"}, "metadata.name: 'Pth_Yolo' is not a DNS label"),
        ({"metadata__name": "pth-yolo\nimage=evil"}, "is not a DNS label"),
        ({"metadata__name": "yolo-"}, "is not a DNS label"),
        ({"metadata__name": "a" * 64}, "is 64 characters; Nuclio takes at most 63"),
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
    raw = yaml.safe_load(FIXTURE_YAML.read_text())
    text = raw["metadata"]["annotations"]["spec"]
    assert isinstance(text, str)
    assert [label["name"] for label in json.loads(text)] == ["bright", "dark", "peak", "glow"]


@given(st.text(alphabet="abcz09-_.A\n", min_size=1, max_size=70))
def test_a_name_is_accepted_exactly_when_it_is_a_lowercase_dns_label_of_63_or_less(name):
    rules = (
        len(name) <= 63,
        set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-"),
        not name.startswith("-"),
        not name.endswith("-"),
    )
    assert (function_name_problem(name) is None) == all(rules)


# -- the reader: hostile and malformed files ------------------------------------------------------------------
GOOD_YAML = """\
metadata:
  name: f
  annotations:
    type: detector
    spec: '[{"id": 0, "name": "cat", "type": "rectangle"}]'
spec:
  description: a function
"""

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)
"""Nine levels of ten aliases: 10^9 scalars once expanded, from 300 bytes."""


def write(tmp_path, text: str | bytes):
    path = tmp_path / "function.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB + GOOD_YAML, "expands to more than"),
        ("a: &a [*a]\n" + GOOD_YAML, "refers to itself"),
        ("a: " + "[" * 500_000 + "]" * 500_000 + "\n" + GOOD_YAML, "nests brackets deeper than"),
        ("a:\n" + "".join(" " * i + "- \n" for i in range(100)) + GOOD_YAML, "nests deeper than"),
        (b"metadata:\n  name: \xff\xfe\n", "is not UTF-8"),
        ("", "not an empty file"),
        ("- just\n- a list\n", "not a list"),
        ("metadata: 5\nspec: {description: x}\n", "metadata: must be a mapping, not an int"),
        ("metadata: {name: f, annotations: [1]}\nspec: {description: x}\n", "annotations: must be a mapping"),
        (GOOD_YAML.replace("spec:\n  description", "spec: 7\nx:\n  description"), "spec: must be a mapping"),
        (GOOD_YAML + "  readinessTimeoutSeconds: " + "9" * 5000 + "\n", "holds a value YAML cannot represent"),
        (GOOD_YAML + "  eventTimeout: " + "9" * 5000 + "h\n", "is not a Go duration"),
        (GOOD_YAML + "  readinessTimeoutSeconds: 0x" + "f" * 5000 + "\n", "outside the 64-bit range"),
        (GOOD_YAML + "  eventTimeout: 99999999999h\n", "longer than a Go duration can be"),
        (GOOD_YAML + "  triggers: {t: {kind: http, numWorkers: 100000}}\n", "and <= 1024"),
        (GOOD_YAML + "  env: {A: b}\n", "spec.env: must be a list"),
        (GOOD_YAML.replace('"name": "cat"', '"name": {"x": 1}'), "has no 'name'"),
        (GOOD_YAML.replace("[{", "[" * 100_000 + "{"), "nests brackets deeper than"),
        (GOOD_YAML.replace('"id": 0', '"id": ' + "9" * 5000), "is not valid JSON"),
        ("a: [unclosed\n", "is not valid YAML"),
        ("---\na: 1\n---\nb: 2\n", "is not valid YAML"),
        ("? [a, b]\n: c\n", "is not valid YAML"),
    ],
)
def test_a_malformed_file_is_a_spec_error_naming_the_problem(tmp_path, text, message):
    with pytest.raises(SpecError) as error:
        load_function_config(write(tmp_path, text))
    assert message in str(error.value)


def test_an_alias_bomb_is_refused_with_bounded_memory(tmp_path):
    path = write(tmp_path, BOMB + GOOD_YAML)
    tracemalloc.start()
    try:
        with pytest.raises(SpecError, match="aliases"):
            read_function_yaml(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, f"{peak} bytes to refuse a 300-byte file"


def test_a_few_plain_aliases_are_still_read(tmp_path):
    text = GOOD_YAML.replace("spec:\n  description: a function\n", "spec:\n  description: &d a function\n  x: *d\n")
    assert load_function_config(write(tmp_path, text)).description == "a function"


def test_the_nuclio_settings_come_from_the_same_reader(tmp_path):
    text = GOOD_YAML + (
        "  eventTimeout: 30s\n  readinessTimeoutSeconds: 60\n  env: [{name: A, value: 1}]\n"
        "  triggers: {myHttpTrigger: {kind: http, numWorkers: 3, workerAvailabilityTimeoutMilliseconds: 500,"
        " attributes: {maxRequestBodySize: 1024}}}\n"
    )
    config = load_function_config(write(tmp_path, text))
    settings = config.nuclio
    assert (settings.num_workers, settings.event_timeout, settings.readiness_timeout) == (3, 30.0, 60.0)
    assert (settings.availability_timeout, settings.max_body, settings.trigger) == (0.5, 1024, "myHttpTrigger")
    assert config.env == settings.env == {"A": "1"}
    assert load_nuclio_settings(config.path) == settings
    defaults = load_nuclio_settings(write(tmp_path, GOOD_YAML))
    assert (defaults.num_workers, defaults.max_body, defaults.trigger) == (1, 4 * 1024 * 1024, "default-http")


# -- property: whatever the file holds, the reader answers a config or a SpecError ------------------------------
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_KEYS = st.sampled_from(
    ["name", "type", "spec", "version", "description", "handler", "env", "triggers", "eventTimeout", "numWorkers"]
)


def _documents() -> st.SearchStrategy[object]:
    label = st.fixed_dictionaries(
        {"name": st.text(max_size=6) | _VALUES},
        optional={"type": st.sampled_from(["rectangle", "skeleton", "any", "box"]) | _VALUES, "attributes": _VALUES,
                  "id": _VALUES, "sublabels": _VALUES, "svg": _VALUES},
    )  # fmt: skip
    spec_text = st.lists(label, max_size=3).map(json.dumps) | st.text(max_size=30) | _VALUES
    annotations = st.fixed_dictionaries(
        {"type": st.sampled_from(["detector", "interactor", "tracker", "reid"]) | _VALUES, "spec": spec_text},
        optional={"version": _VALUES, "min_pos_points": _VALUES, "startswith_box": _VALUES,
                  "supported_shape_types": _VALUES},
    )  # fmt: skip
    metadata = st.fixed_dictionaries({"name": st.just("f") | _VALUES, "annotations": annotations | _VALUES})
    trigger = st.dictionaries(_KEYS | st.just("kind"), _VALUES | st.just("http"), max_size=4)
    spec = st.fixed_dictionaries(
        {"description": st.just("d") | _VALUES},
        optional={"handler": _VALUES, "env": _VALUES, "eventTimeout": _VALUES, "readinessTimeoutSeconds": _VALUES,
                  "triggers": st.dictionaries(st.text(max_size=4), trigger, max_size=2) | _VALUES},
    )  # fmt: skip
    return st.fixed_dictionaries({"metadata": metadata | _VALUES, "spec": spec | _VALUES}) | _VALUES


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents())
def test_any_document_gives_a_config_or_a_spec_error_and_lint_agrees(document):
    try:
        text = yaml.safe_dump(document)
    except (ValueError, OverflowError):  # e.g. integers PyYAML cannot write back
        return
    try:
        raw = parse_yaml(text)
    except SpecError:
        return
    findings = lint_config(raw)
    assert all(isinstance(f.message, str) and f.severity in ("error", "warning") for f in findings)
    try:
        function_config_from_dict(raw)
    except SpecError as refused:
        assert any(f.severity == "error" for f in findings), f"validate passes what the runtime refuses: {refused}"
    else:
        # what the runtime starts with, validate reports no error of the rules they share
        shared = [
            f for f in findings if f.severity == "error" and not f.where.startswith(("spec.runtime", "metadata.name"))
        ]
        assert shared == [], shared


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_give_a_config_or_a_spec_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("yaml") / "function.yaml"
    path.write_bytes(data)
    try:
        load_function_config(path)
    except SpecError as e:
        assert str(e)
    assert all(f.severity in ("error", "warning") for f in lint_file(path))
