"""Lint function.yaml files against CVAT's discovery rules and Nuclio's pitfalls, reporting every problem.

The file is read with the runtime's own reader (`config.read_function_yaml`, bounded against hostile YAML),
and every rule the runtime refuses to start with comes from the same place (`config.function_problems`,
`labels.label_spec_problems`): the runtime raises the first, this linter reports them all, each with how to
fix it. What is added here are the risks the runtime does not refuse: errors are what breaks CVAT's model
list, hides the function or breaks deployment; warnings are risks.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import (
    FUNCTION_NAME_MAX_KUBERNETES,
    HANDLER_PATTERN,
    RECOMMENDED_MAX_BODY,
    annotation_string,
    env_from_spec,
    function_name_problem,
    function_problems,
    http_trigger,
    parse_go_duration,
    read_function_yaml,
)
from ..core.errors import SpecError
from ..core.labels import read_labels
from .contract import THRESHOLDS, generated_frames
from .entry import is_function_dir

SUPPORTED_RUNTIMES = ("python:3.10", "python:3.11", "python:3.12")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAY_DIFFER_BETWEEN_CPU_AND_GPU = "build, resources, triggers (workers) and platform may differ"
_LABEL_FIX = "each label needs name, a known type and well-formed attributes"


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


def read_yaml(path: Path) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The file's mapping (`config.read_function_yaml`), or None and the finding saying why not."""
    try:
        return read_function_yaml(path), []
    except SpecError as e:
        return None, [Finding("error", str(path), "file", e.problem, e.fix or "fix the file")]


def lint_file(path: str | Path) -> list[Finding]:
    """Every problem of one function.yaml / function-gpu.yaml."""
    path = Path(path)
    raw, findings = read_yaml(path)
    if raw is None:
        return findings
    return lint_config(raw, str(path))


