"""`bench --onnx`: the figures it reports, on graphs small enough for a test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from cvat_function.__main__ import main as cli
from cvat_function.tools.bench_onnx import bench_model, format_onnx_bench
from cvat_function.tools.onnx_graphs import (
    constant_model,
    conv_model,
    detection_head,
    ultralytics_metadata,
    write_model,
)


@pytest.mark.parametrize(("task", "channels"), [("detect", 4 + 3), ("segment", 4 + 3 + 32), ("pose", 4 + 3 + 51)])
def test_the_conv_graphs_have_the_exports_layout_and_their_planned_detections(task: str, channels: int, tmp_path):
    path = write_model(tmp_path / "m.onnx", conv_model(task, {0: "a", 1: "b", 2: "c"}, size=320, detections=4))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"images": np.random.default_rng(0).random((1, 3, 320, 320), np.float32)})
    assert outputs[0].shape == (1, channels, 40 * 40 + 20 * 20 + 10 * 10)
    assert int((outputs[0][0, 4] > 0.5).sum()) == 4  # the convolutions only nudge the planned scores
    if task == "segment":
        assert outputs[1].shape == (1, 32, 80, 80)
    metadata = session.get_modelmeta().custom_metadata_map
    assert (metadata["task"], metadata["imgsz"]) == (task, "[320, 320]")


def test_bench_model_reports_every_figure_and_the_cli_writes_them(tmp_path: Path, capsys) -> None:
    model = write_model(
        tmp_path / "m.onnx",
        constant_model([detection_head([(320, 320, 100, 100, 0.9)])], ultralytics_metadata("detect", {0: "a"})),
    )
    result = bench_model(model, repeats=3)
    assert (result.task, result.shapes, result.repeats) == ("detect", 1, 3)
    for value in (result.request_ms, result.run_ms, result.image_decode_ms, result.letterbox_ms, result.head_decode_ms):
        assert value > 0
    assert result.request_ms > result.run_ms  # the request runs the model and more
    assert result.same_request_ratio > 1.0
    assert "detect" in format_onnx_bench([result])
    out = tmp_path / "bench.json"
    assert cli(["bench", "--onnx", str(model), "--repeats", "2", "--json", str(out)]) == 0
    assert "ONNX path: whole request vs onnxruntime's run + image decode" in capsys.readouterr().out
    (figures,) = json.loads(out.read_text())["onnx"]
    assert set(figures) >= {"request_ms", "run_ms", "same_request_ratio", "best_ms", "ratio", "framework_ratio"}
