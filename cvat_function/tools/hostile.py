"""Hostile requests, generated at run time: what `fuzz` sends, and what the tests replay through the handler.

Every case is a raw HTTP body (bytes) with its Content-Type and what a correct function answers: `"ok"` (a
valid request, however unusual: 200), `"4xx"` (bad input: a 4xx naming the field) or `"any"` (either, e.g. a
state the model may or may not take). A 5xx is never right for any of them.

The classes: JSON that is not an object, nested past Python's recursion limit, integers past float's range
and past the 4300-digit limit, NaN/Infinity, lone surrogates; malformed files of every format
Pillow opens (valid small files truncated, bit-flipped and with mangled headers, and format signatures
followed by noise); tiny and extreme frames (1×1, 2×2, 1×20000, 20000×1), 16-bit and float images; every
field of each kind with wrong types, absurd sizes and absurd numbers; tracker states that are garbage,
forged, nested, oversized or from another function.
"""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .answer_checks import synthetic_request

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Case:
    """One request: `name` says what is hostile about it; `expect` is "ok" (200), "4xx", or "any" (either)."""

    name: str
    body: bytes
    content_type: str = JSON
    expect: str = "4xx"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png(width: int, height: int, seed: int = 0, *, channels: int = 3) -> bytes:
    """A noisy PNG of `width`×`height` (noise, so that models find nothing in particular but do all the work)."""
    shape = (height, width, channels) if channels > 1 else (height, width)
    pixels = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def unusual_images() -> list[tuple[str, bytes]]:
    """Valid images a model must answer (200): tiny, extreme aspect ratios, 16-bit and float pixels."""
    out = [(f"{w}x{h} frame", png(w, h)) for w, h in ((1, 1), (2, 2), (1, 20000), (20000, 1), (3, 1))]
    ramp = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, "PNG")
    out.append(("16-bit grey PNG", buffer.getvalue()))
    buffer = io.BytesIO()
    Image.fromarray(np.linspace(-5, 5, 64 * 48, dtype=np.float32).reshape(48, 64), mode="F").save(buffer, "TIFF")
    out.append(("float TIFF", buffer.getvalue()))
    return out


# Format signatures Pillow recognises (its plugins' `_accept`): each followed by noise reaches a header parser.
SIGNATURES: dict[str, bytes] = {
    "PNG": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "JPEG": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "GIF": b"GIF89a",
    "TIFF-LE": b"II*\x00",
    "TIFF-BE": b"MM\x00*",
    "BigTIFF": b"II+\x00\x08\x00\x00\x00",
    "BMP": b"BM",
    "WEBP": b"RIFF\x00\x01\x00\x00WEBPVP8 ",
    "AVIF": b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1",
    "DDS": b"DDS \x7c\x00\x00\x00",
    "BLP1": b"BLP1",
    "BLP2": b"BLP2\x01\x01\x02",
    "ICNS": b"icns\x00\x00\x10\x00",
    "ICO": b"\x00\x00\x01\x00\x01\x00",
    "CUR": b"\x00\x00\x02\x00\x01\x00",
    "PSD": b"8BPS\x00\x01\x00\x00\x00\x00\x00\x00\x00\x03",
    "QOI": b"qoif",
    "PPM": b"P6\n",
    "PGM": b"P5\n16 16\n65535\n",
    "PCX": b"\x0a\x05\x01\x08",
    "SGI": b"\x01\xda\x01\x01\x00\x03",
    "TGA": b"\x00\x00\x02\x00\x00\x00\x00\x00",
    "JPEG2000": b"\x00\x00\x00\x0cjP  \r\n\x87\n",
    "J2K": b"\xff\x4f\xff\x51",
    "FITS": b"SIMPLE  =                    T",
    "FTEX": b"FTEX",
    "GBR": b"\x00\x00\x00\x1c\x00\x00\x00\x02",
    "DCX": b"\xb1\x68\xde\x3a",
    "FLI": b"\x00\x00\x00\x00\x11\xaf",
    "IM": b"Image type: RGB image\r\n",
    "XBM": b"#define im_width 16\n#define im_height 16\n",
    "XPM": b'/* XPM */\nstatic char *x[] = {\n"16 16 2 1",\n',
    "SUN": b"\x59\xa6\x6a\x95",
    "EPS": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n",
    "MSP": b"DanM",
    "MPO": b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*",
    "PIXAR": b"\x80\xe8\x00\x00",
}