def lint_config(raw: object, file: str = "function.yaml") -> list[Finding]:
    out = _Collector(file)
    if not isinstance(raw, Mapping):
        out.error("file", "must be a YAML mapping with metadata and spec", "start from the template's function.yaml")
        return out.findings
    for problem in function_problems(raw):  # what the runtime refuses to start with, all of it
        out.error(problem.where, problem.problem, problem.fix or "see the template's function.yaml")
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), Mapping) else {}
    spec = raw.get("spec") if isinstance(raw.get("spec"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    assert isinstance(spec, Mapping)
    _lint_name(out, metadata.get("name"))
    annotations = metadata.get("annotations")
    if isinstance(annotations, Mapping):
        _lint_annotations(out, annotations)
    _lint_spec(out, spec)
    return out.findings


def _lint_name(out: _Collector, name: object) -> None:
    if not isinstance(name, str) or not name:
        return  # reported by function_problems
    if function_name_problem(name) is not None:
        return  # an error, reported by function_problems
    if len(name) > FUNCTION_NAME_MAX_KUBERNETES:
        out.warning(
            "metadata.name",
            f"is {len(name)} characters; on Kubernetes nuclio-<name> exceeds 63",
            f"keep it to {FUNCTION_NAME_MAX_KUBERNETES} characters",
        )
    elif name == "pth-facebookresearch-sam-vit-h":
        out.error("metadata.name", "is special-cased by CVAT's browser code (it expects a SAM embedding)", "rename it")


def _lint_annotations(out: _Collector, annotations: Mapping[Any, Any]) -> None:
    for key, value in annotations.items():
        if (
            value is not None
            and not isinstance(value, str)
            and key not in ("startswith_box", "startswith_box_optional")
        ):
            shown = annotation_string(value)[:80]
            out.warning(
                f"metadata.annotations.{key}",
                f"is a YAML {type(value).__name__}; Nuclio stores the string {shown!r}",
                f'quote it: {key}: "{shown}"',
            )
    where = "metadata.annotations.spec"
    text = annotations.get("spec")
    labels, problems = read_labels(annotation_string(text), where)
    for problem in problems:
        out.error(problem.where, problem.problem, problem.fix or _LABEL_FIX)
    if annotation_string(annotations.get("type")) == "detector" and not problems and not labels:
        out.warning(where, "declares no labels; CVAT can map none of the detector's results", "list the labels")


def _lint_spec(out: _Collector, spec: Mapping[str, Any]) -> None:
    runtime = spec.get("runtime")
    if not isinstance(runtime, str) or runtime not in SUPPORTED_RUNTIMES:
        shown = repr(runtime) if runtime is None or (isinstance(runtime, str) and len(runtime) <= 40) else "not one"
        out.error(
            "spec.runtime",
            f"is {shown}; current Nuclio runs only {', '.join(SUPPORTED_RUNTIMES)}",
            'use the Python version of the base image, e.g. runtime: "python:3.12" with python:3.12-slim',
        )
    _lint_timeouts(out, spec)
    _lint_build(out, spec.get("build"))
    _lint_trigger(out, spec)
    _lint_platform(out, spec.get("platform"))


def _lint_timeouts(out: _Collector, spec: Mapping[str, Any]) -> None:
    timeout = spec.get("eventTimeout")
    if timeout is None:
        out.warning(
            "spec.eventTimeout",
            "is not set: a stuck inference holds its worker forever (CVAT gives up after 120 s)",
            "set eventTimeout above the worst-case inference time, e.g. 60s",
        )
        return
    try:
        seconds = parse_go_duration(timeout)
    except ValueError:
        return  # reported by function_problems
    if seconds > 120:
        out.warning(
            "spec.eventTimeout",
            f"is {timeout}, longer than CVAT's 120 s request timeout",
            "CVAT gives up first; make inference faster or raise CVAT_NUCLIO_DEFAULT_TIMEOUT",
        )


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
    attributes = trigger.get("attributes") if isinstance(trigger.get("attributes"), Mapping) else {}
    assert isinstance(attributes, Mapping)
    size = attributes.get("maxRequestBodySize")
    if size is None or (isinstance(size, int) and not isinstance(size, bool) and 0 < size < RECOMMENDED_MAX_BODY):
        shown = "not set (Nuclio's default is 4 MiB)" if size is None else f"{size} bytes"
        out.warning(
            f"{where}.attributes.maxRequestBodySize",
            f"is {shown}: too small for large frames (base64 originals, PNG video frames); Nuclio answers 413",
            "set maxRequestBodySize: 33554432 (32 MiB) as CVAT's own functions do",
        )


def _lint_platform(out: _Collector, platform: object) -> None:
    attributes = platform.get("attributes") if isinstance(platform, Mapping) else None
    policy = attributes.get("restartPolicy") if isinstance(attributes, Mapping) else None
    if not isinstance(policy, Mapping) or "maximumRetryCount" not in policy:
        return
    policy_name = policy.get("name")
    if policy_name != "on-failure":
        out.warning(
            "spec.platform.attributes.restartPolicy.maximumRetryCount",
            f"is ignored: Nuclio passes maximumRetryCount on only with restartPolicy.name 'on-failure', "
            f"this one is {str(policy_name)[:40]!r}",
            "delete maximumRetryCount (name: always restarts after every crash and reboot), or set "
            "name: on-failure to stop after maximumRetryCount restarts",
        )


# -- CPU vs GPU ----------------------------------------------------------------------------------------
def lint_pair(cpu: Path, gpu: Path) -> list[Finding]:
    """function.yaml and function-gpu.yaml must describe the same function to CVAT."""
    raw_cpu, _ = read_yaml(cpu)
    raw_gpu, _ = read_yaml(gpu)
    if raw_cpu is None or raw_gpu is None:
        return []  # reported by lint_file
    out = _Collector(str(gpu))
    fix = (
        f"run `python -m cvat_function sync-gpu {gpu.parent}` (writes {gpu.name}'s name, annotations, labels and "
        f"env from {cpu.name}), or edit both alike ({_MAY_DIFFER_BETWEEN_CPU_AND_GPU})"
    )

    def section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = raw.get(key)
        return value if isinstance(value, Mapping) else {}

    meta_cpu, meta_gpu = section(raw_cpu, "metadata"), section(raw_gpu, "metadata")
    spec_cpu, spec_gpu = section(raw_cpu, "spec"), section(raw_gpu, "spec")
    if meta_cpu.get("name") != meta_gpu.get("name"):
        out.error("metadata.name", f"{meta_gpu.get('name')!r} differs from {cpu.name}'s {meta_cpu.get('name')!r}", fix)
    ann_cpu = {str(k): annotation_string(v) for k, v in section(meta_cpu, "annotations").items()}
    ann_gpu = {str(k): annotation_string(v) for k, v in section(meta_gpu, "annotations").items()}
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
    env_cpu, env_gpu = env_from_spec(spec_cpu), env_from_spec(spec_gpu)
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
    raw, _ = read_yaml(cpu)
    spec = raw.get("spec") if raw is not None else None
    handler = (spec.get("handler") if isinstance(spec, Mapping) else None) or "main:handler"
    if isinstance(handler, str) and HANDLER_PATTERN.match(handler):
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


def run_contract_suite(
    function_dir: str | Path, images: list[Path], *, generated: bool = True
) -> tuple[list[Finding], list[str]]:
    """Load the function as one Nuclio worker (strict mode) and check its answers to CVAT's requests.

    A detector answers every sample image and (with `generated`) the contract suite's generated frames, each
    at the contract's thresholds (low, default, high) and once more at the default: every answer must be
    valid for the spec, at or above its threshold and inside the frame; the high-threshold answer a subset of
    the low one; the repeated answer identical (the rules of `tests/tools/test_contract.py`, from
    `core/rules.py` and `tools/contract.py`). Other kinds answer one synthetic request built from the first
    image. Returns the problems and one line per passed frame.
    """
    from ..core.config import load_function_config
    from ..core.runtime import ENV_INVALID_SHAPES
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
    try:
        try:
            function = LocalFunction(folder, make_logger(open(os.devnull, "w")))  # noqa: SIM115
        except Exception as e:
            return [
                Finding(
                    "error",
                    where,
                    "init_context",
                    f"raises {type(e).__name__}: {e}",
                    "fix what the message names; `cvat_function invoke IMAGE --function DIR` shows the traceback",
                )
            ], []
        frames = [(image.name, image.read_bytes()) for image in images]
        if config.kind != "detector":
            return _contract_other_kind(function, config, frames[0], where)
        if generated:
            frames += _generated_frames()
        findings: list[Finding] = []
        passed: list[str] = []
        shown = ", ".join(f"{t:g}" for t in THRESHOLDS)
        for name, data in frames:
            problems, check = _contract_detector_frame(function, config.labels, data)
            findings += [
                Finding("error", where, f"contract ({name})", problem, "fix the model output or the spec")
                for problem in problems
            ]
            if not problems:
                passed.append(f"{config.name}: detector request with {name} at thresholds {shown}: {check}")
        return findings, passed
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _generated_frames() -> list[tuple[str, bytes]]:
    import cv2

    out = []
    for name, rgb in generated_frames():
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
        if ok:
            out.append((name, encoded.tobytes()))
    return out


def _contract_detector_frame(function: Any, labels: Any, data: bytes) -> tuple[list[str], str]:
    """Problems of one frame at every contract threshold (empty: passed) and the last check made."""
    from ..core.image import image_size
    from ..core.rules import subset_problem
    from .answer_checks import check_answer, synthetic_request

    size = image_size(data)
    answers: dict[float, list[Any]] = {}
    problems: list[str] = []
    check = ""
    for threshold in (*THRESHOLDS, THRESHOLDS[1]):
        request = synthetic_request("detector", data, size, threshold)
        answer = function.request(json.dumps(request), "application/json")
        verdict = check_answer("detector", answer, request=request, image_size=size, labels=labels)
        problems += [f"threshold {threshold:g}: {p}" for p in verdict.problems]
        if not verdict.ok:
            return problems, check
        check = verdict.checks[-1]
        payload = answer.json()
        if threshold in answers and payload != answers[threshold]:
            problems.append(
                f"two requests at threshold {threshold:g} answered differently; the model must be deterministic"
            )
        answers.setdefault(threshold, payload)
    low, high = THRESHOLDS[0], THRESHOLDS[-1]
    problem = subset_problem(answers[low], answers[high], (low, high))
    if problem:
        problems.append(problem)
    return problems, check


def _contract_other_kind(
    function: Any, config: Any, frame: tuple[str, bytes], where: str
) -> tuple[list[Finding], list[str]]:
    from ..core.image import image_size
    from .answer_checks import check_answer, synthetic_request

    name, data = frame
    size = image_size(data)
    request = synthetic_request(config.kind, data, size)
    answer = function.request(json.dumps(request), "application/json")
    verdict = check_answer(
        config.kind,
        answer,
        request=request,
        image_size=size,
        labels=config.labels,
        supported_shape_types=config.supported_shape_types,
    )
    findings = [
        Finding("error", where, f"contract ({name})", problem, "fix the model output or the spec")
        for problem in verdict.problems
    ]
    passed = [f"{config.name}: {config.kind} request with {name}: {verdict.checks[-1]}"] if verdict.ok else []
    return findings, passed
