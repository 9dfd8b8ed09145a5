"""Raw-socket HTTP exchanges on 127.0.0.1 for the serve tests: what a hostile client sends, byte for byte."""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass

_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")


@dataclass
class Exchange:
    raw: bytes
    seconds: float
    closed: bool
    """The server closed the connection (EOF or reset) before our read deadline."""

    @property
    def statuses(self) -> list[int]:
        """Status codes of every answer on the connection, 1xx included, in order."""
        return [int(m.group(1)) for m in _STATUS.finditer(self.raw)]

    @property
    def status(self) -> int | None:
        final = [s for s in self.statuses if s >= 200]
        return final[0] if final else None


def exchange(
    port: int,
    data: bytes | list[bytes],
    *,
    read_for: float = 5.0,
    gap: float = 0.0,
    half_close: bool = False,
    until: bytes | None = None,
) -> Exchange:
    """Send `data` (a list: pieces, `gap` seconds apart), then read until the server closes, `until` appears
    in what came back, or `read_for` seconds pass."""
    started = time.monotonic()
    pieces = [data] if isinstance(data, bytes) else data
    received = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=read_for) as sock:
        try:
            for index, piece in enumerate(pieces):
                if index and gap:
                    time.sleep(gap)
                sock.sendall(piece)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server may close while we still send: that is an answer too
            closed = True
        deadline = started + read_for
        while not closed and (until is None or until not in received):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
    return Exchange(received, time.monotonic() - started, closed)


def post_head(path: str = "/", *headers: str, method: str = "POST") -> bytes:
    """A request line and headers (Host included), ending with the blank line."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
