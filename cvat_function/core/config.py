"""function.yaml, read once into a typed config: what CVAT's discovery reads and what Nuclio runs.

One reader for everybody (the runtime, `serve` and its dashboard, `validate`, the smoke test):

* `read_function_yaml` parses the file with limits, so a hostile or broken file is a `SpecError` naming
  the problem, never a traceback or a memory blow-up: at most `MAX_YAML_BYTES` of UTF-8, nesting at most
  `MAX_YAML_DEPTH` deep, at most `MAX_YAML_EXPANDED` bytes once YAML aliases are expanded (an "alias bomb"
  of a few hundred bytes otherwise expands to gigabytes in whatever walks it), no recursive aliases, and
  integers within Go's int64 (what Nuclio parses them into).
* `NuclioSettings` is what Nuclio runs (workers, timeouts, body limit, trigger, env, handler), with
  Nuclio's defaults, so `serve` behaves like the deployed processor.
* `FunctionConfig` adds what CVAT needs to list the function (type, description, annotations, the label
  spec parsed by `labels.py`).

Each rule lives once, as a function returning every problem (`nuclio_problems`, `annotation_problems`):
the runtime refuses the first, `validate` reports them all with their fixes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import SpecError
from .labels import Labels, parse_labels
from .shapes import TRACKER_SHAPE_TYPES

FUNCTION_KINDS = ("detector", "interactor", "tracker", "reid")

# Nuclio's API takes at most 63 characters, and names the Docker container nuclio-nuclio-<name> and the Kubernetes
# Deployment, Service and ConfigMap nuclio-<name>, which Kubernetes accepts only as lowercase RFC 1123 labels
# (<= 63 characters with the prefix: <= 56 for the name). Anything else deploys nowhere or only on Docker.
FUNCTION_NAME_MAX = 63
FUNCTION_NAME_MAX_KUBERNETES = 56
_FUNCTION_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")


def function_name_problem(name: str) -> str | None:
    """Why Nuclio cannot deploy a function named `name` (None when it can)."""
    if len(name) > FUNCTION_NAME_MAX:
        return f"is {len(name)} characters; Nuclio takes at most {FUNCTION_NAME_MAX}"
    if not _FUNCTION_NAME.fullmatch(name):
        return f"{name!r} is not a DNS label: lowercase letters, digits and '-', starting and ending alphanumeric"
    return None


MAX_YAML_BYTES = 4 * 1024 * 1024
"""A function.yaml is a few kilobytes; even a spec of thousands of labels stays far below 4 MiB."""
MAX_YAML_DEPTH = 64
MAX_YAML_EXPANDED = 16 * 1024 * 1024
"""Bytes of scalars (plus one per node) after YAML aliases are expanded."""
_INT64 = (-(2**63), 2**63 - 1)


# --- The one reader -----------------------------------------------------------------------------------------


class _YamlLimit(Exception):
    """The document goes past one of the reader's limits."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting limit while composing (the composer recurses per level)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlLimit(f"nests deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root: yaml.Node) -> int:
    """The size of the document with every alias expanded, computed on the node graph (shared nodes are
    counted once per reference, each computed once), without expanding anything; refuses cycles."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_YAML_EXPANDED:
                raise _YamlLimit(f"expands to more than {MAX_YAML_EXPANDED} bytes through its aliases")
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise _YamlLimit("has an alias that refers to itself (a recursive structure)")
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1 + len(node.value)
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _YamlLimit("has an alias that refers to itself (a recursive structure)")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_numbers(value: object) -> None:
    """Integers outside int64 cannot be deployed (Nuclio parses into Go integers); refused here, before any
    message formats them (Python refuses to print integers of more than 4300 digits)."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not _INT64[0] <= item <= _INT64[1]:
                raise _YamlLimit("holds an integer outside the 64-bit range Nuclio reads")
        elif isinstance(item, (list, dict)) and id(item) not in seen:
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
            if isinstance(item, dict):
                stack.extend(item.keys())


