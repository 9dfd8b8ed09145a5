"""Measure a function: per-stage medians, request overhead against the decode floor, cold start.

Prints a report (the release workflow attaches it to the GitHub release); --json also writes the figures.
Includes the mask-answer case (20 instance masks on a 1920×1080 frame, ours against slice → .flat →
json.dumps); with --server, also what `serve` adds per request. `--onnx MODEL.onnx` (repeatable) measures an
Ultralytics ONNX export through the built-in adapter instead: whole request against onnxruntime's run plus
image decoding; `--onnx synthetic` uses generated conv graphs for detect, segment and pose.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..bench import format_bench, run_bench
from ..bench_masks import format_mask_bench, run_mask_bench
from ..bench_server import format_server_bench, run_server_bench

HELP = "measure per-stage time, request overhead and cold start"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--function", type=Path, default=Path("."), help="function folder (default: .)")
    parser.add_argument("--repeats", type=int, default=30, help="requests to time (default: 30)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--no-masks", action="store_true", help="skip the mask-answer case")
    parser.add_argument(
        "--server", action="store_true", help="also compare the handler called directly with `serve` (numWorkers=2)"
    )
    parser.add_argument(
        "--onnx",
        action="append",
        metavar="MODEL",
        help="an Ultralytics ONNX export (path or package://…) to measure instead; `synthetic`: generated graphs",
    )


def run(args: argparse.Namespace) -> int:
    if args.onnx:
        return run_onnx(args)
    result = run_bench(args.function, repeats=args.repeats)
    print(format_bench(result), flush=True)
    figures = {"detector": result.to_json()}
    if not args.no_masks:
        masks = run_mask_bench()
        print(format_mask_bench(masks), flush=True)
        figures["masks"] = masks
    if args.server:
        served = run_server_bench(args.function)
        print(format_server_bench(served), flush=True)
        figures["server"] = served
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def run_onnx(args: argparse.Namespace) -> int:
    import tempfile

    from ..bench_onnx import bench_model, format_onnx_bench, synthetic_models

    with tempfile.TemporaryDirectory() as tmp:
        models: list[str | Path] = []
        for model in args.onnx:
            models.extend(synthetic_models(Path(tmp)) if model == "synthetic" else [model])
        results = [bench_model(model, repeats=args.repeats) for model in models]
    print(format_onnx_bench(results), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"onnx": [r.to_json() for r in results]}, indent=2) + "\n")
    return 0
