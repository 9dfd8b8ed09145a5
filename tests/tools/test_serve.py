"""`serve` reproduces Nuclio's HTTP trigger and dashboard: every status path proven with tiny functions.

One `serve` process (module fixture) serves several tiny function folders written into a temporary
repo (`examples/<name>/`), each with the Nuclio settings its tests need. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from cvat_function.tools.http_client import HttpAnswer, request
from cvat_function.tools.serve_process import ServeProcess, descendants
from cvat_function.tools.workers import MAX_TIMER, bounded_timeout

from .raw_http import exchange, post_head

MAIN_PY = textwrap.dedent(
    '''
    """A tiny Nuclio function for the serve tests: echoes what it saw, sleeps or raises on request."""
    import json
    import os
    import time

    ENV_KEYS = ("NUCLIO_FUNCTION_NAME", "NUCLIO_HANDLER", "FROM_SPEC_ENV", "FROM_CLI")

    def _log(line):
        with open(os.environ["TEST_FUNCTION_LOG"], "a") as f:
            f.write(line + "\\n")

    def init_context(context):
        if os.environ.get("TEST_FAIL_INIT") == "yes":
            raise ValueError("no weights at /models/missing.onnx")
        _log(f"init {os.getpid()}")
        context.user_data.pid = os.getpid()

    def handler(context, event):
        body = event.body
        _log(f"handle {os.getpid()}")
        if isinstance(body, dict) and body.get("sleep"):
            time.sleep(body["sleep"])
        if isinstance(body, dict) and body.get("raise"):
            raise ValueError("boom from the handler")
        seen = {
            "body_type": type(body).__name__,
            "body": body if isinstance(body, dict) else bytes(body).decode("utf-8", "replace"),
            "content_type": event.content_type,
            "method": event.method,
            "path": event.path,
            "fields": dict(event.fields or {}),
            "headers": {str(k): str(v) for k, v in (event.headers or {}).items()},
            "pid": os.getpid(),
            "worker_id": context.worker_id,
            "trigger": event.trigger.name,
            "env": {k: os.environ.get(k) for k in ENV_KEYS},
        }
        return context.Response(
            body=json.dumps(seen), content_type="application/json", status_code=200, headers={"X-Echo": "yes"}
        )
    '''
)

YAML = """\
metadata:
  name: {name}
  namespace: cvat
  labels:
    team: vision
  annotations:
    name: "Test {name}"
    type: "detector"
    version: 1
    spec: |
      [ {{ "id": 0, "name": "thing", "type": "rectangle" }} ]
spec:
  description: "tiny test function {name}"
  runtime: "python:3.12"
  handler: main:handler
  eventTimeout: {event_timeout}
  readinessTimeoutSeconds: 60
  env:
    - name: TEST_FUNCTION_LOG
      value: "{log}"
    - name: TEST_FAIL_INIT
      value: "{fail}"
    - name: FROM_SPEC_ENV
      value: spec-env-value
  triggers:
    myHttpTrigger:
      kind: http
      numWorkers: {workers}
      workerAvailabilityTimeoutMilliseconds: {wait_ms}
      attributes:
        maxRequestBodySize: {max_body}
