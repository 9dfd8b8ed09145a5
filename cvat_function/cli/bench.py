"""Measure a function: per-stage medians, request overhead against the decode floor, cold start.

Prints a report (the release workflow attaches it to the GitHub release); --json also writes the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..bench import format_bench, run_bench

HELP = "measure per-stage time, request overhead and cold start"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--function", type=Path, default=Path("."), help="function folder (default: .)")
    parser.add_argument("--repeats", type=int, default=30, help="requests to time (default: 30)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")


def run(args: argparse.Namespace) -> int:
    result = run_bench(args.function, repeats=args.repeats)
    print(format_bench(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return 0
