"""Optical flow between video frames and what it is used for: warping the previous result onto the current
frame, the pixels where that warp can be trusted, and the temporal error of a stylised clip.

Flow is computed on the INPUT frames (photographs move coherently; stylised frames flicker, which is what we
measure and fight), by OpenCV's DIS (Kroeger et al. 2016), which is fast enough on a CPU to run beside the
network. Conventions: a flow field is float32 [H, W, 2] on the grid of the frame it belongs to, (dx, dy)
in pixels, and `warp(image, flow)[y, x] = image[y + dy, x + dx]` (a backward warp). So
`flow = optical_flow(previous, current)` lives on `current`'s grid and `warp(previous, flow)` ≈ `current`.
"""

from __future__ import annotations

import numpy as np

from style_transfer.video import require_extra

# DIS presets by name, fastest first; "fast" is the default (docs/video.md compares their error and time).
PRESETS = ("ultrafast", "fast", "medium")
# The scales, in pixels, at which blend gives the mix the detail contrast of the frame's own result, coarse
# first (docs/video.md compares one scale and two).
DETAIL_SCALES = (4.0, 1.5)


def require_cv2():
    """The `cv2` module; MissingExtraError naming the install command when the video extra is not installed."""
    return require_extra("cv2")


def _grey(image) -> np.ndarray:
    """uint8 [H, W] luminance of a float [1, H, W, 3] / [H, W, 3] image in [0, 1] (DIS works on one channel)."""
    array = np.asarray(image, np.float32)
    array = array[0] if array.ndim == 4 else array
    luminance = array @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.rint(luminance * 255), 0, 255).astype(np.uint8)


def _squared_norm(vectors: np.ndarray) -> np.ndarray:
    """|v|² of [H, W, 2] vectors, [H, W] (two products and a sum: np.sum over an axis of length 2 is ~10x
    slower)."""
    return vectors[..., 0] * vectors[..., 0] + vectors[..., 1] * vectors[..., 1]


_DIS = {}  # one DIS object per preset: creating one allocates its pyramids' buffers