def _bracket_depth(text: str) -> int:
    """The deepest nesting of `[`/`{` anywhere in the text (quoted or not: a safe over-estimate), counted
    with numpy. PyYAML's scanner is quadratic in flow nesting (it re-checks every open level per token), so
    a file of a few kilobytes of `[` would keep it busy for minutes before the composer's limit is reached."""
    data = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    step = (data == ord("[")).astype(np.int32) + (data == ord("{"))
    step -= (data == ord("]")).astype(np.int32) + (data == ord("}"))
    return int(np.cumsum(step).max(initial=0))


def parse_yaml(text: str, where: str = "function.yaml") -> Any:
    """One YAML document within the reader's limits; raises `SpecError` naming what is wrong."""
    if len(text) > MAX_YAML_BYTES:
        raise SpecError(where, f"is larger than {MAX_YAML_BYTES} bytes", "a function.yaml is a few kilobytes")
    if _bracket_depth(text) > MAX_YAML_DEPTH:
        raise SpecError(
            where,
            f"is refused: it nests brackets deeper than {MAX_YAML_DEPTH} levels",
            "write plain YAML: no deep nesting, few aliases",
        )
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader refuses control characters already here
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        data = loader.construct_document(node)
        _check_numbers(data)
        return data
    except _YamlLimit as e:
        raise SpecError(where, f"is refused: it {e}", "write plain YAML: no deep nesting, few aliases") from None
    except yaml.YAMLError as e:
        raise SpecError(where, f"is not valid YAML ({e})", "fix the YAML syntax") from None
    except (ValueError, OverflowError, RecursionError) as e:  # e.g. an integer of more than 4300 digits
        raise SpecError(where, f"holds a value YAML cannot represent here ({type(e).__name__})", "fix it") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_function_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a function.yaml, read within the reader's limits; raises `SpecError`."""
    path = Path(path)
    where = str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_YAML_BYTES + 1)
    except OSError as e:
        raise SpecError(where, f"cannot be read ({e.strerror or e})") from None
    if len(data) > MAX_YAML_BYTES:
        raise SpecError(where, f"is larger than {MAX_YAML_BYTES} bytes", "a function.yaml is a few kilobytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(where, f"is not UTF-8 text (byte {e.start})", "save it as UTF-8") from None
    raw = parse_yaml(text, where)
    if not isinstance(raw, Mapping):
        raise SpecError(
            where,
            f"must be a YAML mapping with metadata and spec, not {_type_name(raw)}",
            "start from the template's function.yaml",
        )
    return dict(raw)


def _type_name(value: object) -> str:
    if value is None:
        return "an empty file"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing in function.yaml that CVAT or Nuclio would misread: where (dotted path), what, the fix."""

    where: str
    problem: str
    fix: str = ""

    def error(self, file: str = "function.yaml") -> SpecError:
        return SpecError(f"{file}: {self.where}", self.problem, self.fix)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- What Nuclio runs: workers, timeouts, body limit, trigger, env, handler ----------------------------------

DEFAULT_MAX_BODY = 4 * 1024 * 1024
"""Nuclio's HTTP trigger limit when `maxRequestBodySize` is not set (4 MiB)."""
RECOMMENDED_MAX_BODY = 32 * 1024 * 1024
"""What CVAT's own functions set: base64 originals and PNG video frames exceed 4 MiB."""
DEFAULT_AVAILABILITY_TIMEOUT_MS = 10_000
DEFAULT_READINESS_TIMEOUT = 120.0
DEFAULT_TRIGGER = "default-http"
"""The name Nuclio gives the HTTP trigger it adds when function.yaml declares none."""
DEFAULT_HANDLER = "main:handler"
MAX_WORKERS = 1024
"""More worker processes than any machine runs model copies: a typo, refused before `serve` starts them."""
_MAX_GO_DURATION = (2**63 - 1) / 1e9
"""Go's time.Duration is int64 nanoseconds: about 292 years."""
HANDLER_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: object) -> float:
    """A Go duration (`60s`, `1m30s`, `500ms`) → seconds; raises ValueError for anything else."""
    if not isinstance(text, str) or not text or len(text) > 64:
        raise ValueError(f"{str(text)[:64]!r} is not a Go duration such as '60s' or '1m30s'")
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f"{text!r} is not a Go duration such as '60s' or '1m30s'")
    if total > _MAX_GO_DURATION:
        raise ValueError(f"{text!r} is longer than a Go duration can be (about 292 years)")
    return total


