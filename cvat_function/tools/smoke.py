"""The smoke test: send CVAT's request to a running function and check the answer against the contract.

`scripts/smoke_test.py` (what the workflows and the docs call) is a thin wrapper over `main` here:

    python scripts/smoke_test.py --url http://127.0.0.1:32768/             # the function's port (.status.httpPort)
    python scripts/smoke_test.py --url http://127.0.0.1:8070 --dashboard   # through a dashboard, as CVAT does

The request is what CVAT sends for the function's kind (exact `Content-Type: application/json`, base64
image); `--kind auto` reads the kind and the labels from function.yaml in `--function` (default `.`). The
answer is checked with the runtime's own rules (`answer_checks`). It prints what it checked and the latency,
and exits non-zero with a clear message on any failure. Needs only the repo checkout and requirements-dev.txt.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..core.config import FUNCTION_KINDS, load_function_config
from ..core.errors import CvatFunctionError
from ..core.image import image_size
from ..core.labels import Labels, label_spec_problems
from .answer_checks import Verdict, check_answer, synthetic_request
from .http_client import Client, HttpAnswer

DEFAULT_IMAGE = Path("assets") / "astronaut.jpg"
"""Relative to the repo root, where the workflows run it (`scripts/smoke_test.py` passes its own root)."""
CVAT_HEADERS = {
    "x-nuclio-project-name": "cvat",
    "x-nuclio-function-namespace": "nuclio",
    "x-nuclio-invoke-via": "domain-name",
    "X-Nuclio-Invoke-Timeout": "120s",
}


def parse_args(
    argv: list[str] | None, description: str | None = None, default_image: Path = DEFAULT_IMAGE
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="smoke_test.py", description=description or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="the function's HTTP trigger (or the dashboard with --dashboard)")
    parser.add_argument(
        "--image", type=Path, default=default_image, help=f"image to send (default {default_image.name})"
    )
    parser.add_argument(
        "--kind", default="auto", choices=("auto", *FUNCTION_KINDS), help="function kind (default auto)"
    )
    parser.add_argument(
        "--function", type=Path, default=Path("."), help="function folder with function.yaml (default .)"
    )
    parser.add_argument("--threshold", type=float, help="sent as CVAT sends it (omitted when not given)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the answer (CVAT: 120)")
    parser.add_argument("--max-latency", type=float, help="fail when the answer takes longer (seconds)")
    parser.add_argument(
        "--dashboard", action="store_true",
        help="--url is a Nuclio dashboard: check CVAT's discovery, then invoke via /api/function_invocations",
    )  # fmt: skip
    return parser.parse_args(argv)


def check_discovery(client: Client, name: str, verdict: Verdict) -> None:
    """What CVAT's LambdaGateway needs from GET /api/functions."""
    answer = client.request("GET", None, CVAT_HEADERS, path="/api/functions")
    if not verdict.expect(
        answer.status == 200, "dashboard lists functions", f"GET /api/functions: HTTP {answer.status}"
    ):
        return
    listed = answer.json()
    item = listed.get(name) if isinstance(listed, dict) else None
    if not verdict.expect(
        isinstance(item, dict), f"{name} listed in project cvat", f"{name} is not in project cvat's function list"
    ):
        return
    assert isinstance(item, dict)
    annotations = (item.get("metadata") or {}).get("annotations") or {}
    verdict.expect(annotations.get("type") in FUNCTION_KINDS, "annotations.type", "annotations.type missing/unknown")
    problems = label_spec_problems(annotations.get("spec"), "annotations.spec")
    verdict.expect(
        not problems,
        "annotations.spec parses as CVAT parses it",
        f"{problems[0] if problems else ''}: CVAT's model list answers 500 or skips the function",
    )
    verdict.expect(
        bool((item.get("spec") or {}).get("description")),
        "spec.description",
        "spec.description is missing: CVAT's model list answers 500",
    )
    verdict.expect(isinstance(item.get("status"), dict), "status", "status is missing: CVAT's model list answers 500")


def main(argv: list[str] | None = None, *, description: str | None = None, repo: Path | None = None) -> int:
    """The smoke test's CLI; `repo` is the checkout whose assets/ holds the default image."""
    args = parse_args(argv, description, (repo / DEFAULT_IMAGE) if repo else DEFAULT_IMAGE)
    labels: Labels | None = None
    supported: Sequence[str] | None = None
    kind, name = args.kind, ""
    yaml_path = args.function / "function.yaml"
    try:
        if yaml_path.is_file():
            config = load_function_config(yaml_path)
            labels, name, supported = config.labels, config.name, config.supported_shape_types
            if kind == "auto":
                kind = config.kind
        elif kind == "auto" or args.dashboard:
            print(f"FAIL: {yaml_path} not found; pass --function DIR or --kind", file=sys.stderr)
            return 2
        data = args.image.read_bytes()
        size = image_size(data)
    except (CvatFunctionError, OSError) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 2
    request = synthetic_request(kind, data, size, args.threshold)
    body = json.dumps(request).encode("utf-8")
    print(f"{kind} request: {args.image.name} {size[0]}x{size[1]}, {len(body)} bytes → {args.url}")
    verdict = Verdict()
    try:
        with Client(args.url, args.timeout) as client:
            headers = {"Content-Type": "application/json"}
            if args.dashboard:
                check_discovery(client, name, verdict)
                headers |= {**CVAT_HEADERS, "x-nuclio-function-name": name, "x-nuclio-path": "/"}
                path = "/api/function_invocations"
            else:
                path = None
            started = time.perf_counter()
            answer: HttpAnswer = client.request("POST", body, headers, path=path)
            latency = time.perf_counter() - started
    except OSError as e:
        print(f"FAIL: could not reach {args.url}: {e}", file=sys.stderr)
        return 1
    result = check_answer(
        kind, answer, request=request, image_size=size, labels=labels, supported_shape_types=supported
    )
    verdict.checks += result.checks
    verdict.problems += result.problems
    if args.max_latency is not None:
        verdict.expect(
            latency <= args.max_latency,
            f"latency <= {args.max_latency:g} s",
            f"latency {latency:.3f} s exceeds --max-latency {args.max_latency:g} s",
        )
    for check in verdict.checks:
        print(f"  ok   {check}")
    for problem in verdict.problems:
        print(f"  FAIL {problem}")
    print(f"latency: {latency * 1000:.1f} ms, answer: {len(answer.body)} bytes")
    if not verdict.ok:
        print(f"FAIL: {len(verdict.problems)} problem(s); see above", file=sys.stderr)
        return 1
    print("PASS")
    return 0