def optical_flow(previous, current, *, preset: str = "fast") -> np.ndarray:
    """The flow from `current` back to `previous`, float32 [H, W, 2] (dx, dy) on `current`'s grid: the pixel
    (x, y) of `current` shows what `previous` showed at (x + dx, y + dy). Frames are float32 [1, H, W, 3] (or
    [H, W, 3]) in [0, 1] of one size. ValueError for frames of different sizes or an unknown preset."""
    cv2 = require_cv2()
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    earlier, later = _grey(previous), _grey(current)
    if earlier.shape != later.shape:
        raise ValueError(f"frames of different sizes: {earlier.shape[::-1]} and {later.shape[::-1]}")
    if preset not in _DIS:
        _DIS[preset] = cv2.DISOpticalFlow_create(
            {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
             "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[preset])
    # DIS's calc(a, b) gives the flow on a's grid pointing into b: ours is calc(current, previous).
    return _DIS[preset].calc(later, earlier, None).astype(np.float32, copy=False)


def warp(image, flow: np.ndarray) -> np.ndarray:
    """`image` (float32 [1, H, W, C] or [H, W, C]) resampled along `flow` ([H, W, 2]): the result at (x, y) is
    `image` at (x + dx, y + dy), Lanczos (8x8 taps), edges repeated where the flow points outside. Same shape
    as `image`. A result carried from frame to frame is resampled at every frame, and an interpolation's blur
    adds up: bilinear's, then bicubic's, washed the strokes out within a few dozen frames (docs/video.md has
    what each cost the objective). Lanczos may overshoot a little."""
    cv2 = require_cv2()
    array = np.asarray(image, np.float32)
    batched = array.ndim == 4
    array = array[0] if batched else array
    height, width = flow.shape[:2]
    if array.shape[:2] != (height, width):
        raise ValueError(f"image of {array.shape[1]}x{array.shape[0]} and flow of {width}x{height}")
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    flow = np.asarray(flow, np.float32)
    warped = cv2.remap(array, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LANCZOS4,
                       borderMode=cv2.BORDER_REPLICATE)
    warped = warped.reshape(array.shape)  # remap drops a channel axis of length 1
    return warped[None] if batched else warped


def reliable_mask(forward: np.ndarray, backward: np.ndarray, *, consistency: float = 0.01,
                  consistency_pixels: float = 0.5, boundary: float = 0.01,
                  boundary_pixels: float = 0.002) -> np.ndarray:
    """Where the flow can be trusted, float32 [H, W, 1] of 1 (reliable) and 0, on the current frame's grid.

    `backward` = optical_flow(previous, current) (on the current grid); `forward` = optical_flow(current,
    previous) (on the previous grid). Following Ruder et al. 2016, "Artistic style transfer for videos", a
    pixel is unreliable where
    - following `backward` and then `forward` does not come back (disocclusion: the pixel was hidden in the
      previous frame): |ŵ + w̃|² > consistency (|ŵ|² + |w̃|²) + consistency_pixels, w̃ = forward warped
      along backward;
    - `backward` changes fast (a motion boundary, where flow is blurred across two objects):
      |∇ŵx|² + |∇ŵy|² > boundary |ŵ|² + boundary_pixels;
    - `backward` points outside the previous frame (what the camera brings in).
    The thresholds are the paper's.
    """
    if forward.shape != backward.shape or forward.shape[-1] != 2:
        raise ValueError(f"flows of shapes {forward.shape} and {backward.shape}; expected two [H, W, 2]")
    round_trip = warp(forward, backward)
    backward_squared = _squared_norm(backward)
    disoccluded = _squared_norm(backward + round_trip) > consistency * (backward_squared
                                                                        + _squared_norm(round_trip)) \
        + consistency_pixels
    gradient = sum(np.square(change) for axis in (0, 1) for change in np.gradient(backward[..., axis]))
    at_boundary = gradient > boundary * backward_squared + boundary_pixels
    # What the camera brings in: `backward` points outside the previous frame (DIS extrapolates smoothly
    # there, so the two checks above can pass, and a warp would smear the edge pixels inwards).
    height, width = backward.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    source_x, source_y = columns + backward[..., 0], rows + backward[..., 1]
    outside = (source_x < 0) | (source_x > width - 1) | (source_y < 0) | (source_y > height - 1)
    return (~(disoccluded | at_boundary | outside)).astype(np.float32)[..., None]


def blend(stylised, carried, mask: np.ndarray, weight: float) -> np.ndarray:
    """The temporally smoothed result: `stylised` mixed with `carried`, the previous result warped onto this
    frame (warp), by `weight` (0: `stylised` unchanged, 1: `carried`) where `mask` says the flow is reliable,
    and `stylised` alone elsewhere (what appears from behind a moving object is new), its detail then given
    the contrast of `stylised`'s at two scales, strokes and their texture (matched_detail with sigma 4, then
    1.5 pixels). Same shape as `stylised`; values in [0, 1]."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    current = np.asarray(stylised, np.float32)
    if weight == 0:
        return current
    carried = np.asarray(carried, np.float32).reshape(current.shape)
    share = np.float32(weight) * mask.reshape(mask.shape[0], mask.shape[1], 1)
    mixed = current + share * (carried - current)
    for sigma in DETAIL_SCALES:
        mixed = matched_detail(mixed, current, sigma=sigma)
    return np.clip(mixed, 0.0, 1.0).astype(np.float32)


def matched_detail(image, reference, *, sigma: float, max_gain: float = 2.0) -> np.ndarray:
    """`image` with its fine detail (what a Gaussian blur of `sigma` pixels removes) scaled, pixel by pixel,
    to the local contrast of `reference`'s fine detail (energies averaged over 4 `sigma`), by at most
    `max_gain`.

    Mixing two results whose strokes differ averages them, and averaging washes strokes out: the exponential
    average of strokes unrelated from frame to frame keeps (1 - w) / (1 + w) of their variance. The mix keeps
    its strokes' places, which is what steadies the video, and gets back the contrast the network painted.
    Where the two agree (a still picture), the mix already has that contrast and is left as it is; a fixed
    gain would sharpen it again at every frame."""
    cv2 = require_cv2()
    image, reference = np.asarray(image, np.float32), np.asarray(reference, np.float32)
    shape = image.shape
    image, reference = image.reshape(shape[-3:]), reference.reshape(shape[-3:])

    def detail(picture):
        fine = picture - cv2.GaussianBlur(picture, (0, 0), sigma).reshape(picture.shape)
        energy = cv2.GaussianBlur(np.sum(np.square(fine), axis=-1), (0, 0), 4 * sigma)
        return fine, energy

    fine, energy = detail(image)
    _, wanted = detail(reference)
    gain = np.minimum(np.sqrt((wanted + 1e-6) / (energy + 1e-6)), max_gain)[..., None]
    return (image + (gain - 1) * fine).reshape(shape)


def temporal_error(output, previous_output, flow: np.ndarray, mask: np.ndarray) -> float:
    """Mean |output − warp(previous_output, flow)| over the reliable pixels (and the three channels), in
    [0, 1] units: how much a result changes where the picture only moved. `flow` and `mask` come from the
    input frames (optical_flow(previous, current), reliable_mask). NaN when no pixel is reliable."""
    return carried_error(output, warp(previous_output, flow), mask)


def carried_error(output, carried, mask: np.ndarray) -> float:
    """temporal_error with the previous result already warped onto this frame (`carried`, float32
    [1, H, W, 3] or [H, W, 3]): mean |output − carried| over the pixels where `mask` ([H, W, 1]) is 1."""
    current = np.asarray(output, np.float32)
    current = current[0] if current.ndim == 4 else current
    carried = np.asarray(carried, np.float32).reshape(current.shape)
    weights = mask.reshape(mask.shape[0], mask.shape[1], 1)
    reliable = float(weights.sum())
    if reliable == 0:
        return float("nan")
    return float(np.sum(np.abs(current - carried) * weights) / (reliable * current.shape[-1]))
