"""Nuclio's worker model for one function, reproduced with local processes.

A `Pool` starts `numWorkers` processes (`cvat_function.tools.worker`), each running `init_context` once. The pool
is `ready` only when every worker has finished `init_context`; one failing (or not finishing within
`readinessTimeoutSeconds`) puts the pool in `error` with the reason. Each event goes to one free worker:

* no free worker within `workerAvailabilityTimeoutMilliseconds` → 503, empty body;
* the handler runs longer than `eventTimeout` → 408, and that worker is killed and started again
  (its `init_context` runs again), as the processor restarts a stuck wrapper;
* a worker that dies mid-event → 500 and a restart.

A worker whose `init_context` raises exits, as Nuclio's wrapper does: the pool goes to `error`, the reason
(exception type and message) becomes the dashboard's `status.message`, the traceback goes to serve's log
only, and invocations get a 503 that names neither.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..core.config import NuclioSettings
from .entry import framework_path
from .http_answer import HttpAnswer

log = logging.getLogger("cvat_function.tools.serve")
TIMEOUT_BODY = json.dumps({"error": "Execution timed out"}).encode()
"""What the processor answers with a 408 (Nuclio ≥ 1.15)."""
MAX_TIMER = 7 * 24 * 3600.0
"""The longest wait serve arms (one week): `poll()` takes int milliseconds and overflows past ~24.8 days, so
an eventTimeout of 597 h would raise instead of waiting. Longer settings mean "never" and are clamped."""
NOT_READY_HINT = "init_context failed: the reason is in serve's log and in the dashboard's status.message"


def bounded_timeout(seconds: float, what: str, function: str) -> float:
    """`seconds`, or MAX_TIMER (with a warning) when it is longer than any timer can wait."""
    if seconds > MAX_TIMER:
        log.warning("%s: %s of %g s is longer than serve waits; using %g s", function, what, seconds, MAX_TIMER)
        return MAX_TIMER
    return seconds


Reply = HttpAnswer
"""An HTTP answer from a worker (or from the pool itself)."""


def json_reply(status: int, payload: object) -> Reply:
    return Reply(status, "application/json", json.dumps(payload).encode())


class WorkerDied(Exception):
    """The worker process went away while it held an event."""


def worker_environment(settings: NuclioSettings, function_dir: Path, overrides: Mapping[str, str]) -> dict[str, str]:
    """What Nuclio puts in the wrapper's environment: spec.env, NUCLIO_*, the function folder on PYTHONPATH."""
    env = dict(os.environ)
    env.update(settings.env)
    env.update(
        NUCLIO_FUNCTION_NAME=settings.name,
        NUCLIO_FUNCTION_DESCRIPTION=settings.description,
        NUCLIO_FUNCTION_VERSION="-1",
        NUCLIO_FUNCTION_HANDLER=settings.handler,
        NUCLIO_HANDLER=settings.handler,
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    paths = [str(function_dir), str(framework_path())] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class Worker:
    """One worker process and the socket the server talks to it over."""

    def __init__(self, worker_id: str, function_dir: Path, settings: NuclioSettings, env: dict[str, str]) -> None:
        self.id = worker_id
        parent, child = socket.socketpair()
        self.conn = Connection(parent.detach())
        child_fd = child.detach()
        try:
            command = [sys.executable, "-u", "-m", "cvat_function.tools.worker", "--fd", str(child_fd)]
            command += ["--handler", settings.handler, "--worker-id", worker_id, "--trigger", settings.trigger]
            self.process = subprocess.Popen(
                command,
                cwd=function_dir,
                env=env,
                pass_fds=(child_fd,),
                start_new_session=True,  # Ctrl-C in the terminal reaches the server, which stops the workers
            )
        finally:
            os.close(child_fd)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float) -> str | None:
        """None once `init_context` finished, else why it did not."""
        try:
            if not self.conn.poll(timeout):
                return f"worker {self.id}: init_context did not finish within {timeout:g} s (readinessTimeoutSeconds)"
            message = self.conn.recv()
        except (EOFError, OSError):
            self.process.wait(timeout=5)
            return f"worker {self.id} exited with code {self.process.returncode} before it was ready"
        if message[0] == "ready":
            return None
        reason, details = message[1], message[2] if len(message) > 2 else ""
        log.error("worker %s: init_context failed: %s\n%s", self.id, reason, details.rstrip())
        return f"worker {self.id}: init_context failed: {reason}"

    def request(self, message: dict[str, Any], timeout: float | None) -> Reply | None:
        """The worker's answer, or None when it took longer than `timeout`."""
        try:
            self.conn.send(message)
            if not self.conn.poll(timeout):
                return None
            _, status, content_type, body, headers = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as e:
            raise WorkerDied(f"worker {self.id} (pid {self.pid}) exited while handling the event") from e
        return Reply(status, content_type, body, headers, self.id)

    def ask_to_exit(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.conn.send(None)

    def stop(self, grace: float = 3.0) -> None:
        """Ask the worker to exit; kill it if it does not within `grace` seconds."""
        if self.process.poll() is None:
            self.ask_to_exit()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
        self.conn.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # the worker and anything it started
            self.process.wait(timeout=10)


class Pool:
    """The workers of one function generation (a reload makes a new pool)."""

    def __init__(
        self,
        settings: NuclioSettings,
        function_dir: Path,
        *,
        num_workers: int | None = None,
        env_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.dir = function_dir
        self.num_workers = num_workers or settings.num_workers
        self.env = worker_environment(settings, function_dir, env_overrides or {})
        self.readiness_timeout = bounded_timeout(settings.readiness_timeout, "readinessTimeoutSeconds", settings.name)
        self.event_timeout = (
            None if settings.event_timeout is None
            else bounded_timeout(settings.event_timeout, "eventTimeout", settings.name)
        )  # fmt: skip
        self.availability_timeout = bounded_timeout(
            settings.availability_timeout, "workerAvailabilityTimeoutMilliseconds", settings.name
        )
        self.state = "building"
        self.message = ""
        # LIFO: a sequential caller keeps hitting the worker whose caches are warm; under load all are used
        self.idle: queue.LifoQueue[Worker] = queue.LifoQueue()
        self.workers: dict[str, Worker] = {}
        self._lock = threading.Lock()
        self._pending = 0
        self._busy: set[str] = set()
        self._closed = False

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._pending = self.num_workers
        for index in range(self.num_workers):
            self._spawn(str(index), initial=True)

    def _spawn(self, worker_id: str, *, initial: bool) -> None:
        try:
            worker = Worker(worker_id, self.dir, self.settings, self.env)
        except OSError as e:
            self._failed(f"worker {worker_id} could not start: {e}")
            return
        with self._lock:
            self.workers[worker_id] = worker
        threading.Thread(target=self._await_ready, args=(worker, initial), daemon=True).start()

    def _await_ready(self, worker: Worker, initial: bool) -> None:
        started = time.perf_counter()
        problem = worker.wait_ready(self.readiness_timeout)
        if self._closed:
            worker.stop()
            return
        if problem:
            worker.kill()
            self._failed(problem)
            return
        log.info(
            "%s: worker %s ready (pid %d, init_context %.2f s)",
            self.settings.name, worker.id, worker.pid, time.perf_counter() - started,
        )  # fmt: skip
        self.idle.put(worker)
        if initial:
            with self._lock:
                self._pending -= 1
                if self._pending == 0 and self.state == "building":
                    self.state = "ready"
                    log.info("%s: ready (%d worker(s))", self.settings.name, self.num_workers)

    def _failed(self, reason: str) -> None:
        with self._lock:
            self.state, self.message = "error", reason
        log.error("%s: error: %s", self.settings.name, reason)

    def restart(self, worker: Worker, why: str) -> None:
        """Kill a worker and start a fresh one in its place (in the background)."""
        log.warning("%s: restarting worker %s (%s)", self.settings.name, worker.id, why)
        worker.kill()
        worker.conn.close()
        if not self._closed:
            self._spawn(worker.id, initial=False)

    def close(self, grace: float = 3.0) -> None:
        """Stop every worker: busy ones may finish their event for `grace` seconds, then are killed."""
        self._closed = True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._lock:
                if not self._busy:
                    break
            time.sleep(0.02)
        with self._lock:
            workers = list(self.workers.values())
            busy = set(self._busy)
        for worker in workers:
            if worker.id in busy:
                worker.kill()
            else:
                worker.ask_to_exit()
        for worker in workers:
            worker.stop(grace=3.0)

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self.workers.values() if w.process.poll() is None]

    # -- events -----------------------------------------------------------------------------------
    def invoke(self, message: dict[str, Any]) -> Reply:
        """Run one event on a free worker, with Nuclio's 503/408 rules."""
        if self.state != "ready":
            payload = {"error": "Server not ready", "state": self.state}
            return json_reply(503, payload | ({"reason": NOT_READY_HINT} if self.state == "error" else {}))
        try:
            wait = self.availability_timeout
            worker = self.idle.get(timeout=wait) if wait > 0 else self.idle.get_nowait()
        except queue.Empty:
            return Reply(503, "text/plain", b"")
        with self._lock:
            self._busy.add(worker.id)
        try:
            reply = worker.request(message, self.event_timeout)
        except WorkerDied as e:
            self.restart(worker, str(e))
            return Reply(500, "text/plain", f"{e}; it is being restarted".encode(), worker=worker.id)
        except BaseException as e:
            # whatever went wrong, the worker's state is unknown: replace it rather than lose it
            log.exception("%s: worker %s: event failed in serve", self.settings.name, worker.id)
            self.restart(worker, f"serve failed while it held the event: {type(e).__name__}")
            if not isinstance(e, Exception):
                raise
            return Reply(500, "text/plain", b"serve failed while handling the event; see its log", worker=worker.id)
        finally:
            with self._lock:
                self._busy.discard(worker.id)
        if reply is None:
            self.restart(worker, f"event exceeded eventTimeout ({self.event_timeout:g} s)")
            return Reply(408, "application/json", TIMEOUT_BODY, worker=worker.id)
        if self._closed:
            worker.stop()
        else:
            self.idle.put(worker)
        return reply
