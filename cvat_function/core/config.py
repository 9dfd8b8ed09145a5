"""function.yaml, read once into a typed config: what CVAT's discovery reads and what Nuclio runs.

`load_function_config` checks what CVAT needs to list the function (name, type, description, annotations) and
parses the label spec (`labels.py`). The Nuclio part (`NuclioSettings`) carries Nuclio's defaults, so the local
server behaves like the deployed processor and the linter can name what would go wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    def version(self) -> int:
        """`annotations.version` as CVAT reads it (`int()`, default 1); interactors need 2."""
        return _int_annotation(self.annotations, "version", 1)

    @property
    def min_pos_points(self) -> int:
        """`annotations.min_pos_points` (default 1): positive clicks before the UI calls an interactor."""
        return _int_annotation(self.annotations, "min_pos_points", 1)

    @property
    def min_neg_points(self) -> int:
        """`annotations.min_neg_points` (default -1: the function takes no negative points)."""
        return _int_annotation(self.annotations, "min_neg_points", -1)

    @property
    def supported_shape_types(self) -> tuple[str, ...] | None:
        """A tracker's `supported_shape_types` (comma list), or None: the legacy rectangle protocol."""
        value = self.annotations.get("supported_shape_types")
        if value is None:
            return None
        return tuple(item.strip() for item in value.split(",") if item.strip())

    @property
    def env(self) -> dict[str, str]:
        """`spec.env` as a dict (Nuclio sets these in the worker's environment)."""
        return env_from_spec(self.raw.get("spec"))


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
    if problem := function_name_problem(name):
        raise SpecError(f"{where}: metadata.name", problem, "Nuclio refuses or cannot deploy it; e.g. pth-acme-yolo")
    raw_annotations = metadata.get("annotations")
    if not isinstance(raw_annotations, Mapping):
        raise SpecError(f"{where}: metadata.annotations", "is missing", "CVAT answers HTTP 500 for its model list")
    # Nuclio stores annotations as strings (sigs.k8s.io/yaml stringifies scalars); so does this.
    annotations = {str(k): annotation_string(v) for k, v in raw_annotations.items()}
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
    check_annotations(raw_annotations, kind, where)
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


_BOOLEAN_ANNOTATIONS = ("startswith_box", "startswith_box_optional")
_FALSE_WORDS = ("false", "no", "off", "0", "none", "null")


@dataclass(frozen=True, slots=True)
class AnnotationProblem:
    """One annotation CVAT would misread: the key, what is wrong, and the fix."""

    key: str
    problem: str
    fix: str


def annotation_problems(annotations: Mapping[str, object], kind: str) -> list[AnnotationProblem]:
    """Every problem with what CVAT reads from the annotations besides the spec: integers it
    `int()`s (a bad one answers HTTP 500 for the whole model list), booleans it reads with `bool(str)`,
    kind-specific keys. Values may be the YAML scalars or Nuclio's strings. The runtime refuses the first
    problem (`check_annotations`); `validate` reports them all."""
    text = {str(k): annotation_string(v) for k, v in annotations.items()}
    out: list[AnnotationProblem] = []
    integers: dict[str, int] = {}
    for key in ("version", "min_pos_points", "min_neg_points"):
        if key not in text:
            continue
        try:
            integers[key] = int(text[key])
        except ValueError:
            out.append(
                AnnotationProblem(
                    key,
                    f"{text[key]!r} is not an integer; CVAT calls int() on it and answers HTTP 500 for its whole "
                    "model list",
                    f'write an integer string, e.g. {key}: "{2 if key == "version" else 1}"',
                )
            )
    for key in _BOOLEAN_ANNOTATIONS:
        if key in text and text[key].strip().lower() in _FALSE_WORDS:
            out.append(
                AnnotationProblem(
                    key,
                    f"is {annotations[key]!r}, but CVAT reads it with bool(str): a non-empty string, which CVAT "
                    "reads as true",
                    'omit the key (or use "") to disable it; write "true" to enable it',
                )
            )
    version_unreadable = any(p.key == "version" for p in out)
    if kind == "interactor" and not version_unreadable and integers.get("version", 1) != 2:
        out.append(
            AnnotationProblem(
                "version",
                f'is {text.get("version", "missing (1)")!r}; must be "2" for an interactor: CVAT ≥ 2.3 disables '
                "interactors whose version is not 2",
                'add version: "2"',
            )
        )
    if "supported_shape_types" in text:
        types = [t.strip() for t in text["supported_shape_types"].split(",") if t.strip()]
        unknown = [t for t in types if t not in TRACKER_SHAPE_TYPES]
        if kind in FUNCTION_KINDS and kind != "tracker":
            problem = AnnotationProblem(
                "supported_shape_types", f"is only read for trackers, this is a {kind}", "remove it"
            )
            out.append(problem)
        elif not types:
            out.append(
                AnnotationProblem(
                    "supported_shape_types",
                    "is empty; CVAT skips the function",
                    'list the types, e.g. "rectangle,polygon", or omit the key for the legacy rectangle protocol',
                )
            )
        elif unknown:
            out.append(
                AnnotationProblem(
                    "supported_shape_types", f"names {unknown}", f"trackers handle {', '.join(TRACKER_SHAPE_TYPES)}"
                )
            )
    return out


