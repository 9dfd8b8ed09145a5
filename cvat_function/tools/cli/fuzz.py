"""Fuzz soak: mixed good and hostile requests (generated at run time from --seed) against `serve` on 127.0.0.1,
or against --url, bounded by --requests and --seconds, each request with a --timeout. Reports the answers per
status, 5xx (target 0), hangs (target 0), good requests not answered 200, 5xx bodies carrying a traceback or a
path, and the peak RSS of the server and its workers. Exits 1 on any 5xx, hang or unexpected answer.

Several --function folders are served together (from the current folder, which serve searches for the root
function and examples/*); the requests are spread over them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...core.config import FUNCTION_KINDS
from ..fuzz import format_fuzz, run_fuzz

HELP = "mixed good and hostile requests: 5xx (target 0), hangs, peak memory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--function", type=Path, action="append", help="function folder (repeatable; default .)")
    parser.add_argument("--url", help="a running function (its --function folder gives the kind, or --kind)")
    parser.add_argument("--kind", choices=FUNCTION_KINDS, help="with --url: the function's kind")
    parser.add_argument("--requests", type=int, default=2000, help="requests to send at most (default 2000)")
    parser.add_argument("--seconds", type=float, default=300.0, help="time budget in seconds (default 300)")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel connections (default 4)")
    parser.add_argument("--good-share", type=float, default=0.3, help="share of plain CVAT requests (default 0.3)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout: past it is a hang (60)")
    parser.add_argument("--malformed", type=int, default=200, help="malformed image files per function (200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated cases and their order")
    parser.add_argument("--workers", type=int, help="numWorkers override for the serve it starts")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    if args.requests < 1 or args.concurrency < 1 or args.seconds <= 0 or args.timeout <= 0:
        print("error: --requests, --concurrency, --seconds and --timeout must be positive", file=sys.stderr)
        return 2
    if not 0.0 <= args.good_share <= 1.0:
        print("error: --good-share must be in [0, 1]", file=sys.stderr)
        return 2
    result = run_fuzz(
        args.function or [Path(".")],
        url=args.url,
        kind=args.kind,
        requests=args.requests,
        seconds=args.seconds,
        concurrency=args.concurrency,
        good_share=args.good_share,
        timeout=args.timeout,
        seed=args.seed,
        malformed=args.malformed,
        workers=args.workers,
    )
    print(json.dumps(result, indent=2) if args.json else format_fuzz(result))
    failed = result["server_errors"] or result["hangs"] or result["unexpected"] or result["leaks"]
    return 1 if failed else 0