def _saved_files() -> list[tuple[str, bytes]]:
    """Small valid files in every format Pillow writes here (each in a mode that format takes)."""
    rgb = Image.fromarray(np.random.default_rng(1).integers(0, 256, size=(16, 16, 3), dtype=np.uint8))
    files = []
    for fmt, image in (
        ("PNG", rgb), ("JPEG", rgb), ("GIF", rgb), ("TIFF", rgb), ("BMP", rgb), ("WEBP", rgb), ("AVIF", rgb),
        ("DDS", rgb), ("ICO", rgb), ("JPEG2000", rgb), ("PCX", rgb), ("PPM", rgb), ("QOI", rgb), ("SGI", rgb),
        ("TGA", rgb), ("SPIDER", rgb.convert("L")), ("BLP", rgb.convert("P")),
        ("MSP", rgb.convert("1")), ("XBM", rgb.convert("1")), ("PALM", rgb.convert("P")),
    ):  # fmt: skip
        out = io.BytesIO()
        try:
            image.save(out, fmt)
        except (OSError, ValueError, KeyError):  # a codec this Pillow build lacks
            continue
        files.append((fmt, out.getvalue()))
    return files


def malformed_images(rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    """`count` damaged image files: valid files cut, bit-flipped or with a mangled header (some still decode,
    and that is right too); format signatures followed by noise."""
    saved = _saved_files()
    signatures = list(SIGNATURES.items())
    for _ in range(count):
        choice = rng.random()
        if choice < 0.3:
            name, magic = rng.choice(signatures)
            yield f"{name} signature + noise", magic + rng.randbytes(rng.choice((0, 4, 16, 64, 300)))
            continue
        fmt, data = rng.choice(saved)
        if choice < 0.5:
            cut = rng.randrange(1, len(data))
            yield f"{fmt} cut at {cut}/{len(data)}", data[:cut]
        elif choice < 0.8:
            damaged = bytearray(data)
            for _ in range(rng.choice((1, 2, 8))):
                damaged[rng.randrange(min(len(damaged), 64))] ^= 1 << rng.randrange(8)  # the header
            yield f"{fmt} with a flipped header bit", bytes(damaged)
        else:
            damaged = bytearray(data)
            start = rng.randrange(min(len(damaged), 40))
            damaged[start : start + 4] = rng.choice((b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"))
            yield f"{fmt} with a mangled header word at {start}", bytes(damaged)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _images_field(kind: str) -> tuple[str, ...]:
    return ("image0", "image1") if kind == "reid" else ("image",)


def body_cases(kind: str, good: dict[str, Any], rng: random.Random) -> list[Case]:
    """Hostile variations of the good request `good` of a function of `kind` (no image cases)."""
    text = json.dumps(good)
    cases = [
        Case("empty body", b""),
        Case("not JSON", b"hello", "text/plain"),
        Case("JSON array", b"[1, 2]"),
        Case("invalid UTF-8", b"\xff\xfe{", "text/plain"),
        Case("nesting past the recursion limit", deep(100_000).encode()),
        Case("object nested past the recursion limit", ('{"image": ' + deep(50_000) + "}").encode(), "text/plain"),
        Case("a 5000-digit integer", ('{"image": 1' + "0" * 5000 + "}").encode()),
        Case("lone surrogate in a key", b'{"\\ud800": 1}'),
        Case("charset content type, bad JSON", b"{", "application/json; charset=utf-8"),
    ]
    numbers = ["1e999", "-1e999", "NaN", "Infinity", "1" + "0" * 400, "-" + "9" * 4000, "[]", "{}", '"0.5"', "true"]
    numbers.append(deep(900))
    for key in [k for k in good if k not in _images_field(kind)] + ["threshold"]:
        for value in rng.sample(numbers, 4):
            body = json.loads(text)
            body[key] = None  # a placeholder replaced in the text, so NaN and huge integers stay literal
            raw = json.dumps(body).replace(f'"{key}": null', f'"{key}": {value}')
            # `[]` is a valid `states`, and a tracker ignores `threshold`: 200 or 4xx are both right here
            cases.append(Case(f"{key} = {value[:20]}", raw.encode(), "text/plain", expect="any"))
    for key in _images_field(kind):
        wrong: tuple[object, ...] = (None, 5, [], {}, "", "!!!", "data:image/png;base64,", "\ud800", "A" * 9 + "=")
        for item in wrong:
            body = json.loads(text)
            body[key] = item
            cases.append(Case(f"{key} = {str(item)[:16]!r}", json.dumps(body).encode()))
    cases += _kind_cases(kind, good)
    return cases


def _kind_cases(kind: str, good: dict[str, Any]) -> list[Case]:
    def variant(name: str, expect: str = "4xx", **change: Any) -> Case:
        return Case(name, json.dumps({**good, **change}).encode(), expect=expect)

    if kind == "interactor":
        return [
            variant("a click far outside", pos_points=[[1e9, -1e9]]),
            variant("a click [x]", pos_points=[[1.0]]),
            variant("100 000 clicks", expect="ok", pos_points=[[0.0, 0.0]] * 100_000),
            variant("a box of strings", obj_bbox=[["a", "b"], ["c", "d"]]),
            variant("a box of three corners", obj_bbox=[[0, 0], [1, 1], [2, 2]]),
            variant("text prompts of numbers", text_prompts=[1, 2]),
            variant("a box past the frame", expect="ok", obj_bbox=[[-1e300, -1e300], [1e300, 1e300]]),
        ]  # fmt: skip
    if kind == "reid":
        box = {"points": [0, 0, 5, 5], "id": 1, "label_id": 2, "frame": 0}
        return [
            variant("boxes0 null", boxes0=None),
            variant("a box with 3 points", boxes0=[{"points": [1, 2, 3]}]),
            variant("a box of strings", boxes0=[{"points": ["1", "2", "3", "4"]}]),
            variant("a 400-digit label id", expect="ok", boxes0=[{**box, "label_id": 10**400}]),
            variant("10 000 boxes", expect="ok", boxes0=[box] * 10_000, boxes1=[box] * 3),
            variant("absurd box", expect="ok", boxes0=[{**box, "points": [-1e300, -1e300, 1e300, 1e300]}]),
            variant("max_distance negative", max_distance=-1),
        ]
    if kind == "tracker":
        return [
            variant("shapes null", shapes=None),
            variant("a shape of 3 numbers", shapes=[[1, 2, 3]]),
            variant("an inverted rectangle", shapes=[[5, 5, 1, 1]]),
            variant("a shape of strings", shapes=[["1", "2", "3", "4"]]),
            variant("more states than shapes", states=[None, None, None]),
            variant("absurd but valid box", expect="ok", shapes=[[-1e300, -1e300, 1e300, 1e300]]),
        ]
    return []


def state_cases(good: dict[str, Any], state: Any, rng: random.Random, max_state_bytes: int = 1 << 20) -> list[Case]:
    """Continuations of a tracker: `state` is one this function returned; each case forges it another way."""

    def continuation(name: str, forged: Any, expect: str = "4xx", raw: str | None = None) -> Case:
        body = {"image": good["image"], "shapes": [None], "states": [forged]}
        text = json.dumps(body)
        if raw is not None:
            text = text.replace('"@@raw@@"', raw)
        return Case(name, text.encode(), "text/plain", expect)

    shape = state.get("shape", {}) if isinstance(state, dict) else {}
    inner = state.get("state") if isinstance(state, dict) else None

    def points(name: str, raw: str) -> Case:
        return continuation(name, {"shape": {**shape, "points": "@@raw@@"}, "state": inner}, raw=raw)

    def model_state(name: str, key: str, value: Any, expect: str = "4xx") -> Case:
        return continuation(name, {"shape": shape, "state": _forged(inner, key, value)}, expect)

    polygon = {"type": "polygon", "points": [0, 0, 5, 0, 5, 5]}
    cases = [
        continuation("the state it returned", state, "ok"),
        continuation("a string", "garbage"),
        continuation("a number", 42),
        continuation("an empty object", {}),
        continuation("no shape", {"state": inner}),
        continuation("a shape of null", {"shape": None, "state": inner}),
        points("a shape with NaN", "[NaN, 1, 2, 3]"),
        points("a shape with inf", "[1e999, 1, 2, 3]"),
        points("a shape with a huge integer", "[1" + "0" * 400 + ", 1, 2, 3]"),
        points("an inverted shape", "[5, 5, -5, -5]"),
        continuation("a polygon for a rectangle tracker", {"shape": polygon, "state": inner}),
        continuation("a state from a ReID answer", [0, -1, 2]),
        continuation("an oversized state", {"shape": shape, "state": "x" * (max_state_bytes + 10)}),
        continuation("a nested state", {"shape": shape, "state": "@@raw@@"}, raw=deep(900)),
        continuation("the model state is garbage", {"shape": shape, "state": "garbage"}),
        continuation("the model state is an empty object", {"shape": shape, "state": {}}),
        model_state("a negative and absurd box", "box", [-1e300, -5, 1e300, 1e9], "any"),
        model_state("a template that is not a PNG", "template", b64(b"nope")),
        model_state("a template that is a bomb", "template", b64(_bomb())),
        model_state("scale 0", "scale", 0),
    ]
    rng.shuffle(cases)
    return cases


def _forged(inner: Any, key: str, value: Any) -> Any:
    return {**inner, key: value} if isinstance(inner, dict) else {key: value}


def _bomb() -> bytes:
    """A PNG header claiming 50 000 × 50 000 pixels, with a few bytes of data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def image_cases(kind: str, good: dict[str, Any], rng: random.Random, count: int) -> list[Case]:
    """`count` malformed files and every unusual valid image, in the image field(s) of `good`."""
    cases = []
    for name, data in malformed_images(rng, count):
        key = rng.choice(_images_field(kind))
        cases.append(Case(f"{key}: {name}", json.dumps({**good, key: b64(data)}).encode(), expect="any"))
    for name, data in unusual_images():
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
        body = synthetic_request(kind, data, size)  # clicks and boxes where this frame has pixels
        cases.append(Case(f"a {name}", json.dumps(body).encode(), expect="ok"))
    return cases
