"""Soak test: many concurrent CVAT requests; reports errors (target 0), p50/p95 latency and, when it starts
`serve` itself (no --url), the RSS growth of the server and its workers between warm-up and end (target
< 10 %). Exits 1 when any request failed or memory grew by --max-rss-growth percent or more.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...core.config import FUNCTION_KINDS
from ..soak import format_soak, run_soak

HELP = "many concurrent requests: errors, p50/p95 latency and memory growth"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=10_000, help="measured requests (default 10000)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel connections (default 8)")
    parser.add_argument("--url", help="a running function; default: start serve for --function")
    parser.add_argument("--function", type=Path, default=Path("."), help="function folder (default .)")
    parser.add_argument(
        "--image", type=Path, help="image to send (default: first of DIR/assets/, ./assets/, else generated)"
    )
    parser.add_argument("--kind", choices=FUNCTION_KINDS, help="default: from function.yaml")
    parser.add_argument("--warmup", type=int, help="unmeasured requests first (default: 5 %%, 4 × concurrency…200)")
    parser.add_argument("--workers", type=int, help="numWorkers override for the serve it starts")
    parser.add_argument("--max-rss-growth", type=float, default=10.0, help="fail at this growth in %% (default 10)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    if args.requests < 1 or args.concurrency < 1:
        print("error: --requests and --concurrency must be >= 1", file=sys.stderr)
        return 2
    result = run_soak(
        args.url,
        requests=args.requests,
        concurrency=args.concurrency,
        function_dir=args.function,
        image=args.image,
        kind=args.kind,
        warmup=args.warmup,
        workers=args.workers,
    )
    print(json.dumps(result, indent=2) if args.json else format_soak(result))
    failed = result["errors"] > 0 or (result["rss_start_mb"] and result["rss_growth_pct"] >= args.max_rss_growth)
    return 1 if failed else 0
