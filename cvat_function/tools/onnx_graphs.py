"""ONNX graphs shaped like Ultralytics exports, built with `onnx.helper` (tests, the bench, the scaffold's demo).

Two kinds, both with the metadata Ultralytics writes (every value a string: `names` a Python dict literal,
`imgsz` and `kpt_shape` list literals, `end2end` "True"/"False", `args` a dict literal, `license`):

* `constant_model`: each output is a known constant added to 0 × mean(input), so it depends on the input and
  has the export's shape, and a test knows exactly what must come out of it;
* `conv_model`: a small backbone of strided 3×3 convolutions over a 640×640 input and 1×1 heads at strides 8,
  16 and 32 (8400 candidates at 640, like YOLOv8's), whose scores are fixed so that a known number of
  candidates pass: compute comparable to a small detector, for timing the path around onnxruntime.

Needs the `onnx` package (requirements-dev.txt): developer tooling, never imported by a function image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # onnxruntime >= 1.14 runs it
IR_VERSION = 8  # the IR of opset 17
LICENSE = "AGPL-3.0 License (https://ultralytics.com/license)"


def ultralytics_metadata(
    task: str,
    names: Mapping[int, str] | None,
    imgsz: Sequence[int] | None = (640, 640),
    *,
    kpt_shape: tuple[int, int] | None = None,
    end2end: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The metadata map of an Ultralytics ONNX export, as its exporter writes it (str() of each value)."""
    entries = {
        "description": f"Ultralytics YOLO11n-{task} model",
        "author": "Ultralytics",
        "version": "8.3.0",
        "license": LICENSE,
        "docs": "https://docs.ultralytics.com",
        "stride": "32",
        "task": task,
        "batch": "1",
        "args": str({"batch": 1, "half": False, "dynamic": False, "nms": False}),
        "channels": "3",
        "end2end": str(end2end),
    }
    if imgsz is not None:
        entries["imgsz"] = str(list(imgsz))
    if names is not None:
        entries["names"] = str(dict(names))
    if kpt_shape is not None:
        entries["kpt_shape"] = str(list(kpt_shape))
    entries.update(extra or {})
    return entries


def detection_head(rows: Sequence[Sequence[float]], *, transposed: bool = False) -> np.ndarray:
    """Candidate rows (cx, cy, w, h, scores…, extras…) → `[1, C, N]` (Ultralytics' layout) or `[1, N, C]`."""
    array = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    head: np.ndarray = array[np.newaxis].copy() if transposed else array.T[np.newaxis].copy()
    return head


def end2end_head(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """End-to-end rows (x1, y1, x2, y2, score, class, extras…) → `[1, N, 6 + …]`."""
    return np.asarray(rows, dtype=np.float32).reshape(1, len(rows), -1)


def _finish(graph: onnx.GraphProto, metadata: Mapping[str, str]) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pytorch")
    model.ir_version = IR_VERSION
    helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model)
    return model


def constant_model(
    outputs: Sequence[np.ndarray],
    metadata: Mapping[str, str],
    *,
    input_shape: Sequence[int | str] = (1, 3, 640, 640),
    input_type: int = TensorProto.FLOAT,
) -> onnx.ModelProto:
    """`images → output0, output1… = constant + 0 × mean(images)`; a `str` in `input_shape` is dynamic."""
    zero = numpy_helper.from_array(np.zeros((), dtype=np.float32), "zero")
    nodes = [helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0)]
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["mean"], ["mean32"], to=TensorProto.FLOAT))
    source = "mean" if input_type == TensorProto.FLOAT else "mean32"
    nodes.append(helper.make_node("Mul", [source, "zero"], ["nothing"]))
    initializers = [zero]
    outs = []
    for i, value in enumerate(outputs):
        constant = numpy_helper.from_array(np.asarray(value, dtype=np.float32), f"head{i}")
        initializers.append(constant)
        nodes.append(helper.make_node("Add", [f"head{i}", "nothing"], [f"output{i}"]))
        outs.append(helper.make_tensor_value_info(f"output{i}", TensorProto.FLOAT, list(constant.dims)))
    graph = helper.make_graph(
        nodes,
        "ultralytics-shaped-constant",
        [helper.make_tensor_value_info("images", input_type, list(input_shape))],
        outs,
        initializer=initializers,
    )
    return _finish(graph, metadata)


