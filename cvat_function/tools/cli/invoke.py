"""Send one image to a function exactly as CVAT would and print the JSON it answers.

The request goes through the same path as in Nuclio: the wire event is decoded by nuclio_sdk, the handler's
return value is encoded by nuclio_sdk.Response.from_entrypoint_output. Invalid shapes are errors here
(CVAT_FUNCTION_INVALID_SHAPES=error), whatever function.yaml sets for production.

The request is built for the function's kind (annotations.type in its function.yaml):
  detector    IMAGE [--threshold T]
  interactor  IMAGE --pos X,Y [--pos X,Y …] [--neg X,Y …] [--box X1,Y1,X2,Y2]
  tracker     IMAGE --box X1,Y1,X2,Y2 [--next IMAGE2 …]   (start on IMAGE, then follow the box on each --next)
  reid        IMAGE --image1 IMAGE1 --box … (boxes on IMAGE) --box1 … (boxes on IMAGE1) [--max-distance D]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...core.config import load_function_config
from ...core.image import ColorOrder, decode_image
from ...core.masks import decode_rle, from_frame
from ...core.runtime import ENV_INVALID_SHAPES
from ..draw import draw_shapes
from ..wire import LocalFunction, make_logger

HELP = "run a function on one image and print CVAT's JSON answer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("image", type=Path, help="an image file (JPEG, PNG, TIFF, WEBP, BMP, GIF…)")
    parser.add_argument("--threshold", type=float, help="sent as CVAT sends it (omitted when not given)")
    parser.add_argument("--function", type=Path, default=Path("."), help="function folder (default: .)")
    parser.add_argument("--draw", type=Path, metavar="OUT.png", help="also draw the answer on the image")
    parser.add_argument("--quiet", action="store_true", help="no function logs on stderr")
    kinds = parser.add_argument_group("interactor, tracker and reid requests")
    kinds.add_argument("--pos", type=_numbers(2), action="append", default=[], metavar="X,Y", help="positive click")
    kinds.add_argument("--neg", type=_numbers(2), action="append", default=[], metavar="X,Y", help="negative click")
    kinds.add_argument(
        "--box", type=_numbers(4), action="append", default=[], metavar="X1,Y1,X2,Y2",
        help="interactor: obj_bbox; tracker: a box to start from; reid: a box on IMAGE",
    )  # fmt: skip
    kinds.add_argument("--next", type=Path, action="append", default=[], metavar="IMAGE", help="tracker: next frame")
    kinds.add_argument("--image1", type=Path, help="reid: the second frame")
    kinds.add_argument("--box1", type=_numbers(4), action="append", default=[], metavar="X1,Y1,X2,Y2")
    kinds.add_argument("--max-distance", type=float, help="reid: sent as CVAT sends it")


def _numbers(count: int) -> Any:
    def parse(text: str) -> list[float]:
        values = [float(v) for v in text.split(",")]
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers, got {text!r}")
        return values

    return parse


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def build_requests(kind: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The request bodies CVAT would send for `kind` (a tracker gets one per frame; states are filled in later)."""
    body: dict[str, Any] = {"image": _b64(args.image)}
    if args.threshold:  # CVAT never sends a falsy threshold
        body["threshold"] = args.threshold
    if kind == "interactor":
        box = args.box[0] if args.box else None
        body.update(pos_points=args.pos, neg_points=args.neg, obj_bbox=[box[:2], box[2:]] if box else [])
    elif kind == "tracker":
        if not args.box:
            raise SystemExit("error: a tracker needs --box X1,Y1,X2,Y2 (one per object) to start from")
        body.update(shapes=[{"type": "rectangle", "points": box} for box in args.box], states=[])
        return [body] + [{"image": _b64(frame), "shapes": [None] * len(args.box)} for frame in args.next]
    elif kind == "reid":
        if args.image1 is None:
            raise SystemExit("error: a reid function needs --image1 (and --box / --box1 boxes)")
        body = {"image0": body.pop("image"), "image1": _b64(args.image1), **body}
        body["boxes0"] = [{"type": "rectangle", "points": b, "label_id": 0} for b in args.box]
        body["boxes1"] = [{"type": "rectangle", "points": b, "label_id": 0} for b in args.box1]
        if args.max_distance:
            body["max_distance"] = args.max_distance
    return [body]


def drawable(kind: str, answer: Any, width: int, height: int) -> list[dict[str, Any]]:
    """An answer of any kind as detector-style shapes for draw_shapes."""
    if kind == "detector":
        return list(answer)
    if kind == "interactor":
        if "mask" in answer:  # legacy: one full-frame array
            found = from_frame(np.asarray(answer["mask"], dtype=bool))
            return [{"label": "interactor", "type": "mask", "mask": found.to_list()}] if found else []
        masks = [decode_rle(shape["points"]) for shape in answer.get("shapes", [])]
        return [{"label": "interactor", "type": "mask", "mask": m.to_list()} for m in masks]
    if kind == "tracker":
        shapes = [s if isinstance(s, dict) else {"type": "rectangle", "points": s} for s in answer["shapes"]]
        return [{"label": f"object {i}", **s} for i, s in enumerate(shapes)]
    return []


def run(args: argparse.Namespace) -> int:
    # strict unless the caller chose: a shape CVAT would drop fails the call. Restored afterwards, since tests
    # and other verbs call run() in their own process.
    saved = os.environ.get(ENV_INVALID_SHAPES)
    os.environ.setdefault(ENV_INVALID_SHAPES, "error")
    try:
        return _invoke(args)
    finally:
        if saved is None:
            os.environ.pop(ENV_INVALID_SHAPES, None)


def _invoke(args: argparse.Namespace) -> int:
    for path in [args.image, *args.next, *([args.image1] if args.image1 else [])]:
        if not path.is_file():
            print(f"error: {path} is not a file", file=sys.stderr)
            return 2
    kind = load_function_config(args.function / "function.yaml").kind
    logger = make_logger(open(os.devnull, "w") if args.quiet else sys.stderr)  # noqa: SIM115
    function = LocalFunction(args.function, logger)
    states: list[Any] = []
    answer: Any = None
    for body in build_requests(kind, args):
        if kind == "tracker" and states:
            body["states"] = states
        response = function.request(json.dumps(body), "application/json")
        sys.stdout.write(response.text + "\n")
        if response.status != 200:
            print(f"error: HTTP {response.status} ({response.content_type})", file=sys.stderr)
            return 1
        answer = response.json()
        states = answer.get("states", []) if isinstance(answer, dict) else []
    if args.draw:
        last = (args.next or [args.image])[-1] if kind == "tracker" else args.image
        image = decode_image(last.read_bytes(), ColorOrder.BGR)
        shapes = drawable(kind, answer, image.shape[1], image.shape[0])
        args.draw.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(args.draw), draw_shapes(image, shapes)):
            print(f"error: could not write {args.draw}", file=sys.stderr)
            return 1
        print(f"drew {len(shapes)} shape(s) on {args.draw}", file=sys.stderr)
    return 0
