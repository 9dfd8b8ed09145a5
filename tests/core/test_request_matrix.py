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


TINY = b64(tiny_png()).encode()
HOSTILE = [
    ("array nested 100 000 deep", b"[" * 100_000 + b"]" * 100_000, "application/json", "body"),
    ("object nested 50 000 deep as text", b'{"image": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "text/plain", "body"),
    ("a 5000-digit integer", b'{"image": "%s", "threshold": 1%s}' % (TINY, b"0" * 5000), "text/plain", "body"),
    ("threshold 1e999", b'{"image": "%s", "threshold": 1e999}' % TINY, "text/plain", "threshold"),
    ("threshold 10**400", b'{"image": "%s", "threshold": 1%s}' % (TINY, b"0" * 400), "text/plain", "threshold"),
    ("threshold -10**4000", b'{"image": "%s", "threshold": -%s}' % (TINY, b"9" * 4000), "text/plain", "threshold"),
    ("threshold nested 900 deep", b'{"image": "%s", "threshold": %s}' % (TINY, b"[" * 900 + b"]" * 900),
     "text/plain", "threshold"),
    ("image a lone surrogate", b'{"image": "\\ud800"}', "application/json", "image"),
    ("image nested", b'{"image": [[[["a"]]]]}', "application/json", "image"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "content_type", "field"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_json_is_a_400_naming_the_field(call: Call, body: bytes, content_type: str, field: str):
    response = call(body, content_type)
    assert (response.status, response.content_type) == (400, "application/json"), response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 20000), (20000, 1)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_extreme_aspect_ratios_reach_the_model_and_are_answered(call: Call, size: tuple[int, int]):
    frame = np.random.default_rng(0).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    for shape in shapes(call({"image": b64(encode(frame, "PNG"))})):
        assert shape["label"]


def test_malformed_files_of_every_format_are_answered_or_a_400_naming_the_image(call: Call):
    """Valid small files of every format Pillow writes, cut, bit-flipped or with a mangled header, and format
    signatures followed by noise: whatever the decoder raises, the answer is a 200 or a 4xx, never a 500."""
    import random

    from cvat_function.tools.hostile import malformed_images

    statuses = set()
    for name, data in malformed_images(random.Random(11), 120):
        response = call({"image": b64(data)})
        statuses.add(response.status)
        assert response.status in (200, 400, 413), f"{name}: {response.status} {response.text[:300]}"
        if response.status != 200:
            assert response.json()["field"] == "image", name
    assert 400 in statuses
