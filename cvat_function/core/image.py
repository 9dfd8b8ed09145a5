"""Image bytes → a numpy array in the colour order the model declares.

CVAT sends the user's original file for image tasks (any format Pillow opens, any mode) and a PNG for video
frames. Decisions, each tested in tests/core/test_image.py:

* EXIF orientation is applied: CVAT shows frames rotated by their EXIF tag (and since v2.4.7 re-encodes such
  images already rotated), so coordinates match what the annotator sees.
* The pixel count in the header is checked against `max_pixels` *before* any pixel is decoded, so a
  decompression bomb is refused without allocating it.
* Animated GIF / multi-page TIFF: the first frame, as CVAT shows it.
* 16-bit and 32-bit modes are scaled to 8 bits before colour conversion (a plain convert would saturate).
* Alpha is dropped, not composited: models see the stored colour values.
* Whatever a decoder raises on a hostile file (Pillow's plugins raise OSError, SyntaxError, ValueError,
  struct.error, RuntimeError, NotImplementedError, IndexError…) is a 400 naming the field: a file that cannot
  be decoded is the request's fault. Only MemoryError is not (it is the server's).

Speed: Pillow reads only the header (size, format, orientation; for a PNG the eXIf chunk is found by walking
the chunk list, as Pillow's own `getexif` would decode the whole image to look for it). A complete 8-bit JPEG
or PNG with no EXIF rotation, the bulk of what CVAT sends, is then decoded once by OpenCV straight into the
colour order asked for; every other file, and any file OpenCV refuses, takes the Pillow path. Both paths give
the same pixels up to JPEG decoder rounding.

Memory (the bound README.md states): the Pillow path converts strips of `_STRIP_PIXELS` pixels from Pillow's
decoded image straight into the output array (rotated by a view of it), so a request costs Pillow's storage
(1 B/px for L/P/1, 2 for I;16, 4 for RGB/RGBA/CMYK/I/F) plus the output (3 B/px colour, 1 B/px GRAY), plus a
strip; never a float64 copy of the frame. The OpenCV path costs the output once more (the colour conversion).
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable
from enum import Enum

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import RequestError

DEFAULT_MAX_PIXELS = 100_000_000
"""Default pixel limit (100 MP, e.g. 12 000 × 8 000): about 300 MB as RGB per worker."""

_STRIP_PIXELS = 1 << 18
"""Pixels converted at a time on the Pillow path: bounds the temporaries (a few MB) whatever the frame size."""


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
    """A decoded uint8 frame in the dtype the model declares (float32: 4 B per value, scaled in place)."""
    if PixelType(dtype) is PixelType.UINT8:
        return array
    out = array.astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) after EXIF orientation, reading the header only."""
    with _open(data, field="image") as im:
        try:
            width, height = im.size
            orientation = _orientation(im, data)
            if im.format == "TIFF" and (width, height) != (im.tag_v2.get(256), im.tag_v2.get(257)):
                orientation = 1  # Pillow ≥ 11 already reports a TIFF's size as shown (it turns it while loading)
        except Exception as e:
            raise _damaged("image", im, e) from e
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


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
    with warnings.catch_warnings():
        # Pillow warns about damaged tags and EXIF blocks of files it still decodes, and about formats it will
        # drop (IM): about the client's file, not this code; the answer says what counts
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return _decode(data, order, max_pixels, field)


def _check_pixels(im: Image.Image, max_pixels: int, field: str) -> None:
    """The pixel limit, from the header's size: refused (413) before any pixel is decoded."""
    width, height = im.size
    if width * height > max_pixels:
        raise RequestError(
            field,
            f"an image of at most {max_pixels} pixels (set CVAT_FUNCTION_MAX_PIXELS to allow more)",
            got=f"{width}x{height} = {width * height} pixels",
            status=413,
        )


def _decode(data: bytes, order: ColorOrder, max_pixels: int, field: str) -> np.ndarray:
    with _open(data, field=field) as im:
        _check_pixels(im, max_pixels, field)
        try:
            orientation = _orientation(im, data)
            fast = _decode_fast(data, im, order) if orientation == 1 else None
            if fast is not None:
                return fast
            im.seek(0)
            im.load()
            # read again: Pillow ≥ 11 turns a TIFF by its orientation tag while loading it (and drops the tag)
            return _to_array(im, order, _orientation(im, data))
        except MemoryError:
            raise
        except RequestError:
            raise
        except Exception as e:  # any decoder failure on these bytes (see the module docstring)
            raise _damaged(field, im, e) from e


def _damaged(field: str, im: Image.Image, error: Exception) -> RequestError:
    detail = str(error)[:200] or "no detail"
    return RequestError(
        field,
        f"a complete, readable {im.format or 'image'} file",
        got=f"a damaged file ({type(error).__name__}: {detail})",
    )


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
    except MemoryError:
        raise
    except Exception as e:  # a plugin's header parser can raise anything on hostile bytes
        raise RequestError(
            field, "a readable image file", got=f"a damaged header ({type(e).__name__}: {str(e)[:200]})"
        ) from e


_JPEG_END = b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
_CV2_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
# colour, then converted, also for GRAY: libjpeg's direct grey output (the Y channel) differs from Pillow's RGB→L


