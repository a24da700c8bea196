"""The only code that reads or writes image files (with core/decoding.py, which drives Pillow's decoders).

Everything leaves here as float32 RGB in [0, 1] with shape [1, H, W, 3], and everything written comes in
that way. Decoding is Pillow's, except that `jpeg_dct="fast"` decodes JPEG as TensorFlow's
`tf.image.decode_image` does by default (integer fast DCT), so the tutorial preset sees the tutorial's pixels.
One departure in both modes: EXIF orientation is applied (the tutorial shows phone photos sideways).
Written pictures are rounded to 8 bits and replace nothing unless asked to, atomically.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image, PngImagePlugin

from style_transfer.core import decoding
from style_transfer.core.color import RGB_TO_YIQ
from style_transfer.core.config import DEFAULT
from style_transfer.core.errors import ImageError, OutputError, OutputExistsError
from style_transfer.core.files import atomic_write

# Output formats by file extension (lower case). Anything else is refused before any work starts.
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                  ".tif": "TIFF", ".tiff": "TIFF"}

ImageSource = Any  # a path (str or os.PathLike), a PIL image, or an array in the pixel contract


def load_image(source: ImageSource, *, jpeg_dct: str = DEFAULT.jpeg_dct, max_pixels: int | None = None,
               max_dim: int | None = None) -> np.ndarray:
    """Loads a picture as float32 RGB in [0, 1], shape [1, H, W, 3].

    `source` may be a file path, a PIL image, or an array shaped [H, W], [H, W, C] or [1, H, W, C] with
    C in {1, 3, 4}, either uint8 or float in [0, 1]. EXIF orientation is applied, alpha is composited over
    white, grey and palette images become RGB; animations give their first frame. A file whose header claims
    more than `max_pixels` pixels is refused before it is decoded. Raises ImageError naming the file and the
    reason.

    `max_dim`: the longest side the caller will resize the picture to, keeping its aspect ratio. A file
    whose longest side is at least 2 * decoding.REDUCE_MARGIN times that is reduced by a whole factor while it is
    decoded (JPEG by DCT scaling, others by box averaging before any conversion), never below REDUCE_MARGIN
    times `max_dim`: memory and time then follow the size asked for, not the file's.
    """
    if isinstance(source, Image.Image):
        decoding.check_pixels(source.size, max_pixels, "image")
        return decoding.pil_to_array(source)
    if isinstance(source, (str, os.PathLike)):
        return decoding.load_file(Path(source), jpeg_dct, max_pixels, max_dim=max_dim)
    array = np.asarray(source)
    if array.ndim >= 2:
        decoding.check_pixels(array.shape[-2:] if array.ndim == 2 else array.shape[-3:-1], max_pixels, "array")
    return decoding.array_to_contract(array, "array")


def load_mask(source: ImageSource, *, max_pixels: int | None = None, max_dim: int | None = None) -> np.ndarray:
    """Loads a mask picture as float32 [1, H, W, 2] in [0, 1]: its grey level and its opacity.

    Sources as for load_image; colour pictures are converted to grey (ITU-R 601 luma). A picture without
    alpha is opaque everywhere. Raises ImageError naming the file and the reason. `max_dim` as for
    load_image, except that a mask is reduced by keeping every so many pixels: its grey levels name regions,
    which averaging would blend into other regions' levels.
    """
    if isinstance(source, Image.Image):
        decoding.check_pixels(source.size, max_pixels, "mask")
        rgba = decoding.pil_to_array(source, keep_alpha=True)
    elif isinstance(source, (str, os.PathLike)):
        rgba = decoding.load_file(Path(source), "accurate", max_pixels, keep_alpha=True, max_dim=max_dim)
    else:
        rgba = decoding.array_to_contract(np.asarray(source), "mask", keep_alpha=True)
    grey = rgba[..., :3] @ RGB_TO_YIQ[0].astype(np.float32)  # Y of YIQ: the 601 luma
    return np.stack([np.clip(grey, 0, 1), rgba[..., 3]], axis=-1).astype(np.float32)


def read_header(path: str | os.PathLike, *, max_pixels: int | None = None) -> tuple[str, int, int]:
    """(Pillow format name, width, height) of a picture file from its header alone, without decoding it.

    ImageError, with load_image's wording, if Pillow cannot open the file. `max_pixels` is not enforced
    here (callers word that themselves) but lifts Pillow's own limit as load_image does, so a header
    passes here exactly when load_image would open it.
    """
    path = Path(path)
    with decoding.file_errors(path), warnings.catch_warnings(), decoding.pillow_pixel_limit(max_pixels):
        warnings.simplefilter("ignore")
        with Image.open(path) as image:
            return image.format, image.size[0], image.size[1]


def picture_size(source: ImageSource, *, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of a picture as load_image gives it without reduction (EXIF orientation applied), read
    from a file's header alone. Sources as for load_image; ImageError as read_header."""
    if isinstance(source, Image.Image):
        return decoding.upright_size(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with decoding.file_errors(path), warnings.catch_warnings(), decoding.pillow_pixel_limit(max_pixels):
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                return decoding.upright_size(image)
    shape = np.shape(source)
    height, width = shape[-3:-1] if len(shape) >= 3 else shape[:2]
    return int(width), int(height)


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
