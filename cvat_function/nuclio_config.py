"""The Nuclio settings of a function.yaml that shape how the function runs (CONTRACT.md §6–7).

Read from the raw YAML with Nuclio's defaults, so the local server (`serve`) behaves like the deployed
processor and the linter (`validate`) can name what would go wrong: worker count, how long a request waits
for a free worker, the event timeout, the body limit, the handler and the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .spec import annotation_string, env_from_spec

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
