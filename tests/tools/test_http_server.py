"""serve's HTTP layer (h11 + bounded I/O) against hostile clients: raw sockets on 127.0.0.1, short limits.

An in-process server with a recording app: every test checks what was answered, how fast, whether the
connection was closed, and what the app was (not) asked to handle. Every wait is bounded by the limits here.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvat_function.tools.http_server import HttpServer, Limits, ReadBody, Request
from cvat_function.tools.workers import Reply, json_reply

from .raw_http import exchange, post_head

LIMIT = 1024
FAST = Limits(header_timeout=0.6, body_timeout=0.6, idle_timeout=0.6, send_timeout=2, drain_seconds=0.5)


@dataclass
class Recorder:
    """Answers GET /early before any body, reads at most LIMIT bytes for everything else."""

    handled: list[tuple[str, str, bytes]] = field(default_factory=list)

    def route(self, request: Request) -> Reply | ReadBody:
        if request.path == "/early":
            return json_reply(404, {"error": "early"})
        return ReadBody(LIMIT, self.handle)

    def handle(self, request: Request, body: bytes) -> Reply:
        self.handled.append((request.method, request.target, body))
        return json_reply(200, {"method": request.method, "target": request.target, "length": len(body)})


@dataclass
class Running:
    server: HttpServer
    app: Recorder

    @property
    def port(self) -> int:
        return self.server.server_address[1]


def start(limits: Limits) -> Iterator[Running]:
    app = Recorder()
    server = HttpServer(("127.0.0.1", 0), app, "test", limits)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Running(server, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def running() -> Iterator[Running]:
    yield from start(FAST)


def still_serves(running: Running) -> None:
    """After whatever came before, a plain request on a new connection is answered normally."""
    before = len(running.app.handled)
    answer = exchange(running.port, post_head("/after", "Content-Length: 2", "Connection: close") + b"{}")
    assert answer.status == 200, answer.raw
    assert len(running.app.handled) == before + 1


# -- framing -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [b"-1", b"zz", b"0x10", b"1 2", b""])
def test_an_invalid_chunk_size_is_answered_400_and_never_handled(running, size):
    answer = exchange(running.port, post_head("/", "Transfer-Encoding: chunked") + size + b"\r\nhello\r\n0\r\n\r\n")
    assert answer.status == 400, answer.raw
    assert b"chunk" in answer.raw
    assert answer.closed
    assert answer.seconds < 2
    assert running.app.handled == []
    still_serves(running)


def test_transfer_encoding_with_content_length_is_refused_not_smuggled(running):
    smuggled = b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    data = post_head("/", "Content-Length: 4", "Transfer-Encoding: chunked") + b"5\r\nhello\r\n" + smuggled
    answer = exchange(running.port, data)
    assert answer.statuses == [400], answer.raw
    assert b"Transfer-Encoding and Content-Length" in answer.raw
    assert answer.closed
    assert running.app.handled == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (["Transfer-Encoding: gzip, chunked"], 501),
        (["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], 501),
        (["Content-Length: 4", "Content-Length: 5"], 400),
        (["Content-Length: -4"], 400),
        (["Content-Length: 4x"], 400),
        (["Content-Length : 4"], 400),
        ([f"X-Big: {'a' * 70000}"], 431),
    ],
)
def test_bad_framing_headers_are_answered_and_closed(running, headers, status):
    answer = exchange(running.port, post_head("/", *headers) + b"abcd")
    assert answer.status == status, answer.raw
    assert answer.closed
    assert running.app.handled == []


def test_a_get_body_is_its_body_never_the_next_request(running):
    inner = post_head("/smuggled", "Content-Length: 0")
    first = post_head("/a", f"Content-Length: {len(inner)}", method="GET") + inner
    second = post_head("/b", "Content-Length: 0", "Connection: close", method="GET")
    answer = exchange(running.port, first + second)
    assert answer.statuses == [200, 200], answer.raw
    assert running.app.handled == [("GET", "/a", inner), ("GET", "/b", b"")]


def test_pipelined_requests_are_answered_in_order_on_one_connection(running):
    data = b"".join(post_head(f"/{i}", "Content-Length: 1") + b"x" for i in range(3))
    answer = exchange(running.port, data + post_head("/last", "Connection: close"))
    assert answer.statuses == [200, 200, 200, 200]
    assert [t for _, t, _ in running.app.handled] == ["/0", "/1", "/2", "/last"]


def test_head_gets_headers_only(running):
    answer = exchange(running.port, post_head("/", "Connection: close", method="HEAD"))
    assert answer.status == 200
    head, _, body = answer.raw.partition(b"\r\n\r\n")
    assert b"content-length: " in head.lower()
    assert body == b""


# -- size ----------------------------------------------------------------------------------------------
def test_a_declared_body_over_the_limit_is_413_before_it_is_sent(running):
    answer = exchange(running.port, post_head("/", f"Content-Length: {64 * 1024 * 1024}"))
    assert answer.status == 413, answer.raw
    assert b"maxRequestBodySize (1024 bytes)" in answer.raw
    assert answer.seconds < 1.5  # no waiting for the 64 MiB
    assert running.app.handled == []


@pytest.mark.parametrize("size_line", [b"ffffffffffffffffff", b"401", b"10"])
def test_a_chunked_body_over_the_limit_is_413_while_it_arrives(running, size_line):
    """One huge chunk, one chunk just over, or many small ones: counted as they come, never buffered past."""
    size = int(size_line, 16)
    chunk = b"a" * min(size, 2000)
    many = size == 16
    body = (size_line + b"\r\n" + chunk + b"\r\n") * 100 + b"0\r\n\r\n" if many else size_line + b"\r\n" + chunk
    answer = exchange(running.port, post_head("/", "Transfer-Encoding: chunked") + body)
    assert answer.status == 413, answer.raw
    assert answer.closed
    assert running.app.handled == []
    still_serves(running)


def test_a_body_at_the_limit_is_accepted_chunked_or_not(running):
    body = b"b" * LIMIT
    plain = exchange(running.port, post_head("/", f"Content-Length: {LIMIT}", "Connection: close") + body)
    chunked_body = b"200\r\n" + body[:512] + b"\r\n200\r\n" + body[512:] + b"\r\n0\r\n\r\n"
    chunked = exchange(running.port, post_head("/", "Transfer-Encoding: chunked", "Connection: close") + chunked_body)
    assert (plain.status, chunked.status) == (200, 200)
    assert [b for _, _, b in running.app.handled] == [body, body]


def test_an_early_answer_does_not_read_the_declared_body(running):
    """A 404 for a 64 MiB upload comes at once; the connection closes; at most drain_bytes are discarded."""
    answer = exchange(running.port, [post_head("/early", f"Content-Length: {64 << 20}"), b"x" * 4096])
    assert answer.status == 404
    assert answer.closed
    assert answer.seconds < FAST.drain_seconds + 1.5
    assert running.app.handled == []


def test_an_early_answer_without_a_body_keeps_the_connection(running):
    data = post_head("/early", method="GET") + post_head("/next", "Connection: close", method="GET")
    answer = exchange(running.port, data)
    assert answer.statuses == [404, 200]
    assert running.app.handled == [("GET", "/next", b"")]


def test_expect_100_continue(running):
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        sock.sendall(post_head("/", "Expect: 100-continue", "Content-Length: 2", "Connection: close"))
        assert sock.recv(1000).startswith(b"HTTP/1.1 100 Continue\r\n")  # the body is invited only now
        sock.sendall(b"{}")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200 OK\r\n")
    assert running.app.handled == [("POST", "/", b"{}")]
    over = exchange(running.port, post_head("/", "Expect: 100-continue", f"Content-Length: {LIMIT + 1}"))
    assert over.statuses == [413]  # refused without inviting the body


# -- time ----------------------------------------------------------------------------------------------
def test_headers_that_never_finish_get_408_after_the_header_timeout(running):
    answer = exchange(running.port, b"POST / HTTP/1.1\r\nHost: x\r\n")
    assert answer.status == 408, answer.raw
    assert answer.closed
    assert FAST.header_timeout - 0.1 < answer.seconds < FAST.header_timeout + 1.5


def test_dripping_headers_are_cut_by_the_total_header_deadline(running):
    """Slowloris: one byte every 0.1 s resets no inactivity timer; the deadline counts from the first byte."""
    drip = [bytes([b]) for b in b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100]
    answer = exchange(running.port, drip, gap=0.05, read_for=8)
    assert answer.status == 408 or answer.closed
    assert answer.seconds < FAST.header_timeout + 2
    assert running.app.handled == []


def test_a_half_sent_body_gets_408_after_the_body_timeout(running):
    answer = exchange(running.port, post_head("/", "Content-Length: 10") + b"ab")
    assert answer.status == 408, answer.raw
    assert b"body" in answer.raw
    assert answer.closed
    assert answer.seconds < FAST.body_timeout + 1.5
    assert running.app.handled == []


def test_an_idle_keep_alive_connection_is_closed_quietly(running):
    answer = exchange(running.port, post_head("/", "Content-Length: 0"), read_for=5)
    assert answer.statuses == [200]
    assert answer.closed
    assert answer.seconds < FAST.idle_timeout + 1.5


def test_a_client_that_closes_mid_request_costs_nothing(running):
    for data in (b"POST / HTTP/1.1\r\nHo", post_head("/", "Content-Length: 50") + b"abc"):
        answer = exchange(running.port, data, half_close=True)
        assert answer.closed
        assert answer.seconds < 1.5
    assert running.app.handled == []
    still_serves(running)


# -- connections ---------------------------------------------------------------------------------------
def test_connections_over_the_limit_are_answered_503():
    limits = Limits(header_timeout=5, body_timeout=5, idle_timeout=5, max_connections=2)
    for running in start(limits):
        held = [socket.create_connection(("127.0.0.1", running.port), timeout=5) for _ in range(2)]
        try:
            for sock in held:
                sock.sendall(b"POST / HTTP/1.1\r\n")  # half a request: each holds its slot
            time.sleep(0.2)
            refused = exchange(running.port, post_head("/", "Content-Length: 0"))
            assert refused.status == 503, refused.raw
            assert b"too many connections (at most 2 per port)" in refused.raw
            assert refused.seconds < 1.5
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 5
        answer = exchange(running.port, post_head("/", "Content-Length: 0", "Connection: close"))
        while answer.status == 503 and time.monotonic() < deadline:  # the slots free as the server sees EOF
            time.sleep(0.05)
            answer = exchange(running.port, post_head("/", "Content-Length: 0", "Connection: close"))
        assert answer.status == 200


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError, match="header_timeout must be > 0"):
        Limits(header_timeout=0)
    with pytest.raises(ValueError, match="max_connections must be >= 1"):
        Limits(max_connections=0)


# -- any bytes at all ------------------------------------------------------------------------------------
_VALID = post_head("/p?q=1", "Content-Type: application/json", "Content-Length: 2") + b"{}"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(0, len(_VALID)),
    noise=st.binary(max_size=40),
    where=st.integers(0, len(_VALID)),
)
def test_any_mangled_request_is_answered_or_closed_promptly(running, cut, noise, where):
    """Invariant: whatever arrives, the server answers at most once per well-framed request, within the
    limits, never hands the app a body past the limit, and keeps serving."""
    data = (_VALID[:where] + noise + _VALID[where:])[: cut + len(noise)]
    before = len(running.app.handled)
    answer = exchange(running.port, data, half_close=True, read_for=4)
    assert answer.closed, answer.raw
    assert answer.seconds < 2.5
    assert all(100 <= s < 600 for s in answer.statuses)
    assert len(running.app.handled) - before <= len([s for s in answer.statuses if s == 200])
    assert all(len(body) <= LIMIT for _, _, body in running.app.handled)
    for status_line in answer.raw.split(b"\r\n\r\n")[1:]:
        with_json = status_line.strip()
        if with_json.startswith(b"{") and with_json.endswith(b"}"):
            assert isinstance(json.loads(with_json), dict)
