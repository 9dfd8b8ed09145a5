"""The JSON text of an answer: strict, numpy-aware, and fast for mask-heavy answers.

`dumps` is `json.dumps(..., allow_nan=False)` (NaN/Infinity are an error: CVAT fails the request) that also
converts numpy scalars and arrays, and splices `Fragment`s — JSON text encoded ahead of time — verbatim into
the output. Masks are the reason: a detector mask is one number per pixel, and `json.dumps` of a Python list
costs ~50 ns per value, while a bitmap fragment's digits and commas are written with two numpy assignments
straight into the one buffer `dumps` allocates for the whole answer: no text per mask, no join of megabytes
(see `bench_masks.py`: ~60× faster for 20 instance masks on a 1920×1080 frame).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

_ZERO, _COMMA, _OPEN, _CLOSE = (ord(c) for c in "0,[]")
_PAIR_BASE = _COMMA | (_ZERO << 8)
"""The bytes `",0"` as one little-endian 16-bit word; adding `bit << 8` gives `",1"`."""


class Fragment:
    """JSON text spliced verbatim into `dumps` output; build it only with the encoders in this module.

    A bitmap fragment (`Fragment.of_bitmap`) keeps its bitmap and is written by `dumps` straight into the one
    buffer of the whole answer: no text per mask, no join over megabytes of them. `text` encodes it on demand."""

    __slots__ = ("_bitmap", "_suffix", "_text")

    def __init__(self, text: str) -> None:
        self._text: str | None = text
        self._bitmap: np.ndarray | None = None
        self._suffix = b""

    @classmethod
    def of_bitmap(cls, bitmap: np.ndarray, suffix: Sequence[int] = ()) -> Fragment:
        """The fragment of `bitmap_json(bitmap, suffix)`, encoded when it is written."""
        fragment = cls.__new__(cls)
        fragment._text = None
        fragment._bitmap = np.ascontiguousarray(bitmap, dtype=np.bool_).reshape(-1).view(np.uint8)
        tail = ",".join(str(int(v)) for v in suffix)
        fragment._suffix = ("," + tail + "]" if tail else "]").encode("ascii")
        return fragment

    @property
    def text(self) -> str:
        if self._text is None:
            buffer = np.empty(self.size, dtype=np.uint8)
            self.write_into(buffer)
            self._text = str(buffer.data, "ascii")
        return self._text

    @property
    def size(self) -> int:
        """Bytes of its JSON text."""
        if self._bitmap is None:
            return len(self.text)
        if not self._bitmap.size:  # "[" + the suffix without its leading comma, or "[]"
            return 1 + len(self._suffix) - (len(self._suffix) > 1)
        return 2 * self._bitmap.size + len(self._suffix)

    def write_into(self, out: np.ndarray) -> None:
        """Write the JSON text's ASCII bytes into `out` (uint8, exactly `size` long)."""
        if self._bitmap is None:
            out[:] = np.frombuffer(self.text.encode("ascii"), dtype=np.uint8)
            return
        flat, end = self._bitmap, self._suffix
        if not flat.size:  # "[" + the suffix without its leading comma
            out[0] = _OPEN
            out[1:] = np.frombuffer(end[1:] if len(end) > 1 else end, dtype=np.uint8)
            return
        size = 2 * flat.size
        pairs = out[:size].view("<u2")
        np.left_shift(flat, 8, out=pairs, dtype="<u2")
        pairs += _PAIR_BASE
        out[0] = _OPEN
        out[size:] = np.frombuffer(end, dtype=np.uint8)

    def __repr__(self) -> str:
        return f"Fragment({self.text[:40]!r}{'…' if len(self.text) > 40 else ''})"

    def value(self) -> Any:
        """The JSON value this text stands for (slow; for tests and the answer checks)."""
        return json.loads(self.text)


def _default(value: object) -> Any:
    """What `json.dumps` cannot encode by itself: numpy values (NaN still refused by allow_nan=False)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """Compact, strict JSON text of `value`, with every `Fragment` spliced in as it is."""
    fragments: list[Fragment] = []
    marker = f"@@fragment-{secrets.token_hex(8)}:"

    def default(item: object) -> Any:
        if isinstance(item, Fragment):
            fragments.append(item)
            return f"{marker}{len(fragments) - 1}@@"
        return _default(item)

    text = json.dumps(value, allow_nan=False, separators=(",", ":"), default=default)  # ASCII: ensure_ascii
    if not fragments:
        return text
    # json.dumps wrote each placeholder as `"<marker><i>@@"`; the marker is random, so splitting on it finds
    # exactly the placeholders (no regex: compiling one per call costs more than the split)
    pieces = text.split(f'"{marker}')
    parts: list[bytes | Fragment] = [pieces[0].encode("ascii")]
    for piece in pieces[1:]:
        index, _, rest = piece.partition('@@"')
        parts += (fragments[int(index)], rest.encode("ascii"))
    # one buffer for the whole answer, each fragment written straight into it, decoded once
    sizes = [part.size if isinstance(part, Fragment) else len(part) for part in parts]
    buffer = np.empty(sum(sizes), dtype=np.uint8)
    position = 0
    for part, size in zip(parts, sizes, strict=True):
        target = buffer[position : position + size]
        if isinstance(part, Fragment):
            part.write_into(target)
        elif size:
            target[:] = np.frombuffer(part, dtype=np.uint8)
        position += size
    return str(buffer.data, "ascii")


def bitmap_json(bitmap: np.ndarray, suffix: Sequence[int] = ()) -> str:
    """`[b_0,b_1,…,s_0,s_1,…]`: a bool bitmap row-major as 0/1 digits, then the integers of `suffix` — the JSON
    text of `bitmap.ravel().astype(int).tolist() + list(suffix)`, written as `Fragment.of_bitmap` writes it."""
    return Fragment.of_bitmap(bitmap, suffix).text


def rows_json(bitmap: np.ndarray) -> str:
    """`[[b_00,b_01,…],[b_10,…],…]`: a 2-D bool bitmap as nested 0/1 rows (the legacy interactor `mask`)."""
    bits = np.ascontiguousarray(bitmap, dtype=np.bool_)
    if bits.ndim != 2 or bits.shape[1] == 0:
        raise ValueError(f"rows_json needs a non-empty 2-D bitmap, got shape {bits.shape}")
    height, width = bits.shape
    rows = np.full((height, 2 * width + 2), _COMMA, dtype=np.uint8)
    rows[:, 0] = _OPEN
    np.add(bits.view(np.uint8), _ZERO, out=rows[:, 1 : 2 * width : 2], casting="unsafe")
    rows[:, 2 * width] = _CLOSE
    return "[" + rows.tobytes()[:-1].decode("ascii") + "]"
