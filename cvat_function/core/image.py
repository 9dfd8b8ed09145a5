"""Image bytes → a numpy array in the colour order the model declares.

CVAT sends the user's original file for image tasks (any format Pillow opens, any mode) and a PNG for video
frames. Decisions, each tested in tests/test_image.py:

* EXIF orientation is applied (`ImageOps.exif_transpose`): CVAT shows frames rotated by their EXIF tag
  (and since v2.4.7 re-encodes such images already rotated), so coordinates match what the annotator sees.
* The pixel count in the header is checked against `max_pixels` *before* any pixel is decoded, so a
  decompression bomb is refused without allocating it.
* Animated GIF / multi-page TIFF: the first frame, as CVAT shows it.
* 16-bit and 32-bit modes are scaled to 8 bits before colour conversion (a plain convert would saturate).
* Alpha is dropped, not composited: models see the stored colour values.

Speed: Pillow reads only the header (size, format, orientation). A complete 8-bit JPEG or PNG with no EXIF
rotation, the bulk of what CVAT sends, is then decoded by OpenCV straight into the colour order asked for
(a writable array, no extra conversion copy); every other file, and any file OpenCV refuses, takes the
Pillow path, which also produces the precise error messages. Both paths give the same pixels up to JPEG
decoder rounding (tests/test_image.py).
"""

from __future__ import annotations

import io
import warnings
from enum import Enum

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import RequestError

DEFAULT_MAX_PIXELS = 100_000_000
"""Default pixel limit (100 MP, e.g. 12 000 × 8 000): about 300 MB as RGB per worker."""


class ColorOrder(str, Enum):
    """The layout `infer` receives: H×W×3 uint8 RGB or BGR (OpenCV), or H×W uint8 grayscale."""

    RGB = "RGB"
    BGR = "BGR"
    GRAY = "GRAY"


class PixelType(str, Enum):
    """The dtype `infer` receives: uint8 0..255 (default) or float32 scaled to 0..1."""

    UINT8 = "uint8"
    FLOAT32 = "float32"


