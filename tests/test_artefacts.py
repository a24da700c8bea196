import numpy as np

from style_transfer.core import artefacts, image_io


def test_flat_pairs_count_neighbours_identical_in_all_three_channels_once_stored_in_8_bits():
    assert artefacts.flat_pair_fraction(np.full((1, 6, 7, 3), 0.4, np.float32)) == 1.0
    checkerboard = (np.indices((6, 6)).sum(axis=0) % 2).astype(np.float32)[..., None].repeat(3, axis=-1)
    assert artefacts.flat_pair_fraction(checkerboard) == 0.0
    # Two columns differing in one channel only are not identical; in 2x2 blocks 3 of every 5 pairs are.
    two = np.zeros((4, 2, 3), np.float32)
    two[:, 1, 2] = 0.5
    assert artefacts.flat_pair_fraction(two) == 6 / 10  # the 6 vertical pairs, none of the 4 horizontal
    blocks = checkerboard[:3, :3].repeat(2, axis=0).repeat(2, axis=1)
    assert artefacts.flat_pair_fraction(blocks) == 0.6
    # Differences below half a level vanish in 8 bits, as in the saved picture; uint8 input is taken as it is.
    nearly = np.full((3, 3, 3), 0.5, np.float32) + np.random.default_rng(0).uniform(0, 0.5 / 255, (3, 3, 3))
    assert artefacts.flat_pair_fraction(nearly) == artefacts.flat_pair_fraction(image_io.to_uint8(nearly)) == 1.0
