"""Write a tiny ONNX graph shaped like a YOLOv8 / YOLO11 detection export, to run this example without a real model.

    python examples/onnx-detector/make_demo_model.py              # -> examples/onnx-detector/weights/model.onnx
    python examples/onnx-detector/make_demo_model.py --out m.onnx

The graph takes `images` (1×3×640×640 float32) and answers `output0` (1×(4 + nc)×N): a constant detection head
added to 0 × mean(images), so its output depends on its input and has the export's shape and layout. Its
metadata is what Ultralytics writes (`names` as a Python dict string, `imgsz`, `task`, `stride`). It finds the
same boxes in every image: it exercises the plumbing (letterbox, decoding, NMS, labels), not vision.

Needs the `onnx` package (requirements-dev.txt); the function itself never imports it. The file is git-ignored
(`*.onnx`): it is generated, never committed. The tests build their own graphs with `build_model`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DEFAULT_OUT = Path(__file__).with_name("weights") / "model.onnx"
OPSET = 17  # onnxruntime >= 1.14 runs it
IR_VERSION = 8  # the IR of opset 17; readable by older onnxruntime releases too
DEMO_NAMES = {0: "person", 1: "bicycle", 2: "car"}

# One row per candidate: cx, cy, w, h (input pixels, 640×640) and the score of each class. The second person
# box overlaps the first (IoU ≈ 0.9): NMS removes it. The bicycle scores under the default threshold 0.5.
DEMO_CANDIDATES = (
    (320.0, 320.0, 160.0, 320.0, 0.90, 0.05, 0.02),
    (326.0, 324.0, 160.0, 320.0, 0.80, 0.04, 0.01),
    (480.0, 400.0, 120.0, 80.0, 0.01, 0.02, 0.70),
    (160.0, 400.0, 100.0, 90.0, 0.03, 0.30, 0.05),
)


def head(candidates: Sequence[Sequence[float]], *, transposed: bool = False) -> np.ndarray:
    """Candidate rows `(cx, cy, w, h, score per class…)` → the export's tensor: `[1, 4 + nc, N]`
    (Ultralytics' layout), or `[1, N, 4 + nc]` when `transposed`."""
    rows = np.asarray(candidates, dtype=np.float32).reshape(len(candidates), -1)
    return rows[np.newaxis] if transposed else rows.T[np.newaxis].copy()


def build_model(
    output: np.ndarray,
    names: Mapping[int, str] | None = DEMO_NAMES,
    *,
    input_shape: Sequence[int | str] = (1, 3, 640, 640),
    metadata: Mapping[str, str] | None = None,
) -> onnx.ModelProto:
    """A graph `images → output0 = output + 0 × mean(images)`, with Ultralytics-style metadata.

    `names=None` leaves out the `names` entry (a model that does not carry its class names); `metadata` adds or
    replaces entries. A `str` in `input_shape` is a dynamic dimension, as `yolo export dynamic=True` writes them.
    """
    constant = numpy_helper.from_array(np.asarray(output, dtype=np.float32), "head")
    zero = numpy_helper.from_array(np.zeros((), dtype=np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),  # every axis → a scalar
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["head", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "demo-yolo-head",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(constant.dims))],
        initializer=[constant, zero],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="cvat-function-template demo"
    )
    model.ir_version = IR_VERSION
    entries = {"description": "demo detection head (constant boxes)", "task": "detect", "stride": "32"}
    if all(isinstance(d, int) for d in input_shape[2:]):
        entries["imgsz"] = str(list(input_shape[2:]))
    if names is not None:
        entries["names"] = str(dict(names))  # what Ultralytics writes: "{0: 'person', 1: 'bicycle'}"
    entries.update(metadata or {})
    helper.set_model_props(model, entries)
    onnx.checker.check_model(model)
    return model


def write_model(path: Path, model: onnx.ModelProto) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_demo_model(path: Path = DEFAULT_OUT) -> Path:
    """The demo model (person, bicycle, car) at `path`."""
    return write_model(path, build_model(head(DEMO_CANDIDATES)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write it (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    print(f"wrote {write_demo_model(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
