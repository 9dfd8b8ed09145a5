"""Write a complete function folder: from an Ultralytics ONNX export (zero code), or an empty custom model.

What `python -m cvat_function new DIR [--from-onnx MODEL]` writes, and nothing else: function.yaml and
function-gpu.yaml (labels from the model's metadata), main.py (the generic Nuclio entry point), model_handler.py
(a few lines of configuration over `cvat_function.onnx.UltralyticsModel`, or a skeleton to fill in),
weights.lock (the model's SHA-256), requirements.txt, a test file, and the model itself under weights/. A file
that exists is never overwritten unless `force`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..core.labels import LabelSpec, spec_yaml_block
from ..onnx.resources import ModelRef, PackageResource, package_distribution, parse_model_ref
from ..onnx.ultralytics import TASKS, ExportInfo, label_specs, open_metadata, read_export

ONNXRUNTIME_GPU = "onnxruntime-gpu==1.26.0"  # the last release built for CUDA 12 + cuDNN 9 (1.27+ need CUDA 13)
MODEL_DEST = "weights/model.onnx"

# The generic entry point; the root's main.py is the same text (a test keeps them equal).
MAIN_PY = '''"""Nuclio entry point (`spec.handler: main:handler`). Thin glue: the work is in cvat_function.core.runtime.

`init_context` runs once per worker: it reads the labels from the function.yaml next to this file
(/opt/nuclio/function.yaml in the deployed image; $CVAT_FUNCTION_YAML overrides), loads ModelHandler and
warms it up. `handler` answers each CVAT request with JSON.
"""

from pathlib import Path
from typing import Any

from cvat_function.core.runtime import handle_event, init_function
from model_handler import ModelHandler

FUNCTION_YAML = Path(__file__).with_name("function.yaml")


def init_context(context: Any) -> None:
    init_function(context, ModelHandler, FUNCTION_YAML)


def handler(context: Any, event: Any) -> Any:
    return handle_event(context, event)
'''

YAML = """\
# {variant} deployment of {what} + the metadata CVAT reads.{header_extra}
# Deploy: scripts/deploy.sh {deploy_flags}(stages this folder, weights/ included, with cvat_function/).
metadata:
  name: {name}{name_pad}# TODO(template): your function id (lowercase, digits, -); CVAT shows it
  namespace: cvat                     # informational; nuctl's local platform uses "nuclio"
  annotations:                        # Nuclio stores every annotation as a string: quote them all
    name: "{display}"   # TODO(template): display name in CVAT
    type: "{kind}"{kind_pad}# detector | interactor | tracker | reid
    framework: "{framework}"{framework_pad}# informational only
{annotations}    # {spec_comment}
{spec}
spec:
  description: "{description}"  # REQUIRED: without it CVAT's model list answers 500
  runtime: "python:3.12"              # must equal the base image's Python
  handler: main:handler               # main.py, function handler
  eventTimeout: 60s                   # above worst-case CPU inference; CVAT itself waits 120 s
  readinessTimeoutSeconds: 300        # init_context (model load + warm-up) must finish within this
  env:{env_comment}
    - name: CVAT_FUNCTION_INVALID_SHAPES
      value: drop                     # production: drop (and log) shapes CVAT would reject instead of failing the frame
    - name: CVAT_FUNCTION_MAX_PIXELS
      value: "100000000"              # refuse larger images (decompression bombs) before decoding them
  build:
    image: {image}   # TODO(template): image name for nuctl source builds
{build}
  triggers:
    myHttpTrigger:
      kind: http
      numWorkers: {workers}
      workerAvailabilityTimeoutMilliseconds: 10000   # wait this long for a free worker, then 503
      attributes:
        maxRequestBodySize: 33554432  # 32 MiB: base64 originals and PNG video frames exceed the 4 MiB default
  platform:
    attributes:
      restartPolicy:
        name: always                  # come back after a crash or a host reboot
      mountMode: volume               # processor config in a Docker volume (works when nuctl runs in a container)
