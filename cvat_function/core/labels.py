"""The label spec (`metadata.annotations.spec` of function.yaml), read the way CVAT reads it.

The labels live in one place: function.yaml. The runtime reads them from there, so the names the model emits
and the names CVAT matches against task labels cannot drift apart. A spec CVAT would reject (and so turn its
whole models page into HTTP 500, or skip the function) raises `SpecError`. The builders below write a spec in
Python, named like cvat_sdk.auto_annotation's helpers.
"""

from __future__ import annotations

import ast
import html
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import SpecError

LABEL_TYPES = (
    "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag", "any",
)  # fmt: skip
INPUT_TYPES = ("checkbox", "radio", "number", "text", "select")


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """`{"name", "input_type", "values"}`: number values are `[min, max, step]` as strings."""

    name: str
    input_type: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LabelSpec:
    """One entry of the spec; `type` defaults to `any` as in CVAT ≥ v2.29."""

    name: str
    type: str = "any"
    id: int | None = None
    attributes: tuple[AttributeSpec, ...] = ()
    sublabels: tuple[LabelSpec, ...] = ()
    svg: str = ""

    def attribute(self, name: str) -> AttributeSpec | None:
        return next((a for a in self.attributes if a.name == name), None)

    def sublabel(self, name: str) -> LabelSpec | None:
        return next((s for s in self.sublabels if s.name == name), None)


@dataclass(frozen=True, slots=True)
class Labels:
    """The label list of a function; looked up by name (what the model returns) or by id (class index)."""

    labels: tuple[LabelSpec, ...] = ()
    _by_name: dict[str, LabelSpec] = field(default_factory=dict, repr=False, compare=False)
    _by_id: dict[int, LabelSpec] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({label.name: label for label in self.labels})
        self._by_id.update({label.id: label for label in self.labels if label.id is not None})

    def __iter__(self) -> Iterator[LabelSpec]:
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    def get(self, name: str) -> LabelSpec | None:
        return self._by_name.get(name)

    def by_id(self, label_id: int) -> LabelSpec:
        try:
            return self._by_id[label_id]
        except KeyError:
            raise KeyError(f"no label with id {label_id} in the spec (ids: {sorted(self._by_id)})") from None

    def to_json(self) -> list[dict[str, Any]]:
        return [_label_to_json(label) for label in self.labels]


def parse_labels(text: str | None, where: str = "annotations.spec") -> Labels:
    """Parse a spec string exactly as CVAT does: `json.loads(value or "[]")`, then check each label; the first
    problem raises `SpecError`."""
    labels, problems = read_labels(text, where)
    if problems:
        raise problems[0]
    return labels


def label_spec_problems(text: str | None, where: str = "annotations.spec") -> list[SpecError]:
    """Every problem of a spec string, in order (what `validate` reports; `parse_labels` raises the first)."""
    return read_labels(text, where)[1]


def read_labels(text: str | None, where: str = "annotations.spec") -> tuple[Labels, list[SpecError]]:
    """The labels that parse, and one `SpecError` per problem."""
    try:
        data = json.loads(text or "[]")
    except (ValueError, RecursionError) as e:  # JSONDecodeError, integers of > 4300 digits, absurd nesting
        problem = SpecError(
            where,
            f"is not valid JSON ({str(e)[:200]})",
            "CVAT answers HTTP 500 for its whole model list; write strict JSON: no comments, no trailing commas",
        )
        return Labels(), [problem]
    problems: list[SpecError] = []
    labels = tuple(_parse_label_list(data, where, problems))
    return Labels(labels), problems


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_label_list(data: object, where: str, problems: list[SpecError]) -> Iterator[LabelSpec]:
    if not isinstance(data, list):
        problems.append(SpecError(where, f"must be a JSON list of labels, not {type(data).__name__}"))
        return
    seen: set[str] = set()
    for i, item in enumerate(data):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(SpecError(here, f"must be an object, not {type(item).__name__}"))
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name:
            problems.append(SpecError(here, "has no 'name'", "every label needs the exact name of a task label"))
            continue
        here = f"{where}[{i}] ({_short(name)})"
        if name in seen:
            problems.append(
                SpecError(here, f"duplicates label name {_short(name)}; CVAT skips the function", "names are unique")
            )
            continue
        seen.add(name)
        try:
            yield _parse_label(item, name, here, problems)
        except SpecError as e:
            problems.append(e)


