"""Send one image to a function exactly as CVAT would and print the JSON it answers.

The request goes through the same path as in Nuclio: the wire event is decoded by nuclio_sdk, the handler's
return value is encoded by nuclio_sdk.Response.from_entrypoint_output. Invalid shapes are errors here
(CVAT_FUNCTION_INVALID_SHAPES=error), whatever function.yaml sets for production.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from pathlib import Path

import cv2

from ..draw import draw_shapes
from ..image import ColorOrder, decode_image
from ..runtime import ENV_INVALID_SHAPES
from ..wire import LocalFunction, make_logger

HELP = "run a function on one image and print CVAT's JSON answer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="an image file (JPEG, PNG, TIFF, WEBP, BMP, GIF…)")
    parser.add_argument("--threshold", type=float, help="sent as CVAT sends it (omitted when not given)")
    parser.add_argument("--function", type=Path, default=Path("."), help="function folder (default: .)")
    parser.add_argument("--draw", type=Path, metavar="OUT.png", help="also draw the shapes on the image")
    parser.add_argument("--quiet", action="store_true", help="no function logs on stderr")


def run(args: argparse.Namespace) -> int:
    if not args.image.is_file():
        print(f"error: {args.image} is not a file", file=sys.stderr)
        return 2
    os.environ.setdefault(ENV_INVALID_SHAPES, "error")
    data = args.image.read_bytes()
    body: dict[str, object] = {"image": base64.b64encode(data).decode("ascii")}
    if args.threshold:  # CVAT never sends a falsy threshold
        body["threshold"] = args.threshold
    logger = make_logger(open(os.devnull, "w") if args.quiet else sys.stderr)  # noqa: SIM115
    function = LocalFunction(args.function, logger)
    response = function.request(json.dumps(body), "application/json")
    sys.stdout.write(response.text + "\n")
    if response.status != 200:
        print(f"error: HTTP {response.status} ({response.content_type})", file=sys.stderr)
        return 1
    if args.draw:
        answer = response.json()
        shapes = answer if isinstance(answer, list) else answer.get("shapes", [])
        image = decode_image(data, ColorOrder.BGR)
        args.draw.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(args.draw), draw_shapes(image, shapes)):
            print(f"error: could not write {args.draw}", file=sys.stderr)
            return 1
        print(f"drew {len(shapes)} shape(s) on {args.draw}", file=sys.stderr)
    return 0
