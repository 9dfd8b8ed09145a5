"""`HttpAnswer`: one HTTP answer as it goes over the wire, whoever produced or received it.

The same type for what Nuclio's wrapper encodes (`wire`), what a `serve` worker returns (`workers`) and what
the HTTP client receives (`http_client`), so the answer checks, the tests and the tools all read one thing.
(The runtime's `core.runtime.Answer` is a different thing: a payload not yet serialized.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """Status, Content-Type, body bytes and the other headers of one answer."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    worker: str = "-"
    """Which `serve` worker answered (its request log names it); "-" elsewhere."""
    seconds: float = 0.0
    """How long the request took where that was measured (the HTTP client); 0 elsewhere."""

    def header(self, name: str, default: str = "") -> str:
        """A header by case-insensitive name (`Content-Type` is always there, from `content_type`)."""
        lowered = name.lower()
        found = next((v for k, v in self.headers.items() if k.lower() == lowered), None)
        if found is not None:
            return found
        return self.content_type if lowered == "content-type" else default

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)
