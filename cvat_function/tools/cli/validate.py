"""Lint function.yaml / function-gpu.yaml against CVAT's discovery rules and Nuclio's pitfalls, then run the
contract suite: the function answers CVAT's requests in strict mode, on the sample images in the folder's
assets/ and the current directory's assets/ (or a generated frame when there are none).

Every problem is reported with how to fix it. Errors make the exit code non-zero; warnings do not.
Without DIR, checks the repo root and every examples/*/ function folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..lint import errors, lint_function_dir, run_contract_suite, sample_images
from ..serve import discover

HELP = "lint function.yaml files and run the contract suite on the sample images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dirs", nargs="*", type=Path, metavar="DIR", help="function folders (default: . and examples/*)"
    )
    parser.add_argument("--no-run", action="store_true", help="lint only; do not load the functions")
    parser.add_argument("--image", type=Path, action="append", default=[], help="sample image(s) instead of assets/")


def run(args: argparse.Namespace) -> int:
    dirs = list(args.dirs) or discover(Path("."))
    if not dirs:
        print("error: no function folder (function.yaml + model_handler.py) here or in examples/", file=sys.stderr)
        return 2
    error_count = warning_count = 0
    for folder in dirs:
        findings = lint_function_dir(folder)
        passed: list[str] = []
        if not args.no_run and not any(errors(findings)):
            with tempfile.TemporaryDirectory(prefix="cvat-validate-") as tmp:
                images = list(args.image) or sample_images(folder, Path.cwd()) or [generated_image(Path(tmp))]
                suite, passed = run_contract_suite(folder, images)
            findings += suite
        for finding in findings:
            print(finding)
        for line in passed:
            print(f"{folder}: ok: {line}")
        n_errors = sum(1 for f in findings if f.severity == "error")
        error_count += n_errors
        warning_count += len(findings) - n_errors
        print(f"{folder}: {'FAIL' if n_errors else 'ok'} ({n_errors} error(s), {len(findings) - n_errors} warning(s))")
    print(f"{len(dirs)} function folder(s): {error_count} error(s), {warning_count} warning(s)")
    return 1 if error_count else 0


def generated_image(folder: Path) -> Path:
    """A generated 640×480 frame for a folder with no sample images (nothing is read beside the package)."""
    from ..bench import sample_frame

    path = folder / "generated-640x480.jpg"
    path.write_bytes(sample_frame(640, 480))
    return path