def check_annotations(annotations: Mapping[str, object], kind: str, where: str = "function.yaml") -> None:
    """Raise `SpecError` for the first of `annotation_problems`."""
    for problem in annotation_problems(annotations, kind)[:1]:
        raise SpecError(f"{where}: metadata.annotations.{problem.key}", problem.problem, problem.fix)


def _int_annotation(annotations: Mapping[str, str], key: str, default: int, where: str = "function.yaml") -> int:
    value = annotations.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise SpecError(
            f"{where}: metadata.annotations.{key}",
            f"is {value!r}, not an integer",
            "CVAT calls int() on it and answers HTTP 500 for its whole model list",
        ) from None


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
        for e in entries or []
        if isinstance(e, Mapping) and "name" in e and "value" in e
    }


# --- What Nuclio runs: workers, timeouts, body limit, trigger -------------------------------------------

DEFAULT_MAX_BODY = 4 * 1024 * 1024
"""Nuclio's HTTP trigger limit when `maxRequestBodySize` is not set (4 MiB)."""
RECOMMENDED_MAX_BODY = 32 * 1024 * 1024
"""What CVAT's own functions set: base64 originals and PNG video frames exceed 4 MiB."""
DEFAULT_AVAILABILITY_TIMEOUT_MS = 10_000
DEFAULT_TRIGGER = "default-http"
"""The name Nuclio gives the HTTP trigger it adds when function.yaml declares none."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: object) -> float:
    """A Go duration (`60s`, `1m30s`, `500ms`) → seconds; raises ValueError for anything else."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{text!r} is not a Go duration such as '60s' or '1m30s'")
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
    return total


@dataclass(frozen=True, slots=True)
class NuclioSettings:
    """How Nuclio runs one function.yaml: what `serve` reproduces."""

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
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def handler_module(self) -> str:
        return self.handler.split(":", 1)[0]

    @property
    def handler_function(self) -> str:
        return self.handler.split(":", 1)[1] if ":" in self.handler else "handler"


def http_trigger(spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The first `kind: http` trigger (name, body); Nuclio adds `default-http` when there is none."""
    triggers = spec.get("triggers")
    if isinstance(triggers, Mapping):
        for name, trigger in triggers.items():
            if isinstance(trigger, Mapping) and trigger.get("kind") == "http":
                return str(name), trigger
    return DEFAULT_TRIGGER, {}


def settings_from_dict(raw: Mapping[str, Any], path: Path | None = None) -> NuclioSettings:
    """Read the runtime settings; malformed values raise ValueError naming the field (the linter explains)."""
    metadata = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    if not isinstance(metadata, Mapping) or not isinstance(spec, Mapping):
        raise ValueError("metadata and spec must be mappings")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("metadata.name is missing")
    annotations = metadata.get("annotations") or {}
    trigger_name, trigger = http_trigger(spec)
    attributes = trigger.get("attributes") or {}
    workers = trigger.get("numWorkers", trigger.get("maxWorkers", 1))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"triggers.{trigger_name}.numWorkers must be an integer >= 1, not {workers!r}")
    wait_ms = trigger.get("workerAvailabilityTimeoutMilliseconds", DEFAULT_AVAILABILITY_TIMEOUT_MS)
    if isinstance(wait_ms, bool) or not isinstance(wait_ms, (int, float)) or wait_ms < 0:
        raise ValueError(f"triggers.{trigger_name}.workerAvailabilityTimeoutMilliseconds must be >= 0, not {wait_ms!r}")
    max_body = attributes.get("maxRequestBodySize", DEFAULT_MAX_BODY) if isinstance(attributes, Mapping) else None
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
        raise ValueError(f"triggers.{trigger_name}.attributes.maxRequestBodySize must be a positive integer")
    timeout = spec.get("eventTimeout")
    event_timeout = parse_go_duration(timeout) if timeout not in (None, "") else None
    env = env_from_spec(spec)
    return NuclioSettings(
        name=name,
        description=str(spec.get("description") or ""),
        runtime=str(spec.get("runtime") or ""),
        handler=str(spec.get("handler") or "main:handler"),
        annotations={str(k): annotation_string(v) for k, v in annotations.items()}
        if isinstance(annotations, Mapping)
        else {},
        env=env,
        trigger=trigger_name,
        num_workers=workers,
        availability_timeout=float(wait_ms) / 1000,
        event_timeout=event_timeout or None,
        max_body=max_body,
        raw=dict(raw),
    )


def load_settings(path: str | Path) -> NuclioSettings:
    path = Path(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path} must be a YAML mapping with metadata and spec")
    return settings_from_dict(raw, path)
