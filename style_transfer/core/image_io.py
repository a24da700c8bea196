"""The only module that reads or writes image files.

Everything leaves here as float32 RGB in [0, 1] with shape [1, H, W, 3], and everything written comes in
that way. Decoding is Pillow's, except that `jpeg_dct="fast"` decodes JPEG as TensorFlow's
`tf.image.decode_image` does by default (integer fast DCT), so the tutorial preset sees the tutorial's pixels.
One departure in both modes: EXIF orientation is applied (the tutorial shows phone photos sideways).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from absl import logging
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from style_transfer.core.color import RGB_TO_YIQ
from style_transfer.core.config import DEFAULT
from style_transfer.core.errors import ImageError, OutputError, OutputExistsError
from style_transfer.core.files import atomic_write, capture_stderr

# Output formats by file extension (lower case). Anything else is refused before any work starts.
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                  ".tif": "TIFF", ".tiff": "TIFF"}
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

ImageSource = Any  # a path (str or os.PathLike), a PIL image, or an array in the pixel contract

# A file larger than the size asked for is decoded at no less than this multiple of it (see load_image): the
# antialiased resize that follows still averages at least 4x4 decoded pixels per pixel it makes, so the
# result differs from a full-size decode by resampling noise, while memory follows the size asked for.
REDUCE_MARGIN = 4
# Modes whose values must not be averaged (palette indices, bits) or cannot be (16-bit grey), and what they
# become first (None: RGB or RGBA, as the palette's transparency asks).
_UNREDUCIBLE_MODES = {"1": "L", "P": None, "PA": "RGBA", "HSV": "RGB", "I;16": "I", "I;16B": "I", "I;16L": "I"}


def load_image(source: ImageSource, *, jpeg_dct: str = DEFAULT.jpeg_dct, max_pixels: int | None = None,
               max_dim: int | None = None) -> np.ndarray:
    """Loads a picture as float32 RGB in [0, 1], shape [1, H, W, 3].

    `source` may be a file path, a PIL image, or an array shaped [H, W], [H, W, C] or [1, H, W, C] with
    C in {1, 3, 4}, either uint8 or float in [0, 1]. EXIF orientation is applied, alpha is composited over
    white, grey and palette images become RGB; animations give their first frame. A file whose header claims
    more than `max_pixels` pixels is refused before it is decoded. Raises ImageError naming the file and the
    reason.

    `max_dim`: the longest side the caller will resize the picture to, keeping its aspect ratio. A file
    whose longest side is at least 2 * REDUCE_MARGIN times that is reduced by a whole factor while it is
    decoded (JPEG by DCT scaling, others by box averaging before any conversion), never below REDUCE_MARGIN
    times `max_dim`: memory and time then follow the size asked for, not the file's.
    """
    if isinstance(source, Image.Image):
        _check_pixels(source.size, max_pixels, "image")
        return _pil_to_array(source)
    if isinstance(source, (str, os.PathLike)):
        return _load_file(Path(source), jpeg_dct, max_pixels, max_dim=max_dim)
    array = np.asarray(source)
    if array.ndim >= 2:
        _check_pixels(array.shape[-2:] if array.ndim == 2 else array.shape[-3:-1], max_pixels, "array")
    return _array_to_contract(array, "array")


def load_mask(source: ImageSource, *, max_pixels: int | None = None, max_dim: int | None = None) -> np.ndarray:
    """Loads a mask picture as float32 [1, H, W, 2] in [0, 1]: its grey level and its opacity.

    Sources as for load_image; colour pictures are converted to grey (ITU-R 601 luma). A picture without
    alpha is opaque everywhere. Raises ImageError naming the file and the reason. `max_dim` as for
    load_image, except that a mask is reduced by keeping every so many pixels: its grey levels name regions,
    which averaging would blend into other regions' levels.
    """
    if isinstance(source, Image.Image):
        _check_pixels(source.size, max_pixels, "mask")
        rgba = _pil_to_array(source, keep_alpha=True)
    elif isinstance(source, (str, os.PathLike)):
        rgba = _load_file(Path(source), "accurate", max_pixels, keep_alpha=True, max_dim=max_dim)
    else:
        rgba = _array_to_contract(np.asarray(source), "mask", keep_alpha=True)
    grey = rgba[..., :3] @ RGB_TO_YIQ[0].astype(np.float32)  # Y of YIQ: the 601 luma
    return np.stack([np.clip(grey, 0, 1), rgba[..., 3]], axis=-1).astype(np.float32)


def _check_pixels(size, max_pixels: int | None, what) -> None:
    pixels = int(size[0]) * int(size[1])
    if max_pixels is not None and pixels > max_pixels:
        raise ImageError(f"{what}: {size[0]}x{size[1]} is {pixels / 1e6:.1f} megapixels, more than the limit of "
                         f"{max_pixels / 1e6:g} (raise max_megapixels to allow it)")


def _load_file(path: Path, jpeg_dct: str, max_pixels: int | None, keep_alpha: bool = False,
               max_dim: int | None = None) -> np.ndarray:
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
    with _file_errors(path), warnings.catch_warnings(record=True) as caught, _pillow_pixel_limit(max_pixels):
        warnings.simplefilter("always")
        # Pillow warns above its own limit; the limit that applies here is max_pixels, checked next.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:  # reads the header only
            _check_pixels(image.size, max_pixels, path)
            factor = reduction_factor(image.size, max_dim)
            if factor > 1 and not keep_alpha:
                # JPEG: libjpeg's DCT scaling decodes at 1/2, 1/4 or 1/8 of the size; other formats ignore it.
                image.draft(None, (-(-image.size[0] // factor), -(-image.size[1] // factor)))
            image.load()  # decode now, so truncated files fail here and not later
            if jpeg_dct == "fast" and image.format == "JPEG" and image.mode in ("RGB", "L") and not keep_alpha:
                pixels = _decode_jpeg_like_tensorflow(path, image, factor, max_dim)
            else:
                # The grey scale of 16-bit, integer and float pictures is judged on every pixel, before reducing.
                pixels = _pil_to_array(_reduced(image, max_dim, nearest=keep_alpha), keep_alpha=keep_alpha,
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


def read_header(path: str | os.PathLike, *, max_pixels: int | None = None) -> tuple[str, int, int]:
    """(Pillow format name, width, height) of a picture file from its header alone, without decoding it.

    ImageError, with load_image's wording, if Pillow cannot open the file. `max_pixels` is not enforced
    here (callers word that themselves) but lifts Pillow's own limit as load_image does, so a header
    passes here exactly when load_image would open it.
    """
    path = Path(path)
    with _file_errors(path), warnings.catch_warnings(), _pillow_pixel_limit(max_pixels):
        warnings.simplefilter("ignore")
        with Image.open(path) as image:
            return image.format, image.size[0], image.size[1]


def picture_size(source: ImageSource, *, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of a picture as load_image gives it without reduction (EXIF orientation applied), read
    from a file's header alone. Sources as for load_image; ImageError as read_header."""
    if isinstance(source, Image.Image):
        return _upright_size(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with _file_errors(path), warnings.catch_warnings(), _pillow_pixel_limit(max_pixels):
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                return _upright_size(image)
    shape = np.shape(source)
    height, width = shape[-3:-1] if len(shape) >= 3 else shape[:2]
    return int(width), int(height)


def _upright_size(image: Image.Image) -> tuple[int, int]:
    # A PNG's EXIF may follow its pixels, and Pillow decodes them all to reach it: such a tag is not read here.
    header_only = image.format != "PNG" or "exif" in image.info
    orientation = image.getexif().get(_EXIF_ORIENTATION) if header_only else None
    width, height = image.size
    # Recent Pillows' TIFF plugin reports the upright size itself; the TIFF tags keep the stored one.
    stored = (image.tag_v2.get(256), image.tag_v2.get(257)) if image.format == "TIFF" else (width, height)
    return (height, width) if orientation in (5, 6, 7, 8) and stored == (width, height) else (width, height)


@contextlib.contextmanager
def _file_errors(path: Path):
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
def _pillow_pixel_limit(max_pixels: int | None):
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
    return _pil_to_array(_reduced(decoded, max_dim))


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


def _pil_to_array(image: Image.Image, keep_alpha: bool = False, grey_scale: float | None = None) -> np.ndarray:
    image = ImageOps.exif_transpose(image)
    if image.mode in _GREY_MODES:
        # 16-bit, 32-bit integer or float grey: keep the precision instead of Pillow's clipping conversion
        # to 8 bits.
        grey = np.asarray(image, dtype=np.float64)
        scale = grey_scale or _grey_scale(image)
        return _array_to_contract(np.clip(grey / scale, 0, 1).astype(np.float32), "image", keep_alpha)
    has_alpha = image.mode in ("RGBA", "LA", "RGBa", "La", "PA") or "transparency" in image.info
    # With alpha, _array_to_contract composites it over ALPHA_BACKGROUND, as for arrays.
    return _array_to_contract(np.asarray(image.convert("RGBA" if has_alpha else "RGB")), "image", keep_alpha)


def _array_to_contract(array: np.ndarray, what: str, keep_alpha: bool = False) -> np.ndarray:
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


def to_uint8(image: Any) -> np.ndarray:
    """[1, H, W, 3] (or [H, W, 3]) float in [0, 1] -> [H, W, 3] uint8, rounding to nearest.

    The tutorial truncates (`np.array(x * 255, dtype=np.uint8)`); rounding is unbiased and is what is saved.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 4:
        array = array[0]
    return np.clip(np.rint(array * 255), 0, 255).astype(np.uint8)


def to_pil(image: Any) -> Image.Image:
    """A PIL RGB image of a [1, H, W, 3] float image in [0, 1]."""
    return Image.fromarray(to_uint8(image), "RGB")


def check_output_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuses, before any work, an output that could not or should not be written.

    Raises ImageError for an unknown extension, a directory or an unwritable location, and
    OutputExistsError for an existing file without `overwrite`. A symbolic link at `path`, even a dangling
    one, exists: with `overwrite` the link itself is replaced (atomic_write renames over it), never its
    target. Directories on the way may be links; they are followed.
    """
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise ImageError(f"{path}: unknown output extension {path.suffix!r}; use one of "
                         f"{', '.join(sorted(OUTPUT_FORMATS))}")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    if path.is_symlink() and not overwrite:
        raise OutputExistsError(f"{path}: already exists as a symbolic link (to {os.readlink(path)}); not "
                                "overwriting it")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists; not overwriting it")
    try:
        check_writable_directory(path.parent)
    except OutputError as error:
        raise ImageError(f"{path}: cannot be written: {error}") from None
    return path


def check_writable_directory(directory: str | os.PathLike) -> Path:
    """Checks that `directory` exists and is writable, or can be created; OutputError if not."""
    directory = Path(directory)
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{existing} is not writable")
    return directory


ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP"}


def save_animation(frames: Sequence[Any], path: str | os.PathLike, *, frame_ms: int = 100,
                   last_frame_ms: int = 1500, overwrite: bool = False, quality: int | None = None) -> Path:
    """Writes [1, H, W, 3] float frames as an animated GIF or WebP, atomically; returns the path. `quality`
    (WebP only, 0-100): lossy at that quality, for a small file; None: Pillow's default.

    Frames of other sizes (say the full-size starting picture) are resized to the last frame's size, the
    result's. The last frame is held for `last_frame_ms`, so a looping animation pauses on the result.
    """
    path = Path(path)
    if path.suffix.lower() not in ANIMATION_FORMATS:
        raise ImageError(f"{path}: unknown animation extension {path.suffix!r}; use .gif or .webp")
    if not frames:
        raise ImageError(f"{path}: no frames to animate")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists; not overwriting it")
    pictures = [to_pil(frame) for frame in frames]
    size = pictures[-1].size
    pictures = [picture.resize(size, Image.Resampling.LANCZOS) if picture.size != size else picture
                for picture in pictures]
    durations = [frame_ms] * (len(pictures) - 1) + [last_frame_ms]
    options = {"quality": quality, "method": 6} if quality is not None and path.suffix.lower() == ".webp" else {}
    return atomic_write(path, lambda stream: pictures[0].save(
        stream, format=ANIMATION_FORMATS[path.suffix.lower()], save_all=True, append_images=pictures[1:],
        duration=durations, loop=0, **options), overwrite=overwrite)


def save_image(image: Any, path: str | os.PathLike, *, overwrite: bool = False,
               metadata: Mapping[str, str] | None = None, png_compression: int = 6) -> Path:
    """Writes a [1, H, W, 3] float image in [0, 1] atomically; returns the path written.

    The picture is written to a temporary file in the target directory (created if missing) and then moved
    into place, so a reader never sees half a file and an interrupted write leaves nothing behind. Without
    `overwrite` an existing file is never replaced, even if it appears while writing. `metadata` goes into
    PNG text chunks. `png_compression` is zlib's level (Pillow's default 6; lower levels write faster, in
    larger files).
    """
    path = check_output_path(path, overwrite=overwrite)
    try:
        return _write_atomically(image, path, overwrite, metadata, png_compression)
    except OSError as error:  # a full disk, a directory removed meanwhile, ...
        raise ImageError(f"{path}: cannot be written ({error.strerror or error})") from None


def _write_atomically(image: Any, path: Path, overwrite: bool, metadata: Mapping[str, str] | None,
                      png_compression: int) -> Path:
    save_options: dict[str, Any] = {}
    if OUTPUT_FORMATS[path.suffix.lower()] == "PNG":
        save_options["compress_level"] = png_compression
    if OUTPUT_FORMATS[path.suffix.lower()] == "PNG" and metadata:
        info = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            info.add_itxt(key, value)
        save_options["pnginfo"] = info
    elif OUTPUT_FORMATS[path.suffix.lower()] == "JPEG":
        save_options["quality"] = 95
    picture = to_pil(image)
    return atomic_write(path, lambda stream: picture.save(stream, format=OUTPUT_FORMATS[path.suffix.lower()],
                                                          **save_options), overwrite=overwrite)


def fingerprint(*images) -> str:
    """SHA-256 of pixels (float32 [1, H, W, 3]): the same pictures give the same targets, so a run resumes only
    with the pictures it started with."""
    digest = hashlib.sha256()
    for image in images:
        array = np.ascontiguousarray(np.asarray(image, np.float32))
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
