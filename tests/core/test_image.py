"""Image decoding: every mode to the declared colour order, EXIF, bombs, and the fast path's fidelity."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from cvat_function.core.errors import RequestError
from cvat_function.core.image import ColorOrder, PixelType, as_pixel_type, decode_image, image_size

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