def _parse_label(item: Mapping[str, Any], name: str, where: str, problems: list[SpecError]) -> LabelSpec:
    label_type = item.get("type", "any")
    if not isinstance(label_type, str) or label_type not in LABEL_TYPES:
        raise SpecError(where, f"has unknown type {_short(label_type)}", f"use one of {', '.join(LABEL_TYPES)}")
    label_id = item.get("id")
    if label_id is not None and (isinstance(label_id, bool) or not isinstance(label_id, int)):
        raise SpecError(where, f"has a non-integer id {_short(label_id)}", "ids map class indices to names")
    attributes = tuple(_parse_attributes(item.get("attributes") or [], where))
    sublabels: tuple[LabelSpec, ...] = ()
    svg = ""
    if label_type == "skeleton":
        if "sublabels" not in item or "svg" not in item:
            raise SpecError(
                where,
                "is a skeleton without 'sublabels' and 'svg'",
                "CVAT answers HTTP 500; list the points sublabels and the skeleton's SVG",
            )
        if not isinstance(item["svg"], str):
            raise SpecError(where, f"'svg' must be a string, not {type(item['svg']).__name__}")
        sublabels = tuple(_parse_label_list(item["sublabels"], f"{where}.sublabels", problems))
        svg = item["svg"]
    return LabelSpec(name, label_type, label_id, attributes, sublabels, svg)


def _parse_attributes(data: object, where: str) -> Iterator[AttributeSpec]:
    if not isinstance(data, list):
        raise SpecError(f"{where}.attributes", "must be a list")
    seen: set[str] = set()
    for j, attr in enumerate(data):
        here = f"{where}.attributes[{j}]"
        if not isinstance(attr, Mapping) or not all(k in attr for k in ("name", "input_type", "values")):
            raise SpecError(
                here,
                "needs 'name', 'input_type' and 'values'",
                "CVAT answers HTTP 500 otherwise; 'values' is [] for checkbox and text",
            )
        name, input_type, values = attr["name"], attr["input_type"], attr["values"]
        if not isinstance(name, str) or not name:
            raise SpecError(here, f"'name' must be a non-empty string, not {_short(name)}")
        if name in seen:
            raise SpecError(here, f"duplicates attribute {_short(name)}", "CVAT skips the function")
        seen.add(name)
        if not isinstance(input_type, str) or input_type not in INPUT_TYPES:
            raise SpecError(
                here, f"has unknown input_type {_short(input_type)}", f"use one of {', '.join(INPUT_TYPES)}"
            )
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SpecError(here, "'values' must be a list of strings")
        if input_type == "number":
            _check_number_values(values, here)
        yield AttributeSpec(name, input_type, tuple(values))


def _check_number_values(values: list[str], where: str) -> None:
    try:
        if len(values) != 3 or any(len(v) > 20 for v in values):
            raise ValueError(values)
        low, high, step = (int(v) for v in values)
    except ValueError:
        raise SpecError(
            where, f"number values must be [min, max, step] as integer strings, not {_short(values)}"
        ) from None
    if not (low <= high and step > 0):
        raise SpecError(where, f"number values need min <= max and step > 0, got {values}")


