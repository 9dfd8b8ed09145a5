"""Request bodies → typed requests.

Nuclio hands the handler a dict only when the Content-Type is exactly `application/json`; otherwise the raw
bytes (curl with `; charset=utf-8`, `nuctl invoke` without `-c`, text/plain). Both are accepted here; anything
that is not a JSON object is a 400 naming what was expected.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RequestError

DEFAULT_THRESHOLD = 0.5
"""CVAT never sends `threshold: 0` (it drops falsy values), so a missing threshold means this default."""

_DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64,", re.ASCII)
_WHITESPACE = re.compile(rb"\s+")


@dataclass(frozen=True, slots=True)
class DetectorRequest:
    """What CVAT sends a detector: the frame's file bytes and an optional score threshold."""

    image: bytes
    threshold: float


def parse_body(body: object) -> dict[str, Any]:
    """The JSON object of a request, whatever form Nuclio delivered it in."""
    if isinstance(body, Mapping):
        return dict(body)
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        raw = bytes(body) if not isinstance(body, str) else body.encode("utf-8", "surrogatepass")
        if not raw.strip():
            raise RequestError("body", 'a JSON object such as {"image": "<base64>"}', got="an empty body")
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RequestError(
                "body", "a JSON object (send it with Content-Type: application/json)", got=f"invalid JSON ({e})"
            ) from e
        if isinstance(value, dict):
            return value
        body = value
    raise RequestError("body", 'a JSON object such as {"image": "<base64>"}', got=_kind(body))


def decode_base64_image(value: object, field: str = "image") -> bytes:
    """Standard base64 (padded) or a `data:image/...;base64,` URL → file bytes (validated, never empty)."""
    if not isinstance(value, str):
        raise RequestError(field, "a base64 string of the image file", got=_kind(value))
    text = value
    if text.startswith("data:"):
        match = _DATA_URL.match(text)
        if match is None:
            raise RequestError(field, "a data URL of the form data:<mime>;base64,<data>", got=text[:40] + "…")
        text = text[match.end() :]
    raw = text.encode("ascii", "replace")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        try:  # line-wrapped base64 (e.g. `base64` without -w0) carries newlines; nothing else is tolerated
            data = base64.b64decode(_WHITESPACE.sub(b"", raw), validate=True)
        except (binascii.Error, ValueError) as e:
            raise RequestError(
                field, "standard base64 (A-Z, a-z, 0-9, +, / and = padding)", got=f"invalid base64 ({e})"
            ) from e
    if not data:
        raise RequestError(field, "base64 of a non-empty image file", got="an empty string")
    return data


def parse_threshold(value: object, default: float = DEFAULT_THRESHOLD, field: str = "threshold") -> float:
    """An optional number in [0, 1]; `None`/absent gives `default`."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(field, "a number between 0 and 1", got=_kind(value))
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise RequestError(field, "a number between 0 and 1", got=repr(value))
    return number


def parse_detector_request(body: object, default_threshold: float = DEFAULT_THRESHOLD) -> DetectorRequest:
    """Parse CVAT's detector request `{"image": "<base64>", "threshold": 0.5}`."""
    fields = parse_body(body)
    if "image" not in fields:
        raise RequestError("image", "a base64 string of the image file", got="no 'image' key")
    return DetectorRequest(
        image=decode_base64_image(fields["image"]),
        threshold=parse_threshold(fields.get("threshold"), default_threshold),
    )


def _kind(value: object) -> str:
    """A short description of a JSON value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:30]!r}{'…' if len(value) > 30 else ''})"
    if isinstance(value, (list, tuple)):
        return f"an array of {len(value)} item(s)"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