def _decode_fast(data: bytes, im: Image.Image, order: ColorOrder) -> np.ndarray | None:
    """OpenCV decode of a complete, unrotated 8-bit JPEG/PNG; None means "use the Pillow path"."""
    complete = (im.format == "JPEG" and data.endswith(_JPEG_END)) or (im.format == "PNG" and data.endswith(_PNG_END))
    if not complete or im.mode not in ("RGB", "L", "RGBA"):
        return None
    try:
        array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _CV2_FLAGS)
    except cv2.error:
        return None
    if array is None or array.shape[:2] != (im.height, im.width):
        return None
    if order is ColorOrder.RGB:
        return np.asarray(cv2.cvtColor(array, cv2.COLOR_BGR2RGB, dst=array))  # in place: no second frame
    if order is ColorOrder.GRAY:
        return np.asarray(cv2.cvtColor(array, cv2.COLOR_BGR2GRAY))
    return np.asarray(array)


def _orientation(im: Image.Image, data: bytes | None) -> int:
    """The EXIF orientation (1..8), read without decoding pixels; 1 when absent or broken. A PNG's file bytes
    (`data`) are searched for the eXIf chunk, since Pillow finds it only by decoding; without them (an image
    already opened, as cvat-sdk hands it), Pillow's own reading."""
    try:
        if im.format == "PNG" and data is not None:
            exif = Image.Exif()
            chunk = _png_exif(data)
            if chunk is None:
                return 1
            exif.load(chunk)
        else:
            exif = im.getexif()
        value = exif.get(0x0112, 1)
    except Exception:  # a broken EXIF block must not lose the image; CVAT shows it unrotated too
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _png_exif(data: bytes) -> bytes | None:
    """The eXIf chunk of a PNG (before or after the pixel data), found by walking the chunk headers."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        if kind == b"eXIf":
            return data[offset + 8 : offset + 8 + length]
        if kind == b"IEND":
            return None
        offset += 12 + length
    return None


def _oriented(shape: tuple[int, ...], orientation: int) -> tuple[np.ndarray, np.ndarray]:
    """The output array for a stored image of `shape` (H, W, …) shown with `orientation`, and a view of it
    indexed like the stored image: writing the stored pixels into the view writes them rotated."""
    height, width = shape[:2]
    swapped = orientation in (5, 6, 7, 8)
    out = np.empty(((width, height) if swapped else (height, width)) + shape[2:], dtype=np.uint8)
    view = out.swapaxes(0, 1) if swapped else out
    # the inverse of each of Pillow's ImageOps.exif_transpose operations, as a view (no copy)
    flip_x, flip_y = (slice(None), slice(None, None, -1)), (slice(None, None, -1),)
    flips = {2: flip_x, 3: flip_y * 2, 4: flip_y, 6: flip_y, 7: flip_y * 2, 8: flip_x}
    return out, view[flips[orientation]] if orientation in flips else view


def _to_array(im: Image.Image, order: ColorOrder, orientation: int) -> np.ndarray:
    """The loaded Pillow image in `order`, converted strip by strip into its (rotated) output array."""
    width, height = im.size
    channels = () if order is ColorOrder.GRAY else (3,)
    out, view = _oriented((height, width, *channels), orientation)
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        to_8bit = _eight_bit_scaler(im)

        def convert(strip: Image.Image) -> np.ndarray:
            gray = to_8bit(np.asarray(strip))
            return gray if not channels else np.repeat(gray[..., np.newaxis], 3, axis=2)

    else:
        target = "L" if order is ColorOrder.GRAY else "RGB"
        # a transparent palette converts right only through RGBA; Pillow has no LAB/HSV → L, only → RGB
        via = "RGBA" if im.mode == "P" and "transparency" in im.info else "RGB" if im.mode in ("LAB", "HSV") else None

        def convert(strip: Image.Image) -> np.ndarray:
            if via is not None:
                strip = strip.convert(via)
            if strip.mode != target:
                strip = strip.convert(target)
            array = np.asarray(strip)
            return array[..., ::-1] if order is ColorOrder.BGR else array

    rows = max(1, _STRIP_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        view[top:bottom] = convert(im.crop((0, top, width, bottom)))
    return out


def _eight_bit_scaler(im: Image.Image) -> Callable[[np.ndarray], np.ndarray]:
    """How a strip of a high-bit-depth single-channel image (I;16*, I, F) maps onto 0..255 without saturating:
    16-bit onto the full range; I/F by their value range (0..255 as is, 0..65535 like 16-bit, else stretched
    from the finite minimum to the finite maximum). NaN becomes 0, ±inf the ends."""
    if im.mode.startswith("I;16"):
        low, scale = 0.0, 1.0 / 257.0
    else:
        low, high = _finite_extrema(im)
        if low >= 0 and high <= 255:
            low, scale = 0.0, 1.0
        elif low >= 0 and high <= 65535:
            low, scale = 0.0, 1.0 / 257.0
        else:
            scale = 255.0 / (high - low) if high > low else 0.0

    def to_8bit(values: np.ndarray) -> np.ndarray:
        scaled = (values.astype(np.float64) - low) * scale  # one strip at a time: bounded temporaries
        result: np.ndarray = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0).round().clip(0, 255)
        return result.astype(np.uint8)

    return to_8bit


def _finite_extrema(im: Image.Image) -> tuple[float, float]:
    width, height = im.size
    rows = max(1, _STRIP_PIXELS // max(width, 1))
    low, high = np.inf, -np.inf
    for top in range(0, height, rows):
        values = np.asarray(im.crop((0, top, width, min(top + rows, height))))
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return (low, high) if low <= high else (0.0, 0.0)


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
    _check_pixels(im, max_pixels, field)
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        im.load()
        return _to_array(im, order, _orientation(im, None))
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise RequestError(field, f"a complete, readable {im.format or 'image'}", got=f"a damaged image ({e})") from e
