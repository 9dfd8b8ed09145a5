"""`python -m cvat_function serve`: every function folder of the repo, served the way Nuclio serves it.

* Each function folder (the repo root and `examples/*/`: a folder with function.yaml and main.py) gets
  its own port, like Nuclio's HTTP trigger: any method and path goes to the handler, CVAT POSTs `/`.
  `GET /ready` (200 once every worker finished `init_context`), `/live` and `/__internal/health` are
  answered by the server itself (in Nuclio they live on the processor's ports 8082/8080).
* A dashboard API on one port (8070) that a real CVAT can use (`CVAT_NUCLIO_HOST`/`CVAT_NUCLIO_PORT`):
  `GET /api/functions[/<name>]` and `POST /api/function_invocations`.
* Workers, timeouts and limits follow function.yaml (`workers.Pool`); a body over `maxRequestBodySize`
  is refused with 413 while it arrives (from its Content-Length when it declares one), before the handler
  runs. The HTTP layer and its limits against hostile clients are in `http_server`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..core.config import DEFAULT_MAX_BODY, NuclioSettings, load_nuclio_settings, parse_go_duration
from .entry import is_function_dir, package_dir
from .http_server import HttpServer, Limits, ReadBody, Request
from .workers import Pool, Reply, json_reply

log = logging.getLogger("cvat_function.tools.serve")

PROJECT = "cvat"
NAMESPACE = "nuclio"
PROJECT_LABEL = "nuclio.io/project-name"
WATCHED_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".txt")
_SKIPPED_DIRS = {".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"}


# -- discovery ---------------------------------------------------------------------------------------
def discover(root: Path) -> list[Path]:
    """The root (if it is a function folder) and every `examples/*/` function folder, in that order."""
    found = [root] if is_function_dir(root) else []
    examples = root / "examples"
    if examples.is_dir():
        found += sorted(p for p in examples.iterdir() if p.is_dir() and is_function_dir(p))
    return found


def read_settings(function_dir: Path) -> NuclioSettings:
    return load_nuclio_settings(function_dir / "function.yaml")


def select(dirs: list[Path], only: Iterable[str]) -> list[Path]:
    """Keep the folders named by `--only` (metadata.name, folder name or path)."""
    wanted = list(only)
    if not wanted:
        return dirs
    kept = []
    for path in dirs:
        try:
            name = read_settings(path).name
        except Exception:
            name = None
        for item in wanted:
            if item in (name, path.name) or (Path(item).exists() and Path(item).resolve() == path.resolve()):
                kept.append(path)
                break
    return kept


def watched_files(function_dir: Path, root: Path) -> Iterator[Path]:
    """The files whose change reloads a function: its own sources and the framework package."""
    bases = [function_dir, package_dir()]
    seen = 0
    for base in bases:
        for dirpath, dirnames, filenames in os.walk(base):
            here = Path(dirpath)
            dirnames[:] = [
                d for d in dirnames if d not in _SKIPPED_DIRS and not (here == function_dir and d == "examples")
            ]
            for filename in filenames:
                if filename.endswith(WATCHED_SUFFIXES):
                    seen += 1
                    if seen > 5000:  # a folder full of data is not a function's sources
                        return
                    yield here / filename


def snapshot(paths: Iterable[Path]) -> dict[Path, float]:
    out = {}
    for path in paths:
        try:
            out[path] = path.stat().st_mtime
        except OSError:
            continue
    return out


# -- one served function -------------------------------------------------------------------------------
@dataclass
class ServedFunction:
    """A function folder, its current worker pool and the port it answers on."""

    dir: Path
    port: int
    num_workers: int | None = None
    env_overrides: dict[str, str] = field(default_factory=dict)
    settings: NuclioSettings | None = None
    pool: Pool | None = None
    error: str = ""
    fallback_name: str = ""
    mtimes: dict[Path, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.settings.name if self.settings else self.fallback_name or self.dir.name

    @property
    def state(self) -> str:
        if self.error:
            return "error"
        return self.pool.state if self.pool else "building"

    @property
    def message(self) -> str:
        return self.error or (self.pool.message if self.pool else "")

    def start(self, root: Path) -> None:
        """(Re)load function.yaml and start a fresh pool; the old one is closed after the swap."""
        self.mtimes = snapshot(watched_files(self.dir, root))
        old = self.pool
        try:
            settings = read_settings(self.dir)
        except Exception as e:
            with self._lock:
                self.error, self.pool = f"function.yaml: {e}", None
            log.error("%s: %s", self.name, self.error)
        else:
            pool = Pool(settings, self.dir, num_workers=self.num_workers, env_overrides=self.env_overrides)
            with self._lock:
                self.settings, self.error, self.pool = settings, "", pool
            pool.start()
        if old is not None:
            threading.Thread(target=old.close, daemon=True).start()

    def changed(self, root: Path) -> Path | None:
        now = snapshot(watched_files(self.dir, root))
        for path in now.keys() | self.mtimes.keys():
            if now.get(path) != self.mtimes.get(path):
                return path
        return None

    def invoke(self, message: dict[str, Any]) -> Reply:
        with self._lock:
            pool = self.pool
        if pool is None:
            reason = "function.yaml could not be read: the reason is in serve's log and the dashboard's status.message"
            return json_reply(503, {"error": "Server not ready", "state": "error", "reason": reason})
        return pool.invoke(message)

    @property
    def max_body(self) -> int:
        return self.settings.max_body if self.settings else DEFAULT_MAX_BODY

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def to_nuclio(self, host: str) -> dict[str, Any]:
        """The function object as the dashboard returns it (what CVAT's LambdaFunction parses)."""
        settings = self.settings
        raw = settings.raw if settings else {}
        metadata = raw.get("metadata") or {}
        labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
        labels[PROJECT_LABEL] = PROJECT
        spec = json.loads(json.dumps(raw.get("spec") or {}, default=str))
        if settings:
            spec.update(description=settings.description, runtime=settings.runtime, handler=settings.handler)
        status: dict[str, Any] = {
            "state": self.state,
            "httpPort": self.port,
            "internalInvocationUrls": [f"{host}:{self.port}"],
            "externalInvocationUrls": [f"{host}:{self.port}"],
        }
        if self.message:
            status["message"] = self.message
        return {
            "metadata": {
                "name": self.name,
                "namespace": NAMESPACE,
                "labels": labels,
                "annotations": dict(settings.annotations) if settings else {},
            },
            "spec": spec,
            "status": status,
        }


# -- HTTP ----------------------------------------------------------------------------------------------
def canonical_header(name: str) -> str:
    """`content-type` → `Content-Type`, as Go's net/http (and so Nuclio) spells header names."""
    return "-".join(part.capitalize() for part in name.split("-"))


def event_message(request: Request, body: bytes, target: str | None = None) -> dict[str, Any]:
    """What the processor hands the wrapper for one HTTP request (`target`: path?query, default the request's)."""
    url = urlsplit(target or request.target)
    headers: dict[str, str] = {}
    for key, value in request.headers:
        headers[canonical_header(key)] = value
    return {
        "body": body,
        "content_type": request.header("content-type", ""),
        "headers": headers,
        "method": request.method,
        "path": url.path or "/",
        "fields": dict(parse_qsl(url.query)),
    }


class FunctionApp:
    """The HTTP trigger of one function: every method and path goes to the handler, but the health paths."""

    def __init__(self, function: ServedFunction) -> None:
        self.function = function

    def route(self, request: Request) -> Reply | ReadBody:
        function = self.function
        path = request.path
        if request.method == "GET" and path in ("/ready", "/live", "/__internal/health"):
            ready = function.state == "ready" or path != "/ready"
            return json_reply(200 if ready else 503, {"state": function.state})
        return ReadBody(function.max_body, lambda req, body: function.invoke(event_message(req, body)))


class DashboardApp:
    """The part of Nuclio's dashboard API that CVAT uses."""

    def __init__(self, functions: list[ServedFunction], host: str) -> None:
        self.functions = functions
        self.host = host

    def _visible(self, request: Request) -> dict[str, ServedFunction]:
        project = request.header("x-nuclio-project-name")
        namespace = request.header("x-nuclio-function-namespace")
        if (project and project != PROJECT) or (namespace and namespace != NAMESPACE):
            return {}
        return {f.name: f for f in self.functions}

    def route(self, request: Request) -> Reply | ReadBody:
        path = request.path.rstrip("/")
        if path == "/api/function_invocations":
            return self._invocation(request)
        if request.method not in ("GET", "HEAD"):
            return json_reply(405, {"error": "this local dashboard only lists and invokes functions"})
        if path == "/api/functions":
            return json_reply(200, {n: f.to_nuclio(self._host(request)) for n, f in self._visible(request).items()})
        if path.startswith("/api/functions/"):
            function = self._visible(request).get(path.removeprefix("/api/functions/"))
            if function is None:
                return json_reply(404, {"error": "Function not found"})
            return json_reply(200, function.to_nuclio(self._host(request)))
        if path == "/api/projects":
            return json_reply(200, {PROJECT: {"metadata": {"name": PROJECT, "namespace": NAMESPACE}, "spec": {}}})
        if path in ("/ready", "/live", "/api/healthz"):
            states = {f.name: f.state for f in self.functions}
            ready = path != "/ready" or all(s == "ready" for s in states.values())
            return json_reply(200 if ready else 503, states)
        return json_reply(404, {"error": f"no such resource {path}"})

    def _host(self, request: Request) -> str:
        if self.host not in ("0.0.0.0", "::", ""):
            return self.host
        return (request.header("host") or "").split(":")[0]

    def _invocation(self, request: Request) -> Reply | ReadBody:
        """Routed by header, so the function (and its body limit) is known before the body is read."""
        name = request.header("x-nuclio-function-name")
        if not name:
            return json_reply(400, {"error": "x-nuclio-function-name header is required"})
        function = self._visible(request).get(name)
        if function is None:
            return json_reply(404, {"error": f"Function {name} not found"})
        timeout = request.header("x-nuclio-invoke-timeout")
        if timeout:
            try:
                parse_go_duration(timeout)
            except ValueError:
                return json_reply(400, {"error": f"x-nuclio-invoke-timeout {timeout!r} is not a duration"})

        def invoke(req: Request, body: bytes) -> Reply:
            message = event_message(req, body, req.header("x-nuclio-path") or "/")
            message["headers"] = {k: v for k, v in message["headers"].items() if not k.lower().startswith("x-nuclio-")}
            reply = function.invoke(message)
            return Reply(reply.status, reply.content_type, reply.body, reply.headers, f"{function.name}/{reply.worker}")

        return ReadBody(function.max_body, invoke)


# -- the whole server ----------------------------------------------------------------------------------
@dataclass
class ServeOptions:
    root: Path = Path(".")
    host: str = "127.0.0.1"
    port_base: int = 8090
    ports: dict[str, int] = field(default_factory=dict)
    dashboard_port: int = 8070
    only: list[str] = field(default_factory=list)
    workers: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    reload: bool = False
    reload_interval: float = 1.0
    port_file: Path | None = None
    limits: Limits = field(default_factory=Limits)


class Serve:
    """All servers of one `serve` run: start, watch for changes, stop."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.root = options.root.resolve()
        self.functions: list[ServedFunction] = []
        self.servers: list[HttpServer] = []
        self.serving: list[HttpServer] = []
        self.stopping = threading.Event()

    def start(self) -> None:
        dirs = select(discover(self.root), self.options.only)
        if not dirs:
            raise SystemExit(
                f"no function folder (function.yaml + model_handler.py or main.py) in {self.root} or its examples/"
                + (f" matching {self.options.only}" if self.options.only else "")
            )
        host = self.options.host
        for index, path in enumerate(dirs):
            function = ServedFunction(path, 0, self.options.workers, dict(self.options.env), fallback_name=path.name)
            with contextlib.suppress(Exception):
                function.settings = read_settings(path)
            aliases = {function.name, path.name, str(path)}
            port = next((p for k, p in self.options.ports.items() if k in aliases), None)
            if port is None:
                port = self.options.port_base + index if self.options.port_base else 0
            server = self._bind(host, port, FunctionApp(function), function.name)
            function.port = server.server_address[1]
            self.functions.append(function)
            self.servers.append(server)
        names = [f.name for f in self.functions]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            self.close_servers()
            raise SystemExit(f"several function folders use metadata.name {sorted(duplicates)}; names must be unique")
        dashboard = self._bind(host, self.options.dashboard_port, DashboardApp(self.functions, host), "dashboard")
        self.servers.append(dashboard)
        self.dashboard_port = dashboard.server_address[1]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
            self.serving.append(server)
        for function in self.functions:
            function.start(self.root)
            log.info("%s: %s → http://%s:%d/", function.name, function.dir, host, function.port)
        log.info("dashboard → http://%s:%d/api/functions", host, self.dashboard_port)
        if self.options.port_file:
            self.write_port_file(self.options.port_file)

    def _bind(self, host: str, port: int, app: Any, what: str) -> HttpServer:
        try:
            return HttpServer((host, port), app, what, self.options.limits)
        except OSError as e:
            self.close_servers()
            option = "--dashboard-port" if what == "dashboard" else "--port-base or --port NAME=PORT"
            raise SystemExit(
                f"cannot listen on {host}:{port} for {what}: {e.strerror}; choose another with {option}"
            ) from e

    def write_port_file(self, path: Path) -> None:
        data = {
            "pid": os.getpid(),
            "host": self.options.host,
            "dashboard": self.dashboard_port,
            "functions": {f.name: f.port for f in self.functions},
            "dirs": {f.name: str(f.dir) for f in self.functions},
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)

    def run_until_stopped(self) -> None:
        while not self.stopping.wait(self.options.reload_interval if self.options.reload else 3600):
            if self.options.reload:
                for function in self.functions:
                    changed = function.changed(self.root)
                    if changed is not None:
                        log.info("%s: %s changed; reloading", function.name, changed)
                        function.start(self.root)

    def close_servers(self) -> None:
        for server in self.servers:
            server.server_close()

    def stop(self) -> None:
        """Stop accepting, then stop every worker."""
        threads = [threading.Thread(target=s.shutdown, daemon=True) for s in self.serving]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        self.close_servers()
        closers = [threading.Thread(target=f.close, daemon=True) for f in self.functions]
        for thread in closers:
            thread.start()
        for thread in closers:
            thread.join(20)


def run(options: ServeOptions) -> int:
    """Serve until SIGINT/SIGTERM; exit 0 after a clean stop."""
    serve = Serve(options)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        serve.stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        serve.start()
        serve.run_until_stopped()
    finally:
        serve.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("stopped")
    return 0
