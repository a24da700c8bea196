"""Pillow's decoders driven safely: a picture file to the pixel contract, float32 RGB in [0, 1], [1, H, W, 3].

Limits before any decoding (max_pixels, read from the header), reduction while decoding (to the size the
caller needs), EXIF orientation, odd modes (palette, 16-bit, float grey, alpha over white), damaged files as
one ImageError naming the file, decoder chatter on stderr as log lines, and JPEG decoded as TensorFlow does
for the tutorial preset. core/image_io.py is the public face of reading and writing pictures.
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from pathlib import Path

import numpy as np
from absl import logging
from PIL import Image, ImageOps, UnidentifiedImageError

from style_transfer.core.errors import ImageError
from style_transfer.core.files import capture_stderr

# Transparent pixels are composited over white, the colour a transparent picture shows on a page.
ALPHA_BACKGROUND = (255, 255, 255)
# EXIF orientation tag value -> the transposition that shows the picture upright.
_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
_EXIF_ORIENTATION = 0x0112

# What Pillow's decoders raise on damaged data besides OSError (found by fuzzing, tests/test_image_io.py).
# Anything else (TypeError, MemoryError, ...) is not the file's fault and is not reported as if it were.
DAMAGED_FILE_ERRORS = (ValueError, SyntaxError, struct.error, EOFError, IndexError, KeyError, ZeroDivisionError)

# A file larger than the size asked for is decoded at no less than this multiple of it (see image_io.load_image): the
# antialiased resize that follows still averages at least 4x4 decoded pixels per pixel it makes, so the
# result differs from a full-size decode by resampling noise, while memory follows the size asked for.
REDUCE_MARGIN = 4
# Modes whose values must not be averaged (palette indices, bits) or cannot be (16-bit grey), and what they
# become first (None: RGB or RGBA, as the palette's transparency asks).
_UNREDUCIBLE_MODES = {"1": "L", "P": None, "PA": "RGBA", "HSV": "RGB", "I;16": "I", "I;16B": "I", "I;16L": "I"}


def check_pixels(size, max_pixels: int | None, what) -> None:
    """ImageError naming `what` if a picture of `size` (two sides) has more than `max_pixels` pixels."""
    pixels = int(size[0]) * int(size[1])
    if max_pixels is not None and pixels > max_pixels:
        raise ImageError(f"{what}: {size[0]}x{size[1]} is {pixels / 1e6:.1f} megapixels, more than the limit of "
                         f"{max_pixels / 1e6:g} (raise max_megapixels to allow it)")


def load_file(path: Path, jpeg_dct: str, max_pixels: int | None, keep_alpha: bool = False,
              max_dim: int | None = None) -> np.ndarray:
    """The picture file `path` in the pixel contract ([1, H, W, 4] RGBA with `keep_alpha`), with the limits
    and reduction of image_io.load_image; ImageError naming the file, with what the decoder said."""
    if jpeg_dct == "fast":
        import tensorflow  # noqa: F401  (loaded now, so its start-up output is not taken for the decoder's)
    failure = None
    with capture_stderr() as decoder_said:
        try:
            pixels, caught = _decode_file(path, jpeg_dct, max_pixels, keep_alpha, max_dim)
        except ImageError as error:
            failure = error  # raised below, once the capture has closed and holds the decoder's words
    if failure is not None:
        said = " ".join(decoder_said())
        raise ImageError(f"{failure}{f' [decoder: {said}]' if said else ''}") from None
    # Pillow warns about files it could still read (odd TIFF tags, ...), and C decoders print about damage
    # they got past: one log line each, not a dump on stderr.
    for warning in dict.fromkeys([str(item.message) for item in caught] + decoder_said()):
        logging.warning("%s: %s", path, warning)
    return pixels


def _decode_file(path: Path, jpeg_dct: str, max_pixels: int | None, keep_alpha: bool = False,
                 max_dim: int | None = None):
    with file_errors(path), warnings.catch_warnings(record=True) as caught, pillow_pixel_limit(max_pixels):
        warnings.simplefilter("always")
        # Pillow warns above its own limit; the limit that applies here is max_pixels, checked next.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:  # reads the header only
            check_pixels(image.size, max_pixels, path)
            factor = reduction_factor(image.size, max_dim)
            if factor > 1 and not keep_alpha:
                # JPEG: libjpeg's DCT scaling decodes at 1/2, 1/4 or 1/8 of the size; other formats ignore it.
                image.draft(None, (-(-image.size[0] // factor), -(-image.size[1] // factor)))
            image.load()  # decode now, so truncated files fail here and not later
            if jpeg_dct == "fast" and image.format == "JPEG" and image.mode in ("RGB", "L") and not keep_alpha:
                pixels = _decode_jpeg_like_tensorflow(path, image, factor, max_dim)
            else:
                # The grey scale of 16-bit, integer and float pictures is judged on every pixel, before reducing.
                pixels = pil_to_array(_reduced(image, max_dim, nearest=keep_alpha), keep_alpha=keep_alpha,
                                       grey_scale=_grey_scale(image))
    return pixels, caught


def reduction_factor(size: tuple[int, int], max_dim: int | None) -> int:
    """The whole factor a picture of `size` may be reduced by for a resize to longest side `max_dim`: its
    longest side stays at least REDUCE_MARGIN * max_dim (1, no reduction, without `max_dim`)."""
    if not max_dim:
        return 1
    return max(1, max(size) // (REDUCE_MARGIN * max_dim))


def _reduced(image: Image.Image, max_dim: int | None, nearest: bool = False) -> Image.Image:
    """`image` (decoded) reduced by reduction_factor, upright; itself if no reduction is due.

    Area averaging by default; `nearest` keeps one pixel of every factor x factor block."""
    factor = reduction_factor(image.size, max_dim)
    if factor == 1:
        return image
    if image.getexif().get(_EXIF_ORIENTATION) in _EXIF_TRANSPOSE:
        # Upright first: the reduced copy would not keep every format's orientation tag (TIFF's, say).
        image = ImageOps.exif_transpose(image)
    # Rounded, and resized rather than Image.reduce'd: reduce's last block is partial when the factor does
    # not divide the side, which stretched the picture by up to a pixel of the reduced size.
    size = (max(1, round(image.size[0] / factor)), max(1, round(image.size[1] / factor)))
    if nearest:
        return image.resize(size, Image.Resampling.NEAREST)
    if image.mode in _UNREDUCIBLE_MODES:
        mode = _UNREDUCIBLE_MODES[image.mode]
        if mode is None:  # palette: RGBA if it has a transparent colour, as _pil_to_array composites it
            mode = "RGBA" if "transparency" in image.info else "RGB"
        image = image.convert(mode)
    return image.resize(size, Image.Resampling.BOX)


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of an opened picture once its EXIF orientation is applied, from its header."""
    # A PNG's EXIF may follow its pixels, and Pillow decodes them all to reach it: such a tag is not read here.
    header_only = image.format != "PNG" or "exif" in image.info
    orientation = image.getexif().get(_EXIF_ORIENTATION) if header_only else None
    width, height = image.size
    # Recent Pillows' TIFF plugin reports the upright size itself; the TIFF tags keep the stored one.
    stored = (image.tag_v2.get(256), image.tag_v2.get(257)) if image.format == "TIFF" else (width, height)
    return (height, width) if orientation in (5, 6, 7, 8) and stored == (width, height) else (width, height)


