"""style-transfer-apply --content clip.mp4: the result, its audio, Ctrl-C and --resume, bad videos."""

import os
import signal

import numpy as np
import pytest

from conftest import write_clip
from style_transfer.core import image_io
from style_transfer.fast import export
from style_transfer.video import io as video_io
from style_transfer.video import synthetic

pytest.importorskip("av")
PROGRAM = "style-transfer-apply"


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    import keras

    from style_transfer.fast.transformer import transformer_network

    keras.utils.set_random_seed(0)
    return export.save(transformer_network(filters=4, residual_blocks=1),
                       tmp_path_factory.mktemp("models") / "tiny_model", metadata={"style": "x"})


@pytest.fixture
def clip(tmp_path, clip_photo):
    motion = synthetic.Motion(pan=(2.0, 1.0), object_side=16, object_start=(8, 16), object_step=(3.0, 0.0))
    frames = [frame.image for frame in synthetic.synthetic_clip(clip_photo, frames=8, size=(64, 48), motion=motion)]
    return write_clip(tmp_path / "clip.mp4", frames, fps=8, audio_seconds=1.0)


def test_a_video_gives_a_video_with_its_rate_size_and_sound(apply_cli, tiny_export, clip, tmp_path, capsys):
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mp4", "--temporal_weight", "0.5") == 0
    result = video_io.open_video(tmp_path / "clip_tiny_model.mp4")
    assert (result.fps, result.size, result.frame_count, result.has_audio) == (8, (64, 48), 8, True)
    out = capsys.readouterr().out
    assert out.startswith("Wrote clip_tiny_model.mp4 (8 frames from clip.mp4;") and "temporal error" in out
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mp4", "--max_dim", "32") == 0
    assert video_io.open_video(tmp_path / "clip_tiny_model_2.mp4").size == (32, 24)  # never over the first
    # An --output without a suffix is a folder of frames: the video's frames as PNGs, the same pictures.
    capsys.readouterr()
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mp4", "--temporal_weight", "0.5",
                     "--output", "frames") == 0
    assert capsys.readouterr().out.startswith("Wrote frames (8 frames from clip.mp4;")
    pngs = sorted((tmp_path / "frames").iterdir())
    assert [path.name for path in pngs] == [f"frame_{number:06d}.png" for number in range(1, 9)]
    video = list(video_io.open_video(tmp_path / "clip_tiny_model.mp4"))
    # The same pictures in the same order, up to the video's encoding (its colour is at half resolution).
    distances = [float(np.abs(image_io.load_image(str(pngs[3])) - frame).mean()) for frame in video]
    assert distances[3] < 0.6 * min(distances[:3] + distances[4:]), distances
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mp4", "--output", "frames") == 2
    assert "frames: already holds 8 frames; not overwriting them" in capsys.readouterr().err


def test_a_video_that_does_not_say_its_length_counts_frames_without_a_total(apply_cli, tiny_export, tmp_path,
                                                                            clip_photo, monkeypatch):
    from style_transfer.cli import apply_video

    frames = [frame.image for frame in synthetic.synthetic_clip(clip_photo, frames=3, size=(64, 48))]
    write_clip(tmp_path / "clip.mkv", frames)  # Matroska declares no frame count
    bars = []

    class Bar(apply_video.Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(apply_video, "Progress", Bar)
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mkv") == 0
    assert [bar.total for bar in bars] == [None] and bars[0].text().startswith("3 frames")


def test_a_single_frame_has_no_temporal_error_to_say(apply_cli, tiny_export, tmp_path, clip_photo, capsys):
    write_clip(tmp_path / "still.mp4", [next(synthetic.synthetic_clip(clip_photo, frames=1, size=(64, 48))).image])
    assert apply_cli("--model", str(tiny_export), "--content", "still.mp4") == 0
    out = capsys.readouterr().out
    assert "(1 frames from still.mp4;" in out and "temporal error -" in out and "nan" not in out


def test_ctrl_c_keeps_the_frames_and_resume_finishes_the_same_video(apply_cli, tiny_export, clip, tmp_path, capsys,
                                                                     monkeypatch):
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mp4", "--output", "whole.mp4") == 0
    original, calls = export.Stylizer.__call__, []

    def interrupted(self, images, *args, **kwargs):  # Ctrl-C while the fourth frame is stylised
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(export.Stylizer, "__call__", interrupted)
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mp4") == 130
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith(f"{PROGRAM}: SIGINT: stopped after 4 of 8 frames, kept in clip_tiny_model.mp4.partial")
    assert "--resume" in err and not (tmp_path / "clip_tiny_model.mp4").exists()

    monkeypatch.setattr(export.Stylizer, "__call__", original)
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mp4") == 1  # not silently anew
    assert "--resume" in capsys.readouterr().err
    calls.clear()
    monkeypatch.setattr(export.Stylizer, "__call__", interrupted)
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mp4", "--resume") == 0
    assert len(calls) == 4  # only the frames left
    resumed = list(video_io.open_video(tmp_path / "clip_tiny_model.mp4"))
    whole = list(video_io.open_video(tmp_path / "whole.mp4"))
    assert len(resumed) == 8 and max(float(np.abs(a - b).mean()) for a, b in zip(resumed, whole)) < 0.02
    assert not (tmp_path / "clip_tiny_model.mp4.partial").exists()


@pytest.mark.parametrize("content, message", [
    ("noise.mp4", "noise.mp4: not a video FFmpeg can read"),
    ("missing.mp4", "missing.mp4: no such file"),
])
def test_an_unreadable_video_is_one_line_and_writes_nothing(apply_cli, tiny_export, tmp_path, capsys, content,
                                                            message):
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 3000, np.uint8).tobytes())
    assert apply_cli("--model", str(tiny_export), "--content", content) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{PROGRAM}: error: ") and message in err and len(err.splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["noise.mp4"]


def test_a_damaged_frame_is_reported_and_repeats_the_previous_result(apply_cli, tiny_export, tmp_path, clip_photo,
                                                                     capsys):
    from test_video_io import damage_frame

    frames = [frame.image for frame in synthetic.synthetic_clip(clip_photo, frames=6, size=(64, 48))]
    damage_frame(write_clip(tmp_path / "clip.avi", frames, codec="mjpeg"), 3)
    assert apply_cli("--model", str(tiny_export), "--content", "clip.avi") == 0
    assert "1 damaged frame in clip.avi, each replaced by the previous result" in capsys.readouterr().err
    written = list(video_io.open_video(tmp_path / "clip_tiny_model.mp4"))
    assert len(written) == 6 and float(np.abs(written[3] - written[2]).mean()) < 0.01


def test_without_the_extra_the_line_names_it(apply_cli, tiny_export, clip, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "av", None)
    assert apply_cli("--model", str(tiny_export), "--content", "clip.mp4") == 1
    assert capsys.readouterr().err == (f'{PROGRAM}: error: videos need PyAV and OpenCV, which the core install '
                                       f'leaves out: pip install -e ".[video]"\n')
