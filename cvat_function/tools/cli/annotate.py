"""Pre-annotate images (folders, globs, lists of paths, video frames) with a function; write a file CVAT imports.

    python -m cvat_function annotate photos/ --out photos.zip                   # CVAT for images 1.1 (zip)
    python -m cvat_function annotate 'shots/*.png' list.txt --out coco.json     # COCO 1.0
    python -m cvat_function annotate clip.mp4 --out clip.zip --function examples/coins-segmentation
    python -m cvat_function annotate photos/ --out photos.zip --url http://127.0.0.1:8080 --concurrency 8

In CVAT: Task → Actions → Upload annotations → "CVAT 1.1" (the .zip or .xml) or "COCO 1.0" (the .json or .zip).
Image names are paths relative to the folder given (as CVAT names files uploaded as a folder) or file names.
Ctrl-C (or a crash) keeps what is done in OUT.journal.jsonl: the same command resumes there.
`--bench N` measures instead: N generated 1920×1080 JPEGs, in-process against one request at a time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...core.errors import CvatFunctionError
from ..annotate import (
    AnnotateError,
    Journal,
    LocalRunner,
    ProcessRunner,
    RemoteRunner,
    annotate,
    collect_sources,
    journal_path,
    load_labels,
    output_format,
    progress_bar,
    run_header,
)

HELP = "pre-annotate a folder, globs, lists or a video; write CVAT for images 1.1 or COCO 1.0"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("inputs", nargs="*", metavar="PATH", help="folders, globs, .txt lists, images, videos")
    parser.add_argument("--out", type=Path, help="output file: .zip/.xml (CVAT) or .json/.zip (COCO)")
    parser.add_argument("--format", choices=("cvat", "coco"), help="default: coco for .json, else cvat")
    parser.add_argument("--function", type=Path, default=Path("."), help="function folder (default: .)")
    parser.add_argument("--url", help="a deployed function's URL instead of the model in this process")
    parser.add_argument("--concurrency", type=int, default=1, help="--url: requests in flight (default: 1)")
    parser.add_argument(
        "--workers", type=int, help="in-process: model processes side by side (default: function.yaml numWorkers)"
    )
    parser.add_argument("--readers", type=int, default=2, help="in-process: reader threads decoding ahead")
    parser.add_argument("--threshold", type=float, help="score threshold (default: the function's)")
    parser.add_argument("--strict", action="store_true", help="an image with a shape CVAT would reject fails")
    parser.add_argument("--restart", action="store_true", help="discard the journal of an earlier run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--bench", type=int, metavar="N", help="measure on N generated 1920×1080 JPEGs instead")
    parser.add_argument("--json", type=Path, metavar="FILE", help="--bench: also write the figures as JSON")


def run(args: argparse.Namespace) -> int:
    if args.bench:
        from ..bench_annotate import format_annotate_bench, run_annotate_bench

        result = run_annotate_bench(args.function, images=args.bench, readers=args.readers, workers=args.workers)
        print(format_annotate_bench(result), flush=True)
        if args.json:
            import json

            args.json.write_text(json.dumps(result, indent=2) + "\n")
        return 0
    if not args.inputs or args.out is None:
        print("annotate: give the inputs and --out FILE (or --bench N)", file=sys.stderr)
        return 2
    try:
        config = load_labels(args.function)
        if config.kind != "detector":
            raise AnnotateError(f"{args.function} is a {config.kind}; annotate runs detectors")
        sources = collect_sources(args.inputs)
        fmt = output_format(args.out, args.format)
        journal = Journal(journal_path(args.out), run_header(config, args.threshold, args.url, args.strict))
        journal.open(restart=args.restart)
        runner: LocalRunner | ProcessRunner | RemoteRunner
        if args.url:
            runner = RemoteRunner(
                args.url, config.labels, args.threshold, concurrency=args.concurrency, strict=args.strict
            )
        else:
            from ...core.config import load_nuclio_settings
            from ...sdk.loader import load_folder

            workers = args.workers or load_nuclio_settings(args.function / "function.yaml").num_workers
            function = load_folder(args.function)  # also in the parent: a model that cannot load fails here, clearly
            if workers > 1:
                runner = ProcessRunner(args.function.resolve(), args.threshold, workers=workers, strict=args.strict)
            else:
                runner = LocalRunner(function, args.threshold, readers=args.readers, strict=args.strict)
        try:
            with progress_bar(len(sources), not args.no_progress) as bar:
                summary = annotate(sources, runner, config.labels, args.out, fmt, journal, progress=bar)
        finally:
            if isinstance(runner, ProcessRunner):
                runner.close()
    except CvatFunctionError as e:
        print(f"annotate: {e}", file=sys.stderr)
        return 2
    print(summary.format(remote=bool(args.url)), file=sys.stderr, flush=True)
    if summary.interrupted:
        return 130
    return 0  # failed images are reported and skipped; the output holds the rest