@contextlib.contextmanager
def file_errors(path: Path):
    """Turns what opening or decoding `path` raises into ImageError naming the file and the reason."""
    try:
        yield
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not an image") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"{path}: refused, {error}") from None
    except ImageError:
        raise
    except OSError as error:
        raise ImageError(f"{path}: cannot decode image ({error})") from None
    except DAMAGED_FILE_ERRORS as error:
        raise ImageError(f"{path}: cannot decode image ({type(error).__name__}: "
                         f"{' '.join(str(error).split())[:200]})") from None


@contextlib.contextmanager
def pillow_pixel_limit(max_pixels: int | None):
    """Pillow's own pixel limit raised to `max_pixels` for the duration (Pillow's stays if it is higher)."""
    # Pillow refuses more than twice its own MAX_IMAGE_PIXELS (179 megapixels) while opening, before our
    # check; the limit asked for is ours, so Pillow's follows it for the duration of the load.
    default = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max(default or 0, max_pixels) if max_pixels else default
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = default


def _decode_jpeg_like_tensorflow(path: Path, image: Image.Image, factor: int = 1,
                                 max_dim: int | None = None) -> np.ndarray:
    import tensorflow as tf  # only this path needs it; keeps plain image I/O light

    # libjpeg's DCT scaling, as Pillow's draft mode uses it: the largest of 8, 4, 2 within `factor`.
    ratio = next(ratio for ratio in (8, 4, 2, 1) if ratio <= factor)
    try:
        pixels = tf.io.decode_jpeg(path.read_bytes(), channels=3, dct_method="INTEGER_FAST", ratio=ratio).numpy()
    except tf.errors.InvalidArgumentError as error:
        raise ImageError(f"{path}: cannot decode image (TensorFlow: {' '.join(str(error).split())[:200]})") from None
    decoded = Image.fromarray(pixels)
    orientation = image.getexif().get(_EXIF_ORIENTATION)
    if orientation in _EXIF_TRANSPOSE:
        decoded = decoded.transpose(_EXIF_TRANSPOSE[orientation])
    return pil_to_array(_reduced(decoded, max_dim))


