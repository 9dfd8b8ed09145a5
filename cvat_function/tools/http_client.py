"""A minimal HTTP client (standard library) for the smoke test, soak, bench and the tests.

Unlike urllib it returns 4xx/5xx answers instead of raising, keeps the connection open between calls
(`Client`) and always has a timeout.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from .http_answer import HttpAnswer

__all__ = ["Client", "HttpAnswer", "request"]


class Client:
    """One keep-alive connection to `url`'s host; reconnects once when the server closed it."""

    def __init__(self, url: str, timeout: float = 130.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            factory = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = factory(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(
        self,
        method: str = "POST",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
    ) -> HttpAnswer:
        for attempt in (1, 2):
            conn = self._connection()
            started = time.perf_counter()
            try:
                conn.request(method, path or self.path, body=body, headers=dict(headers or {}))
                response = conn.getresponse()
                data = response.read()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self.close()
                if attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - started
            if response.will_close:
                self.close()
            headers = dict(response.getheaders())
            content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
            return HttpAnswer(response.status, content_type, data, headers, seconds=seconds)
        raise AssertionError("unreachable")

    def post_json(self, payload: object, headers: Mapping[str, str] | None = None) -> HttpAnswer:
        """POST exactly as CVAT does: JSON text with `Content-Type: application/json`."""
        body = json.dumps(payload).encode("utf-8")
        return self.request("POST", body, {"Content-Type": "application/json", **(headers or {})})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> HttpAnswer:
    """One request on a fresh connection."""
    with Client(url, timeout) as client:
        return client.request(method, body, headers)