def http_trigger(spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The first `kind: http` trigger (name, body); Nuclio adds `default-http` when there is none."""
    triggers = spec.get("triggers")
    if isinstance(triggers, Mapping):
        for name, trigger in triggers.items():
            if isinstance(trigger, Mapping) and trigger.get("kind") == "http":
                return str(name), trigger
    return DEFAULT_TRIGGER, {}


def nuclio_problems(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    """Every value Nuclio (or `serve`, which reproduces it) cannot run with: wrong types and ranges."""
    out: list[ConfigProblem] = []
    metadata, spec = raw.get("metadata"), raw.get("spec")
    if metadata is None:
        out.append(ConfigProblem("metadata", "is missing", "add metadata: name, annotations"))
    elif not isinstance(metadata, Mapping):
        out.append(ConfigProblem("metadata", f"must be a mapping, not {_type_name(metadata)}", "add metadata: name"))
    name = _mapping(metadata).get("name")
    if not isinstance(name, str) or not name:
        out.append(ConfigProblem("metadata.name", "is missing", "set the function id, e.g. name: pth-acme-yolo"))
    elif problem := function_name_problem(name):
        out.append(ConfigProblem("metadata.name", problem, "Nuclio refuses or cannot deploy it; e.g. pth-acme-yolo"))
    annotations = _mapping(metadata).get("annotations")
    if annotations is not None and not isinstance(annotations, Mapping):
        out.append(ConfigProblem("metadata.annotations", f"must be a mapping, not {_type_name(annotations)}"))
    if spec is not None and not isinstance(spec, Mapping):
        out.append(ConfigProblem("spec", f"must be a mapping, not {_type_name(spec)}", "see the template's spec"))
    spec = _mapping(spec)
    handler = spec.get("handler", DEFAULT_HANDLER)
    if not isinstance(handler, str) or not HANDLER_PATTERN.match(handler):
        out.append(ConfigProblem("spec.handler", f"{handler!r} is not module:function", "use handler: main:handler"))
    timeout = spec.get("eventTimeout")
    if timeout not in (None, ""):
        try:
            parse_go_duration(timeout)
        except ValueError as e:
            out.append(ConfigProblem("spec.eventTimeout", str(e), "write a Go duration: 30s, 2m, 1m30s"))
    readiness = spec.get("readinessTimeoutSeconds")
    if readiness is not None and (not _is_int(readiness) or readiness <= 0):
        out.append(ConfigProblem("spec.readinessTimeoutSeconds", f"{readiness!r} is not a positive integer", "300"))
    env = spec.get("env")
    if env is not None and not isinstance(env, list):
        out.append(
            ConfigProblem("spec.env", "must be a list of {name, value}", "- name: MODEL_PATH\n      value: /m.onnx")
        )
    for index, entry in enumerate(env if isinstance(env, list) else []):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            out.append(ConfigProblem(f"spec.env[{index}]", "has no 'name'", "each entry is {name: ..., value: ...}"))
        elif isinstance(entry.get("value"), (Mapping, list)):
            out.append(ConfigProblem(f"spec.env[{index}].value", "must be a string", "quote it"))
    triggers = spec.get("triggers")
    if triggers is not None and not isinstance(triggers, Mapping):
        out.append(ConfigProblem("spec.triggers", f"must be a mapping, not {_type_name(triggers)}", "myHttpTrigger:"))
    trigger_name, trigger = http_trigger(spec)
    where = f"spec.triggers.{trigger_name}"
    workers = trigger.get("numWorkers", trigger.get("maxWorkers", 1))
    if not _is_int(workers) or not 1 <= workers <= MAX_WORKERS:
        out.append(
            ConfigProblem(
                f"{where}.numWorkers",
                f"{workers!r} is not an integer >= 1" + (f" and <= {MAX_WORKERS}" if _is_int(workers) else ""),
                "numWorkers: 2 on CPU, 1 on GPU",
            )
        )
    wait = trigger.get("workerAvailabilityTimeoutMilliseconds")
    if wait is not None and (not _is_int(wait) or wait < 0):
        out.append(
            ConfigProblem(f"{where}.workerAvailabilityTimeoutMilliseconds", f"{wait!r} is not an integer >= 0", "10000")
        )
    attributes = trigger.get("attributes")
    if attributes is not None and not isinstance(attributes, Mapping):
        out.append(ConfigProblem(f"{where}.attributes", "must be a mapping", "attributes: {maxRequestBodySize: ...}"))
    size = _mapping(attributes).get("maxRequestBodySize")
    if size is not None and (not _is_int(size) or size <= 0):
        out.append(
            ConfigProblem(f"{where}.attributes.maxRequestBodySize", f"{size!r} is not a positive integer", "33554432")
        )
    return out


@dataclass(frozen=True, slots=True)
class NuclioSettings:
    """How Nuclio runs one function.yaml: what `serve` reproduces. Annotations and env values are the strings
    Nuclio stores."""

    name: str
    description: str
    runtime: str
    handler: str
    annotations: dict[str, str]
    env: dict[str, str]
    trigger: str = DEFAULT_TRIGGER
    num_workers: int = 1
    availability_timeout: float = DEFAULT_AVAILABILITY_TIMEOUT_MS / 1000
    event_timeout: float | None = None
    max_body: int = DEFAULT_MAX_BODY
    readiness_timeout: float = DEFAULT_READINESS_TIMEOUT
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def handler_module(self) -> str:
        return self.handler.split(":", 1)[0]

    @property
    def handler_function(self) -> str:
        return self.handler.split(":", 1)[1] if ":" in self.handler else "handler"


def nuclio_settings(raw: Mapping[str, Any], file: str = "function.yaml") -> NuclioSettings:
    """The runtime settings; the first of `nuclio_problems` raises `SpecError`."""
    for problem in nuclio_problems(raw)[:1]:
        raise problem.error(file)
    metadata, spec = _mapping(raw.get("metadata")), _mapping(raw.get("spec"))
    trigger_name, trigger = http_trigger(spec)
    timeout = spec.get("eventTimeout")
    readiness = spec.get("readinessTimeoutSeconds")
    return NuclioSettings(
        name=str(metadata["name"]),
        description=str(spec.get("description") or ""),
        runtime=str(spec.get("runtime") or ""),
        handler=str(spec.get("handler", DEFAULT_HANDLER)),
        annotations={str(k): annotation_string(v) for k, v in _mapping(metadata.get("annotations")).items()},
        env=env_from_spec(spec),
        trigger=trigger_name,
        num_workers=int(trigger.get("numWorkers", trigger.get("maxWorkers", 1))),
        availability_timeout=trigger.get("workerAvailabilityTimeoutMilliseconds", DEFAULT_AVAILABILITY_TIMEOUT_MS)
        / 1000,
        event_timeout=(parse_go_duration(timeout) if timeout not in (None, "") else None) or None,
        max_body=int(_mapping(trigger.get("attributes")).get("maxRequestBodySize", DEFAULT_MAX_BODY)),
        readiness_timeout=float(readiness) if readiness is not None else DEFAULT_READINESS_TIMEOUT,
        raw=dict(raw),
    )


def load_nuclio_settings(path: str | Path) -> NuclioSettings:
    """`read_function_yaml` + `nuclio_settings`: what `serve` needs, also for a function CVAT would not list."""
    return nuclio_settings(read_function_yaml(path), str(path))


def annotation_string(value: object) -> str:
    """Nuclio keeps annotations (and env values) as strings; nuctl's YAML reader stringifies scalars
    (`false` → "false", `2` → "2")."""
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def env_from_spec(spec: object) -> dict[str, str]:
    """`spec.env` as the worker's environment: `{name, value}` entries (valueFrom needs a cluster: skipped)."""
    entries = spec.get("env") if isinstance(spec, Mapping) else None
    return {
        str(e["name"]): annotation_string(e["value"])
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, Mapping) and "name" in e and "value" in e
    }


