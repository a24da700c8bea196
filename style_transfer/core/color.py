"""Colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").

Pure functions on float32 RGB images [1, H, W, 3] in [0, 1]:
- luminance-only transfer: stylise the luminance (Y of YIQ) and put the content's chrominance (I, Q) back;
- colour histogram matching: give the style image the content's colour mean and covariance first.
"""

from __future__ import annotations

import numpy as np

# NTSC YIQ, the colour space Gatys et al. 2017 use for luminance-only transfer; rows give Y, I, Q from RGB.
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                       [0.595716, -0.274453, -0.321263],
                       [0.211456, -0.522591, 0.311135]], np.float64)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def rgb_to_yiq(image) -> np.ndarray:
    """[..., 3] RGB -> [..., 3] YIQ (Y in [0, 1]; I, Q signed), float64."""
    return np.asarray(image, np.float64) @ RGB_TO_YIQ.T


def yiq_to_rgb(image) -> np.ndarray:
    """The inverse of rgb_to_yiq (not clipped), float64."""
    return np.asarray(image, np.float64) @ YIQ_TO_RGB.T


def luminance_image(image, *, like=None) -> np.ndarray:
    """The luminance Y of `image` as a grey RGB image (Y in all three channels), float32 [1, H, W, 3].

    With `like`, Y is first given `like`'s luminance mean and standard deviation, as Gatys et al. do for the
    style image so that its luminance histogram matches the content's.
    """
    luminance = rgb_to_yiq(image)[..., :1]
    if like is not None:
        target = rgb_to_yiq(like)[..., :1]
        luminance = (luminance - luminance.mean()) / max(luminance.std(), 1e-6) * target.std() + target.mean()
    return np.repeat(np.clip(luminance, 0.0, 1.0), 3, axis=-1).astype(np.float32)


def with_chrominance(luminance_source, chrominance_source) -> np.ndarray:
    """The luminance of the first image with the chrominance (I, Q) of the second, float32 [1, H, W, 3].

    Where that combination falls outside the RGB cube, the luminance is clamped to the range where every
    channel is in [0, 1] for that chrominance (never empty: the second image's own luminance is in it), so
    the result's chrominance equals `chrominance_source`'s exactly, up to float rounding.
    """
    luminance = rgb_to_yiq(luminance_source)[..., 0]
    chrominance = rgb_to_yiq(chrominance_source)
    # Each channel is Y + offset with offset = (I, Q) through the inverse matrix's chroma columns.
    offsets = chrominance[..., 1:] @ YIQ_TO_RGB[:, 1:].T
    low = np.max(-offsets, axis=-1)
    high = np.min(1.0 - offsets, axis=-1)
    luminance = np.clip(luminance, low, np.maximum(high, low))
    combined = np.concatenate([luminance[..., None], chrominance[..., 1:]], axis=-1)
    return np.clip(yiq_to_rgb(combined), 0.0, 1.0).astype(np.float32)


def match_color_statistics(source, target) -> np.ndarray:
    """`source` with its colours linearly transformed to the mean and covariance of `target`'s, clipped.

    x -> A (x - mean_s) + mean_t with A = C_t^1/2 C_s^-1/2 (symmetric square roots), the "image analogies"
    transform Gatys et al. 2017 use to give the style image the content's colour histogram.
    """
    source_pixels = np.asarray(source, np.float64).reshape(-1, 3)
    target_pixels = np.asarray(target, np.float64).reshape(-1, 3)
    source_mean, target_mean = source_pixels.mean(0), target_pixels.mean(0)
    # A small ridge keeps a grey (rank-one covariance) picture from dividing by zero.
    ridge = 1e-5 * np.eye(3)
    transform = (_matrix_power(np.cov(target_pixels, rowvar=False) + ridge, 0.5)
                 @ _matrix_power(np.cov(source_pixels, rowvar=False) + ridge, -0.5))
    matched = (source_pixels - source_mean) @ transform.T + target_mean
    return np.clip(matched, 0.0, 1.0).reshape(np.shape(source)).astype(np.float32)


def _matrix_power(matrix: np.ndarray, power: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.maximum(values, 1e-12) ** power) @ vectors.T