def _label_to_json(label: LabelSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if label.id is not None:
        out["id"] = label.id
    out["name"] = label.name
    out["type"] = label.type
    if label.attributes:
        out["attributes"] = [
            {"name": a.name, "input_type": a.input_type, "values": list(a.values)} for a in label.attributes
        ]
    if label.type == "skeleton":
        out["sublabels"] = [_label_to_json(s) for s in label.sublabels]
        out["svg"] = label.svg
    return out


# --- Builders: write the label spec in Python, paste the JSON into function.yaml -------------------------------
# Named like cvat_sdk.auto_annotation's helpers. `python -m cvat_function labels --from-python MODULE:OBJECT` prints
# the JSON of a list of these, ready for `metadata.annotations.spec`.


def label_spec(
    name: str, id: int | None = None, type: str = "any", attributes: Sequence[AttributeSpec] = ()
) -> LabelSpec:
    """A label of `type` (`rectangle`, `polygon`, `mask`, `tag`, … or `any`); skeletons: `skeleton_label_spec`."""
    if type not in LABEL_TYPES or type == "skeleton":
        raise SpecError(f"label {name!r}", f"type {type!r} is not a plain label type", "skeletons: skeleton_label_spec")
    _check_unique(f"label {name!r} attributes", [a.name for a in attributes])
    return LabelSpec(name, type, id, tuple(attributes))


def keypoint_spec(name: str, id: int | None = None, attributes: Sequence[AttributeSpec] = ()) -> LabelSpec:
    """One sublabel (a keypoint) of a skeleton: a `points` label."""
    _check_unique(f"keypoint {name!r} attributes", [a.name for a in attributes])
    return LabelSpec(name, "points", id, tuple(attributes))


def skeleton_label_spec(
    name: str,
    id: int | None,
    sublabels: Sequence[LabelSpec],
    *,
    edges: Sequence[tuple[str, str]] = (),
    positions: Mapping[str, tuple[float, float]] | None = None,
    attributes: Sequence[AttributeSpec] = (),
) -> LabelSpec:
    """A skeleton label with its keypoint sublabels and the `svg` CVAT's skeleton editor needs, generated.

    `edges` are pairs of sublabel names drawn as lines; `positions` place each keypoint on the editor's
    100×100 canvas (default: evenly on a circle). Only the layout shown in CVAT's label editor depends on them.
    """
    where = f"skeleton {name!r}"
    if not sublabels:
        raise SpecError(where, "has no sublabels", "a skeleton needs at least one keypoint_spec(...)")
    for sub in sublabels:
        if sub.type != "points":
            raise SpecError(where, f"sublabel {sub.name!r} has type {sub.type!r}", "skeleton sublabels are points")
    _check_unique(f"{where} sublabels", [s.name for s in sublabels])
    _check_unique(f"{where} attributes", [a.name for a in attributes])
    svg = skeleton_svg([s.name for s in sublabels], edges, positions, where=where)
    return LabelSpec(name, "skeleton", id, tuple(attributes), tuple(sublabels), svg)


def skeleton_svg(
    names: Sequence[str],
    edges: Sequence[tuple[str, str]] = (),
    positions: Mapping[str, tuple[float, float]] | None = None,
    *,
    where: str = "skeleton",
) -> str:
    """CVAT's skeleton markup: a `<circle data-type="element node">` per keypoint (ids 1…N in `names` order)
    and a `<line data-type="edge">` per pair in `edges`."""
    ids = {n: i for i, n in enumerate(names, start=1)}
    layout = dict(positions or {})
    missing = [n for n in names if n not in layout]
    for k, n in enumerate(missing):  # evenly on a circle, starting at the top
        angle = 2 * math.pi * k / len(missing) - math.pi / 2
        layout[n] = (50 + 40 * math.cos(angle), 50 + 40 * math.sin(angle))
    unknown = [n for n in layout if n not in ids]
    if unknown:
        raise SpecError(where, f"positions name unknown sublabels {unknown}")
    lines = []
    for a, b in edges:
        if a not in ids or b not in ids:
            raise SpecError(where, f"edge ({a!r}, {b!r}) names a sublabel that is not declared", f"declared: {names}")
        if a == b:
            raise SpecError(where, f"edge ({a!r}, {b!r}) joins a keypoint to itself")
        (x1, y1), (x2, y2) = layout[a], layout[b]
        lines.append(
            f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" '
            f'stroke="black" data-type="edge" data-node-from="{ids[a]}" data-node-to="{ids[b]}"></line>'
        )
    circles = []
    for n in names:
        x, y = layout[n]
        circles.append(
            f'<circle r="0.75" cx="{_num(x)}" cy="{_num(y)}" stroke-width="0.1" data-type="element node" '
            f'data-element-id="{ids[n]}" data-node-id="{ids[n]}" data-label-name="{html.escape(n, quote=True)}">'
            "</circle>"
        )
    return "".join(lines + circles)


def number_attribute_spec(name: str, min: int, max: int, step: int = 1) -> AttributeSpec:
    """An integer attribute: CVAT wants `values = [min, max, step]` as strings."""
    values = [str(int(v)) for v in (min, max, step)]
    _check_number_values(values, f"attribute {name!r}")
    return AttributeSpec(name, "number", tuple(values))


def select_attribute_spec(name: str, values: Sequence[str]) -> AttributeSpec:
    """A drop-down of `values` (the model must return exactly one of them)."""
    return _choice(name, "select", values)


def radio_attribute_spec(name: str, values: Sequence[str]) -> AttributeSpec:
    """Radio buttons over `values`."""
    return _choice(name, "radio", values)


def checkbox_attribute_spec(name: str) -> AttributeSpec:
    """A boolean attribute (values `"true"`/`"false"`)."""
    return AttributeSpec(name, "checkbox", ())


def text_attribute_spec(name: str) -> AttributeSpec:
    """Free text."""
    return AttributeSpec(name, "text", ())


def parse_class_names(text: str, where: str = "model metadata 'names'") -> dict[int, str]:
    """Class index → name from the text a model carries, e.g. ONNX metadata `names` as Ultralytics writes it
    (`"{0: 'person', 1: 'bicycle'}"`, a Python literal) or a list (`"['person', 'bicycle']"`, JSON or Python).

    Parsed with `ast.literal_eval`, which evaluates literals only, never code."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        raise SpecError(where, f"is not a dict or list literal ({type(e).__name__})", f"got {text[:80]!r}") from e
    if isinstance(value, (list, tuple)):
        value = dict(enumerate(value))
    if not isinstance(value, dict) or not value:
        raise SpecError(where, "is not a non-empty {index: name} dict or [name, …] list", f"got {text[:80]!r}")
    names: dict[int, str] = {}
    for index, name in value.items():
        if isinstance(index, str) and index.isdigit():
            index = int(index)  # JSON object keys are strings
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise SpecError(where, f"has class index {index!r}", "indices are integers >= 0")
        if not isinstance(name, str) or not name.strip():
            raise SpecError(where, f"class {index} has name {name!r}", "names are non-empty strings")
        names[index] = name
    _check_unique(where, list(names.values()))
    return dict(sorted(names.items()))


def class_label_specs(names: Mapping[int, str], type: str = "rectangle") -> list[LabelSpec]:
    """One `label_spec(name, id=index, type=type)` per class, in index order: the spec of a model that carries its
    class names (`python -m cvat_function labels --from-onnx MODEL.onnx` prints it)."""
    return [label_spec(name, index, type) for index, name in sorted(names.items())]


def spec_json(labels: Iterable[LabelSpec]) -> str:
    """The label list as strict JSON, one label per line, ready for `metadata.annotations.spec: |`."""
    items = Labels(tuple(labels)).to_json()
    _check_unique("spec", [item["name"] for item in items])
    if not items:
        return "[]"
    return "[\n" + ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in items) + "\n]"


def spec_yaml_block(labels: Iterable[LabelSpec], indent: int = 4) -> str:
    """`spec: |` followed by `spec_json(labels)`, indented to sit under `metadata.annotations`."""
    pad = " " * indent
    body = "\n".join(pad + "  " + line for line in spec_json(labels).splitlines())
    return f"{pad}spec: |\n{body}"


def _choice(name: str, input_type: str, values: Sequence[str]) -> AttributeSpec:
    if isinstance(values, str) or not values or not all(isinstance(v, str) and v for v in values):
        raise SpecError(f"attribute {name!r}", f"{input_type} values must be a non-empty list of non-empty strings")
    _check_unique(f"attribute {name!r} values", list(values))
    return AttributeSpec(name, input_type, tuple(values))


def _check_unique(where: str, names: Sequence[str]) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(where, f"has duplicate names {duplicates}", "CVAT skips functions with duplicate names")


def _num(value: float) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")