# --- What CVAT reads: the function kind, description, annotations and labels --------------------------------


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """What CVAT and the runtime need from a function.yaml: the Nuclio settings plus CVAT's view of them."""

    path: Path | None
    nuclio: NuclioSettings
    kind: str
    labels: Labels

    @property
    def name(self) -> str:
        return self.nuclio.name

    @property
    def description(self) -> str:
        return self.nuclio.description

    @property
    def annotations(self) -> dict[str, str]:
        return self.nuclio.annotations

    @property
    def env(self) -> dict[str, str]:
        """`spec.env` as a dict (Nuclio sets these in the worker's environment)."""
        return self.nuclio.env

    @property
    def raw(self) -> dict[str, Any]:
        return self.nuclio.raw

    @property
    def display_name(self) -> str:
        return self.annotations.get("name") or self.name

    @property
    def version(self) -> int:
        """`annotations.version` as CVAT reads it (`int()`, default 1); interactors need 2."""
        return int(self.annotations.get("version", 1))

    @property
    def min_pos_points(self) -> int:
        """`annotations.min_pos_points` (default 1): positive clicks before the UI calls an interactor."""
        return int(self.annotations.get("min_pos_points", 1))

    @property
    def min_neg_points(self) -> int:
        """`annotations.min_neg_points` (default -1: the function takes no negative points)."""
        return int(self.annotations.get("min_neg_points", -1))

    @property
    def supported_shape_types(self) -> tuple[str, ...] | None:
        """A tracker's `supported_shape_types` (comma list), or None: the legacy rectangle protocol."""
        value = self.annotations.get("supported_shape_types")
        if value is None:
            return None
        return tuple(item.strip() for item in value.split(",") if item.strip())