def conv_model(
    task: str,
    names: Mapping[int, str],
    *,
    size: int = 640,
    kpt_shape: tuple[int, int] = (17, 3),
    protos: int = 32,
    detections: int = 10,
    width: int = 32,
    seed: int = 0,
) -> onnx.ModelProto:
    """A detect/segment/pose export with real convolutions: a stem of strided 3×3 convs (stride 2 … 32,
    `width`… channels, ReLU), 1×1 heads at strides 8/16/32 concatenated to `[1, 4 + nc + extra, N]`, and for
    segment 32 prototype planes at stride 4. The head's output is a constant (boxes on a grid, `detections`
    candidates scoring 0.9, the others 0.01) plus 0.001 × the conv features, so the work is real and the answer
    known. At size 640 with width 32: ~1.4 GFLOPs (YOLO11n: 6.5)."""
    rng = np.random.default_rng(seed)
    nc = max(names) + 1
    extra = {"detect": 0, "segment": protos, "pose": kpt_shape[0] * kpt_shape[1]}[task]
    channels_out = 4 + nc + extra
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []

    def conv(source: str, target: str, c_in: int, c_out: int, kernel: int, stride: int, relu: bool = True) -> None:
        weight = (rng.standard_normal((c_out, c_in, kernel, kernel)) * (2.0 / (c_in * kernel * kernel)) ** 0.5).astype(
            np.float32
        )
        initializers.append(numpy_helper.from_array(weight, f"{target}_w"))
        initializers.append(numpy_helper.from_array(np.zeros(c_out, np.float32), f"{target}_b"))
        pad = kernel // 2
        out = f"{target}_pre" if relu else target
        nodes.append(
            helper.make_node(
                "Conv", [source, f"{target}_w", f"{target}_b"], [out], strides=[stride] * 2, pads=[pad] * 4
            )
        )
        if relu:
            nodes.append(helper.make_node("Relu", [out], [target]))

    widths = [width // 2, width, width * 2, width * 4, width * 8]
    previous, c_prev = "images", 3
    for level, c in enumerate(widths, start=1):  # strides 2, 4, 8, 16, 32
        conv(previous, f"s{level}", c_prev, c, 3, 2)
        conv(f"s{level}", f"s{level}b", c, c, 3, 1)
        previous, c_prev = f"s{level}b", c
    grids = []
    for level in (3, 4, 5):
        conv(f"s{level}b", f"head{level}", widths[level - 1], channels_out, 1, 1, relu=False)
        initializers.append(numpy_helper.from_array(np.asarray([1, channels_out, -1], np.int64), f"shape{level}"))
        nodes.append(helper.make_node("Reshape", [f"head{level}", f"shape{level}"], [f"flat{level}"]))
        grids.append(size // 2**level)
    nodes.append(helper.make_node("Concat", ["flat3", "flat4", "flat5"], ["features"], axis=2))
    count = sum(g * g for g in grids)
    constant = np.zeros((1, channels_out, count), np.float32)
    centres = np.concatenate(
        [
            np.stack(np.meshgrid(np.arange(g), np.arange(g)), -1).reshape(-1, 2) * (size / g) + size / g / 2
            for g in grids
        ]
    )
    constant[0, 0:2] = centres.T
    constant[0, 2:4] = 48.0
    constant[0, 4 : 4 + nc] = 0.01
    chosen = rng.choice(count, size=detections, replace=False)
    constant[0, 4, chosen] = 0.9
    if task == "segment":
        constant[0, 4 + nc :, :] = rng.standard_normal((protos, count)).astype(np.float32)
    if task == "pose":
        keypoints = constant[0, 4 + nc :].reshape(kpt_shape[0], kpt_shape[1], count)
        keypoints[:, 0] = centres[:, 0] + rng.uniform(-20, 20, (kpt_shape[0], 1))
        keypoints[:, 1] = centres[:, 1] + rng.uniform(-20, 20, (kpt_shape[0], 1))
        if kpt_shape[1] == 3:
            keypoints[:, 2] = 0.9
    initializers.append(numpy_helper.from_array(constant, "anchors"))
    initializers.append(numpy_helper.from_array(np.asarray(0.001, np.float32), "small"))
    nodes.append(helper.make_node("Mul", ["features", "small"], ["scaled"]))
    nodes.append(helper.make_node("Add", ["anchors", "scaled"], ["output0"]))
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, channels_out, count])]
    if task == "segment":
        conv("s2b", "protos_pre", widths[1], protos, 1, 1)
        initializers.append(numpy_helper.from_array(np.asarray(0.5, np.float32), "half"))
        nodes.append(helper.make_node("Sub", ["protos_pre", "half"], ["output1"]))
        outputs.append(helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, protos, size // 4, size // 4]))
    graph = helper.make_graph(
        nodes,
        f"conv-{task}",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        outputs,
        initializer=initializers,
    )
    metadata = ultralytics_metadata(task, names, (size, size), kpt_shape=kpt_shape if task == "pose" else None)
    return _finish(graph, metadata)


def write_model(path: Path, model: onnx.ModelProto) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
