"""video/flow.py against clips whose motion is known (video.synthetic)."""

import math

import numpy as np
import pytest

from style_transfer.video import flow, synthetic

pytest.importorskip("cv2")

PAN_AND_SQUARE = synthetic.Motion(pan=(3.0, 1.0), zoom=1.01, object_side=32, object_start=(20, 30),
                                  object_step=(6.0, 0.0))


def pairs(photo, motion, frames=3, size=(128, 96)):
    clip = list(synthetic.synthetic_clip(photo, frames=frames, size=size, motion=motion))
    return list(zip(clip, clip[1:]))


def test_flow_recovers_a_known_pan_and_zoom(clip_photo):
    for previous, current in pairs(clip_photo, synthetic.Motion(pan=(3.0, 1.0), zoom=1.01)):
        estimate = flow.optical_flow(previous.image, current.image)
        visible = current.hidden[..., 0] == 0
        error = np.linalg.norm(estimate - current.flow, axis=-1)[visible]
        assert np.median(error) < 0.5, np.median(error)
        # and warping the previous frame by it gives the current one
        assert np.abs(flow.warp(previous.image, estimate) - current.image)[0][visible].mean() < 0.03


def test_warp_by_a_whole_pixel_shift_is_exact():
    image = np.random.default_rng(0).random((1, 20, 30, 3), np.float32)
    shift = np.zeros((20, 30, 2), np.float32)
    shift[..., 0] = 2.0  # each pixel shows what was two to its right
    warped = flow.warp(image, shift)
    assert warped.shape == image.shape
    np.testing.assert_allclose(warped[0, :, :-2], image[0, :, 2:], atol=1e-6)


def test_mask_marks_what_the_moving_square_uncovers_and_trusts_the_rest(clip_photo):
    for previous, current in pairs(clip_photo, PAN_AND_SQUARE):
        backward = flow.optical_flow(previous.image, current.image, preset="medium")
        forward = flow.optical_flow(current.image, previous.image, preset="medium")
        reliable = flow.reliable_mask(forward, backward)[..., 0]
        assert reliable.shape == (96, 128) and set(np.unique(reliable)) <= {0.0, 1.0}
        hidden = current.hidden[..., 0] > 0
        uncovered = hidden.copy()
        uncovered[:4], uncovered[-4:], uncovered[:, :4], uncovered[:, -4:] = False, False, False, False
        assert uncovered.sum() > 100  # the square's trail, not the frame's edges
        assert reliable[uncovered].mean() < 0.4
        assert reliable[~hidden].mean() > 0.75


def test_consistent_flows_are_all_reliable():
    still = np.zeros((16, 16, 2), np.float32)
    assert flow.reliable_mask(still, still).min() == 1.0


def test_temporal_error_is_zero_for_an_output_that_moves_with_the_picture(clip_photo):
    previous, current = pairs(clip_photo, PAN_AND_SQUARE, frames=2)[0]
    backward = flow.optical_flow(previous.image, current.image)
    mask = flow.reliable_mask(flow.optical_flow(current.image, previous.image), backward)
    painted = 1.0 - previous.image
    moved = flow.warp(painted, backward)
    assert flow.temporal_error(moved, painted, backward, mask) < 1e-6
    noisy = np.clip(moved + np.random.default_rng(0).normal(0, 0.1, moved.shape), 0, 1).astype(np.float32)
    assert flow.temporal_error(noisy, painted, backward, mask) > 0.05
    assert math.isnan(flow.temporal_error(noisy, painted, backward, np.zeros_like(mask)))


def test_blend_follows_its_weight_and_the_mask():
    rng = np.random.default_rng(1)
    stylised, previous = rng.random((1, 8, 8, 3), np.float32), rng.random((1, 8, 8, 3), np.float32)
    everywhere, nowhere = np.ones((8, 8, 1), np.float32), np.zeros((8, 8, 1), np.float32)
    np.testing.assert_allclose(flow.blend(stylised, previous, everywhere, 0.0), stylised)
    np.testing.assert_allclose(flow.blend(stylised, previous, nowhere, 1.0), stylised, atol=1e-6)
    # Where the two agree (a still picture), blending changes nothing, however often it is repeated: the
    # detail is not sharpened frame after frame.
    result = stylised
    for _ in range(20):
        result = flow.blend(stylised, result, everywhere, 0.9)
    np.testing.assert_allclose(result, stylised, atol=1e-5)


def smooth_texture(rng, size=64):
    """Strokes of a few pixels: noise blurred, in [0, 1], around grey."""
    import cv2

    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), (0, 0), 1.0)
    return np.clip(0.5 + 0.5 * noise / noise.std() * 0.3, 0, 1)[None]


def fine_contrast(image):
    import cv2

    return float((image[0] - cv2.GaussianBlur(image[0], (0, 0), 2.0)).std())


def test_blending_unrelated_strokes_keeps_their_place_and_their_contrast():
    rng = np.random.default_rng(2)
    stylised, previous = smooth_texture(rng), smooth_texture(rng)
    everywhere = np.ones((64, 64, 1), np.float32)
    blended = flow.blend(stylised, previous, everywhere, 0.5)
    averaged = 0.5 * (stylised + previous)
    # A plain average of unrelated strokes loses about 1 - 1/sqrt(2) of their contrast; the blend keeps it...
    assert fine_contrast(averaged) < 0.8 * fine_contrast(stylised)
    assert fine_contrast(blended) == pytest.approx(fine_contrast(stylised), rel=0.1)
    # ... and its strokes are the average's, where they were, not the frame's own.
    correlation = lambda a, b: float(np.corrcoef(a.ravel(), b.ravel())[0, 1])  # noqa: E731
    assert correlation(blended, averaged) > 0.95
    assert correlation(blended - stylised, previous - stylised) > 0.9


def test_what_the_camera_brings_in_is_unreliable():
    backward = np.zeros((16, 24, 2), np.float32)
    backward[..., 0] = 3.0  # panning right: each pixel shows what the previous frame had 3 pixels to its right
    reliable = flow.reliable_mask(-backward, backward)[..., 0]
    assert reliable[:, -3:].max() == 0.0 and reliable[:, :-3].min() == 1.0