"""


def write_function(
    folder: Path,
    name: str,
    *,
    workers: int = 1,
    wait_ms: int = 10000,
    event_timeout: str = "30s",
    max_body: int = 33554432,
    fail: bool = False,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "calls.log"
    (folder / "main.py").write_text(MAIN_PY)
    (folder / "function.yaml").write_text(
        YAML.format(
            name=name,
            workers=workers,
            wait_ms=wait_ms,
            event_timeout=event_timeout,
            max_body=max_body,
            log=log,
            fail="yes" if fail else "no",
        )
    )
    return log


def calls(log: Path, kind: str) -> list[str]:
    if not log.is_file():
        return []
    return [line.split()[1] for line in log.read_text().splitlines() if line.startswith(kind + " ")]


def post(url: str, payload: object = None, *, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 20.0) -> HttpAnswer:  # fmt: skip
    data = body if body is not None else json.dumps(payload or {}).encode()
    return request(url, "POST", data, {"Content-Type": "application/json", **(headers or {})}, timeout=timeout)


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    logs = {
        "echo": write_function(root / "examples" / "echo", "echo", workers=2),
        "slow": write_function(root / "examples" / "slow", "slow", event_timeout="1s"),
        "busy": write_function(root / "examples" / "busy", "busy", wait_ms=200),
        "small": write_function(root / "examples" / "small", "small", max_body=1024),
        "broken": write_function(root / "examples" / "broken", "broken", fail=True),
        "forever": write_function(root / "examples" / "forever", "forever", event_timeout="600h"),
    }
    args = ["--env", "FROM_CLI=cli-value", "--header-timeout", "1", "--body-timeout", "1.5"]
    serve = ServeProcess(root, args, log_path=root / "serve.log").start()
    try:
        for name in ("echo", "slow", "busy", "small", "forever"):
            serve.wait_ready(30, serve.url(name) + "ready")
        serve.logs = logs  # type: ignore[attr-defined]
        yield serve
    finally:
        assert serve.stop() == 0, serve.log_tail()


# -- the HTTP trigger ----------------------------------------------------------------------------------
def test_json_body_reaches_the_handler_as_a_dict_with_env_and_headers(served):
    answer = post(served.url("echo") + "?frame=3", {"image": "abc"}, headers={"x-custom": "1"})
    assert answer.status == 200, answer.text
    assert answer.content_type == "application/json"
    assert answer.header("X-Echo") == "yes"
    seen = answer.json()
    assert seen["body_type"] == "dict"
    assert seen["body"] == {"image": "abc"}
    assert seen["method"] == "POST"
    assert seen["path"] == "/"
    assert seen["fields"] == {"frame": "3"}
    assert seen["headers"]["X-Custom"] == "1"  # canonical casing, as Go's net/http
    assert seen["trigger"] == "myHttpTrigger"
    assert seen["worker_id"] in ("0", "1")
    assert seen["env"] == {
        "NUCLIO_FUNCTION_NAME": "echo",
        "NUCLIO_HANDLER": "main:handler",
        "FROM_SPEC_ENV": "spec-env-value",
        "FROM_CLI": "cli-value",
    }


def test_text_plain_json_body_reaches_the_handler_as_bytes(served):
    answer = post(served.url("echo"), body=b'{"image": "abc"}', headers={"Content-Type": "text/plain"})
    assert answer.status == 200
    assert answer.json()["body_type"] == "bytes"
    assert answer.json()["body"] == '{"image": "abc"}'


def test_json_with_a_charset_is_bytes_too(served):
    answer = post(served.url("echo"), body=b"{}", headers={"Content-Type": "application/json; charset=utf-8"})
    assert answer.json()["body_type"] == "bytes"


def test_every_worker_ran_init_context_once(served):
    inits = calls(served.logs["echo"], "init")
    assert len(inits) == 2
    assert len(set(inits)) == 2


def test_a_raising_handler_is_a_500_with_the_traceback_in_text_plain(served):
    answer = post(served.url("echo"), {"raise": True})
    assert answer.status == 500
    assert answer.content_type == "text/plain"
    assert answer.text.startswith('Exception caught in handler - "boom from the handler": Traceback')
    assert "ValueError: boom from the handler" in answer.text
    assert post(served.url("echo"), {}).status == 200  # the worker survives


def test_a_body_over_max_request_body_size_is_a_413_and_the_handler_never_runs(served):
    log = served.logs["small"]
    before = len(calls(log, "handle"))
    answer = post(served.url("small"), body=b"x" * 5000)
    assert answer.status == 413
    assert "maxRequestBodySize" in answer.text
    assert len(calls(log, "handle")) == before
    assert post(served.url("small"), {"image": "small"}).status == 200
    assert len(calls(log, "handle")) == before + 1


def test_no_free_worker_within_the_availability_timeout_is_a_503(served):
    url = served.url("busy")
    holder: dict[str, HttpAnswer] = {}
    thread = threading.Thread(target=lambda: holder.setdefault("slow", post(url, {"sleep": 1.5})))
    thread.start()
    try:
        assert wait_until(lambda: len(calls(served.logs["busy"], "handle")) >= 1, 10)
        started = time.monotonic()
        answer = post(url, {})
        assert answer.status == 503
        assert answer.body == b""
        assert time.monotonic() - started < 1.4  # gave up after ~200 ms, not after the busy event
    finally:
        thread.join(15)
    assert holder["slow"].status == 200
    assert post(url, {}).status == 200


@pytest.mark.slow
def test_an_event_over_event_timeout_is_a_408_and_the_worker_restarts(served):
    url = served.url("slow")
    log = served.logs["slow"]
    first_pid = calls(log, "init")[-1]
    answer = post(url, {"sleep": 5})
    assert answer.status == 408
    assert "timed out" in answer.text
    # the killed worker is replaced: init_context runs again in a new process, then requests succeed
    assert wait_until(lambda: len(calls(log, "init")) == 2, 20), served.log_tail()
    assert calls(log, "init")[-1] != first_pid
    served.wait_ready(20, url + "ready")
    answer = None
    for _ in range(50):
        answer = post(url, {})
        if answer.status != 503:
            break
        time.sleep(0.2)
    assert answer is not None
    assert answer.status == 200
    assert str(answer.json()["pid"]) == calls(log, "init")[-1]


def test_a_failing_init_context_is_an_error_state_with_the_reason_in_the_log_and_dashboard_only(served):
    url = served.url("broken")
    ready = request(url + "ready")
    assert ready.status == 503
    assert ready.json() == {"state": "error"}
    answer = post(url, {})
    assert answer.status == 503
    assert answer.json()["state"] == "error"
    assert "serve's log" in answer.json()["reason"]
    for client_sees in (ready.text, answer.text):
        assert "Traceback" not in client_sees
        assert "missing.onnx" not in client_sees
        assert "main.py" not in client_sees
    listed = request(served.dashboard_url + "/api/functions/broken", headers={"x-nuclio-project-name": "cvat"}).json()
    assert listed["status"]["state"] == "error"
    reason = "worker 0: init_context failed: ValueError: no weights at /models/missing.onnx"
    assert listed["status"]["message"] == reason
    assert request(served.dashboard_url + "/ready").status == 503  # not every function is ready
    log = served.log_tail(100_000)
    assert f"{reason}\nTraceback" in log
    assert 'main.py", line' in log
    # as with Nuclio's wrapper, the worker is gone: no process of serve runs in the broken folder
    assert served.process is not None
    broken_dir = str(Path(served.ports["dirs"]["broken"]).resolve())
    cwds = []
    for pid in descendants(served.process.pid):
        with contextlib.suppress(OSError):
            cwds.append(os.readlink(f"/proc/{pid}/cwd"))
    assert cwds  # the other functions' workers
    assert broken_dir not in cwds


def test_an_absurd_event_timeout_is_clamped_and_never_loses_the_worker(served):
    """600 h overflows poll()'s milliseconds; serve clamps it (with a warning) and the worker keeps serving."""
    url = served.url("forever")
    for _ in range(3):  # one worker: each answer means it came back to the pool
        assert post(url, {}, timeout=10).status == 200
    assert "forever: eventTimeout of 2.16e+06 s is longer than serve waits" in served.log_tail(100_000)


