"""How fast a mask-heavy detector answer is built and serialized: ours against the plain reference way.

The case: 20 instance masks (filled ellipses of 60–300 px) on a 1920×1080 frame, each given as a full-frame
boolean array with its box, as a segmentation model outputs them. Both sides produce the same JSON value
(checked with `json.loads`):

* reference — what CVAT's own serverless functions do: `frame_mask[top:bottom + 1, left:right + 1]
  .flat[:].tolist() + [left, top, right, bottom]` per instance, dicts in a list, `json.dumps`;
* ours — `shapes.mask(label, frame_mask, box=..., polygon=False)`, the answer the runtime builds
  (`Shape.to_cvat(pre_encoded=True)`), serialized by `response.dumps`, which splices each bitmap's JSON text
  written by numpy.

Run: `python -m cvat_function.tools.bench_masks [--repeats N]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from ..core.response import dumps
from ..core.shapes import mask

FRAME = (1080, 1920)
INSTANCES = 20


def make_case(seed: int = 0) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """20 full-frame instance masks with their tight inclusive boxes."""
    rng = np.random.default_rng(seed)
    height, width = FRAME
    case = []
    for _ in range(INSTANCES):
        axes = (int(rng.integers(30, 150)), int(rng.integers(30, 150)))
        centre = (int(rng.integers(160, width - 160)), int(rng.integers(160, height - 160)))
        frame = np.zeros(FRAME, dtype=np.uint8)
        cv2.ellipse(frame, centre, axes, float(rng.integers(0, 180)), 0, 360, 1, -1)
        bitmap = frame.astype(bool)
        rows, cols = np.flatnonzero(bitmap.any(axis=1)), np.flatnonzero(bitmap.any(axis=0))
        case.append((bitmap, (int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1]))))
    return case


def reference(case: list[tuple[np.ndarray, tuple[int, int, int, int]]]) -> str:
    """The plain way: numpy slice → `.flat` list → `json.dumps`."""
    answer = []
    for bitmap, (left, top, right, bottom) in case:
        values = bitmap[top : bottom + 1, left : right + 1].astype(np.uint8).flat[:].tolist()
        values.extend([left, top, right, bottom])
        answer.append({"label": "object", "type": "mask", "mask": values})
    return json.dumps(answer, separators=(",", ":"))


def ours(case: list[tuple[np.ndarray, tuple[int, int, int, int]]]) -> str:
    """The framework's way: `mask(...)` builder → `to_cvat(pre_encoded=True)` → `response.dumps`."""
    shapes = [mask("object", bitmap, box=box, polygon=False) for bitmap, box in case]
    return dumps([shape.to_cvat(pre_encoded=True) for shape in shapes])


def _seconds(function: Callable[[Any], str], case: Any) -> tuple[float, str]:
    started = time.perf_counter()
    text = function(case)
    return time.perf_counter() - started, text


def run_mask_bench(repeats: int = 15) -> dict[str, float]:
    """`repeats` alternating rounds, each the reference once and then ours (best of 3) in the same state of the
    process, so that whatever slows one round (allocator, caches, other processes) slows both sides; the
    speed-up is the median of the rounds' ratios. Asserts that both give the same JSON value."""
    case = make_case()
    ratios, reference_times, our_times = [], [], []
    reference_text = ours_text = ""
    for _ in range(repeats):
        reference_s, reference_text = _seconds(reference, case)
        ours_s, ours_text = min(_seconds(ours, case) for _ in range(3))
        ratios.append(reference_s / ours_s)
        reference_times.append(reference_s)
        our_times.append(ours_s)
    if json.loads(ours_text) != json.loads(reference_text):
        raise AssertionError("the framework's mask answer differs from the reference JSON value")
    pixels = sum((right - left + 1) * (bottom - top + 1) for _, (left, top, right, bottom) in case)
    return {
        "instances": float(INSTANCES),
        "box_pixels": float(pixels),
        "response_bytes": float(len(ours_text)),
        "reference_seconds": statistics.median(reference_times),
        "ours_seconds": statistics.median(our_times),
        "speedup": statistics.median(ratios),
        "speedup_low": min(ratios),
        "speedup_high": max(ratios),
    }


def format_mask_bench(result: dict[str, float]) -> str:
    return (
        f"mask answer: {int(result['instances'])} instance masks on a {FRAME[1]}x{FRAME[0]} frame, "
        f"{int(result['box_pixels'])} box pixels, {result['response_bytes'] / 1e6:.1f} MB of JSON\n"
        f"  reference (slice → .flat list → json.dumps): {result['reference_seconds'] * 1e3:8.1f} ms (median)\n"
        f"  cvat_function (mask() → response.dumps):     {result['ours_seconds'] * 1e3:8.1f} ms (median)\n"
        f"  speed-up: {result['speedup']:.1f}x median of alternating rounds "
        f"({result['speedup_low']:.0f}–{result['speedup_high']:.0f}x), same JSON value, target >= 50x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cvat_function.tools.bench_masks", description=__doc__)
    parser.add_argument("--repeats", type=int, default=15, help="alternating rounds (default 15)")
    args = parser.parse_args(argv)
    print(format_mask_bench(run_mask_bench(args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
