"""`soak` and the server benchmark, run small."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from cvat_function.tools.bench_server import format_server_bench, full_hd_jpeg, run_server_bench
from cvat_function.tools.serve_process import ServeProcess
from cvat_function.tools.soak import format_soak, run_soak

REPO = Path(__file__).resolve().parents[2]

ECHO_MAIN = textwrap.dedent(
    """
    import json

    def handler(context, event):
        return context.Response(body=json.dumps([]), content_type="application/json", status_code=200)
    """
)
ECHO_YAML = """\
metadata:
  name: soak-echo
  annotations:
    type: "detector"
    spec: '[{"name": "thing"}]'
spec:
  description: "answers []"
  runtime: "python:3.12"
  handler: main:handler
  triggers:
    http:
      kind: http
      numWorkers: 2
"""


@pytest.fixture
def small_image(tmp_path) -> Path:
    path = tmp_path / "small.png"
    rng = np.random.default_rng(1)
    cv2.imwrite(str(path), rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    return path


@pytest.mark.slow
def test_soak_200_requests_has_no_error_and_measures_memory(tmp_path, small_image):
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "main.py").write_text(ECHO_MAIN)
    (folder / "function.yaml").write_text(ECHO_YAML)
    result = run_soak(requests=200, concurrency=8, function_dir=folder, image=small_image)
    assert result["errors"] == 0, result["error_kinds"]
    assert result["warmup_errors"] == 0
    assert result["processes"] == 3  # serve + numWorkers=2
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["rss_start_mb"] > 10
    assert math.isfinite(result["rss_growth_pct"])
    assert result["rss_growth_pct"] < 10
    text = format_soak(result)
    assert "errors      0  (target 0)" in text
    assert "server + 2 worker(s)" in text


@pytest.mark.slow
def test_soak_cli_against_a_url_on_the_root_function(tmp_path, small_image):
    with ServeProcess(REPO, ["--only", str(REPO), "--workers", "2", "--quiet"], log_path=tmp_path / "s.log") as serve:
        serve.wait_ready(60)
        result = subprocess.run(
            [sys.executable, "-m", "cvat_function", "soak", "--url", serve.url(), "--requests", "30",
             "--concurrency", "4", "--warmup", "4", "--image", str(small_image)],
            capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "soak: 30 detector request(s), concurrency 4" in result.stdout
    assert "memory      not measured" in result.stdout


def test_the_benchmark_image_is_a_full_hd_jpeg():
    data = full_hd_jpeg()
    assert data[:3] == b"\xff\xd8\xff"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (1080, 1920, 3)


@pytest.mark.slow
def test_server_bench_compares_direct_and_served_answers():
    result = run_server_bench(REPO, requests=2, warmup=1)
    assert result["requests"] == 2
    assert result["direct_median_ms"] > 0
    assert result["served_median_ms"] > 0
    assert "target <= 5 %" in format_server_bench(result)
