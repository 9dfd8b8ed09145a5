"""What the ONNX path costs around onnxruntime: a whole request against `session.run` plus decoding, per task.

For each model (a real export, or a synthetic one per task made with `onnx_graphs.conv_model`: strided 3×3
convolutions over a 640×640 input, ~5.6 GFLOPs, a known number of detections), the same frame is sent through
the Nuclio path (wire event → main.handler → encoded response, in a function folder written by the scaffold),
and, in the same loop so that machine noise hits all alike, timed alone:

* `run`: `InferenceSession.run` on the prepared input;
* `image decode`: base64 + `cv2.imdecode` of the frame (the decode floor of `bench`);
* `letterbox` and `head decode`: the adapter's own pre- and post-processing.

`RATIO` = whole request / (run + image decode), target ≤ 1.1: what the function costs beyond running the model
on a decoded frame. It is taken per request with that request's own `run` (timed inside it), so that a slow
or fast run on a shared machine hits both sides alike; also shown from the separate medians and from the
fastest of each (`best`).
`framework ratio` = whole request / (run + image decode + letterbox + head decode): what
the runtime's parsing, checking and serialization add on top of the adapter.
"""

from __future__ import annotations

import base64
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .bench import sample_frame
from .scaffold import write_onnx_function
from .wire import LocalFunction, call, make_event, make_logger

RATIO_TARGET = 1.1
SYNTHETIC_TASKS = ("detect", "segment", "pose")
COCO_FIRST = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 4: "airplane", 5: "bus", 6: "train", 7: "truck"}


@dataclass
class OnnxBench:
    model: str
    task: str
    image: str
    repeats: int
    shapes: int
    request_ms: float
    run_ms: float
    image_decode_ms: float
    letterbox_ms: float
    head_decode_ms: float
    best_ms: dict[str, float]
    same_request_ratio: float
    """median over requests of request / (that request's own run + the image decode next to it)"""

    @property
    def best_ratio(self) -> float:
        """The ratio of the fastest of each: noise on a shared machine only ever adds time."""
        best = self.best_ms
        return best["request"] / (best["run"] + best["image_decode"])

    @property
    def ratio(self) -> float:
        return self.request_ms / (self.run_ms + self.image_decode_ms)

    @property
    def framework_ratio(self) -> float:
        return self.request_ms / (self.run_ms + self.image_decode_ms + self.letterbox_ms + self.head_decode_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ratio": self.ratio,
            "framework_ratio": self.framework_ratio,
            "best_ratio": self.best_ratio,
        }


SYNTHETIC_WIDTH = 64
"""Channels of the synthetic graphs' first full stage: ~5.6 GFLOPs at 640×640, the compute of the smallest real
exports (YOLO11n 6.5, YOLOv8n 8.7 GFLOPs), so the ratio is what a user's export sees. (Width 32: ~1.4 GFLOPs.)"""


def synthetic_models(folder: Path, tasks: tuple[str, ...] = SYNTHETIC_TASKS) -> list[Path]:
    """One conv graph per task (needs the `onnx` package: requirements-dev.txt)."""
    from .onnx_graphs import conv_model, write_model

    return [
        write_model(folder / f"conv-{task}.onnx", conv_model(task, COCO_FIRST, width=SYNTHETIC_WIDTH)) for task in tasks
    ]


def bench_model(model: Path | str, repeats: int = 20, frame: bytes | None = None) -> OnnxBench:
    data = frame or sample_frame(1280, 720)
    encoded = base64.b64encode(data).decode("ascii")
    body = json.dumps({"image": encoded, "threshold": 0.5}).encode()
    with tempfile.TemporaryDirectory() as tmp, open("/dev/null", "w") as sink:
        folder = Path(tmp) / "function"
        write_onnx_function(folder, model)
        local = LocalFunction(folder, make_logger(sink))
        adapter = local.context.user_data.model
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise ValueError("the benchmark frame cannot be decoded")
        pixels = decoded  # the adapter asks for BGR (color_order) and swaps while writing its input
        size = (pixels.shape[1], pixels.shape[0])
        blob, box = adapter.prepare(pixels)
        outputs = adapter.run(blob)
        request, run, image, prepare, decode, same = ([] for _ in range(6))
        own_runs: list[float] = []
        plain_run = adapter.run

        def timed_run(blob: np.ndarray) -> list[np.ndarray]:
            started = time.perf_counter()
            try:
                outputs: list[np.ndarray] = plain_run(blob)
                return outputs
            finally:
                own_runs.append(time.perf_counter() - started)

        shapes = 0
        for _ in range(repeats):
            adapter.run = timed_run  # the request's own run, so that a slow or fast run hits both sides alike
            started = time.perf_counter()
            answer = call(local.module.handler, local.context, make_event(body))
            request.append(time.perf_counter() - started)
            adapter.run = plain_run
            if answer.status != 200:
                raise RuntimeError(f"the function answered {answer.status}: {answer.text[:300]}")
            shapes = len(answer.json())
            started = time.perf_counter()
            adapter.run(blob)
            run.append(time.perf_counter() - started)
            started = time.perf_counter()
            cv2.imdecode(np.frombuffer(base64.b64decode(encoded), np.uint8), cv2.IMREAD_COLOR)
            image.append(time.perf_counter() - started)
            same.append(request[-1] / (own_runs[-1] + image[-1]))
            started = time.perf_counter()
            adapter.prepare(pixels)
            prepare.append(time.perf_counter() - started)
            started = time.perf_counter()
            adapter.decode(outputs, box, size, 0.5)
            decode.append(time.perf_counter() - started)

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    timings = {"request": request, "run": run, "image_decode": image, "letterbox": prepare, "head_decode": decode}

    return OnnxBench(
        model=str(model),
        task=adapter.export.task + (" end2end" if adapter.export.end2end else ""),
        image=f"{size[0]}x{size[1]} JPEG, {len(data)} bytes",
        repeats=repeats,
        shapes=shapes,
        request_ms=ms(request),
        run_ms=ms(run),
        image_decode_ms=ms(image),
        letterbox_ms=ms(prepare),
        head_decode_ms=ms(decode),
        best_ms={name: min(values) * 1000 for name, values in timings.items()},
        same_request_ratio=statistics.median(same),
    )


def format_onnx_bench(results: list[OnnxBench]) -> str:
    lines = ["ONNX path: whole request vs onnxruntime's run + image decode (medians, ms)"]
    lines.append(
        f"  {'task':<14} {'shapes':>6} {'request':>9} {'run':>9} {'img dec':>9} {'letterbox':>9} {'head dec':>9}"
        f" {'RATIO':>6} {'medians':>8} {'fw':>6} {'best':>6}"
    )
    for r in results:
        verdict = "ok" if r.same_request_ratio <= RATIO_TARGET else "OVER"
        lines.append(
            f"  {r.task:<14} {r.shapes:>6} {r.request_ms:>9.2f} {r.run_ms:>9.2f} {r.image_decode_ms:>9.2f}"
            f" {r.letterbox_ms:>9.2f} {r.head_decode_ms:>9.2f} {r.same_request_ratio:>6.3f} {r.ratio:>8.3f}"
            f" {r.framework_ratio:>6.3f} {r.best_ratio:>6.3f}  {verdict}"
        )
    if results:
        lines.append(f"  frame: {results[0].image}; {results[0].repeats} requests each; ratio target <= {RATIO_TARGET}")
        lines.append(
            "  RATIO: median of request / (its own run + image decode); medians: of the separate medians; fw: with "
            "letterbox and head decode in the denominator; best: of the fastest of each"
        )
    return "\n".join(lines)