"""

CPU_BUILD = """\
    baseImage: python:3.12-slim-bookworm   # Python 3.12 = spec.runtime; provides `python` and pip
    directives:
      preCopy:
        - kind: WORKDIR
          value: /opt/nuclio
      postCopy:                       # after /opt/nuclio holds the code (and Nuclio installed nuclio-sdk)
        - kind: RUN
          value: pip install --no-cache-dir -r /opt/nuclio/requirements.txt"""

GPU_BUILD = """\
    baseImage: nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04   # CUDA 12 + cuDNN 9; its python3 is 3.12 = spec.runtime
    directives:
      preCopy:
        - kind: ENV
          value: PIP_BREAK_SYSTEM_PACKAGES=1   # Ubuntu 24.04 marks its Python externally managed (PEP 668)
        - kind: RUN
          value: apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python-is-python3 && rm -rf /var/lib/apt/lists/*
        - kind: WORKDIR
          value: /opt/nuclio
      postCopy:                       # after /opt/nuclio holds the code (and Nuclio installed nuclio-sdk)
        # onnxruntime and onnxruntime-gpu install the same module (the last wins): everything in requirements.txt
        # but the CPU wheel, then the GPU wheel; gpu_check fails the build if the CPU wheel still came in (a
        # package that depends on onnxruntime pulls it back) or CUDA is not among onnxruntime's providers
        - kind: RUN
          value: grep -v '^onnxruntime' /opt/nuclio/requirements.txt > /tmp/requirements-gpu.txt && pip install --no-cache-dir -r /tmp/requirements-gpu.txt {gpu_wheel} && python /opt/nuclio/cvat_function/onnx/gpu_check.py
  resources:
    limits:
      nvidia.com/gpu: 1               # Docker: adds --gpus all; Kubernetes: a device-plugin request"""  # noqa: E501

REQUIREMENTS = """\
# What this function's image installs (scripts/deploy.sh stages this file with the folder).
# Runs the model. function-gpu.yaml installs {gpu_wheel} instead (same module: never both).
onnxruntime>=1.23,<2
# The framework's own needs.
numpy>=1.26,<3
# Letterbox resize, NMS, mask contours; headless: no GUI libraries in the image.
opencv-python-headless>=4.10,<5
# Image decoding for every format CVAT can send.
pillow>=10.4
# Reads the label spec from function.yaml at start-up.
pyyaml>=6.0
{extra}"""

CUSTOM_REQUIREMENTS = """\
# What this function's image installs (scripts/deploy.sh stages this file with the folder).
# TODO(template): add what your model needs (torch, onnxruntime, …), pinned.
numpy>=1.26,<3
# Image processing; headless: no GUI libraries in the image.
opencv-python-headless>=4.10,<5
# Image decoding for every format CVAT can send.
pillow>=10.4
# Reads the label spec from function.yaml at start-up.
pyyaml>=6.0
"""

ONNX_HANDLER = '''"""{title}: an Ultralytics {task} export on onnxruntime, served by the built-in adapter.

Written by `python -m cvat_function new --from-onnx`; the labels in function.yaml come from the model's metadata.
What the adapter does (letterbox, NMS, masks, skeletons, tags) and every knob: cvat_function/onnx/ultralytics.py.
"""

from pathlib import Path

from cvat_function.onnx import UltralyticsConfig, UltralyticsModel

HERE = Path(__file__).parent


class ModelHandler(UltralyticsModel):
    config = UltralyticsConfig(
        model={model},  # $MODEL_PATH overrides it
        iou=0.45,  # NMS: boxes of one class overlapping more than this are one object
        agnostic_nms=False,  # True: one box per object whatever its class
        max_detections=300,
        class_thresholds={{}},  # e.g. {{"person": 0.6}}: a class that needs more than the request's threshold
        keypoint_threshold=0.5,  # pose: keypoints less visible than this are sent as outside
    )
'''

CUSTOM_HANDLER = '''"""{title}: your model, as a CVAT detector.

`ModelHandler` is built once per Nuclio worker with the labels of function.yaml; `infer` answers each frame.
Build results with cvat_function's builders (rectangle, polygon, mask, skeleton, tag, …): the runtime checks
each one against function.yaml's spec before CVAT sees it.
"""

from __future__ import annotations

import numpy as np

from cvat_function import Labels, Shape, rectangle


class ModelHandler:
    color_order = "RGB"  # TODO(template): the layout infer receives: RGB, BGR (OpenCV) or GRAY
    labels = ("object",)  # TODO(template): every label name the model can emit (checked against the spec at start)

    def __init__(self, labels: Labels) -> None:
        self.spec = labels
        # TODO(template): load your model here (once per worker), e.g. from weights/ listed in weights.lock.

    def infer(self, image: np.ndarray, threshold: float) -> list[Shape]:
        # TODO(template): run your model on `image` (H×W×3 uint8) and keep results scoring >= threshold.
        height, width = image.shape[:2]
        score = 1.0
        if score < threshold:
            return []
        return [rectangle("object", (width * 0.25, height * 0.25, width * 0.75, height * 0.75), confidence=score)]
'''

TEST_FILE = '''"""What this function must answer; replace these checks with your model's own expectations."""

import io
from pathlib import Path

import cv2
import numpy as np

from cvat_function.core.config import load_function_config
from cvat_function.tools.answer_checks import check_answer, synthetic_request
from cvat_function.tools.wire import LocalFunction, make_logger

HERE = Path(__file__).parent


def test_a_frame_is_answered_as_cvat_expects() -> None:
    config = load_function_config(HERE / "function.yaml")
    function = LocalFunction(HERE, make_logger(io.StringIO()))
    ok, data = cv2.imencode(".png", np.full((480, 640, 3), 127, np.uint8))
    assert ok
    request = synthetic_request(config.kind, data.tobytes(), (640, 480))
    response = function.request(request)
    verdict = check_answer(config.kind, response, request=request, image_size=(640, 480), labels=config.labels)
    assert verdict.ok, verdict.problems
'''


@dataclass
class Written:
    """What a scaffold run wrote, and what the user should know."""

    files: list[Path] = field(default_factory=list)
    license: str | None = None
    export: ExportInfo | None = None
    notes: list[str] = field(default_factory=list)


class ScaffoldError(ValueError):
    """The folder cannot be written as asked; the message says why and what to do."""


def slug(text: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return value or "my-function"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _yaml(
    *,
    gpu: bool,
    name: str,
    display: str,
    framework: str,
    spec: str,
    spec_comment: str,
    description: str,
    what: str,
    env_comment: str = "",
    kind: str = "detector",
    annotations: str = "",
) -> str:
    image = f"cvat.{name}" + (":latest-gpu" if gpu else "")
    return YAML.format(
        kind=kind,
        kind_pad=" " * max(1, 26 - len(kind)),
        annotations=annotations,
        variant="GPU" if gpu else "CPU",
        what=what,
        header_extra=" Labels, env and annotations identical to function.yaml." if gpu else "",
        deploy_flags="--gpu --dir <this folder> " if gpu else "--dir <this folder> ",
        name=name,
        name_pad=" " * max(1, 30 - len(name)),
        display=display.replace('"', "'"),
        framework=framework,
        framework_pad=" " * max(1, 21 - len(framework)),
        spec_comment=spec_comment,
        spec=spec,
        description=description.replace('"', "'"),
        env_comment=env_comment,
        image=image,
        build=GPU_BUILD.format(gpu_wheel=ONNXRUNTIME_GPU) if gpu else CPU_BUILD,
        workers=(
            "1                   # one worker: each worker loads its own copy of the model into GPU memory"
            if gpu
            else "2                   # worker processes = concurrency; each loads its own model"
        ),
    )


def _check_free(targets: list[Path], force: bool) -> None:
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing)
        raise ScaffoldError(f"would overwrite {shown}; nothing was written. Pass --force to replace them")


def write_onnx_function(
    folder: Path,
    model: str | Path,
    *,
    name: str | None = None,
    task: str | None = None,
    force: bool = False,
    root: bool = False,
) -> Written:
    """A function folder serving the Ultralytics export `model` (a path or a package resource)."""
    ref: ModelRef = parse_model_ref(model)
    metadata, model_input = open_metadata(ref)
    if task is not None:
        if task not in TASKS:
            raise ScaffoldError(f"--task {task!r} is not one of {', '.join(TASKS)}")
        metadata = {**metadata, "task": task}
    export = read_export(metadata, model_input.shape, model_input.name, model_input.type, where=str(ref))
    if not export.names_from_model:  # pragma: no cover - read_export raises without spec labels
        raise ScaffoldError(f"{ref} has no 'names' metadata")
    function_name = slug(name or (Path(ref.path).stem if isinstance(ref, PackageResource) else Path(ref).stem))
    labels: list[LabelSpec] = label_specs(export)
    handler_name = "test_model_handler.py" if root else f"test_{function_name.replace('-', '_')}.py"
    targets = [
        folder / f
        for f in (
            "function.yaml",
            "function-gpu.yaml",
            "main.py",
            "model_handler.py",
            "weights.lock",
            "requirements.txt",
            handler_name,
        )
    ]
    if isinstance(ref, Path):
        targets.append(folder / MODEL_DEST)
    _check_free(targets, force)
    folder.mkdir(parents=True, exist_ok=True)
    written = Written(license=export.license, export=export)
    title = f"{function_name} ({export.task}, {len(export.names)} classes)"
    spec = spec_yaml_block(labels)
    common = {
        "name": function_name,
        "display": f"{function_name} (YOLO {export.task}, ONNX)",
        "framework": "onnx",
        "spec": spec,
        "spec_comment": "labels from the model's metadata (names"
        + ("; kpt_shape for the skeleton" if export.task == "pose" else "")
        + "), ids = class indices.\n    # Reprint: python -m cvat_function labels --from-onnx MODEL.onnx --yaml",
        "description": f"Ultralytics {export.task} export on onnxruntime ({function_name}) v0.1.0",
        "what": f"{function_name}, an Ultralytics {export.task} export on onnxruntime",
        "env_comment": "                                # MODEL_PATH unset: the model named in model_handler.py",
    }
    files = {
        "function.yaml": _yaml(gpu=False, **common),
        "function-gpu.yaml": _yaml(gpu=True, **common),
        "main.py": MAIN_PY,
        handler_name: TEST_FILE,
    }
    extra_requirement = ""
    if isinstance(ref, PackageResource):
        distribution = package_distribution(ref.package)
        pin = f"{distribution[0]}=={distribution[1]}" if distribution else ref.package
        extra_requirement = f"# Ships the model ({ref}).\n{pin}\n"
        model_expr = repr(str(ref))
        files["weights.lock"] = _weights_lock(None, ref)
        written.notes.append(f"the model stays in package {pin}: listed in requirements.txt, not in weights.lock")
    else:
        source = Path(ref).resolve()
        destination = folder / MODEL_DEST
        if source != destination.resolve():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        written.files.append(destination)
        model_expr = f'HERE / "{MODEL_DEST}"'
        files["weights.lock"] = _weights_lock(sha256_of(destination), source)
        written.notes.append(
            f"weights.lock points at {source.as_uri()}: replace the URL with one a build can reach (a release asset)"
        )
    files["requirements.txt"] = REQUIREMENTS.format(gpu_wheel=ONNXRUNTIME_GPU, extra=extra_requirement)
    files["model_handler.py"] = ONNX_HANDLER.format(title=title, task=export.task, model=model_expr)
    for file_name, text in files.items():
        path = folder / file_name
        path.write_text(text, encoding="utf-8")
        written.files.append(path)
    return written


def _weights_lock(digest: str | None, source: Path | PackageResource) -> str:
    head = (
        "# This function's model, fetched and verified before a deploy (a source deploy copies this folder, weights/ "
        "too):\n#   python scripts/fetch_weights.py --manifest <this folder>/weights.lock --root <this folder>\n"
        "# One file per line: <sha256>  <destination, relative to this folder>  <URL: https://, http://, file://>\n"
        "# A mismatch fails and names both hashes. weights/ is git-ignored.\n#\n"
    )
    if digest is None:
        return head + f"# Empty: the model ships inside an installed package ({source}), see requirements.txt.\n"
    assert isinstance(source, Path)
    return (
        head + "# TODO(template): the URL below is the file this folder was made from; for CI and image builds,\n"
        "# upload it (e.g. a GitHub release asset) and put that https:// URL instead. The hash stays.\n"
        f"{digest}  {MODEL_DEST}  {source.as_uri()}\n"
    )


INTERACTOR_HANDLER = '''"""{title}: your model, as a CVAT interactor (clicks and an optional box → a mask).

`ModelHandler` is built once per Nuclio worker; `interact` answers each request with masks, best first, built
with `interactor_mask(...)`; the runtime checks them before CVAT sees them.
"""

from __future__ import annotations

import numpy as np

from cvat_function import InteractorMask, InteractorRequest, Labels, interactor_mask


class ModelHandler:
    color_order = "RGB"  # TODO(template): the layout interact receives: RGB, BGR (OpenCV) or GRAY

    def __init__(self, labels: Labels) -> None:
        pass  # TODO(template): load your model here (once per worker)

    def interact(self, image: np.ndarray, request: InteractorRequest) -> list[InteractorMask]:
        # TODO(template): segment the object the user clicked. This placeholder answers a disc around the
        # first positive click (or the box the user drew).
        height, width = image.shape[:2]
        bitmap = np.zeros((height, width), dtype=bool)
        if request.obj_bbox is not None:
            x1, y1, x2, y2 = (int(v) for v in request.obj_bbox)
            bitmap[y1 : y2 + 1, x1 : x2 + 1] = True
        else:
            x, y = request.pos_points[0]
            ys, xs = np.ogrid[:height, :width]
            bitmap = (xs - x) ** 2 + (ys - y) ** 2 <= max(4, min(width, height) // 10) ** 2
        return [interactor_mask(bitmap, confidence=1.0)]
'''

TRACKER_HANDLER = '''"""{title}: your model, as a CVAT tracker (a box on one frame → the box on the next ones).

`init_tracking` starts an object and returns its JSON state; `track` finds it on the next frame and returns
(the shape or None when lost, the new state). CVAT signs the states and sends them back with the next frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cvat_function import Labels, TrackedShape, tracked_rectangle


class ModelHandler:
    color_order = "RGB"  # TODO(template): the layout the methods receive: RGB, BGR (OpenCV) or GRAY

    def __init__(self, labels: Labels) -> None:
        pass  # TODO(template): load your model here (once per worker)

    def init_tracking(self, image: np.ndarray, shape: TrackedShape) -> dict[str, Any]:
        # TODO(template): what your tracker needs to find the object again, as plain JSON (keep it small)
        return {"box": list(shape.points)}

    def track(self, image: np.ndarray, state: dict[str, Any]) -> tuple[TrackedShape | None, dict[str, Any]]:
        # TODO(template): find the object on `image`. This placeholder keeps it where it was.
        return tracked_rectangle(state["box"]), state
'''

REID_HANDLER = '''"""{title}: your model, as a CVAT ReID function (boxes on two frames → which are the same object).

`match` answers, for each box of `request.boxes0`, an index into `request.boxes1` or -1, each index at most once.
"""

from __future__ import annotations

import numpy as np

from cvat_function import Labels, ReidRequest


class ModelHandler:
    color_order = "RGB"  # TODO(template): the layout match receives: RGB, BGR (OpenCV) or GRAY

    def __init__(self, labels: Labels) -> None:
        pass  # TODO(template): load your model here (once per worker)

    def match(self, image0: np.ndarray, image1: np.ndarray, request: ReidRequest) -> list[int]:
        # TODO(template): compare the boxes' appearance. This placeholder matches nothing.
        return [-1] * len(request.boxes0)
'''

CUSTOM_KINDS = {
    "detector": (
        CUSTOM_HANDLER,
        "",
        '    spec: |\n      [\n        { "id": 0, "name": "object", "type": "rectangle" }\n      ]',
    ),
    "interactor": (
        INTERACTOR_HANDLER,
        '    version: "2"                      # CVAT\'s UI disables interactors of any other version\n'
        '    min_pos_points: "1"               # positive clicks before CVAT calls the function (a box also counts)\n'
        '    min_neg_points: "0"               # negative clicks are accepted (-1 hides the negative-click tool)\n',
        '    spec: ""                          # interactors have no labels',
    ),
    "tracker": (
        TRACKER_HANDLER,
        '    supported_shape_types: "rectangle"   # CVAT >= 2.40 protocol: {type, points} shapes\n',
        '    spec: ""                          # trackers have no labels',
    ),
    "reid": (REID_HANDLER, "", '    spec: ""                          # ReID functions have no labels'),
}


def write_custom_function(
    folder: Path, *, name: str | None = None, force: bool = False, root: bool = False, kind: str = "detector"
) -> Written:
    """A skeleton of `kind` that runs as it is (a placeholder answer) and passes validate."""
    if kind not in CUSTOM_KINDS:
        raise ScaffoldError(f"--kind {kind!r} is not one of {', '.join(CUSTOM_KINDS)}")
    handler, annotations, spec = CUSTOM_KINDS[kind]
    function_name = slug(name or folder.resolve().name)
    handler_name = "test_model_handler.py" if root else f"test_{function_name.replace('-', '_')}.py"
    names = (
        "function.yaml",
        "function-gpu.yaml",
        "main.py",
        "model_handler.py",
        "weights.lock",
        "requirements.txt",
        handler_name,
    )
    targets = [folder / f for f in names]
    _check_free(targets, force)
    folder.mkdir(parents=True, exist_ok=True)
    common = {
        "name": function_name,
        "display": f"{function_name} (custom model)",
        "framework": "custom",
        "spec": spec,
        "spec_comment": 'TODO(template): your labels. Strict JSON; names must equal the task\'s label names; "id" '
        "maps class\n    # indices to names; the runtime reads this list from here."
        if kind == "detector"
        else f"a {kind} has no labels",
        "description": f"{function_name} custom {kind} v0.1.0",
        "what": f"{function_name}, a custom {kind}",
        "kind": kind,
        "annotations": annotations,
    }
    gpu = _yaml(gpu=True, **common).replace(
        f" {ONNXRUNTIME_GPU} && python /opt/nuclio/cvat_function/onnx/gpu_check.py", ""
    )
    files = {
        "function.yaml": _yaml(gpu=False, **common),
        "function-gpu.yaml": gpu,
        "main.py": MAIN_PY,
        "model_handler.py": handler.replace("{title}", function_name),
        "weights.lock": _weights_lock(None, PackageResource("your", "model")).replace(
            "# Empty: the model ships inside an installed package (package://your/model), see requirements.txt.\n", ""
        )
        + "# TODO(template): your model's files, e.g.\n"
        "# 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  weights/model.onnx  "
        "https://github.com/acme/models/releases/download/v1.2.0/model.onnx\n",
        "requirements.txt": CUSTOM_REQUIREMENTS,
        handler_name: TEST_FILE,
    }
    written = Written()
    for file_name, text in files.items():
        path = folder / file_name
        path.write_text(text, encoding="utf-8")
        written.files.append(path)
    return written
