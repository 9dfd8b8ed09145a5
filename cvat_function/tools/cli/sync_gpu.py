"""Write function-gpu.yaml's name, annotations, labels, description, runtime, handler and env from function.yaml.

Labels are written once, in function.yaml; this keeps the GPU deployment in step (build, resources, triggers and
platform stay as function-gpu.yaml has them). With --check nothing is written: the exit code is 1 and each
difference is named (label, annotation or env key) when function-gpu.yaml is out of step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..gpu_sync import SyncError, sync_gpu_text
from ..lint import lint_pair

HELP = "write function-gpu.yaml's labels, annotations and env from function.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar="DIR", help="function folder (.)")
    parser.add_argument("--check", action="store_true", help="only report what differs; exit 1 if anything does")


def run(args: argparse.Namespace) -> int:
    cpu, gpu = args.dir / "function.yaml", args.dir / "function-gpu.yaml"
    if not cpu.is_file():
        print(f"error: {cpu} does not exist", file=sys.stderr)
        return 2
    if not gpu.is_file():
        print(f"{gpu} does not exist: nothing to keep in step")
        return 0
    before = gpu.read_text(encoding="utf-8")
    try:
        after = sync_gpu_text(cpu.read_text(encoding="utf-8"), before)
    except SyncError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if after == before:
        print(f"{gpu}: in step with {cpu.name}")
        return 0
    if args.check:
        findings = [str(f) for f in lint_pair(cpu, gpu)]
        for line in findings or [f"{gpu}: comments or layout differ from {cpu.name}'s"]:
            print(line)
        print(f"{gpu}: out of step; run `python -m cvat_function sync-gpu {args.dir}`")
        return 1
    gpu.write_text(after, encoding="utf-8")
    print(f"{gpu}: wrote the name, annotations, labels, description, runtime, handler and env of {cpu.name}")
    return 0
