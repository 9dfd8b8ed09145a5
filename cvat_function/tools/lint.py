"""Lint function.yaml files against CVAT's discovery rules and Nuclio's pitfalls, reporting every problem.

`config.function_config_from_dict` stops at the first problem (the runtime must not start with a broken
file); this linter walks the raw YAML and reports all of them, each with how to fix it. Errors are what
breaks CVAT's model list, hides the function or breaks deployment; warnings are risks. The label spec is parsed
label by label with the runtime's own parser (core/labels.py), so the messages match.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core.config import (
    FUNCTION_KINDS,
    FUNCTION_NAME_MAX_KUBERNETES,
    RECOMMENDED_MAX_BODY,
    annotation_problems,
    annotation_string,
    function_name_problem,
    http_trigger,
    parse_go_duration,
)
from ..core.errors import SpecError
from ..core.labels import parse_labels
from .entry import is_function_dir

SUPPORTED_RUNTIMES = ("python:3.10", "python:3.11", "python:3.12")
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_MAY_DIFFER_BETWEEN_CPU_AND_GPU = "build, resources, triggers (workers) and platform may differ"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where, what, and how to fix it."""

    severity: str  # "error" | "warning"
    file: str
    where: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.file}: {self.severity}: {self.where}: {self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.findings: list[Finding] = []

    def error(self, where: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding("error", self.file, where, message, fix))

    def warning(self, where: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding("warning", self.file, where, message, fix))


def load_yaml(path: Path) -> tuple[Any, list[Finding]]:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), []
    except OSError as e:
        return None, [Finding("error", str(path), "file", f"cannot be read ({e.strerror})")]
    except yaml.YAMLError as e:
        return None, [Finding("error", str(path), "file", f"is not valid YAML ({e})", "fix the YAML syntax")]


def lint_file(path: str | Path) -> list[Finding]:
    """Every problem of one function.yaml / function-gpu.yaml."""
    path = Path(path)
    raw, findings = load_yaml(path)
    if findings:
        return findings
    return lint_config(raw, str(path))


