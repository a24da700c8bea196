"""The Fast tab's work: the trained networks of the server's --models folder, loaded on demand, applied to a
picture. Nothing here knows Gradio; errors are the package's own."""

from __future__ import annotations

import collections
import threading
from pathlib import Path

import numpy as np

from style_transfer.core import image_io, preprocessing
from style_transfer.core.errors import ImageError, ModelError
from style_transfer.fast import export, fast_layout

# Loaded networks kept in memory: a SavedModel takes seconds to load, and a few megabytes each.
KEEP_LOADED = 3


def find_networks(models: str | Path | None) -> dict[str, Path]:
    """{name: path} of the trained networks in the folder `models`: each subfolder (or .tflite file) that
    style-transfer-apply's --model would take, named after it, sorted; the folder itself if it is one. Empty
    for no folder. Nothing in it is loaded."""
    if not models:
        return {}
    folder = Path(models)
    found = {}
    try:
        candidates = [folder, *sorted(folder.iterdir())] if folder.is_dir() else []
    except OSError:
        return {}
    for candidate in candidates:
        try:
            fast_layout.find_export(candidate)
        except ModelError:
            continue
        name = candidate.resolve().name if candidate == folder else candidate.name
        found.setdefault(name, candidate)
    return found


class Networks:
    """The networks of a --models folder: `names` (scanned again by `rescan`), `load(name)` (an
    export.Stylizer, kept for the next picture). A name not in the folder is a ModelError: the page can only
    name networks the server listed."""

    def __init__(self, models: str | Path | None):
        self.models = models
        self._lock = threading.Lock()
        self._loaded: collections.OrderedDict[str, export.Stylizer] = collections.OrderedDict()
        self.found = find_networks(models)

    @property
    def names(self) -> list[str]:
        return list(self.found)

    def rescan(self) -> list[str]:
        with self._lock:
            self.found = find_networks(self.models)
            for name in [name for name in self._loaded if name not in self.found]:
                del self._loaded[name]
        return self.names

    def load(self, name: str) -> export.Stylizer:
        with self._lock:
            if name not in self.found:
                raise ModelError(f"no trained network named {str(name)[:80]!r} here; choose one of the list")
            path = self.found[name]
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
        # Loading takes seconds: outside the lock, so other sessions' networks (already loaded) are not held up.
        # Two sessions asking for the same new network may both load it; the first one kept is the one used.
        try:
            stylizer = export.load(path, "auto")
        except ModelError as error:  # its message names the server's path: the page gets the name
            raise ModelError(str(error).replace(str(path), name)) from None
        with self._lock:
            stylizer = self._loaded.setdefault(name, stylizer)
            self._loaded.move_to_end(name)
            while len(self._loaded) > KEEP_LOADED:
                self._loaded.popitem(last=False)
        return stylizer


def style_weights(stylizer: export.Stylizer, weights) -> dict[str, float]:
    """{style name: weight} of the styles the sliders give weight to (one weight per style, in order; missing
    ones 0); ValueError when they are all 0."""
    values = [float(value or 0.0) for value in list(weights)[:stylizer.styles]]
    values += [0.0] * (stylizer.styles - len(values))
    if stylizer.styles == 1:
        return {stylizer.style_names[0]: 1.0}
    if not sum(values) > 0:
        raise ValueError("give at least one style a weight above 0")
    return {name: value for name, value in zip(stylizer.style_names, values) if value > 0}


def apply(stylizer: export.Stylizer, photo, style: dict[str, float], *, strength: float, preserve_colors: str,
          size: int, max_megapixels: float) -> np.ndarray:
    """The picture `photo` (a path) resized (up or down) to longest side `size` and painted by `stylizer` in the blend
    `style`, float32 [1, H, W, 3] in [0, 1]. ImageError for a picture that cannot be used."""
    if photo is None:
        raise ImageError("choose a picture to paint")
    # The size is the picture's, up or down, as style-transfer-apply's --max_dim makes it (and the Video part,
    # and the Paint tab's size): a small picture is enlarged to the size asked. load_image's max_dim only lets a
    # large JPEG decode at a reduced scale no smaller than that; the exact size is the resize's.
    image = image_io.load_image(photo, max_pixels=int(max_megapixels * 1e6), max_dim=size)
    image = preprocessing.resize_to_max_dim(image, size).numpy()
    if min(image.shape[1:3]) < export.MIN_SIDE:
        raise ImageError(f"{Path(photo).name}: {image.shape[2]}x{image.shape[1]} at size {size} is too small; the "
                         f"network needs at least {export.MIN_SIDE} pixels a side")
    return stylizer(image, style, strength=strength, preserve_colors=preserve_colors)


def save_result(image: np.ndarray, folder: Path, stem: str, metadata: dict) -> Path:
    """Writes `image` as <stem>.png in `folder` (<stem>_2.png, ... if taken) with `metadata` in its text chunks."""
    from style_transfer.core.files import save_numbered

    return save_numbered(folder, stem, ".png", lambda path: image_io.save_image(image, path, metadata=metadata))
