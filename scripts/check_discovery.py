#!/usr/bin/env python3
"""Check that a deployed function is visible to CVAT through the Nuclio dashboard.

Asks the dashboard exactly what CVAT asks (``GET /api/functions`` with the project and
namespace headers) and checks the fields CVAT needs to list the function: a known
``type`` annotation, a ``spec`` annotation that is a JSON list, a ``description`` and a
``status``. Standard library only. Exit 0 when visible and well-formed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

KINDS = {"detector", "interactor", "tracker", "reid"}


def problems_with(functions: Any, name: str) -> list[str]:
    """Return what keeps CVAT from listing ``name``; empty when nothing does."""
    if not isinstance(functions, dict):
        kind = type(functions).__name__
        return [f"/api/functions returned {kind}, CVAT expects an object"]
    if name not in functions:
        listed = ", ".join(sorted(functions)) or "nothing"
        return [f"{name} is not in project cvat (dashboard lists: {listed})"]
    function = functions[name]
    found: list[str] = []
    annotations = function.get("metadata", {}).get("annotations")
    if not isinstance(annotations, dict):
        return ["metadata.annotations is missing: CVAT's function list answers 500"]
    if annotations.get("type") not in KINDS:
        found.append(f"annotations.type {annotations.get('type')!r} is not one of {sorted(KINDS)}")
    try:
        labels = json.loads(annotations.get("spec") or "[]")
        if not isinstance(labels, list):
            found.append("annotations.spec is JSON but not a list")
    except json.JSONDecodeError as error:
        found.append(f"annotations.spec is not valid JSON: {error}")
    if not function.get("spec", {}).get("description"):
        found.append("spec.description is empty: CVAT's function list answers 500")
    if not isinstance(function.get("status"), dict):
        found.append("status is missing: CVAT's function list answers 500")
    return found


def fetch_functions(dashboard: str, namespace: str, timeout: float) -> Any:
    request = urllib.request.Request(
        dashboard.rstrip("/") + "/api/functions",
        headers={
            "x-nuclio-project-name": "cvat",
            "x-nuclio-function-namespace": namespace,
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--dashboard", default="http://127.0.0.1:8070")
    parser.add_argument("--name", required=True, help="metadata.name of the function")
    parser.add_argument("--namespace", default="nuclio", help="CVAT_NUCLIO_FUNCTION_NAMESPACE")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to retry")
    args = parser.parse_args(argv)

    deadline = time.monotonic() + args.wait
    found: list[str] = []
    while True:
        try:
            found = problems_with(fetch_functions(args.dashboard, args.namespace, 10.0), args.name)
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as error:
            found = [f"dashboard {args.dashboard} did not answer: {error}"]
        if not found or time.monotonic() >= deadline:
            break
        time.sleep(2)
    if found:
        for problem in found:
            print(f"check_discovery: {problem}", file=sys.stderr)
        return 1
    print(f"check_discovery: {args.name} is listed by the dashboard the way CVAT reads it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
