"""video/frames.py: a folder of frames read as a video, in natural order, with damaged frames in their place."""

from fractions import Fraction

import numpy as np
import pytest

from style_transfer.core import image_io
from style_transfer.core.errors import VideoError
from style_transfer.video import io as video_io
from style_transfer.video import synthetic


def write_frames(folder, photo, count, size=(48, 32)):
    """The synthetic clip's frames as PNGs named frame_1.png ... frame_<count>.png; returns the frames."""
    folder.mkdir()
    frames = [frame.image for frame in synthetic.synthetic_clip(photo, frames=count, size=size)]
    for number, frame in enumerate(frames, start=1):
        image_io.save_image(frame, folder / f"frame_{number}.png")
    return frames


def test_frames_come_in_natural_order_at_the_given_rate(tmp_path, clip_photo):
    frames = write_frames(tmp_path / "frames", clip_photo, 11)
    (tmp_path / "frames" / "notes.txt").write_text("not a frame")
    reader = video_io.open_video(tmp_path / "frames", frame_rate=12.5)
    assert (reader.fps, reader.size, reader.frame_count, reader.has_audio) == (Fraction(25, 2), (48, 32), 11, False)
    read = list(reader)
    assert len(read) == 11  # frame_10 and frame_11 after frame_9, as named, not as sorted by text
    for original, decoded in zip(frames, read):
        np.testing.assert_allclose(decoded, np.round(original * 255) / 255, atol=1e-6)


def test_a_damaged_frame_is_none_in_its_place_and_other_sizes_are_resized(tmp_path, clip_photo):
    write_frames(tmp_path / "frames", clip_photo, 4)
    (tmp_path / "frames" / "frame_2.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    image_io.save_image(np.full((1, 64, 96, 3), 0.5, np.float32), tmp_path / "frames" / "frame_3.png",
                        overwrite=True)
    reader = video_io.open_video(tmp_path / "frames", max_dim=24)
    read = list(reader)
    assert reader.size == (24, 16) and reader.damaged == 1
    assert read[1] is None and [frame.shape for frame in (read[0], read[2], read[3])] == [(1, 16, 24, 3)] * 3
    np.testing.assert_allclose(read[2], 0.5, atol=1 / 255)


def test_a_folder_without_frames_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="empty: a folder without frames"):
        video_io.open_video(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a picture")
    with pytest.raises(VideoError, match="no picture in it can be read"):
        video_io.open_video(tmp_path / "broken")
