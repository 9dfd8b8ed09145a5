"""`annotate --bench N`: offline throughput on generated 1920×1080 JPEGs, against CVAT's one request at a time.

Four ways over the same N files (the function's own model, default threshold):
* annotate in-process — reader threads decode ahead while the model runs (`LocalRunner`); `busy` is the
  share of wall time spent inside `infer`;
* in-process, no overlap — read, decode, infer one after the other in one thread (what the readers save);
* one request at a time through the Nuclio wire path — base64 + JSON body, `nuclio_sdk` event decoding,
  the handler, response encoding, JSON parsing (`wire.LocalFunction`), as CVAT's auto-annotation calls it;
* one request at a time over HTTP to `serve` (`--url` with `--concurrency 1`), and with as many in flight
  as the function has workers.
"""

from __future__ import annotations

import base64
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ..core.config import load_settings
from ..core.runtime import ENV_INVALID_SHAPES
from ..sdk.loader import load_folder
from .annotate import Journal, LocalRunner, RemoteRunner, Source, annotate, collect_sources, journal_path
from .bench_server import full_hd_jpeg
from .serve_process import ServeProcess
from .wire import LocalFunction, make_logger


def _annotate(sources: list[Source], runner: LocalRunner | RemoteRunner, labels: Any, folder: Path) -> Any:
    out = folder / f"bench-{time.monotonic_ns()}.zip"
    journal = Journal(journal_path(out), {"bench": True}).open(restart=True)
    summary = annotate(sources, runner, labels, out, "cvat", journal)
    if summary.failures:
        raise RuntimeError(f"bench images failed: {summary.failures[:3]}")
    return summary


def run_annotate_bench(
    function_dir: str | Path = ".", images: int = 60, readers: int = 2, serve: bool = True
) -> dict[str, float]:
    folder = Path(function_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="cvat-annotate-bench-") as tmp:
        root = Path(tmp)
        data_dir = root / "images"
        data_dir.mkdir()
        for i in range(images):
            (data_dir / f"frame_{i:04d}.jpg").write_bytes(full_hd_jpeg(seed=i))
        sources = collect_sources([data_dir])
        function = load_folder(folder, invalid_shapes="error")
        labels = function.config.labels
        result: dict[str, float] = {"images": float(images), "readers": float(readers)}

        piped = _annotate(sources, LocalRunner(function, None, readers=readers), labels, root)
        result["inprocess_images_per_s"] = piped.rate
        result["inprocess_busy_pct"] = piped.busy_share * 100

        started = time.perf_counter()
        busy = 0.0
        for source in sources:
            image = function.decode(source.path.read_bytes())
            t0 = time.perf_counter()
            function.call_model("infer", image, function.settings.default_threshold)
            busy += time.perf_counter() - t0
        wall = time.perf_counter() - started
        result["sequential_images_per_s"] = images / wall
        result["sequential_busy_pct"] = busy / wall * 100

        local = LocalFunction(folder, make_logger(level=logging.ERROR))
        latencies = []
        started = time.perf_counter()
        for source in sources:
            t0 = time.perf_counter()
            body = json.dumps({"image": base64.b64encode(source.path.read_bytes()).decode("ascii")})
            answer = local.request(body)
            if answer.status != 200:
                raise RuntimeError(f"the function answered {answer.status}: {answer.body[:200]!r}")
            json.loads(answer.body)
            latencies.append(time.perf_counter() - t0)
        result["wire_one_at_a_time_images_per_s"] = images / (time.perf_counter() - started)
        result["wire_median_ms"] = statistics.median(latencies) * 1000

        if serve:
            workers = load_settings(folder / "function.yaml").num_workers
            args = ["--only", str(folder), "--quiet"]
            env_note = {ENV_INVALID_SHAPES: "error"}
            with ServeProcess(folder, args, log_path=root / "serve.log", env=_env(env_note)) as server:
                server.wait_ready()
                for concurrency in sorted({1, workers}):
                    runner = RemoteRunner(server.url(), labels, None, concurrency=concurrency)
                    summary = _annotate(sources, runner, labels, root)
                    result[f"http_concurrency_{concurrency}_images_per_s"] = summary.rate
            result["serve_workers"] = float(workers)
    return result


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


def format_annotate_bench(result: dict[str, float]) -> str:
    n = int(result["images"])
    lines = [
        f"annotate --bench: {n} generated 1920×1080 JPEGs, default threshold",
        f"  in-process, {int(result['readers'])} reader threads: {result['inprocess_images_per_s']:.2f} images/s, "
        f"model busy {result['inprocess_busy_pct']:.0f} % of the wall time",
        f"  in-process, no overlap:         {result['sequential_images_per_s']:.2f} images/s, "
        f"model busy {result['sequential_busy_pct']:.0f} %",
        f"  one request at a time (wire):   {result['wire_one_at_a_time_images_per_s']:.2f} images/s "
        f"(median {result['wire_median_ms']:.0f} ms per request)",
    ]
    for key, value in sorted(result.items()):
        if key.startswith("http_concurrency_"):
            concurrency = key.removeprefix("http_concurrency_").removesuffix("_images_per_s")
            lines.append(f"  HTTP to serve, {concurrency} in flight:    {value:.2f} images/s")
    return "\n".join(lines)
