"""The HTTP/1.1 layer of `serve`: h11 parses, one thread per connection, every wait bounded.

Why h11 and this shape: `serve` answers from a pool of blocking worker processes, so a request's thread
simply waits for its worker; h11 (python-hyper's sans-IO parser, the one under httpcore/httpx and uvicorn)
does all the parsing and framing, and this module only moves bytes with deadlines. The app sees a request's
headers before its body is read, which lets it answer 404/400/405 or set the body limit of the function the
request is for (the dashboard routes by a header) before a byte of the body is taken in.

Against hostile clients:

* framing: h11 refuses bad chunk sizes (`-1`, `zz`), conflicting Content-Lengths, `Transfer-Encoding` other
  than `chunked`, oversized header blocks; a request with both `Transfer-Encoding` and `Content-Length` (the
  request-smuggling pattern) is refused here. Each is answered (400, 501, 431) and the connection closed.
* size: the body limit is counted while the body arrives, chunked or not; past it the answer is 413 and the
  rest is discarded, never buffered. A declared Content-Length over the limit is refused before reading.
* time: the headers must arrive within `header_timeout` of the request's first byte (of the connection's
  start for its first request), the body within `body_timeout` of the headers, the next request on a
  kept-alive connection start within `idle_timeout`; an answer must be taken within `send_timeout`.
* connections: at most `max_connections` at once per port; one more is answered 503 and closed.
* GET (or any method) with a body: the body is framed like any other, read or discarded, never taken for
  the next request.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlsplit

import h11

from .workers import Reply, json_reply

log = logging.getLogger("cvat_function.tools.serve")
request_log = logging.getLogger("cvat_function.tools.serve.requests")

SERVER_NAME = "cvat-function-serve"
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "upgrade", "te", "trailer"}


@dataclass(frozen=True, slots=True)
class Limits:
    """Timeouts (seconds) and sizes that every port of one `serve` run enforces."""

    header_timeout: float = 10.0
    """From a request's first byte (a new connection: from the connection) to the end of its headers."""
    body_timeout: float = 60.0
    """From the end of the headers to the end of the body: 32 MiB needs ~0.3 s on a local network."""
    idle_timeout: float = 30.0
    """A kept-alive connection waiting for its next request; then it is closed without an answer."""
    send_timeout: float = 60.0
    """For the client to take one whole answer; then the connection is closed."""
    max_connections: int = 64
    """Open connections per port (each holds a thread); one more is answered 503."""
    max_header_bytes: int = 64 * 1024
    """Request line plus headers; more is a 431."""
    drain_bytes: int = 64 * 1024 * 1024
    drain_seconds: float = 2.0
    """After an early answer (413, 404…) to a request still sending its body, discard at most this much
    for at most this long, so that the client reads the answer instead of a connection reset."""

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "idle_timeout", "send_timeout", "drain_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, not {getattr(self, name)!r}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, not {self.max_connections!r}")


@dataclass(frozen=True, slots=True)
class Request:
    """One request's line and headers (names lower-case, in arrival order), as h11 parsed them."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    http_version: str = "1.1"

    def header(self, name: str, default: str | None = None) -> str | None:
        """The last value of header `name` (case-insensitive)."""
        lowered = name.lower()
        found = default
        for key, value in self.headers:
            if key == lowered:
                found = value
        return found

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


@dataclass(frozen=True, slots=True)
class ReadBody:
    """The app's decision after the headers: read the body (at most `limit` bytes, else 413), then `then`."""

    limit: int
    then: Callable[[Request, bytes], Reply]


class App(Protocol):
    def route(self, request: Request) -> Reply | ReadBody:
        """Answer now (the body, if any, is discarded unread) or say how much body to read and what next."""
        ...


class _Timeout(Exception):
    pass


class _Closed(Exception):
    pass