def as_pixel_type(array: np.ndarray, dtype: PixelType | str = PixelType.UINT8) -> np.ndarray:
    """A decoded uint8 frame in the dtype the model declares."""
    if PixelType(dtype) is PixelType.UINT8:
        return array
    return np.asarray(array.astype(np.float32) * np.float32(1.0 / 255.0))


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) after EXIF orientation, reading the header only."""
    with _open(data, field="image") as im:
        width, height = im.size
        if _orientation(im) in (5, 6, 7, 8):
            width, height = height, width
        return width, height


def decode_image(
    data: bytes,
    color: ColorOrder | str = ColorOrder.RGB,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    field: str = "image",
) -> np.ndarray:
    """Decode image file bytes into a C-contiguous uint8 array; bad input raises `RequestError`."""
    order = ColorOrder(color)
    if not data:
        raise RequestError(field, "base64 of an image file", got="an empty string")
    with _open(data, field=field) as im:
        width, height = im.size
        if width * height > max_pixels:
            raise RequestError(
                field,
                f"an image of at most {max_pixels} pixels (set CVAT_FUNCTION_MAX_PIXELS to allow more)",
                got=f"{width}x{height} = {width * height} pixels",
                status=413,
            )
        fast = _decode_fast(data, im, order)
        if fast is not None:
            return fast
        try:
            im.seek(0)
            im.load()
            oriented = _apply_orientation(im)
            array = _to_array(oriented, order)
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise RequestError(
                field, f"a complete, readable {im.format or 'image'} file", got=f"a damaged file ({e})"
            ) from e
    return array


def _open(data: bytes, *, field: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own bomb limit; ours (checked right after) is the one that applies.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise RequestError(field, "an image of a sane pixel count", got=str(e), status=413) from e
    except UnidentifiedImageError as e:
        raise RequestError(
            field, "an image file (JPEG, PNG, TIFF, WEBP, BMP, GIF…)", got=f"{len(data)} bytes of no image format"
        ) from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise RequestError(field, "a readable image file", got=f"a damaged header ({e})") from e


_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"
_CV2_FLAGS = {
    ColorOrder.BGR: cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION,
    ColorOrder.RGB: cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION,
    # colour, then converted: libjpeg's direct grey output (the Y channel) differs from Pillow's RGB→L
    ColorOrder.GRAY: cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION,
}


def _decode_fast(data: bytes, im: Image.Image, order: ColorOrder) -> np.ndarray | None:
    """OpenCV decode of a complete, unrotated 8-bit JPEG/PNG; None means "use the Pillow path"."""
    complete = (im.format == "JPEG" and data.endswith(_JPEG_END)) or (im.format == "PNG" and data.endswith(_PNG_END))
    if not complete or im.mode not in ("RGB", "L", "RGBA") or _orientation(im) != 1:
        return None
    array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _CV2_FLAGS[order])
    if array is None or array.shape[:2] != (im.height, im.width):
        return None
    if order is not ColorOrder.BGR:
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB if order is ColorOrder.RGB else cv2.COLOR_BGR2GRAY)
    return np.asarray(array)


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not lose the image; CVAT shows it unrotated too
        return 1
    return value if isinstance(value, int) else 1


def _apply_orientation(im: Image.Image) -> Image.Image:
    if _orientation(im) == 1:
        return im
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # same reasoning as in _orientation
        return im


def _to_8bit(im: Image.Image) -> Image.Image:
    """Scale high-bit-depth single-channel modes (I;16*, I, F) to L without saturating."""
    array = np.asarray(im)
    if array.dtype == np.uint8:
        return im
    values = array.astype(np.float64, copy=False)
    if im.mode.startswith("I;16"):
        scaled = values / 257.0  # full 16-bit range onto 0..255
    else:
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        if low >= 0 and high <= 255:
            scaled = values
        elif low >= 0 and high <= 65535:
            scaled = values / 257.0
        else:  # arbitrary range (float images, signed data): stretch to 0..255
            scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
    return Image.fromarray(np.nan_to_num(scaled).round().clip(0, 255).astype(np.uint8), mode="L")


def _to_array(im: Image.Image, order: ColorOrder) -> np.ndarray:
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _to_8bit(im)
    if order is ColorOrder.GRAY:
        return np.ascontiguousarray(np.asarray(im if im.mode == "L" else im.convert("L")))
    if im.mode != "RGB":
        im = im.convert("RGBA" if im.mode == "P" and "transparency" in im.info else im.mode).convert("RGB")
    if order is ColorOrder.BGR:
        # Pillow's raw encoder writes BGR directly: one copy, the same cost as an RGB array.
        return np.frombuffer(im.tobytes("raw", "BGR"), dtype=np.uint8).reshape(im.height, im.width, 3)
    return np.asarray(im)


def decode_pil_image(
    im: Image.Image,
    color: ColorOrder | str = ColorOrder.RGB,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    field: str = "image",
) -> np.ndarray:
    """A Pillow image (what cvat-sdk hands a function) → the array `decode_image` gives for its file bytes.

    The same rules as the Pillow path of `decode_image`: the pixel limit before any pixel is read, the EXIF
    orientation, the first frame, high-bit-depth modes scaled to 8 bits, alpha dropped."""
    order = ColorOrder(color)
    width, height = im.size
    if width * height > max_pixels:
        raise RequestError(
            field,
            f"an image of at most {max_pixels} pixels (set CVAT_FUNCTION_MAX_PIXELS to allow more)",
            got=f"{width}x{height} = {width * height} pixels",
            status=413,
        )
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        im.load()
        return _to_array(_apply_orientation(im), order)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise RequestError(field, f"a complete, readable {im.format or 'image'}", got=f"a damaged image ({e})") from e
