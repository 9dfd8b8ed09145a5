"""Write a complete function folder: `new DIR --from-onnx MODEL.onnx` serves an Ultralytics export with no code
(labels from its metadata, the model copied to DIR/weights/ and listed in weights.lock with its SHA-256);
`new DIR` alone writes a custom detector skeleton that runs and passes `validate` as it is. `new .` turns the
repository root into the function. MODEL may be a file or a resource of an installed package
(`package://PACKAGE/path/model.onnx` or `PACKAGE:path/model.onnx`). Existing files are never overwritten
without --force; the files written are listed, and the model's licence is printed when its metadata has one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...core.errors import SpecError

HELP = "write a function folder from an Ultralytics ONNX export (no code) or an empty custom model"
KINDS = ("detector", "interactor", "tracker", "reid")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, metavar="DIR", help="the folder to write (`.`: the repository root)")
    parser.add_argument(
        "--from-onnx", metavar="MODEL", help="an Ultralytics ONNX export: a path, package://PKG/m.onnx or PKG:m.onnx"
    )
    parser.add_argument("--name", help="the function id (metadata.name; default: from the model or folder name)")
    parser.add_argument(
        "--kind",
        default="detector",
        choices=KINDS,
        help="the CVAT function kind of an empty custom model (a YOLO export is always a detector)",
    )
    parser.add_argument("--task", help="override the export's task metadata (detect, segment, pose, obb, classify)")
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")


def run(args: argparse.Namespace) -> int:
    from ..scaffold import ScaffoldError, write_custom_function, write_onnx_function

    folder: Path = args.dir
    root = folder.resolve() == Path(__file__).resolve().parents[3] or folder.resolve() == Path.cwd()
    try:
        if args.from_onnx:
            if args.kind != "detector":
                raise ScaffoldError(f"--kind {args.kind}: an Ultralytics export is served as a detector")
            written = write_onnx_function(
                folder, args.from_onnx, name=args.name, task=args.task, force=args.force, root=root
            )
        else:
            if args.task:
                raise ScaffoldError("--task needs --from-onnx")
            written = write_custom_function(folder, name=args.name, force=args.force, root=root, kind=args.kind)
    except (ScaffoldError, SpecError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if written.export is not None:
        export = written.export
        print(
            f"model: Ultralytics {export.task}{' (end-to-end)' if export.end2end else ''}, {len(export.names)} "
            f"classes, input {export.input_size[0]}x{export.input_size[1]}"
        )
    for path in written.files:
        print(f"wrote {path}")
    for note in written.notes:
        print(f"note: {note}")
    if written.license:
        print(f"licence (from the model's metadata): {written.license}")
    print(
        f"next: python -m cvat_function validate {folder}, "
        f"then python -m cvat_function invoke IMAGE --function {folder}"
    )
    return 0
