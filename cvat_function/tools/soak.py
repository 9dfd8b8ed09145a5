"""Soak test: many concurrent CVAT requests against a function; errors, latency and memory growth.

Without a URL it starts `serve` for the given function folder itself and measures the resident memory of
the server and its worker processes (from /proc) after a warm-up and at the end: a leak shows as growth.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..core.config import load_function_config
from ..core.image import image_size
from .answer_checks import synthetic_request
from .bench import sample_frame
from .http_client import Client
from .lint import sample_images
from .serve_process import ServeProcess, rss_bytes


def default_image(function_dir: Path) -> bytes:
    """The first sample image in the function folder's or the current directory's assets/, else a generated
    640×480 JPEG: nothing is looked up beside the installed package."""
    samples = sample_images(function_dir, Path.cwd())
    return samples[0].read_bytes() if samples else sample_frame(640, 480)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def _fire(url: str, body: bytes, count: int, concurrency: int, timeout: float) -> tuple[list[float], Counter[str]]:
    """`count` POSTs over `concurrency` keep-alive connections; latencies (s) and error types."""
    local = threading.local()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    headers = {"Content-Type": "application/json"}

    def one(_: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Client(url, timeout)
        started = time.perf_counter()
        try:
            answer = client.request("POST", body, headers)
            problem = None if answer.status == 200 else f"HTTP {answer.status}"
            if problem is None:
                json.loads(answer.body)
        except (OSError, ValueError) as e:
            problem = type(e).__name__
        elapsed = time.perf_counter() - started
        with lock:
            if problem:
                errors[problem] += 1
            else:
                latencies.append(elapsed)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    return latencies, errors


def run_soak(
    url: str | None = None,
    *,
    requests: int = 10_000,
    concurrency: int = 8,
    function_dir: str | Path = ".",
    image: str | Path | None = None,
    kind: str | None = None,
    warmup: int | None = None,
    workers: int | None = None,
    timeout: float = 130.0,
    log_path: str | Path | None = None,
) -> dict[str, Any]:
    """Run the soak; returns the figures (see `format_soak`)."""
    folder = Path(function_dir)
    data = Path(image).read_bytes() if image else default_image(folder)
    if kind is None:
        kind = load_function_config(folder / "function.yaml").kind
    body = json.dumps(synthetic_request(kind, data, image_size(data))).encode()
    warmup = warmup if warmup is not None else max(concurrency * 4, min(200, requests // 20))
    serve: ServeProcess | None = None
    with tempfile.TemporaryDirectory(prefix="cvat-soak-") as tmp:
        if url is None:
            args = ["--only", str(folder.resolve()), "--quiet"] + (["--workers", str(workers)] if workers else [])
            serve = ServeProcess(folder, args, log_path=log_path or Path(tmp) / "serve.log").start()
        try:
            if serve is not None:
                serve.wait_ready(120)
                url = serve.url()
            assert url is not None
            _, warm_errors = _fire(url, body, warmup, concurrency, timeout)
            rss_start = rss_bytes(serve.pids()) if serve else 0
            started = time.perf_counter()
            latencies, errors = _fire(url, body, requests, concurrency, timeout)
            wall = time.perf_counter() - started
            rss_end = rss_bytes(serve.pids()) if serve else 0
            processes = len(serve.pids()) if serve else 0
        finally:
            if serve is not None:
                serve.stop()
    return {
        "url": url,
        "kind": kind,
        "requests": requests,
        "concurrency": concurrency,
        "warmup": warmup,
        "warmup_errors": sum(warm_errors.values()),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p95_ms": _percentile(latencies, 0.95) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "mean_ms": (statistics.fmean(latencies) * 1000) if latencies else float("nan"),
        "wall_s": wall,
        "throughput_rps": requests / wall if wall else 0.0,
        "processes": processes,
        "rss_start_mb": rss_start / 2**20,
        "rss_end_mb": rss_end / 2**20,
        "rss_growth_pct": ((rss_end - rss_start) / rss_start * 100) if rss_start else float("nan"),
    }


def format_soak(result: dict[str, Any]) -> str:
    lines = [
        f"soak: {result['requests']} {result['kind']} request(s), concurrency {result['concurrency']}, "
        f"after {result['warmup']} warm-up request(s) → {result['url']}",
        f"  errors      {result['errors']}" + (f"  {result['error_kinds']}" if result["errors"] else "  (target 0)"),
        f"  latency     p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms",
        f"  throughput  {result['throughput_rps']:.1f} requests/s over {result['wall_s']:.1f} s",
    ]
    if result["rss_start_mb"]:
        lines.append(
            f"  memory      {result['rss_start_mb']:.1f} MiB → {result['rss_end_mb']:.1f} MiB RSS "
            f"({result['rss_growth_pct']:+.1f} %, server + {result['processes'] - 1} worker(s); target < 10 %)"
        )
    else:
        lines.append("  memory      not measured (--url: the server is not this machine's child)")
    return "\n".join(lines)
