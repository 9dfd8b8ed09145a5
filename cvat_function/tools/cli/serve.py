"""Serve every function folder (the repo root and examples/*) like Nuclio, plus a dashboard API for CVAT.

Each function gets its own port (its HTTP trigger: POST / with CVAT's JSON). The dashboard port (8070)
answers GET /api/functions and POST /api/function_invocations, so a real CVAT can use the functions with
CVAT_NUCLIO_HOST/CVAT_NUCLIO_PORT (see docs/local-loop.md). Workers, eventTimeout, maxRequestBodySize and
spec.env come from each function.yaml. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .. import serve as serving
from ..http_server import Limits

HELP = "serve the functions like Nuclio, with a dashboard API a real CVAT can use"


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _name_port(text: str) -> tuple[str, int]:
    key, value = _key_value(text)
    try:
        return key, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=PORT, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path("."), help="repo root to discover functions in (default .)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address; 0.0.0.0 when CVAT runs in Docker")
    parser.add_argument(
        "--port-base", type=int, default=8090, help="first function port; the next functions get +1, +2… (0 = any free)"
    )
    parser.add_argument(
        "--port", type=_name_port, action="append", default=[], metavar="NAME=PORT", help="explicit port of a function"
    )
    parser.add_argument("--dashboard-port", type=int, default=8070, help="dashboard API port (default 8070)")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME|DIR", help="serve only this function (repeatable)"
    )
    parser.add_argument("--workers", type=int, help="override every function's numWorkers")
    parser.add_argument(
        "--env", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
        help="set in the workers after spec.env (like nuctl deploy --env)",
    )  # fmt: skip
    parser.add_argument("--reload", action="store_true", help="restart a function's workers when its files change")
    parser.add_argument("--port-file", type=Path, help="write the bound ports as JSON here (for scripts and tests)")
    parser.add_argument("--quiet", action="store_true", help="log no per-request lines")
    limits = Limits()
    parser.add_argument(
        "--header-timeout", type=float, default=limits.header_timeout, metavar="S",
        help=f"a request's headers must arrive within S seconds of its first byte (default {limits.header_timeout:g})",
    )  # fmt: skip
    parser.add_argument(
        "--body-timeout", type=float, default=limits.body_timeout, metavar="S",
        help=f"its body within S seconds of the headers (default {limits.body_timeout:g})",
    )  # fmt: skip
    parser.add_argument(
        "--idle-timeout", type=float, default=limits.idle_timeout, metavar="S",
        help=f"close a kept-alive connection idle for S seconds (default {limits.idle_timeout:g})",
    )  # fmt: skip
    parser.add_argument(
        "--max-connections", type=int, default=limits.max_connections, metavar="N",
        help=f"open connections per port; one more is answered 503 (default {limits.max_connections})",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname).1s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    if args.quiet:
        logging.getLogger("cvat_function.tools.serve.requests").setLevel(logging.WARNING)
    if args.workers is not None and args.workers < 1:
        print("error: --workers must be >= 1", file=sys.stderr)
        return 2
    try:
        limits = Limits(
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            idle_timeout=args.idle_timeout,
            max_connections=args.max_connections,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    options = serving.ServeOptions(
        root=args.root,
        host=args.host,
        port_base=args.port_base,
        ports=dict(args.port),
        dashboard_port=args.dashboard_port,
        only=list(args.only),
        workers=args.workers,
        env=dict(args.env),
        reload=args.reload,
        port_file=args.port_file,
        limits=limits,
    )
    return serving.run(options)