_GREY_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def _grey_scale(image: Image.Image) -> float | None:
    """What a 16-bit, 32-bit integer or float grey picture's values are divided by to be in [0, 1] (None for
    other modes). The scale follows the values: "I" and "F" images carry no bit depth of their own."""
    if image.mode not in _GREY_MODES:
        return None
    if image.mode.startswith("I;16"):
        return 65535.0
    highest = image.getextrema()[1]
    if highest > 255:
        return 65535.0
    return 1.0 if image.mode == "F" and highest <= 1.0 else 255.0


def pil_to_array(image: Image.Image, keep_alpha: bool = False, grey_scale: float | None = None) -> np.ndarray:
    """A decoded PIL image upright in the pixel contract (as array_to_contract); 16-bit, integer and float grey
    values divided by `grey_scale` (None: judged on this image)."""
    image = ImageOps.exif_transpose(image)
    if image.mode in _GREY_MODES:
        # 16-bit, 32-bit integer or float grey: keep the precision instead of Pillow's clipping conversion
        # to 8 bits.
        grey = np.asarray(image, dtype=np.float64)
        scale = grey_scale or _grey_scale(image)
        return array_to_contract(np.clip(grey / scale, 0, 1).astype(np.float32), "image", keep_alpha)
    has_alpha = image.mode in ("RGBA", "LA", "RGBa", "La", "PA") or "transparency" in image.info
    # With alpha, _array_to_contract composites it over ALPHA_BACKGROUND, as for arrays.
    return array_to_contract(np.asarray(image.convert("RGBA" if has_alpha else "RGB")), "image", keep_alpha)


def array_to_contract(array: np.ndarray, what: str, keep_alpha: bool = False) -> np.ndarray:
    """[1, H, W, 3] RGB in [0, 1] (alpha composited over white), or [1, H, W, 4] RGBA with `keep_alpha`."""
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ImageError(f"{what}: expected one image, got a batch of {array.shape[0]}")
        array = array[0]
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise ImageError(f"{what}: expected shape [H, W], [H, W, C] or [1, H, W, C] with C in 1, 3, 4; "
                         f"got {list(array.shape)}")
    if array.dtype == np.uint8:
        # Multiply by a float32 1/255, exactly as tf.image.convert_image_dtype does.
        array = array.astype(np.float32) * np.float32(1.0 / 255.0)
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise ImageError(f"{what}: float pixels must be finite")
        if array.min() < 0 or array.max() > 1:
            raise ImageError(f"{what}: float pixels must be in [0, 1]; got range [{array.min():g}, {array.max():g}]")
    else:
        raise ImageError(f"{what}: pixels must be uint8 or float in [0, 1], got {array.dtype}")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if keep_alpha:
        if array.shape[-1] == 3:
            array = np.concatenate([array, np.ones_like(array[..., :1])], axis=-1)
    elif array.shape[-1] == 4:
        alpha = array[..., 3:]
        background = np.asarray(ALPHA_BACKGROUND, np.float32) / 255
        array = array[..., :3] * alpha + background * (1 - alpha)
    return np.ascontiguousarray(array[None])
