"""Image decoding: every mode to the declared colour order, EXIF, bombs, and the fast path's fidelity."""

from __future__ import annotations

import io
import random
import struct
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, PngImagePlugin

from cvat_function.core.errors import RequestError
from cvat_function.core.image import ColorOrder, PixelType, as_pixel_type, decode_image, image_size
from cvat_function.tools.hostile import malformed_images

from ..support import ROOT, astronaut_rgb, encode
from .test_request_matrix import png_header_claiming

RGB = astronaut_rgb()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("order", list(ColorOrder))
def test_fast_path_gives_the_same_pixels_as_pillow(fmt: str, order: ColorOrder):
    data = encode(RGB, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    fast = decode_image(data, order)
    # appending a byte after the end marker sends the same file down the Pillow path
    slow = decode_image(data + b"\0", order)
    assert fast.shape == slow.shape
    assert fast.dtype == slow.dtype == np.uint8
    assert np.abs(fast.astype(int) - slow.astype(int)).max() <= 1  # JPEG/grey rounding at most


@pytest.mark.parametrize("order", list(ColorOrder))
def test_decoded_arrays_are_contiguous_uint8_in_the_declared_layout(order: ColorOrder):
    for data in (encode(RGB, "PNG"), encode(RGB, "TIFF")):
        array = decode_image(data, order)
        assert array.flags.c_contiguous
        assert array.shape == ((512, 512) if order is ColorOrder.GRAY else (512, 512, 3))
    rgb, bgr = decode_image(encode(RGB, "PNG"), "RGB"), decode_image(encode(RGB, "PNG"), "BGR")
    assert np.array_equal(rgb, RGB)
    assert np.array_equal(bgr, RGB[:, :, ::-1])


def test_sixteen_bit_images_are_scaled_not_saturated():
    ramp = (np.arange(256 * 4, dtype=np.uint32).reshape(4, 256) * 64).astype(np.uint16)
    array = decode_image(encode(Image.fromarray(ramp), "PNG"), "GRAY")
    assert array.min() == 0
    assert array.max() == round(int(ramp.max()) / 257)  # a plain convert would give 255 almost everywhere
    assert len(np.unique(array)) > 200


def test_float_images_are_stretched_to_eight_bits():
    values = np.linspace(-1.0, 1.0, 64 * 64, dtype=np.float32).reshape(64, 64)
    array = decode_image(encode(Image.fromarray(values, mode="F"), "TIFF"), "GRAY")
    assert (array.min(), array.max()) == (0, 255)


def test_palette_with_transparency_and_one_bit_images_decode():
    palette = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 0
    assert decode_image(encode(palette, "PNG", transparency=0), "RGB").shape == (512, 512, 3)
    bilevel = Image.fromarray(RGB).convert("1")
    assert set(np.unique(decode_image(encode(bilevel, "PNG"), "GRAY"))) <= {0, 255}


def test_exif_orientation_is_applied_and_image_size_reports_it():
    tall = np.zeros((40, 20, 3), np.uint8)
    tall[:10] = 255  # white at the top of the stored image
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed turned 90° clockwise: the white band ends up on the right
    data = encode(tall, "JPEG", quality=95, exif=exif.tobytes())
    array = decode_image(data, "RGB")
    assert array.shape == (20, 40, 3)
    assert array[:, -5:].mean() > 200
    assert array[:, :5].mean() < 50
    assert image_size(data) == (40, 20)


def test_a_decompression_bomb_is_refused_before_any_pixel_is_allocated():
    """Decode a 50 000 × 50 000 header (7.5 GB as RGB) in a process limited to 1 GiB of address space."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.core.test_request_matrix import png_header_claiming
        from cvat_function.core.image import decode_image
        from cvat_function.core.errors import RequestError
        data = png_header_claiming(50_000, 50_000)
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        try:
            decode_image(data, "RGB")
        except RequestError as e:
            print(e.status, e.field)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.stdout.split() == ["413", "image"], result.stderr


def test_the_pixel_limit_is_configurable():
    data = encode(np.zeros((100, 100, 3), np.uint8), "PNG")
    assert decode_image(data, "RGB", max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(RequestError) as refused:
        decode_image(data, "RGB", max_pixels=9_999)
    assert refused.value.status == 413
    assert "CVAT_FUNCTION_MAX_PIXELS" in refused.value.expected
    with pytest.raises(RequestError):
        decode_image(png_header_claiming(20_000, 20_000), "RGB")


@pytest.mark.parametrize(
    ("data", "got"),
    [
        (b"", "an empty string"),
        (b"GIF89a", "no image format"),
        (b"\x89PNG\r\n\x1a\n", "no image format"),
        (encode(RGB, "PNG")[:2000], "damaged"),
        (encode(RGB, "JPEG")[:2000], "damaged"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "no image format"),
    ],
)
def test_undecodable_bytes_raise_a_request_error_naming_the_image(data: bytes, got: str):
    with pytest.raises(RequestError) as error:
        decode_image(data, "RGB")
    assert error.value.field == "image"
    assert error.value.status == 400
    assert got in (error.value.got or "")


def test_float_models_get_float32_frames_scaled_to_the_unit_interval():
    frame = decode_image(encode(RGB, "PNG"), "RGB")
    assert as_pixel_type(frame, "uint8") is frame
    floats = as_pixel_type(frame, PixelType.FLOAT32)
    assert floats.dtype == np.float32
    assert floats.shape == frame.shape
    assert np.allclose(floats * 255, frame, atol=1e-3)
    with pytest.raises(ValueError, match="float16"):
        as_pixel_type(frame, "float16")


def _oriented_file(fmt: str, image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, fmt, exif=exif.tobytes())


ASYMMETRIC = np.random.default_rng(5).integers(0, 256, size=(6, 10, 3), dtype=np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(("fmt", "mode"), [("PNG", "RGB"), ("PNG", "I;16"), ("TIFF", "RGB"), ("TIFF", "L")])
def test_every_exif_orientation_gives_the_pixels_pillow_shows(orientation: int, fmt: str, mode: str):
    if mode == "I;16":
        stored = Image.fromarray(ASYMMETRIC[..., 0].astype(np.uint16) * 257)
    else:
        stored = Image.fromarray(ASYMMETRIC).convert(mode)
    data = _oriented_file(fmt, stored, orientation)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    expected_gray = np.asarray(shown.convert("L")) if mode != "I;16" else np.asarray(shown).astype(int) // 257
    for order in ColorOrder:
        array = decode_image(data, order)
        assert array.flags.c_contiguous
        if order is ColorOrder.GRAY:
            assert np.abs(array.astype(int) - expected_gray).max() <= (1 if mode == "I;16" else 0)
        elif mode == "RGB":
            rgb = np.asarray(shown.convert("RGB"))
            assert np.array_equal(array, rgb if order is ColorOrder.RGB else rgb[..., ::-1])
    assert image_size(data) == shown.size


def test_a_png_is_decoded_once_even_when_its_exif_is_read(monkeypatch: pytest.MonkeyPatch):
    """Pillow's PngImageFile.getexif decodes the whole image to look for an eXIf chunk after the pixels; the
    decoder reads the chunk list itself, so an 8-bit PNG is decoded by OpenCV alone."""
    loads = []
    original = PngImagePlugin.PngImageFile.load

    def counting_load(self: Any) -> Any:
        if self.tile:  # what is left to decode; empty once decoded (later calls are no-ops)
            loads.append(self.size)
        return original(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", counting_load)
    for data in (encode(RGB, "PNG"), _oriented_file("PNG", Image.fromarray(RGB), 1)):
        assert decode_image(data, "RGB").shape == (512, 512, 3)
    assert loads == []
    assert decode_image(_oriented_file("PNG", Image.fromarray(RGB), 6), "RGB").shape == (512, 512, 3)
    assert len(loads) == 1  # rotated: the Pillow path, one decode


@pytest.mark.parametrize(
    "error",
    [RuntimeError("x"), NotImplementedError("x"), OSError("x"), SyntaxError("x"), struct.error("x"),
     IndexError("x"), KeyError("x"), TypeError("x"), ZeroDivisionError("x"), ValueError("x"), EOFError("x")],
    ids=lambda e: type(e).__name__,
)  # fmt: skip
def test_any_exception_a_decoder_raises_is_a_400_naming_the_image(monkeypatch: pytest.MonkeyPatch, error):
    data = encode(RGB, "TIFF")  # the Pillow path

    def broken(self: Any) -> None:
        raise error

    monkeypatch.setattr(ImageFile.ImageFile, "load", broken)
    with pytest.raises(RequestError) as refused:
        decode_image(data, "RGB")
    assert (refused.value.status, refused.value.field) == (400, "image")
    assert type(error).__name__ in (refused.value.got or "")
    monkeypatch.setattr(Image, "open", lambda *args, **kw: broken(None))
    with pytest.raises(RequestError, match="damaged header"):
        decode_image(data, "RGB")


def test_memory_exhaustion_is_not_blamed_on_the_file(monkeypatch: pytest.MonkeyPatch):
    def exhausted(self: Any) -> None:
        raise MemoryError

    monkeypatch.setattr(ImageFile.ImageFile, "load", exhausted)
    with pytest.raises(MemoryError):
        decode_image(encode(RGB, "TIFF"), "RGB")


def test_malformed_files_of_every_format_decode_or_raise_a_request_error():
    statuses = Counter()
    for name, data in malformed_images(random.Random(3), 400):
        try:
            array = decode_image(data, "RGB")
        except RequestError as e:
            assert e.field == "image", name
            statuses[e.status] += 1
        else:
            assert array.dtype == np.uint8, name
            assert array.ndim == 3, name
            statuses[200] += 1
    assert statuses[400] > 100


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0.0, 127.6, 255.0]], np.float32), [0, 128, 255]),  # within 0..255: as is
        (np.array([[0.0, 257.0 * 100, 65535.0]], np.float32), [0, 100, 255]),  # within 0..65535: like 16 bits
        (np.array([[-1.0, 0.0, 1.0]], np.float32), [0, 128, 255]),  # anything else: stretched
        (np.array([[np.nan, -np.inf, -1.0, 3.0, np.inf]], np.float32), [0, 0, 0, 255, 255]),  # by the finite values
        (np.array([[-7, -7]], np.int32), [0, 0]),  # a constant image
    ],
)
def test_high_depth_values_map_onto_eight_bits_by_their_range(values: np.ndarray, expected: list[int]):
    image = Image.fromarray(values, mode="F" if values.dtype == np.float32 else "I")
    assert decode_image(encode(image, "TIFF"), "GRAY").ravel().tolist() == expected


MEMORY_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from cvat_function.core.image import decode_image

def status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key + ":")) * 1024

data = open({path!r}, "rb").read()
decode_image(open({warm!r}, "rb").read(), {order!r})  # load the codecs first
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
before = status("VmRSS")
frame = decode_image(data, {order!r})
print((status("VmHWM") - before) / (frame.shape[0] * frame.shape[1]))
"""


def peak_bytes_per_pixel(path: Path, warm: Path, order: str) -> float:
    """Peak RSS growth of one decode per pixel, output included, in a fresh process (Linux: VmHWM reset by
    /proc/self/clear_refs, so reading the file does not count)."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc/self/clear_refs")
    script = MEMORY_SCRIPT.format(root=str(ROOT), path=str(path), warm=str(warm), order=order)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return float(result.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "order", "bound"),
    [("8-bit PNG", "RGB", 8), ("8-bit TIFF", "RGB", 10), ("16-bit PNG", "RGB", 9), ("16-bit PNG", "GRAY", 7),
     ("float TIFF", "RGB", 12), ("float TIFF", "GRAY", 10)],
)  # fmt: skip
def test_memory_per_request_is_bounded_by_the_frame(tmp_path: Path, kind: str, order: str, bound: float):
    """The README's bound, measured: a 16-bit or float frame never takes a float64 copy (~35 B/px before)."""
    side = 2000
    rng = np.random.default_rng(0)
    if kind.startswith("16-bit"):
        image = Image.fromarray(rng.integers(0, 65536, size=(side, side), dtype=np.uint16))
    elif kind.startswith("float"):
        image = Image.fromarray(rng.normal(size=(side, side)).astype(np.float32), mode="F")
    else:
        image = Image.fromarray(rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8))
    path, warm = tmp_path / "frame", tmp_path / "warm"
    path.write_bytes(encode(image, kind.split()[-1], **({"compress_level": 1} if "PNG" in kind else {})))
    warm.write_bytes(encode(image.crop((0, 0, 8, 8)), kind.split()[-1]))
    assert peak_bytes_per_pixel(path, warm, order) <= bound


@pytest.mark.parametrize(
    "mode", ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "I", "I;16", "I;16B", "F"]
)
@pytest.mark.parametrize("order", list(ColorOrder))
def test_every_pillow_mode_a_tiff_can_hold_decodes_to_every_colour_order(mode: str, order: ColorOrder):
    rgb = Image.fromarray(ASYMMETRIC)
    if mode in ("PA", "LAB", "I;16B"):
        image = Image.frombytes(mode, (10, 6), bytes(range(256)))  # at most 3 bytes for each of the 60 pixels
    elif mode == "I;16":
        image = Image.fromarray(ASYMMETRIC[..., 0].astype(np.uint16) * 257)
    else:
        image = rgb.convert(mode)
    array = decode_image(encode(image, "TIFF"), order)
    assert array.shape == ((6, 10) if order is ColorOrder.GRAY else (6, 10, 3))
    assert array.dtype == np.uint8
