"""scripts/check_discovery.py against a fake dashboard on 127.0.0.1 and bad payloads."""

from __future__ import annotations

import http.server
import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_discovery.py"
_spec = importlib.util.spec_from_file_location("check_discovery", SCRIPT)
assert _spec is not None
assert _spec.loader is not None
cd = importlib.util.module_from_spec(_spec)
sys.modules["check_discovery"] = cd
_spec.loader.exec_module(cd)

GOOD: dict[str, Any] = {
    "fn": {
        "metadata": {
            "name": "fn",
            "annotations": {"type": "detector", "spec": '[{"id": 0, "name": "face"}]'},
        },
        "spec": {"description": "Faces 1.0", "runtime": "python:3.12"},
        "status": {"state": "ready", "httpPort": 32768},
    }
}


@pytest.fixture
def dashboard() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Fake(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = json.dumps(GOOD if self.path == "/api/functions" else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_listed_function_passes_and_cvat_headers_are_sent(
    dashboard: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = dashboard
    assert cd.main(["--dashboard", url, "--name", "fn", "--wait", "0"]) == 0
    assert seen[0]["x-nuclio-project-name"] == "cvat"
    assert seen[0]["x-nuclio-function-namespace"] == "nuclio"


def test_function_outside_project_cvat_fails(
    dashboard: tuple[str, list[dict[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = dashboard
    assert cd.main(["--dashboard", url, "--name", "other", "--wait", "0"]) == 1
    assert "other is not in project cvat (dashboard lists: fn)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda f: f["metadata"]["annotations"].update(type="classifier"),
            "annotations.type",
        ),
        (lambda f: f["metadata"]["annotations"].update(spec="[{,}]"), "not valid JSON"),
        (lambda f: f["spec"].pop("description"), "spec.description is empty"),
        (lambda f: f.pop("status"), "status is missing"),
        (lambda f: f["metadata"].pop("annotations"), "annotations is missing"),
    ],
)
def test_each_defect_cvat_chokes_on_is_reported(mutate: Any, message: str) -> None:
    functions = json.loads(json.dumps(GOOD))
    mutate(functions["fn"])
    assert any(message in p for p in cd.problems_with(functions, "fn"))


def test_unreachable_dashboard_fails() -> None:
    assert cd.main(["--dashboard", "http://127.0.0.1:9", "--name", "fn", "--wait", "0"]) == 1