class HttpServer:
    """One listening port served with `app`; `serve_forever` in a thread, `shutdown` from another."""

    def __init__(self, address: tuple[str, int], app: App, label: str, limits: Limits | None = None) -> None:
        self.app = app
        self.label = label
        self.limits = limits or Limits()
        self.socket = socket.create_server(address, backlog=128)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._slots = threading.BoundedSemaphore(self.limits.max_connections)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        self._stopped.clear()
        self.socket.settimeout(poll_interval)
        try:
            while not self._stop.is_set():
                try:
                    sock, _ = self.socket.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stop.is_set():
                        break
                    time.sleep(poll_interval)  # e.g. out of file descriptors: let connections finish
                    continue
                if not self._slots.acquire(blocking=False):
                    self._refuse(sock)
                    continue
                try:
                    threading.Thread(target=self._connection, args=(sock,), daemon=True).start()
                except RuntimeError:  # no thread to be had: refuse this one, keep accepting
                    self._slots.release()
                    self._refuse(sock)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop accepting (connections already open finish their current request)."""
        self._stop.set()
        self._stopped.wait(5)

    def server_close(self) -> None:
        self._stop.set()
        self.socket.close()

    def _refuse(self, sock: socket.socket) -> None:
        body = json.dumps({"error": f"too many connections (at most {self.limits.max_connections} per port)"})
        head = f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.send(f"{head}\r\nConnection: close\r\n\r\n{body}".encode())
            with contextlib.suppress(OSError):
                sock.recv(65536)  # what has arrived already: closing with unread data would reset the answer
        sock.close()
        request_log.warning("%s: refused a connection: %d already open", self.label, self.limits.max_connections)

    def _connection(self, sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # head and body go out in one send anyway
            _Connection(self, sock).run()
        except Exception:
            log.exception("%s: connection failed", self.label)
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            self._slots.release()


class _Connection:
    """The requests of one client connection, one after the other."""

    def __init__(self, server: HttpServer, sock: socket.socket) -> None:
        self.server = server
        self.limits = server.limits
        self.sock = sock
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)

    # -- reading -------------------------------------------------------------------------------------
    def _receive(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 18)
        except TimeoutError:
            raise _Timeout from None
        except OSError:
            raise _Closed from None
        self.h11.receive_data(data)  # b"" = the client closed its side

    def _next_event(self, deadline: float) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            self._receive(deadline)

    def run(self) -> None:
        first = True
        while True:
            started = time.perf_counter()
            try:
                request = self._read_request(first)
            except _Closed:
                return
            except _Timeout:
                self._answer_early(None, json_reply(408, {"error": "request headers not received in time"}), started)
                return
            except h11.RemoteProtocolError as e:
                self._answer_protocol_error(e, started)
                return
            if request is None:
                return
            first = False
            if not self._handle(request, time.perf_counter()):  # the log's duration: from the headers on
                return
            if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
                return
            self.h11.start_next_cycle()

    def _read_request(self, first: bool) -> Request | None:
        """The next request's headers; None when the client closed, or stayed idle between requests."""
        in_request = first or bool(self.h11.trailing_data[0])
        deadline = time.monotonic() + (self.limits.header_timeout if in_request else self.limits.idle_timeout)
        while not in_request:
            if self.h11.next_event() is not h11.NEED_DATA:  # only ConnectionClosed can come before a byte
                return None
            try:
                self._receive(deadline)
            except _Timeout:
                return None
            if self.h11.trailing_data[0]:
                in_request = True
                deadline = time.monotonic() + self.limits.header_timeout
        event = self._next_event(deadline)
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None
        if not isinstance(event, h11.Request):
            raise h11.RemoteProtocolError(f"expected a request, got {type(event).__name__}", error_status_hint=400)
        size = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
        if size > self.limits.max_header_bytes:  # h11 checks only a block still incomplete when data runs out
            raise h11.RemoteProtocolError(
                f"request line and headers over {self.limits.max_header_bytes} bytes", error_status_hint=431
            )
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers)
        names = {k for k, _ in headers}
        if "transfer-encoding" in names and "content-length" in names:
            # RFC 9112 §6.3: a possible smuggling attempt; refusing it is allowed and removes the ambiguity
            # for any proxy in front
            raise h11.RemoteProtocolError("both Transfer-Encoding and Content-Length", error_status_hint=400)
        return Request(event.method.decode("ascii"), event.target.decode("latin-1"), headers,
                       event.http_version.decode("ascii"))  # fmt: skip

    def _handle(self, request: Request, started: float) -> bool:
        """Route, read the body, answer. False when the connection must close now."""
        try:
            decision = self.server.app.route(request)
        except Exception:
            log.exception("%s: routing %s %s failed", self.server.label, request.method, request.target)
            decision = json_reply(500, {"error": "internal error in serve; see its log"})
        if isinstance(decision, Reply):
            return self._answer_early(request, decision, started)
        length = request.header("content-length")
        if length is not None and int(length) > decision.limit:  # h11 checked that it is an integer
            return self._answer_early(request, _too_large(decision.limit), started)
        if self.h11.they_are_waiting_for_100_continue:
            self._send([h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")])
        body = bytearray()
        deadline = time.monotonic() + self.limits.body_timeout
        try:
            while True:
                event = self._next_event(deadline)
                if isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > decision.limit:
                        return self._answer_early(request, _too_large(decision.limit), started)
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    return False
        except _Closed:
            return False
        except _Timeout:
            return self._answer_early(request, json_reply(408, {"error": "request body not received in time"}), started)
        except h11.RemoteProtocolError as e:
            self._answer_protocol_error(e, started, request)
            return False
        try:
            reply = decision.then(request, bytes(body))
        except Exception:
            log.exception("%s: %s %s failed", self.server.label, request.method, request.target)
            reply = json_reply(500, {"error": "internal error in serve; see its log"})
        return self._answer(request, reply, started, close=False)

    # -- writing -------------------------------------------------------------------------------------
    def _answer_protocol_error(
        self, error: h11.RemoteProtocolError, started: float, request: Request | None = None
    ) -> None:
        status = error.error_status_hint if 400 <= error.error_status_hint < 600 else 400
        self._answer_early(request, json_reply(status, {"error": f"bad request: {error}"}), started)

    def _answer_early(self, request: Request | None, reply: Reply, started: float) -> bool:
        """Answer before the body was read: the connection stays open only when no body was declared."""
        if request is not None and self.h11.their_state is h11.SEND_BODY and not _declares_body(request):
            with contextlib.suppress(h11.RemoteProtocolError):
                if isinstance(self.h11.next_event(), h11.EndOfMessage):
                    return self._answer(request, reply, started, close=False)
        self._answer(request, reply, started, close=True)
        self._drain()
        return False

    def _answer(self, request: Request | None, reply: Reply, started: float, *, close: bool) -> bool:
        headers = [("Server", SERVER_NAME), ("Date", email.utils.formatdate(usegmt=True)),
                   ("Content-Type", reply.content_type)]  # fmt: skip
        headers += [(k, v) for k, v in reply.headers.items() if k.lower() not in _HOP_BY_HOP | {"content-type"}]
        headers.append(("Content-Length", str(len(reply.body))))
        if close:
            headers.append(("Connection", "close"))
        response = h11.Response(status_code=reply.status, headers=headers, reason=_reason(reply.status))
        events: list[h11.Event] = [response]
        if request is None or request.method != "HEAD":
            events.append(h11.Data(data=reply.body))
        events.append(h11.EndOfMessage())
        sent = self._send(events)
        elapsed = (time.perf_counter() - started) * 1000
        method, target = (request.method, request.target) if request else ("-", "-")
        label, worker = self.server.label, reply.worker
        request_log.info("%s %s %s → %d in %.1f ms (worker %s)", label, method, target, reply.status, elapsed, worker)
        return sent and not close

    def _send(self, events: list[h11.Event]) -> bool:
        try:
            data = b"".join(self.h11.send(event) or b"" for event in events)
        except h11.LocalProtocolError:
            log.exception("%s: cannot send this answer", self.server.label)
            return False
        self.sock.settimeout(self.limits.send_timeout)
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def _drain(self) -> None:
        """Let a client still sending its body read the answer: stop writing, discard what comes, bounded."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + self.limits.drain_seconds
        left = self.limits.drain_bytes
        with contextlib.suppress(OSError):
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.sock.settimeout(remaining)
                chunk = self.sock.recv(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)


def _declares_body(request: Request) -> bool:
    return request.header("transfer-encoding") is not None or (request.header("content-length") or "0") != "0"


def _too_large(limit: int) -> Reply:
    return json_reply(413, {"error": f"request body exceeds maxRequestBodySize ({limit} bytes)"})


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
