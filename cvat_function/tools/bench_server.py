"""What `serve` adds per request: the handler called directly vs. through the local server.

Both paths get the same request (a 1920×1080 JPEG generated with OpenCV, CVAT's detector request),
sequentially, in alternating blocks of a few requests so that drift hits both alike:

* direct — `wire.LocalFunction`: nuclio_sdk event decoding + handler + response encoding, in-process;
* served — `serve` with numWorkers=2: HTTP to the function port, the pipe to a worker process, and back.

    python -m cvat_function.tools.bench_server [--requests 30] [--function .]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from ..core.config import load_function_config
from ..core.runtime import ENV_INVALID_SHAPES
from .answer_checks import synthetic_request
from .http_client import Client
from .serve_process import ServeProcess
from .wire import LocalFunction, make_logger

BLOCK = 5


def full_hd_jpeg(seed: int = 0) -> bytes:
    """A 1920×1080 JPEG with gradients, shapes and text, generated with OpenCV (no asset needed)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, 1920, dtype=np.float32)
    y = np.linspace(0, 255, 1080, dtype=np.float32)[:, None]
    image = np.stack([np.broadcast_to(x, (1080, 1920)), np.broadcast_to(y, (1080, 1920)), (x + y) / 2], axis=-1)
    image = np.ascontiguousarray(image.astype(np.uint8))
    for _ in range(40):
        center = (int(rng.integers(0, 1920)), int(rng.integers(0, 1080)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(image, center, int(rng.integers(10, 120)), color, -1)
    cv2.putText(image, "cvat-function bench", (80, 540), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("OpenCV could not encode the benchmark JPEG")
    return encoded.tobytes()


NOOP_YAML = """\
metadata:
  name: bench-noop
  annotations: {type: detector, spec: "[]"}
spec:
  description: answers [] without looking at the request
  runtime: "python:3.12"
  handler: main:handler
  triggers:
    http: {kind: http, numWorkers: 2, attributes: {maxRequestBodySize: 33554432}}
"""
NOOP_MAIN = """\
def handler(context, event):
    return context.Response(body="[]", content_type="application/json", status_code=200)
"""


def _measure(folder: Path, body: bytes, requests: int, warmup: int) -> tuple[list[float], list[float]]:
    """Seconds per request for `folder`: direct (in-process) and through `serve` at numWorkers=2."""
    direct: list[float] = []
    served: list[float] = []
    local = LocalFunction(folder, make_logger(open(os.devnull, "w")))  # noqa: SIM115
    with tempfile.TemporaryDirectory(prefix="cvat-bench-") as tmp:
        args = ["--only", str(folder), "--workers", "2", "--quiet"]
        with ServeProcess(folder, args, log_path=Path(tmp) / "serve.log") as serve:
            serve.wait_ready(120)
            with Client(serve.url(), 130) as client:
                headers = {"Content-Type": "application/json"}

                def call_direct() -> bytes:
                    answer = local.request(body, "application/json")
                    return answer.body if answer.status == 200 else f"HTTP {answer.status}".encode()

                def call_served() -> bytes:
                    answer = client.request("POST", body, headers)
                    return answer.body if answer.status == 200 else f"HTTP {answer.status}".encode()

                answers = {call_direct(), call_served()}
                for _ in range(warmup):
                    answers |= {call_direct(), call_served()}
                if len(answers) != 1:
                    raise RuntimeError(f"direct and served answers differ: {sorted(answers)[:2]}")
                # alternating blocks (not single requests): each path runs a few requests in a row, as a
                # user's sequential calls would, while drift over time still hits both paths alike
                while len(served) < requests:
                    block = min(BLOCK, requests - len(served))
                    for calls, times in ((call_direct, direct), (call_served, served)):
                        for _ in range(block):
                            started = time.perf_counter()
                            if calls() not in answers:
                                raise RuntimeError("an answer changed between identical requests")
                            times.append(time.perf_counter() - started)
    return direct, served


def run_server_bench(function_dir: str | Path = ".", requests: int = 30, warmup: int = 3) -> dict[str, float]:
    """Milliseconds per request, direct vs. served (numWorkers=2), for the function and for a no-op one.

    `added_median_ms` = served median − direct median for the function (the model's run-to-run variance is
    in it); `serve_cost_ms` = the same difference for a handler that does nothing with the same body: what
    `serve` itself adds (HTTP, the pipe to the worker, event decoding), and `serve_cost_pct` that cost
    relative to the function's direct median.
    """
    folder = Path(function_dir).resolve()
    config = load_function_config(folder / "function.yaml")
    image = full_hd_jpeg()
    body = json.dumps(synthetic_request(config.kind, image, (1920, 1080))).encode()
    saved = os.environ.get(ENV_INVALID_SHAPES)
    os.environ[ENV_INVALID_SHAPES] = "error"
    try:
        direct, served = _measure(folder, body, requests, warmup)
        with tempfile.TemporaryDirectory(prefix="cvat-bench-noop-") as noop:
            (Path(noop) / "function.yaml").write_text(NOOP_YAML)
            (Path(noop) / "main.py").write_text(NOOP_MAIN)
            noop_direct, noop_served = _measure(Path(noop), body, max(requests, 30), warmup)
    finally:
        if saved is None:
            os.environ.pop(ENV_INVALID_SHAPES, None)
        else:
            os.environ[ENV_INVALID_SHAPES] = saved
    direct_median, served_median = statistics.median(direct) * 1000, statistics.median(served) * 1000
    serve_cost = (statistics.median(noop_served) - statistics.median(noop_direct)) * 1000
    return {
        "requests": float(requests),
        "image_bytes": float(len(image)),
        "body_bytes": float(len(body)),
        "direct_median_ms": direct_median,
        "direct_mean_ms": statistics.fmean(direct) * 1000,
        "served_median_ms": served_median,
        "served_mean_ms": statistics.fmean(served) * 1000,
        "added_median_ms": served_median - direct_median,
        "added_pct": (served_median - direct_median) / direct_median * 100,
        "serve_cost_ms": serve_cost,
        "serve_cost_pct": serve_cost / direct_median * 100,
    }


def format_server_bench(result: dict[str, float]) -> str:
    return "\n".join(
        [
            f"serve overhead: {int(result['requests'])} sequential request(s), 1920x1080 JPEG "
            f"({result['image_bytes'] / 1024:.0f} KiB, body {result['body_bytes'] / 1024:.0f} KiB), numWorkers=2",
            f"  direct (wire.LocalFunction)  median {result['direct_median_ms']:.1f} ms, "
            f"mean {result['direct_mean_ms']:.1f} ms",
            f"  through serve (HTTP)         median {result['served_median_ms']:.1f} ms, "
            f"mean {result['served_mean_ms']:.1f} ms",
            f"  difference of the medians    {result['added_median_ms']:+.1f} ms, {result['added_pct']:+.1f} % "
            "(includes the model's run-to-run variance)",
            f"  serve's own cost             {result['serve_cost_ms']:+.1f} ms per request (same body, no-op handler), "
            f"{result['serve_cost_pct']:+.1f} % of the median (target <= 5 %)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cvat_function.tools.bench_server", description=__doc__)
    parser.add_argument("--function", type=Path, default=Path("."), help="function folder (default .)")
    parser.add_argument("--requests", type=int, default=30, help="measured requests per path (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured requests first (default 3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run_server_bench(args.function, args.requests, args.warmup)
    print(json.dumps(result, indent=2) if args.json else format_server_bench(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