# -- hostile clients, end to end (the HTTP layer's own tests are in test_http_server.py) -----------------
def _port(served, name: str | None = None) -> int:
    return served.ports["functions"][name] if name else served.ports["dashboard"]


def test_a_negative_chunk_size_is_400_not_a_read_to_eof(served):
    log = served.logs["small"]
    before = len(calls(log, "handle"))
    head = post_head("/", "Transfer-Encoding: chunked", "Content-Type: application/json")
    answer = exchange(_port(served, "small"), [head + b"-1\r\n", b"x" * 100_000])
    assert answer.status == 400, answer.raw
    assert answer.closed
    assert len(calls(log, "handle")) == before


def test_a_chunked_body_over_max_request_body_size_is_413_and_never_handled(served):
    log = served.logs["small"]
    before = len(calls(log, "handle"))
    body = b"".join(b"100\r\n" + b"y" * 256 + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"  # 1280 > 1024
    answer = exchange(_port(served, "small"), post_head("/", "Transfer-Encoding: chunked") + body)
    assert answer.status == 413, answer.raw
    assert b"maxRequestBodySize (1024 bytes)" in answer.raw
    assert len(calls(log, "handle")) == before


def test_transfer_encoding_and_content_length_together_are_refused(served):
    log = served.logs["echo"]
    before = len(calls(log, "handle"))
    smuggled = post_head("/smuggled", "Content-Length: 0")
    data = post_head("/", "Content-Length: 5", "Transfer-Encoding: chunked") + b"2\r\n{}\r\n0\r\n\r\n" + smuggled
    answer = exchange(_port(served, "echo"), data)
    assert answer.statuses == [400], answer.raw
    assert len(calls(log, "handle")) == before


def test_a_get_with_a_body_reaches_the_handler_and_the_next_request_is_its_own(served):
    inner = post_head("/smuggled", "Content-Length: 0")
    first = post_head("/a", "Content-Type: text/plain", f"Content-Length: {len(inner)}", method="GET") + inner
    answer = exchange(_port(served, "echo"), first + post_head("/b", "Connection: close", method="GET"))
    assert answer.statuses == [200, 200], answer.raw
    bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in answer.raw.split(b"HTTP/1.1 ")[1:]]
    assert [(b["method"], b["path"], b["body"]) for b in bodies] == [("GET", "/a", inner.decode()), ("GET", "/b", "")]


