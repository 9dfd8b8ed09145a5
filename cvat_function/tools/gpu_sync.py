"""Labels are written once: function-gpu.yaml takes what CVAT sees from function.yaml.

`sync_gpu_text` copies function.yaml's whole `metadata:` block (name, annotations, the label spec) and its
`spec.description`, `spec.runtime`, `spec.handler` and `spec.env` into function-gpu.yaml, line for line, so the
comments travel with them and everything else in function-gpu.yaml (build, resources, triggers, platform: what
may differ on a GPU) stays as written. It works on the block layout the template's files use; a file it cannot
read that way is refused with what to do, never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..core.config import parse_yaml
from ..core.errors import SpecError

SYNCED_SPEC_KEYS = ("description", "runtime", "handler", "env")
_KEY = re.compile(r"^( *)([A-Za-z_][\w-]*):(\s|$)")


class SyncError(ValueError):
    """function-gpu.yaml cannot be brought in step automatically; the message says what to do."""


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _blocks(lines: list[str], indent: int, start: int, end: int) -> dict[str, tuple[int, int]]:
    """`key -> (first line, end)` for the keys at exactly `indent` spaces in lines[start:end]."""
    found: dict[str, tuple[int, int]] = {}
    current: tuple[str, int] | None = None
    for i in range(start, end):
        line = lines[i]
        if not _is_content(line) or _indent(line) > indent:
            continue
        if current is not None:
            found[current[0]] = (current[1], i)
            current = None
        match = _KEY.match(line)
        if match and len(match.group(1)) == indent:
            current = (match.group(2), i)
    if current is not None:
        found[current[0]] = (current[1], end)
    return found


def _top(lines: list[str], key: str, file: str) -> tuple[int, int]:
    block = _blocks(lines, 0, 0, len(lines)).get(key)
    if block is None or lines[block[0]].split("#")[0].strip() != f"{key}:":
        raise SyncError(f"{file}: no block `{key}:` at the top level; copy it from function.yaml by hand")
    return block


def sync_gpu_text(cpu_text: str, gpu_text: str) -> str:
    """function-gpu.yaml's text with function.yaml's metadata and spec.{description,runtime,handler,env}."""
    cpu = cpu_text.splitlines(keepends=True)
    gpu = gpu_text.splitlines(keepends=True)
    if gpu and not gpu[-1].endswith("\n"):
        gpu[-1] += "\n"
    begin, end = _top(cpu, "metadata", "function.yaml")
    gpu_begin, gpu_end = _top(gpu, "metadata", "function-gpu.yaml")
    gpu[gpu_begin:gpu_end] = cpu[begin:end]
    cpu_spec = _top(cpu, "spec", "function.yaml")
    for key in SYNCED_SPEC_KEYS:
        gpu_spec = _top(gpu, "spec", "function-gpu.yaml")
        wanted = _blocks(cpu, 2, cpu_spec[0] + 1, cpu_spec[1]).get(key)
        present = _blocks(gpu, 2, gpu_spec[0] + 1, gpu_spec[1])
        text = [] if wanted is None else cpu[wanted[0] : wanted[1]]
        if key in present:
            gpu[present[key][0] : present[key][1]] = text
        else:  # after the synced keys already there, else first under spec:
            before = [present[k][1] for k in SYNCED_SPEC_KEYS[: SYNCED_SPEC_KEYS.index(key)] if k in present]
            at = max(before, default=gpu_spec[0] + 1)
            gpu[at:at] = text
    result = "".join(gpu)
    _check_in_step(cpu_text, result)
    return result


def synced_parts(raw: Mapping[str, Any]) -> tuple[object, dict[str, object]]:
    spec = raw.get("spec") or {}
    return raw.get("metadata"), {key: spec.get(key) for key in SYNCED_SPEC_KEYS}


def _check_in_step(cpu_text: str, gpu_text: str) -> None:
    try:
        cpu, gpu = parse_yaml(cpu_text, "function.yaml"), parse_yaml(gpu_text, "function-gpu.yaml")
    except SpecError as e:
        raise SyncError(f"the synced function-gpu.yaml would not be valid YAML ({e}); copy the labels by hand") from e
    if not (isinstance(cpu, Mapping) and isinstance(gpu, Mapping)) or synced_parts(cpu) != synced_parts(gpu):
        raise SyncError(
            "function-gpu.yaml's layout is not the template's (block mappings, two-space indents); "
            "copy metadata and spec.env from function.yaml by hand"
        )
