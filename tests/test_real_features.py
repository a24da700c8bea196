"""The optimiser on real ImageNet features: VGG16 with the weights file beside the repository.

Random weights carry no notion of style, so what the defaults paint, and the artefacts they leave, show only
here. Tiny pictures keep each test to seconds.
"""

import numpy as np
import pytest

from conftest import shared_picture
from style_transfer.core import artefacts, color
from style_transfer.core.config import DEFAULT
from style_transfer.core.vgg import build_vgg
from style_transfer.optimize import api

SIZE = 96
# What real features paint shows on a real photograph and painting; the thresholds were measured on these two,
# so the stand-ins from assets/ will not do.
WHY_REAL = "the thresholds were measured on the real photograph and painting"


@pytest.fixture(scope="module")
def content_path():
    return shared_picture("content/tubingen.jpg", WHY_REAL)


@pytest.fixture(scope="module")
def style_path():
    return shared_picture("style/starry_night.jpg", WHY_REAL)


@pytest.fixture(scope="module")
def config(vgg16_weights_path):
    return DEFAULT.replace(network="vgg16", weights=str(vgg16_weights_path), max_dim=SIZE)


@pytest.fixture(scope="module")
def extractor(config):
    return api.build_extractor(config)


def test_the_file_holds_the_published_imagenet_weights(vgg16_weights_path):
    bias = build_vgg(str(vgg16_weights_path), "vgg16").get_layer("block1_conv1").get_weights()[1]
    np.testing.assert_allclose(bias[:3], [0.7343, 0.0934, 0.0678], atol=1e-4)


def test_a_short_run_lowers_the_style_term_tenfold(content_path, style_path, config, extractor):
    result = api.stylize(content_path, style_path, config, extractor=extractor, steps=60)
    style = result.losses["style"]
    assert style[-1] < style[0] / 10
    # And the picture moved towards the painting: not a copy of the photograph.
    assert np.mean(np.abs(result.image - result.content_image)) > 0.05


def test_luminance_preservation_keeps_the_contents_chrominance(content_path, style_path, config, extractor):
    result = api.stylize(content_path, style_path, config, extractor=extractor, steps=40,
                         preserve_colors="luminance")
    result_yiq, content_yiq = color.rgb_to_yiq(result.image), color.rgb_to_yiq(result.content_image)
    # Chrominance (I, Q) is the photograph's, up to clipping into [0, 1]; the luminance is restyled.
    assert np.mean(np.abs(result_yiq[..., 1:] - content_yiq[..., 1:])) < 0.01
    assert np.mean(np.abs(result_yiq[..., 0] - content_yiq[..., 0])) > 0.03


def test_the_defaults_leave_few_flat_blocks_where_l1_total_variation_leaves_many(content_path, style_path, config,
                                                                                extractor):
    # The blocks grow as the optimisation converges: at 160 px, 250 steps show them (at 256 px, the full 380
    # steps left 20% of the pairs identical with L1 total variation, 0.2% smoothed).
    def flat_pairs(**changes):
        result = api.stylize(content_path, style_path, config, extractor=extractor, max_dim=160, steps=250,
                             **changes)
        return artefacts.flat_pair_fraction(result.image)

    smoothed, l1 = flat_pairs(), flat_pairs(tv_smoothing=0.0)
    assert smoothed < 0.005
    assert l1 > 0.015 and l1 > 10 * smoothed