def test_a_half_sent_request_is_408_after_the_body_timeout(served):
    answer = exchange(_port(served, "echo"), post_head("/", "Content-Length: 100") + b"{", read_for=8)
    assert answer.status == 408, answer.raw
    assert answer.seconds < 5
    stalled = exchange(_port(served), b"GET /api/functions HTTP/1.1\r\nHost: x\r\n", read_for=8)
    assert stalled.status == 408, stalled.raw  # the dashboard too
    assert post(served.url("echo"), {}).status == 200


def test_the_dashboard_answers_404_for_an_unknown_function_without_reading_its_body(served):
    head = post_head("/api/function_invocations", "x-nuclio-function-name: nope", f"Content-Length: {64 << 20}")
    answer = exchange(_port(served), [head, b"z" * 65536])
    assert answer.status == 404, answer.raw
    assert answer.closed
    assert answer.seconds < 4


def test_dashboard_invocations_use_the_named_functions_body_limit_chunked_too(served):
    body = b"500\r\n" + b"q" * 1280 + b"\r\n0\r\n\r\n"
    head = post_head("/api/function_invocations", "x-nuclio-function-name: small", "Transfer-Encoding: chunked")
    assert exchange(_port(served), head + body).status == 413
    head = post_head("/api/function_invocations", "x-nuclio-function-name: echo", "Transfer-Encoding: chunked")
    answer = exchange(_port(served), head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") + body)
    assert answer.status == 200, answer.raw  # 32 MiB for echo


# -- the dashboard ---------------------------------------------------------------------------------------
CVAT_HEADERS = {
    "x-nuclio-project-name": "cvat",
    "x-nuclio-function-namespace": "nuclio",
    "x-nuclio-invoke-via": "domain-name",
    "X-Nuclio-Invoke-Timeout": "120s",
}


def test_the_dashboard_lists_functions_as_cvat_parses_them(served):
    answer = request(served.dashboard_url + "/api/functions", headers=CVAT_HEADERS)
    assert answer.status == 200
    listed = answer.json()
    assert set(listed) == {"echo", "slow", "busy", "small", "broken", "forever"}
    echo = listed["echo"]
    assert echo["metadata"]["name"] == "echo"
    assert echo["metadata"]["namespace"] == "nuclio"
    assert echo["metadata"]["labels"] == {"team": "vision", "nuclio.io/project-name": "cvat"}
    annotations = echo["metadata"]["annotations"]
    assert annotations["type"] == "detector"
    assert annotations["version"] == "1"  # strings, as Nuclio stores them
    assert all(isinstance(v, str) for v in annotations.values())
    assert json.loads(annotations["spec"]) == [{"id": 0, "name": "thing", "type": "rectangle"}]
    assert echo["spec"]["description"] == "tiny test function echo"
    assert echo["spec"]["runtime"] == "python:3.12"
    assert echo["spec"]["handler"] == "main:handler"
    assert echo["status"]["state"] == "ready"
    assert echo["status"]["httpPort"] == served.ports["functions"]["echo"]


def test_the_dashboard_list_without_the_project_header_shows_the_cvat_functions(served):
    assert set(request(served.dashboard_url + "/api/functions").json()) == set(served.ports["functions"])


def test_another_project_or_namespace_sees_no_function(served):
    url = served.dashboard_url + "/api/functions"
    assert request(url, headers={"x-nuclio-project-name": "default"}).json() == {}
    assert request(url, headers={**CVAT_HEADERS, "x-nuclio-function-namespace": "cvat"}).json() == {}
    assert request(url + "/echo", headers={"x-nuclio-project-name": "default"}).status == 404


def test_the_dashboard_gets_one_function_or_404(served):
    one = request(served.dashboard_url + "/api/functions/echo", headers=CVAT_HEADERS)
    assert one.status == 200
    assert one.json()["metadata"]["name"] == "echo"
    assert request(served.dashboard_url + "/api/functions/nope", headers=CVAT_HEADERS).status == 404


def test_dashboard_invocations_are_routed_by_function_name_and_path(served):
    url = served.dashboard_url + "/api/function_invocations"
    headers = {**CVAT_HEADERS, "x-nuclio-function-name": "echo", "x-nuclio-path": "/sub?x=1"}
    answer = post(url, {"image": "abc"}, headers=headers)
    assert answer.status == 200
    assert answer.header("X-Echo") == "yes"  # the function's headers are relayed
    seen = answer.json()
    assert seen["body"] == {"image": "abc"}
    assert seen["path"] == "/sub"
    assert seen["fields"] == {"x": "1"}
    assert not any(k.lower().startswith("x-nuclio-") for k in seen["headers"])
    assert post(url, {"raise": True}, headers=headers).status == 500  # status relayed


def test_dashboard_invocation_errors(served):
    url = served.dashboard_url + "/api/function_invocations"
    assert post(url, {}, headers=CVAT_HEADERS).status == 400
    assert post(url, {}, headers={**CVAT_HEADERS, "x-nuclio-function-name": "nope"}).status == 404
    small = {**CVAT_HEADERS, "x-nuclio-function-name": "small"}
    assert post(url, body=b"x" * 5000, headers=small).status == 413
    broken = post(url, {}, headers={**CVAT_HEADERS, "x-nuclio-function-name": "broken"})
    assert broken.status == 503


# -- process life cycle ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigint_stops_serve_and_its_workers_with_exit_code_0(tmp_path):
    write_function(tmp_path / "examples" / "echo", "echo", workers=2)
    serve = ServeProcess(tmp_path, log_path=tmp_path / "serve.log").start()
    try:
        serve.wait_ready(30)
        assert serve.process is not None
        workers = descendants(serve.process.pid)
        assert len(workers) == 2
        serve.process.send_signal(signal.SIGINT)
        assert serve.process.wait(timeout=20) == 0, serve.log_tail()
        assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10)
        assert "SIGINT received: stopping" in serve.log_tail()
    finally:
        serve.stop()


