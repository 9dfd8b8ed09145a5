"""Malformed and unusual detector requests, each with the exact answer Nuclio would send back.

Every case goes through the fixture detector's handler (tests/fixtures/detector) via nuclio_sdk (event
decoding by Content-Type, response encoding by Response.from_entrypoint_output). Bad input is always a 4xx JSON
body naming the field, never a 500. The unusual-but-valid cases compare with the answer to the plain JPEG
request, so they hold for any ModelHandler (what the root model must find is in test_model_handler.py).
"""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ..support import ASTRONAUT, Call, astronaut_rgb, b64, encode

GOOD_JPEG = ASTRONAUT.read_bytes()
NAN_BODY = b'{"image": "%s", "threshold": NaN}' % b64(encode(np.zeros((1, 1, 3), np.uint8), "PNG")).encode()


def tiny_png(width: int = 1, height: int = 1) -> bytes:
    return encode(np.zeros((height, width, 3), np.uint8), "PNG")


def png_header_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR claiming a huge size, with almost no data: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# (case id, raw body or JSON object, content type, expected status, expected field of the error)
BAD = [
    ("empty body", b"", "application/json", 400, "body"),
    ("plain text", b"hello", "text/plain", 400, "body"),
    ("json array", [], "application/json", 400, "body"),
    ("json string", '"image"', "application/json", 400, "body"),
    ("json null", b"null", "application/json", 400, "body"),
    ("json number", b"42", "application/json", 400, "body"),
    ("invalid utf-8", b"\xff\xfe{", "text/plain", 400, "body"),
    ("truncated json", b'{"image": "abc', "application/json", 400, "body"),
    ("no image key", {}, "application/json", 400, "image"),
    ("image null", {"image": None}, "application/json", 400, "image"),
    ("image number", {"image": 123}, "application/json", 400, "image"),
    ("image list", {"image": ["aGVsbG8="]}, "application/json", 400, "image"),
    ("image object", {"image": {"data": "aGVsbG8="}}, "application/json", 400, "image"),
    ("image empty string", {"image": ""}, "application/json", 400, "image"),
    ("empty data url", {"image": "data:image/png;base64,"}, "application/json", 400, "image"),
    ("bad data url", {"image": "data:image/png,notbase64"}, "application/json", 400, "image"),
    ("not base64", {"image": "!!!not-base64!!!"}, "application/json", 400, "image"),
    ("bad padding", {"image": "abc"}, "application/json", 400, "image"),
    ("urlsafe base64", {"image": b64(GOOD_JPEG).replace("+", "-").replace("/", "_")}, "application/json", 400, "image"),
    ("not an image", {"image": b64(b"this is not an image file at all")}, "application/json", 400, "image"),
    ("truncated jpeg", {"image": b64(GOOD_JPEG[: len(GOOD_JPEG) // 2])}, "application/json", 400, "image"),
    ("truncated png", {"image": b64(tiny_png(64, 64)[:-30])}, "application/json", 400, "image"),
    ("jpeg header only", {"image": b64(GOOD_JPEG[:200])}, "application/json", 400, "image"),
    ("decompression bomb", {"image": b64(png_header_claiming(100_000, 100_000))}, "application/json", 413, "image"),
    ("threshold negative", {"image": b64(tiny_png()), "threshold": -0.1}, "application/json", 400, "threshold"),
    ("threshold above 1", {"image": b64(tiny_png()), "threshold": 1.5}, "application/json", 400, "threshold"),
    ("threshold string", {"image": b64(tiny_png()), "threshold": "0.5"}, "application/json", 400, "threshold"),
    ("threshold boolean", {"image": b64(tiny_png()), "threshold": True}, "application/json", 400, "threshold"),
    ("threshold list", {"image": b64(tiny_png()), "threshold": [0.5]}, "application/json", 400, "threshold"),
    ("threshold NaN", NAN_BODY, "application/json", 400, "threshold"),
    ("threshold Infinity", NAN_BODY.replace(b"NaN", b"Infinity"), "text/plain", 400, "threshold"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "content_type", "status", "field"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_request_is_a_4xx_naming_the_field(call: Call, body, content_type, status, field):
    response = call(body, content_type)
    assert response.status == status, response.text
    assert response.content_type == "application/json"
    answer = response.json()
    assert answer["field"] == field
    assert answer["error"].startswith(f"{field}: expected ")
    assert answer["expected"]


def shapes(response) -> list[dict]:
    assert response.status == 200, response.text
    assert response.content_type == "application/json"
    answer = response.json()
    assert isinstance(answer, list)
    return answer


@pytest.fixture(scope="module")
def reference(call: Call, astronaut_b64: str) -> list[dict]:
    """The answer to the plain request, as CVAT sends it."""
    return shapes(call({"image": astronaut_b64}))


GOOD = [
    ("text/plain content type", "text/plain"),
    ("json with charset", "application/json; charset=utf-8"),
    ("no content type", ""),
]


@pytest.mark.parametrize("content_type", [c[1] for c in GOOD], ids=[c[0] for c in GOOD])
def test_json_sent_with_another_content_type_gets_the_same_answer(call, astronaut_b64, reference, content_type):
    assert shapes(call(json.dumps({"image": astronaut_b64}), content_type)) == reference


def test_a_data_url_gets_the_same_answer(call: Call, astronaut_b64: str, reference):
    assert shapes(call({"image": "data:image/jpeg;base64," + astronaut_b64})) == reference


def test_line_wrapped_base64_gets_the_same_answer(call: Call, astronaut_b64: str, reference):
    wrapped = "\n".join(astronaut_b64[i : i + 76] for i in range(0, len(astronaut_b64), 76))
    assert shapes(call({"image": wrapped})) == reference


def test_unknown_and_null_keys_are_ignored(call: Call, astronaut_b64: str, reference):
    body = {"image": astronaut_b64, "frame": 3, "mapping": {}, "conv_mask_to_poly": True, "threshold": None}
    assert shapes(call(body)) == reference


def test_a_threshold_of_one_is_valid(call: Call, astronaut_b64: str):
    assert all(float(s.get("confidence", 1)) >= 1.0 for s in shapes(call({"image": astronaut_b64, "threshold": 1})))


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (7, 1), (15, 9)])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_tiny_images_are_answered(call: Call, size: tuple[int, int], fmt: str):
    data = encode(np.full((size[1], size[0], 3), 128, np.uint8), fmt)
    for shape in shapes(call({"image": b64(data)})):
        assert shape["label"]


def formats() -> list[tuple[str, bytes]]:
    """The astronaut in every format and mode CVAT can send."""
    rgb = astronaut_rgb()
    pil = Image.fromarray(rgb)
    gray = pil.convert("L")
    sixteen = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)
    rgba = pil.convert("RGBA")
    rgba.putalpha(200)
    gif_frames = io.BytesIO()
    pil.convert("P").save(gif_frames, format="GIF", save_all=True, append_images=[Image.new("P", pil.size)])
    return [
        ("jpeg", encode(pil, "JPEG", quality=95)),
        ("jpeg grayscale", encode(gray, "JPEG", quality=95)),
        ("jpeg progressive", encode(pil, "JPEG", quality=95, progressive=True)),
        ("jpeg cmyk", encode(pil.convert("CMYK"), "JPEG", quality=95)),
        ("png rgb", encode(pil, "PNG")),
        ("png rgba", encode(rgba, "PNG")),
        ("png grayscale", encode(gray, "PNG")),
        ("png 16-bit grayscale", encode(sixteen, "PNG")),
        ("png palette", encode(pil.convert("P", palette=Image.Palette.ADAPTIVE), "PNG")),
        ("tiff", encode(pil, "TIFF")),
        ("tiff lzw (as CVAT re-saves)", encode(pil, "TIFF", compression="tiff_lzw")),
        ("tiff 16-bit", encode(sixteen, "TIFF")),
        ("webp lossless", encode(pil, "WEBP", lossless=True)),
        ("bmp", encode(pil, "BMP")),
        ("gif (first frame of two)", gif_frames.getvalue()),
    ]


FORMATS = formats()


@pytest.mark.parametrize("data", [f[1] for f in FORMATS], ids=[f[0] for f in FORMATS])
def test_every_format_cvat_can_send_is_answered(call: Call, data: bytes):
    for shape in shapes(call({"image": b64(data)})):
        assert shape["label"]


def test_the_worker_keeps_serving_after_every_bad_request(call: Call, astronaut_b64: str, reference):
    for _case, body, content_type, status, _field in BAD:
        assert call(body, content_type).status == status
    assert shapes(call({"image": astronaut_b64})) == reference