def lint_config(raw: object, file: str = "function.yaml") -> list[Finding]:
    out = _Collector(file)
    if not isinstance(raw, Mapping):
        out.error("file", "must be a YAML mapping with metadata and spec", "start from the template's function.yaml")
        return out.findings
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), Mapping) else {}
    spec = raw.get("spec") if isinstance(raw.get("spec"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    assert isinstance(spec, Mapping)
    _lint_name(out, metadata.get("name"))
    kind = _lint_annotations(out, metadata.get("annotations"))
    _lint_spec(out, spec, kind)
    return out.findings


def _lint_name(out: _Collector, name: object) -> None:
    if not isinstance(name, str) or not name:
        out.error("metadata.name", "is missing", "set the function id, e.g. name: pth-acme-yolo")
    elif problem := function_name_problem(name):
        out.error("metadata.name", problem, "Nuclio names containers and Kubernetes objects after it")
    elif len(name) > FUNCTION_NAME_MAX_KUBERNETES:
        out.warning(
            "metadata.name",
            f"is {len(name)} characters; on Kubernetes nuclio-<name> exceeds 63",
            f"keep it to {FUNCTION_NAME_MAX_KUBERNETES} characters",
        )
    elif name == "pth-facebookresearch-sam-vit-h":
        out.error("metadata.name", "is special-cased by CVAT's browser code (it expects a SAM embedding)", "rename it")


def _lint_annotations(out: _Collector, annotations: object) -> str:
    if not isinstance(annotations, Mapping):
        out.error(
            "metadata.annotations",
            "is missing",
            "CVAT answers HTTP 500 for its whole model list; add name, type and spec",
        )
        return ""
    for key, value in annotations.items():
        if (
            value is not None
            and not isinstance(value, str)
            and key not in ("startswith_box", "startswith_box_optional")
        ):
            out.warning(
                f"metadata.annotations.{key}",
                f"is a YAML {type(value).__name__} ({value!r}); Nuclio stores the string {annotation_string(value)!r}",
                f'quote it: {key}: "{annotation_string(value)}"',
            )
    text = {str(k): annotation_string(v) for k, v in annotations.items()}
    kind = text.get("type", "")
    if "type" not in text:
        out.error(
            "metadata.annotations.type",
            "is missing",
            f'CVAT skips the function; add type: "detector" ({", ".join(FUNCTION_KINDS)})',
        )
    elif kind not in FUNCTION_KINDS:
        out.error(
            "metadata.annotations.type",
            f"is {kind!r}, which CVAT does not know, so it skips the function",
            f"use one of {', '.join(FUNCTION_KINDS)} (a classifier is a detector returning tags)",
        )
    for problem in annotation_problems(annotations, kind):  # the rules the runtime applies, all of them
        out.error(f"metadata.annotations.{problem.key}", problem.problem, problem.fix)
    _lint_label_spec(out, text.get("spec"), kind)
    return kind


def _lint_label_spec(out: _Collector, text: str | None, kind: str) -> None:
    where = "metadata.annotations.spec"
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError as e:
        out.error(
            where,
            f"is not valid JSON ({e}); CVAT's model list answers HTTP 500",
            "write strict JSON in a block scalar (spec: |): no comments, no trailing commas, double quotes",
        )
        return
    if not isinstance(data, list):
        out.error(where, f"must be a JSON list of labels, not {type(data).__name__}", 'e.g. [{"name": "person"}]')
        return
    if kind == "detector" and not data:
        out.warning(where, "declares no labels; CVAT can map none of the detector's results", "list the labels")
    seen: set[str] = set()
    for index, item in enumerate(data):
        name = item.get("name") if isinstance(item, Mapping) else None
        if isinstance(name, str) and name in seen:
            out.error(
                f"{where}[{index}]",
                f"duplicates label name {name!r}; CVAT skips the function",
                "label names must be unique",
            )
        elif isinstance(name, str):
            seen.add(name)
        try:
            parse_labels(json.dumps([item]), f"{where}[{index}]")
        except SpecError as e:
            location = e.where.replace(f"{where}[{index}][0]", f"{where}[{index}]")
            out.error(location, e.problem, e.fix or "each label needs name, a known type and well-formed attributes")


def _lint_spec(out: _Collector, spec: Mapping[str, Any], kind: str) -> None:
    description = spec.get("description")
    if not isinstance(description, str) or not description.strip():
        out.error(
            "spec.description",
            "is missing or empty; Nuclio omits it and CVAT's model list answers HTTP 500",
            'add description: "<model> <version> <kind>"',
        )
    runtime = spec.get("runtime")
    if runtime not in SUPPORTED_RUNTIMES:
        out.error(
            "spec.runtime",
            f"is {runtime!r}; current Nuclio runs only {', '.join(SUPPORTED_RUNTIMES)}",
            'use the Python version of the base image, e.g. runtime: "python:3.12" with python:3.12-slim',
        )
    handler = spec.get("handler", "main:handler")
    if not isinstance(handler, str) or not _HANDLER.match(handler):
        out.error("spec.handler", f"{handler!r} is not module:function", "use handler: main:handler")
    _lint_timeouts(out, spec)
    env = spec.get("env")
    if env is not None:
        if not isinstance(env, list):
            out.error(
                "spec.env", "must be a list of {name, value}", "- name: MODEL_PATH\n      value: /opt/nuclio/m.onnx"
            )
        else:
            for index, entry in enumerate(env):
                if not isinstance(entry, Mapping) or "name" not in entry:
                    out.error(f"spec.env[{index}]", "has no 'name'", "each entry is {name: ..., value: ...}")
    _lint_build(out, spec.get("build"))
    _lint_trigger(out, spec)


def _lint_timeouts(out: _Collector, spec: Mapping[str, Any]) -> None:
    timeout = spec.get("eventTimeout")
    if timeout is None:
        out.warning(
            "spec.eventTimeout",
            "is not set: a stuck inference holds its worker forever (CVAT gives up after 120 s)",
            "set eventTimeout above the worst-case inference time, e.g. 60s",
        )
    else:
        try:
            seconds = parse_go_duration(timeout)
        except ValueError as e:
            out.error("spec.eventTimeout", str(e), "write a Go duration: 30s, 2m, 1m30s")
        else:
            if seconds > 120:
                out.warning(
                    "spec.eventTimeout",
                    f"is {timeout}, longer than CVAT's 120 s request timeout",
                    "CVAT gives up first; make inference faster or raise CVAT_NUCLIO_DEFAULT_TIMEOUT",
                )
    readiness = spec.get("readinessTimeoutSeconds")
    if readiness is not None and (isinstance(readiness, bool) or not isinstance(readiness, int) or readiness <= 0):
        out.error("spec.readinessTimeoutSeconds", f"{readiness!r} is not a positive integer", "e.g. 300")


def _lint_build(out: _Collector, build: object) -> None:
    if not isinstance(build, Mapping):
        return
    commands = build.get("commands")
    if commands:
        if build.get("directives"):
            out.error(
                "spec.build.commands",
                "is not empty, so Nuclio ignores spec.build.directives entirely",
                "move every command into build.directives (preCopy/postCopy, kind: RUN) and delete build.commands",
            )
        else:
            out.warning(
                "spec.build.commands",
                "is used; any non-empty list (also nuctl --build-command) replaces build.directives",
                "prefer build.directives (preCopy/postCopy) so the order of the image layers is explicit",
            )


def _lint_trigger(out: _Collector, spec: Mapping[str, Any]) -> None:
    name, trigger = http_trigger(spec)
    where = f"spec.triggers.{name}"
    if not trigger:
        out.warning(
            "spec.triggers",
            "has no http trigger; Nuclio adds one with 1 worker and a 4 MiB body limit",
            "add myHttpTrigger: {kind: http, numWorkers: 2, attributes: {maxRequestBodySize: 33554432}}",
        )
        return
    if "maxWorkers" in trigger:
        out.warning(
            f"{where}.maxWorkers",
            "is deprecated (nuclio/nuclio#3180)",
            "use numWorkers (worker processes = concurrency)",
        )
    workers = trigger.get("numWorkers", 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        out.error(f"{where}.numWorkers", f"{workers!r} is not an integer >= 1", "numWorkers: 2 on CPU, 1 on GPU")
    wait = trigger.get("workerAvailabilityTimeoutMilliseconds")
    if wait is not None and (isinstance(wait, bool) or not isinstance(wait, int) or wait < 0):
        out.error(f"{where}.workerAvailabilityTimeoutMilliseconds", f"{wait!r} is not an integer >= 0", "e.g. 10000")
    attributes = trigger.get("attributes") if isinstance(trigger.get("attributes"), Mapping) else {}
    assert isinstance(attributes, Mapping)
    size = attributes.get("maxRequestBodySize")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        out.error(f"{where}.attributes.maxRequestBodySize", f"{size!r} is not a positive integer", "33554432 (32 MiB)")
    elif size is None or size < RECOMMENDED_MAX_BODY:
        shown = "not set (Nuclio's default is 4 MiB)" if size is None else f"{size} bytes"
        out.warning(
            f"{where}.attributes.maxRequestBodySize",
            f"is {shown}: too small for large frames (base64 originals, PNG video frames); Nuclio answers 413",
            "set maxRequestBodySize: 33554432 (32 MiB) as CVAT's own functions do",
        )


# -- CPU vs GPU ----------------------------------------------------------------------------------------
def lint_pair(cpu: Path, gpu: Path) -> list[Finding]:
    """function.yaml and function-gpu.yaml must describe the same function to CVAT."""
    raw_cpu, problems = load_yaml(cpu)
    raw_gpu, more = load_yaml(gpu)
    if problems or more or not isinstance(raw_cpu, Mapping) or not isinstance(raw_gpu, Mapping):
        return []  # reported by lint_file
    out = _Collector(str(gpu))
    fix = (
        f"run `python -m cvat_function sync-gpu {gpu.parent}` (writes {gpu.name}'s name, annotations, labels and "
        f"env from {cpu.name}), or edit both alike ({_MAY_DIFFER_BETWEEN_CPU_AND_GPU})"
    )
    meta_cpu, meta_gpu = raw_cpu.get("metadata") or {}, raw_gpu.get("metadata") or {}
    spec_cpu, spec_gpu = raw_cpu.get("spec") or {}, raw_gpu.get("spec") or {}
    if meta_cpu.get("name") != meta_gpu.get("name"):
        out.error("metadata.name", f"{meta_gpu.get('name')!r} differs from {cpu.name}'s {meta_cpu.get('name')!r}", fix)
    ann_cpu = {str(k): annotation_string(v) for k, v in (meta_cpu.get("annotations") or {}).items()}
    ann_gpu = {str(k): annotation_string(v) for k, v in (meta_gpu.get("annotations") or {}).items()}
    for key in sorted(ann_cpu.keys() | ann_gpu.keys()):
        if key == "spec":
            differences = label_differences(_labels_json(ann_cpu.get(key)), _labels_json(ann_gpu.get(key)), cpu.name)
            for where, message in differences:
                out.error(f"metadata.annotations.spec{where}", f"{message} (the labels differ from {cpu.name}'s)", fix)
        elif ann_cpu.get(key) != ann_gpu.get(key):
            out.error(
                f"metadata.annotations.{key}",
                f"{ann_gpu.get(key)!r} differs from {cpu.name}'s {ann_cpu.get(key)!r}",
                fix,
            )
    for key in ("description", "handler", "runtime"):
        if spec_cpu.get(key) != spec_gpu.get(key):
            out.error(f"spec.{key}", f"{spec_gpu.get(key)!r} differs from {cpu.name}'s {spec_cpu.get(key)!r}", fix)
    env_cpu, env_gpu = _env(spec_cpu.get("env")), _env(spec_gpu.get("env"))
    for key in sorted(env_cpu.keys() | env_gpu.keys()):
        if env_cpu.get(key) != env_gpu.get(key):
            out.error(f"spec.env.{key}", f"{env_gpu.get(key)!r} differs from {cpu.name}'s {env_cpu.get(key)!r}", fix)
    return out.findings


def label_differences(cpu: object, gpu: object, cpu_name: str = "function.yaml") -> list[tuple[str, str]]:
    """(where, what) for each label, attribute or field that differs between two label lists, by label name."""
    if cpu == gpu:
        return []
    if not (isinstance(cpu, list) and isinstance(gpu, list)):
        return [("", f"is not the same label list as {cpu_name}'s")]
    named_cpu, named_gpu = _by_name(cpu), _by_name(gpu)
    if named_cpu is None or named_gpu is None:
        return [("", f"is not the same label list as {cpu_name}'s")]
    out: list[tuple[str, str]] = []
    for name in [*named_cpu, *(n for n in named_gpu if n not in named_cpu)]:
        where = f"[{name!r}]"
        if name not in named_gpu:
            out.append((where, f"label {name!r} is missing here but in {cpu_name}"))
        elif name not in named_cpu:
            out.append((where, f"label {name!r} is here but not in {cpu_name}"))
        else:
            out += [
                (f"{where}{w}", f"label {name!r}: {m}")
                for w, m in _field_differences(named_cpu[name], named_gpu[name], cpu_name)
            ]
    if not out:
        out.append(("", f"the same labels as {cpu_name}'s, in another order"))
    return out


def _by_name(labels: list[Any]) -> dict[str, Any] | None:
    if not all(isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in labels):
        return None
    return {item["name"]: item for item in labels}


def _field_differences(cpu: Mapping[str, Any], gpu: Mapping[str, Any], cpu_name: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key in [*cpu, *(k for k in gpu if k not in cpu)]:
        if cpu.get(key) == gpu.get(key):
            continue
        if key in ("attributes", "sublabels") and isinstance(cpu.get(key), list) and isinstance(gpu.get(key), list):
            kind = "attribute" if key == "attributes" else "sublabel"
            nested = label_differences(cpu[key], gpu[key], cpu_name)
            out += [(f".{key}{w}", m.replace("label ", f"{kind} ", 1)) for w, m in nested]
        else:
            out.append((f".{key}", f"{key} is {gpu.get(key)!r} here, {cpu.get(key)!r} in {cpu_name}"))
    return out


def _labels_json(text: str | None) -> object:
    try:
        return json.loads(text or "[]")
    except json.JSONDecodeError:
        return text


def _env(entries: object) -> dict[str, str]:
    if not isinstance(entries, list):
        return {}
    return {
        str(e["name"]): annotation_string(e.get("value")) for e in entries if isinstance(e, Mapping) and "name" in e
    }


# -- the folder --------------------------------------------------------------------------------------------
def lint_model_labels(function_dir: Path) -> list[Finding]:
    """Labels ModelHandler declares (`labels`) that the spec lacks: CVAT would drop those results."""
    from ..core.config import load_function_config
    from .wire import load_main

    yaml_path = function_dir / "function.yaml"
    try:
        config = load_function_config(yaml_path)
    except SpecError:
        return []  # reported by lint_file
    try:
        module = load_main(function_dir)
    except Exception as e:
        return [
            Finding(
                "error", str(_entry_file(function_dir)), "import", f"raises {type(e).__name__}: {e}", "fix the import"
            )
        ]
    model = getattr(module, "ModelHandler", None)
    emitted = getattr(model, "labels", None)
    if emitted is None:
        return []
    missing = [name for name in emitted if name not in config.labels]
    if not missing:
        return []
    return [
        Finding(
            "error",
            str(yaml_path),
            "metadata.annotations.spec",
            f"lacks label(s) {missing} that ModelHandler.labels says the model emits; CVAT would drop them",
            "add them to the spec (exact names) or remove them from ModelHandler.labels",
        )
    ]


def _entry_file(function_dir: Path) -> Path:
    """The file whose import failed: main.py, or model_handler.py behind the generic entry."""
    main = function_dir / "main.py"
    return main if main.is_file() else function_dir / "model_handler.py"


def lint_function_dir(function_dir: str | Path) -> list[Finding]:
    """function.yaml, function-gpu.yaml, their agreement, the handler file and the model's labels."""
    folder = Path(function_dir)
    cpu, gpu = folder / "function.yaml", folder / "function-gpu.yaml"
    if not cpu.is_file():
        return [Finding("error", str(folder), "function.yaml", "is missing", "a function folder needs function.yaml")]
    findings = lint_file(cpu)
    if gpu.is_file():
        findings += lint_file(gpu)
        findings += lint_pair(cpu, gpu)
    raw, _ = load_yaml(cpu)
    handler = ((raw.get("spec") or {}).get("handler") if isinstance(raw, Mapping) else None) or "main:handler"
    if isinstance(handler, str) and _HANDLER.match(handler):
        module = handler.split(":")[0].replace(".", os.sep)
        generic = module == "main" and (folder / "model_handler.py").is_file()  # deploy.sh writes main.py
        if not generic and not (folder / f"{module}.py").is_file() and not (folder / module / "__init__.py").is_file():
            findings.append(
                Finding(
                    "error", str(cpu), "spec.handler", f"{handler}: {module}.py is not in {folder}", "fix the handler"
                )
            )
    if not any(f.severity == "error" for f in findings) and is_function_dir(folder):
        findings += lint_model_labels(folder)
    return findings


def errors(findings: list[Finding]) -> Iterator[Finding]:
    return (f for f in findings if f.severity == "error")


# -- the contract suite ----------------------------------------------------------------------------------
def sample_images(*folders: Path) -> list[Path]:
    """`assets/*.jpg|png` of the given folders (the function's own first, then the repo's)."""
    found: list[Path] = []
    for folder in folders:
        for pattern in ("*.jpg", "*.jpeg", "*.png"):
            found += sorted((folder / "assets").glob(pattern))
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(str(path.resolve()), path)
    return list(unique.values())


def run_contract_suite(function_dir: str | Path, images: list[Path]) -> tuple[list[Finding], list[str]]:
    """Load the function as one Nuclio worker (strict mode) and check its answers to CVAT's requests.

    Detectors answer every sample image; other kinds one synthetic request built from the first image.
    Returns the problems and one line per passed request.
    """
    from ..core.config import load_function_config
    from ..core.image import image_size
    from ..core.runtime import ENV_INVALID_SHAPES
    from .answer_checks import check_answer, synthetic_request
    from .wire import LocalFunction, make_logger

    folder = Path(function_dir)
    where = str(folder)
    try:
        config = load_function_config(folder / "function.yaml")
    except SpecError as e:
        return [Finding("error", where, "contract suite", f"not run: {e}")], []
    if not images:
        return [Finding("warning", where, "contract suite", "no sample images (assets/*.jpg|png)", "add one")], []
    env = dict(config.env)
    env[ENV_INVALID_SHAPES] = "error"  # strict: a shape CVAT would drop fails the suite
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    findings: list[Finding] = []
    passed: list[str] = []
    try:
        try:
            function = LocalFunction(folder, make_logger(open(os.devnull, "w")))  # noqa: SIM115
        except Exception as e:
            return [Finding("error", where, "init_context", f"raises {type(e).__name__}: {e}", "see the traceback")], []
        for image in images if config.kind == "detector" else images[:1]:
            data = image.read_bytes()
            size = image_size(data)
            request = synthetic_request(config.kind, data, size)
            answer = function.request(json.dumps(request), "application/json")
            verdict = check_answer(
                config.kind,
                answer.status,
                {"Content-Type": answer.content_type, **answer.headers},
                answer.body,
                request=request,
                image_size=size,
                labels=config.labels,
            )
            if verdict.ok:
                passed.append(f"{config.name}: {config.kind} request with {image.name}: {verdict.checks[-1]}")
            findings += [
                Finding("error", where, f"contract ({image.name})", problem, "fix the model output or the spec")
                for problem in verdict.problems
            ]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return findings, passed