@pytest.mark.slow
def test_reload_restarts_a_function_whose_files_changed(tmp_path):
    log = write_function(tmp_path / "examples" / "echo", "echo")
    serve = ServeProcess(tmp_path, ["--reload"], log_path=tmp_path / "serve.log").start()
    try:
        serve.wait_ready(30)
        assert post(serve.url(), {}).header("X-Echo") == "yes"
        main = tmp_path / "examples" / "echo" / "main.py"
        main.write_text(main.read_text().replace('"X-Echo": "yes"', '"X-Echo": "reloaded"'))
        os.utime(main, (time.time() + 5, time.time() + 5))  # a visible mtime change even on coarse clocks

        def reloaded() -> bool:
            answer = post(serve.url(), {})
            return answer.status == 200 and answer.header("X-Echo") == "reloaded"

        assert wait_until(reloaded, 30, 0.3), serve.log_tail()
        assert len(calls(log, "init")) == 2
        assert "changed; reloading" in serve.log_tail()
    finally:
        assert serve.stop() == 0


def test_a_port_in_use_is_a_clear_error(tmp_path):
    write_function(tmp_path / "examples" / "echo", "echo")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "cvat_function", "serve", "--root", str(tmp_path), "--port-base", str(port),
             "--dashboard-port", "0"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for echo" in result.stderr
    assert "--port-base or --port NAME=PORT" in result.stderr


def test_the_timer_clamp_fits_what_poll_can_wait():
    """Why serve clamps: poll() takes int milliseconds; 597 h overflows, MAX_TIMER does not."""
    ours, theirs = socket.socketpair()
    theirs.send(b"x")  # ready at once: poll returns without waiting, after converting its timeout
    conn = Connection(ours.detach())
    try:
        assert conn.poll(MAX_TIMER)
        with pytest.raises(OverflowError):
            conn.poll(597 * 3600)
    finally:
        conn.close()
        theirs.close()
    assert bounded_timeout(597 * 3600, "eventTimeout", "f") == MAX_TIMER
    assert bounded_timeout(30, "eventTimeout", "f") == 30
