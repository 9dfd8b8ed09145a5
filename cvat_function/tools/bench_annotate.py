"""`annotate --bench N`: offline throughput on generated 1920×1080 JPEGs, against CVAT's one request at a time.

The same N files go through each way of running the function, in alternating blocks of a few images (the
order of the ways rotating from block to block), so that drift on a shared machine hits every way alike (the
model's own speed varies between runs by more than some of the differences measured here):

* in-process, 1 model — reader threads decode ahead while the model runs (`annotate`'s `LocalRunner`);
  `busy` is the share of wall time the model spent inside `infer`;
* in-process, numWorkers worker processes, each with its own model (function.yaml's `numWorkers`, as Nuclio
  runs the deployed function; started before the first block);
* in-process, no overlap — read, decode, infer one after the other in one thread;
* one request at a time through the Nuclio wire path — base64 + JSON body, `nuclio_sdk` event decoding, the
  handler, response encoding, JSON parsing (`wire.LocalFunction`) — as CVAT's automatic annotation calls a
  function: one frame after the other;
* over HTTP to `serve` (`annotate --url`), 1 and numWorkers requests in flight.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.config import load_nuclio_settings
from ..core.runtime import ENV_INVALID_SHAPES
from ..sdk.loader import load_folder
from .annotate import LocalRunner, ProcessRunner, RemoteRunner, Source, collect_sources
from .bench_server import full_hd_jpeg
from .serve_process import ServeProcess
from .wire import LocalFunction, make_logger

BLOCK_PER_WORKER = 2
"""Images per block and worker: a block is a whole number of rounds for every way, so no worker idles at its end."""

Way = Callable[[Sequence[Source]], float]
"""Runs one block; returns the seconds spent in the model (or in requests)."""


def _runner_way(runner: LocalRunner | ProcessRunner | RemoteRunner) -> Way:
    def run(block: Sequence[Source]) -> float:
        busy = 0.0
        for outcome in runner.run(block):
            if outcome.error:
                raise RuntimeError(f"{outcome.source.name}: {outcome.error}")
            busy += outcome.busy
        return busy

    return run


def run_annotate_bench(
    function_dir: str | Path = ".",
    images: int = 32,
    readers: int = 2,
    workers: int | None = None,
    serve: bool = True,
) -> dict[str, float]:
    folder = Path(function_dir).resolve()
    workers = workers or load_nuclio_settings(folder / "function.yaml").num_workers
    wall: dict[str, float] = defaultdict(float)
    busy: dict[str, float] = defaultdict(float)
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cvat-annotate-bench-") as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        for i in range(images):
            (root / "images" / f"frame_{i:04d}.jpg").write_bytes(full_hd_jpeg(seed=i))
        sources = collect_sources([root / "images"])
        model = load_folder(folder, invalid_shapes="error")
        labels = model.config.labels

        def sequential(block: Sequence[Source]) -> float:
            spent = 0.0
            for source in block:
                image = model.decode(source.path.read_bytes())
                started = time.perf_counter()
                model.call_model("infer", image, model.settings.default_threshold)
                spent += time.perf_counter() - started
            return spent

        local = LocalFunction(folder, make_logger(level=logging.ERROR))

        def wire(block: Sequence[Source]) -> float:
            for source in block:
                started = time.perf_counter()
                body = json.dumps({"image": base64.b64encode(source.path.read_bytes()).decode("ascii")})
                answer = local.request(body)
                if answer.status != 200:
                    raise RuntimeError(f"the function answered {answer.status}: {answer.body[:200]!r}")
                json.loads(answer.body)
                latencies.append(time.perf_counter() - started)
            return 0.0

        ways: dict[str, Way] = {
            "inprocess_1": _runner_way(LocalRunner(model, None, readers=readers)),
            "sequential": sequential,
            "wire_one_at_a_time": wire,
        }
        processes = None
        if workers > 1:
            processes = ProcessRunner(folder, None, workers=workers)
            list(processes.run(sources[: 2 * workers]))  # start and warm the processes outside the measurement
            ways[f"inprocess_{workers}"] = _runner_way(processes)
        server = None
        if serve:
            env = {**os.environ, ENV_INVALID_SHAPES: "error"}
            server = ServeProcess(folder, ["--only", str(folder), "--quiet"], log_path=root / "serve.log", env=env)
            server.start()
            server.wait_ready()
            for concurrency in sorted({1, workers}):
                ways[f"http_{concurrency}"] = _runner_way(
                    RemoteRunner(server.url(), labels, None, concurrency=concurrency)
                )
        block_size = BLOCK_PER_WORKER * max(1, workers)
        try:
            order = list(ways.items())
            for round_index, start in enumerate(range(0, images, block_size)):
                block = sources[start : start + block_size]
                shift = round_index % len(order)  # each way takes every place in the order in turn
                for name, way in order[shift:] + order[:shift]:
                    started = time.perf_counter()
                    busy[name] += way(block)
                    wall[name] += time.perf_counter() - started
        finally:
            if processes is not None:
                processes.close()
            if server is not None:
                server.stop()
    result: dict[str, float] = {
        "images": float(images),
        "readers": float(readers),
        "workers": float(workers),
        "block": float(block_size),
    }
    for name in ways:
        result[f"{name}_images_per_s"] = images / wall[name]
    result["inprocess_1_busy_pct"] = busy["inprocess_1"] / wall["inprocess_1"] * 100
    result["sequential_busy_pct"] = busy["sequential"] / wall["sequential"] * 100
    if workers > 1:
        result[f"inprocess_{workers}_busy_pct"] = (
            busy[f"inprocess_{workers}"] / wall[f"inprocess_{workers}"] / workers * 100
        )
    result["wire_median_ms"] = statistics.median(latencies) * 1000
    return result


def format_annotate_bench(result: dict[str, float]) -> str:
    n, workers = int(result["images"]), int(result["workers"])
    baseline = result["wire_one_at_a_time_images_per_s"]

    def row(label: str, key: str, busy: str | None = None) -> str:
        rate = result[f"{key}_images_per_s"]
        text = f"  {label:<44} {rate:6.2f} images/s  {rate / baseline:4.2f}×"
        if busy:
            text += f"  model busy {result[busy]:.0f} %"
        return text

    lines = [
        f"annotate --bench: {n} generated 1920×1080 JPEGs, default threshold, blocks of {int(result['block'])} "
        "interleaved",
        row("one request at a time (Nuclio wire path)", "wire_one_at_a_time")
        + f"  (median {result['wire_median_ms']:.0f} ms a request)",
        row("in-process, no overlap", "sequential", "sequential_busy_pct"),
        row(f"in-process, 1 model, {int(result['readers'])} reader threads", "inprocess_1", "inprocess_1_busy_pct"),
    ]
    if workers > 1:
        lines.append(
            row(f"in-process, {workers} worker processes", f"inprocess_{workers}", f"inprocess_{workers}_busy_pct")
        )
    for concurrency in sorted({1, workers}):
        key = f"http_{concurrency}"
        if f"{key}_images_per_s" in result:
            lines.append(row(f"HTTP to serve, {concurrency} in flight", key))
    return "\n".join(lines)