def load_function_config(path: str | Path) -> FunctionConfig:
    """Read a function.yaml, check what CVAT's discovery and Nuclio need, and parse the label spec."""
    path = Path(path)
    return function_config_from_dict(read_function_yaml(path), path)


def function_config_from_dict(raw: object, path: Path | None = None) -> FunctionConfig:
    """The config of an already parsed function.yaml; the first of `function_problems` raises `SpecError`."""
    where = str(path) if path else "function.yaml"
    if not isinstance(raw, Mapping):
        raise SpecError(where, f"must be a YAML mapping with metadata and spec, not {_type_name(raw)}")
    for problem in function_problems(raw)[:1]:
        raise problem.error(where)
    settings = nuclio_settings(raw, where)
    labels = parse_labels(settings.annotations.get("spec"), f"{where}: metadata.annotations.spec")
    return FunctionConfig(path=path, nuclio=settings, kind=settings.annotations["type"], labels=labels)


def function_problems(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    """Every problem the runtime refuses to start with, besides the label spec (`labels.label_spec_problems`):
    `nuclio_problems` and `cvat_problems`."""
    return nuclio_problems(raw) + cvat_problems(raw)


def cvat_problems(raw: Mapping[str, Any]) -> list[ConfigProblem]:
    """What CVAT needs to list the function, besides its name and the label spec: annotations with a known
    type (and `annotation_problems`) and a description."""
    out: list[ConfigProblem] = []
    metadata, spec = _mapping(raw.get("metadata")), _mapping(raw.get("spec"))
    annotations = metadata.get("annotations")
    if annotations is None:
        out.append(
            ConfigProblem(
                "metadata.annotations",
                "is missing",
                "CVAT answers HTTP 500 for its whole model list; add name, type and spec",
            )
        )
    annotations = _mapping(annotations)
    kind = annotation_string(annotations.get("type"))
    if "type" not in annotations:
        out.append(
            ConfigProblem(
                "metadata.annotations.type",
                "is missing; CVAT skips the function",
                f'add type: "detector" (one of {", ".join(FUNCTION_KINDS)})',
            )
        )
    elif kind not in FUNCTION_KINDS:
        out.append(
            ConfigProblem(
                "metadata.annotations.type",
                f"is {kind[:40]!r}, which CVAT does not know, so it skips the function",
                f"use one of {', '.join(FUNCTION_KINDS)} (a classifier is a detector returning tags)",
            )
        )
    description = spec.get("description")
    if not isinstance(description, str) or not description.strip():
        out.append(
            ConfigProblem(
                "spec.description",
                "is missing or empty; Nuclio omits it and CVAT's model list answers HTTP 500",
                'add description: "<model> <version> <function kind>"',
            )
        )
    out += annotation_problems(annotations, kind)
    return out


_BOOLEAN_ANNOTATIONS = ("startswith_box", "startswith_box_optional")
_FALSE_WORDS = ("false", "no", "off", "0", "none", "null")
_INTEGER_ANNOTATIONS = ("version", "min_pos_points", "min_neg_points")


def annotation_problems(annotations: Mapping[str, object], kind: str) -> list[ConfigProblem]:
    """Every problem with what CVAT reads from the annotations besides the spec: integers it
    `int()`s (a bad one answers HTTP 500 for the whole model list), booleans it reads with `bool(str)`,
    kind-specific keys. Values may be the YAML scalars or Nuclio's strings."""
    text = {str(k): annotation_string(v) for k, v in annotations.items()}
    out: list[ConfigProblem] = []
    integers: dict[str, int] = {}

    def problem(key: str, what: str, fix: str) -> None:
        out.append(ConfigProblem(f"metadata.annotations.{key}", what, fix))

    for key in _INTEGER_ANNOTATIONS:
        if key not in text:
            continue
        try:
            integers[key] = _cvat_int(text[key])
        except ValueError:
            problem(
                key,
                f"{text[key][:40]!r} is not an integer; CVAT calls int() on it and answers HTTP 500 for its whole "
                "model list",
                f'write an integer string, e.g. {key}: "{2 if key == "version" else 1}"',
            )
    for key in _BOOLEAN_ANNOTATIONS:
        if key in text and text[key].strip().lower() in _FALSE_WORDS:
            problem(
                key,
                f"is {annotations[key]!r}, but CVAT reads it with bool(str): a non-empty string, which CVAT "
                "reads as true",
                'omit the key (or use "") to disable it; write "true" to enable it',
            )
    version_unreadable = "version" in text and "version" not in integers
    if kind == "interactor" and not version_unreadable and integers.get("version", 1) != 2:
        problem(
            "version",
            f'is {text.get("version", "missing (1)")!r}; must be "2" for an interactor: CVAT ≥ 2.3 disables '
            "interactors whose version is not 2",
            'add version: "2"',
        )
    if "supported_shape_types" in text:
        types = [t.strip() for t in text["supported_shape_types"].split(",") if t.strip()]
        unknown = [t for t in types if t not in TRACKER_SHAPE_TYPES]
        if kind in FUNCTION_KINDS and kind != "tracker":
            problem("supported_shape_types", f"is only read for trackers, this is a {kind}", "remove it")
        elif not types:
            problem(
                "supported_shape_types",
                "is empty; CVAT skips the function",
                'list the types, e.g. "rectangle,polygon", or omit the key for the legacy rectangle protocol',
            )
        elif unknown:
            problem("supported_shape_types", f"names {unknown}", f"trackers handle {', '.join(TRACKER_SHAPE_TYPES)}")
    return out


def _cvat_int(text: str) -> int:
    """`int(text)` as CVAT calls it, for texts of a sane length (longer ones are no integer CVAT could use)."""
    if len(text) > 20:
        raise ValueError(text)
    return int(text)
