"""function.yaml and its label spec, read the way CVAT reads them (CONTRACT.md §1–2).

The labels live in one place: `metadata.annotations.spec` of function.yaml. The runtime reads them from there,
so the names the model emits and the names CVAT matches against task labels cannot drift apart. Everything
CVAT would reject (and so turn its whole models page into HTTP 500, or skip the function) raises `SpecError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

FUNCTION_KINDS = ("detector", "interactor", "tracker", "reid")
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


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """What CVAT and the runtime need from a function.yaml."""

    path: Path | None
    name: str
    kind: str
    display_name: str
    description: str
    labels: Labels
    annotations: dict[str, str]
    raw: dict[str, Any]

    @property
    def env(self) -> dict[str, str]:
        """`spec.env` as a dict (Nuclio sets these in the worker's environment)."""
        entries = self.raw.get("spec", {}).get("env") or []
        return {str(e["name"]): str(e.get("value", "")) for e in entries if isinstance(e, Mapping) and "name" in e}


def parse_labels(text: str | None, where: str = "annotations.spec") -> Labels:
    """Parse a spec string exactly as CVAT does: `json.loads(value or "[]")`, then check each label."""
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError as e:
        raise SpecError(
            where,
            f"is not valid JSON ({e})",
            "CVAT answers HTTP 500 for its whole model list; write strict JSON: no comments, no trailing commas",
        ) from e
    return Labels(tuple(_parse_label_list(data, where)))


def _parse_label_list(data: object, where: str) -> Iterator[LabelSpec]:
    if not isinstance(data, list):
        raise SpecError(where, f"must be a JSON list of label objects, not {type(data).__name__}")
    seen: set[str] = set()
    for i, item in enumerate(data):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise SpecError(here, f"must be an object, not {type(item).__name__}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(here, "has no 'name'", "every label needs the exact name of a task label")
        here = f"{where}[{i}] ({name!r})"
        if name in seen:
            raise SpecError(here, "duplicates another label's name", "CVAT skips functions with duplicate labels")
        seen.add(name)
        yield _parse_label(item, name, here)


def _parse_label(item: Mapping[str, Any], name: str, where: str) -> LabelSpec:
    label_type = item.get("type", "any")
    if label_type not in LABEL_TYPES:
        raise SpecError(where, f"has unknown type {label_type!r}", f"use one of {', '.join(LABEL_TYPES)}")
    label_id = item.get("id")
    if label_id is not None and (isinstance(label_id, bool) or not isinstance(label_id, int)):
        raise SpecError(where, f"has a non-integer id {label_id!r}", "ids map class indices to names")
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
        sublabels = tuple(_parse_label_list(item["sublabels"], f"{where}.sublabels"))
        svg = str(item["svg"])
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
        if name in seen:
            raise SpecError(here, f"duplicates attribute {name!r}", "CVAT skips the function")
        seen.add(name)
        if input_type not in INPUT_TYPES:
            raise SpecError(here, f"has unknown input_type {input_type!r}", f"use one of {', '.join(INPUT_TYPES)}")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SpecError(here, "'values' must be a list of strings")
        if input_type == "number":
            _check_number_values(values, here)
        yield AttributeSpec(str(name), input_type, tuple(values))


def _check_number_values(values: list[str], where: str) -> None:
    try:
        low, high, step = (int(v) for v in values)
    except ValueError:
        raise SpecError(where, f"number values must be [min, max, step] as integer strings, not {values}") from None
    if not (low <= high and step > 0):
        raise SpecError(where, f"number values need min <= max and step > 0, got {values}")


def load_function_config(path: str | Path) -> FunctionConfig:
    """Read a function.yaml, check what CVAT's discovery needs, and parse the label spec."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SpecError(str(path), f"cannot be read ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise SpecError(str(path), f"is not valid YAML ({e})") from e
    return function_config_from_dict(raw, path)


def function_config_from_dict(raw: object, path: Path | None = None) -> FunctionConfig:
    where = str(path) if path else "function.yaml"
    if not isinstance(raw, Mapping):
        raise SpecError(where, "must be a YAML mapping with metadata and spec")
    metadata = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: metadata.name", "is missing", "it is the function id CVAT shows")
    raw_annotations = metadata.get("annotations")
    if not isinstance(raw_annotations, Mapping):
        raise SpecError(f"{where}: metadata.annotations", "is missing", "CVAT answers HTTP 500 for its model list")
    # Nuclio stores annotations as strings (sigs.k8s.io/yaml stringifies scalars); so does this.
    annotations = {str(k): _as_annotation_string(v) for k, v in raw_annotations.items()}
    kind = annotations.get("type", "")
    if kind not in FUNCTION_KINDS:
        raise SpecError(
            f"{where}: metadata.annotations.type",
            f"is {kind!r}",
            f"CVAT ignores the function unless it is one of {', '.join(FUNCTION_KINDS)}",
        )
    description = spec.get("description")
    if not isinstance(description, str) or not description.strip():
        raise SpecError(
            f"{where}: spec.description", "is missing or empty", "CVAT answers HTTP 500 for its whole model list"
        )
    labels = parse_labels(annotations.get("spec"), f"{where}: metadata.annotations.spec")
    return FunctionConfig(
        path=path,
        name=name,
        kind=kind,
        display_name=annotations.get("name") or name,
        description=description,
        labels=labels,
        annotations=annotations,
        raw=dict(raw),
    )


def _as_annotation_string(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


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
