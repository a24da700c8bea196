"""Video through the optimiser: the temporal loss, its place in the compiled step, frame-by-frame stylisation."""

import signal
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import write_clip

from style_transfer.core import image_io, losses, preprocessing
from style_transfer.core.config import DEFAULT, StyleConfig
from style_transfer.core.errors import ConfigError
from style_transfer.optimize import api
from style_transfer.optimize.optimization import Callback, StyleOptimizer

pytest.importorskip("cv2", reason="the optical flow needs the video extra (pip install -e '.[video]')")
pytest.importorskip("av", reason="videos need the video extra")
from style_transfer.video import flow as flow_lib  # noqa: E402
from style_transfer.video import io as video_io  # noqa: E402
from style_transfer.video import optimizer as video_optimizer  # noqa: E402
from style_transfer.video import synthetic  # noqa: E402

SIZE = 48
MOTION = synthetic.Motion(pan=(2.0, 1.0), object_side=12, object_start=(4, 20), object_step=(3.0, 0.0))
# Two blocks of the network are enough here, and trace in a fraction of the time of five.
CONFIG = DEFAULT.replace(max_dim=SIZE, steps=6, later_frame_steps=3, precision="float32", convolution="direct",
                         warmup_steps=0, content_layers="block2_conv2", style_layers="block1_conv1,block2_conv1")


@pytest.fixture(scope="module")
def photo(content_path):
    return preprocessing.resize_to_max_dim(image_io.load_image(content_path), 96).numpy()


@pytest.fixture(scope="module")
def config(weights_file):
    return CONFIG.replace(weights=str(weights_file))


@pytest.fixture(scope="module")
def extractor(config):
    return api.build_extractor(config)


def test_temporal_loss_is_zero_where_unreliable_or_unmoved():
    rng = np.random.default_rng(0)
    image = tf.constant(rng.random([1, 6, 7, 3], dtype=np.float32))
    target = tf.constant(rng.random([1, 6, 7, 3], dtype=np.float32))
    nowhere = tf.zeros([1, 6, 7, 1])
    everywhere = tf.ones([1, 6, 7, 1])
    assert float(losses.temporal_loss(image, target, nowhere, 5.0)) == 0.0
    assert float(losses.temporal_loss(image, image, everywhere, 5.0)) == 0.0
    # Where the image differs from the target only outside the reliable half, the loss stays zero.
    half = np.zeros([1, 6, 7, 1], np.float32)
    half[:, :3] = 1
    moved = np.where(half > 0, image.numpy(), target.numpy())
    assert float(losses.temporal_loss(image, tf.constant(moved), tf.constant(half), 5.0)) == 0.0
    # Normalised by the reliable values: the mean squared difference over them, times the weight.
    expected = 5.0 * np.mean(np.square(image.numpy() - target.numpy())[:, :3])
    np.testing.assert_allclose(float(losses.temporal_loss(image, target, tf.constant(half), 5.0)), expected,
                               rtol=1e-5)


def test_the_temporal_term_is_logged_and_added_to_the_total(extractor, config, photo):
    content = tf.constant(photo[:, :SIZE, :SIZE])
    rng = np.random.default_rng(1)
    warped = tf.constant(rng.random(content.shape, dtype=np.float32))
    reliable = tf.ones([1, SIZE, SIZE, 1])
    optimizer = StyleOptimizer(extractor, content, content, content, config, temporal=(warped, reliable))
    terms, _ = optimizer.loss_and_gradient(content)
    expected = float(losses.temporal_loss(content, warped, reliable, config.temporal_weight))
    np.testing.assert_allclose(float(terms["temporal"]), expected, rtol=1e-5)
    np.testing.assert_allclose(float(terms["total"]),
                               float(terms["content"] + terms["style"] + terms["tv"]) + expected, rtol=1e-5)
    # Without the temporal inputs the objective is the still pictures' one, with no temporal term.
    still = StyleOptimizer(extractor, content, content, content, config)
    assert "temporal" not in still.loss_and_gradient(content)[0]
    assert still.objective is not optimizer.objective
    with pytest.raises(ValueError, match="do not fit the content image"):
        StyleOptimizer(extractor, content, content, content, config, temporal=(warped[:, 1:], reliable))


@pytest.fixture(scope="module")
def clip(tmp_path_factory, clip_photo):
    """Four 48 px frames of a known pan with a square moving across, as an MP4."""
    frames = [frame.image for frame in synthetic.synthetic_clip(clip_photo, frames=4, size=(SIZE, SIZE),
                                                                 motion=MOTION)]
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, fps=8, audio_seconds=0.5)


def decoded(path):
    with video_io.open_video(path) as reader:
        return list(reader)


class Watch(Callback):
    """Records the image each frame's optimisation starts from and the one it ends with."""

    def __init__(self):
        self.starts, self.ends = [], []

    def on_start(self, image, config):
        self.starts.append(np.array(image))

    def on_end(self, image):
        self.ends.append(np.array(image))


def test_first_frame_in_full_later_frames_from_the_warped_previous_result(tmp_path, extractor, config, photo, clip):
    watch = Watch()
    result, records = video_optimizer.stylize_video(clip, photo, tmp_path / "out.mp4", config, extractor=extractor,
                                                    callbacks=[watch])
    frames = decoded(clip)
    assert result.frames == len(records) == len(frames) == 4 and not result.stopped
    assert [record.steps for record in records] == [config.steps] + [config.later_frame_steps] * 3
    np.testing.assert_allclose(watch.starts[0], frames[0], atol=1e-6)  # --init content
    for index in range(1, 4):
        backward = flow_lib.optical_flow(frames[index - 1], frames[index])
        np.testing.assert_allclose(watch.starts[index], flow_lib.warp(watch.ends[index - 1], backward), atol=1e-5)
        assert np.abs(watch.starts[index] - frames[index]).mean() > 1e-3  # not the frame itself
    assert records[0].temporal_error is None
    assert all(record.temporal_error is not None and "temporal" in record.terms for record in records[1:])
    # The temporal objective was traced once for the three later frames; a second clip traces nothing new.
    (temporal,) = [objective for objective in extractor.compiled_objectives.values() if objective.temporal]
    traces = temporal.tracing_count()
    assert temporal.adam_step.experimental_get_tracing_count() == 1
    video_optimizer.stylize_video(clip, photo, tmp_path / "again.mp4", config, extractor=extractor)
    assert temporal.tracing_count() == traces
    # Without the temporal loss every frame is stylised on its own, in full, from the frame.
    _, alone = video_optimizer.stylize_video(clip, photo, tmp_path / "alone.mp4",
                                             config.replace(temporal_weight=0.0), extractor=extractor)
    assert [record.steps for record in alone] == [config.steps] * 4
    assert all("temporal" not in record.terms for record in alone)


def test_records_are_numbered_by_their_place_in_the_video_past_a_damaged_frame(tmp_path, extractor, config, photo,
                                                                               clip_photo):
    folder = tmp_path / "frames"
    folder.mkdir()
    for number, frame in enumerate(synthetic.synthetic_clip(clip_photo, frames=3, size=(SIZE, SIZE), motion=MOTION)):
        image_io.save_image(frame.image, folder / f"frame_{number}.png")
    (folder / "frame_1.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    result, records = video_optimizer.stylize_video(folder, photo, tmp_path / "out.mp4",
                                                    config.replace(steps=2, later_frame_steps=1), extractor=extractor)
    assert (result.frames, result.damaged) == (3, 1)
    assert [record.index for record in records] == [0, 2]


def test_the_temporal_loss_lowers_the_temporal_error(tmp_path, extractor, config, photo, clip):
    # From noise, with a light content term, frames stylised on their own differ wherever the noise led them;
    # with random weights and few steps the temporal weight must be larger than on real features.
    settings = config.replace(steps=12, later_frame_steps=12, init="noise", content_weight=1.0)

    def error(weight):
        result, _ = video_optimizer.stylize_video(clip, photo, tmp_path / f"{weight:g}.mp4",
                                                  settings.replace(temporal_weight=weight), extractor=extractor)
        return result.temporal_error

    alone, warped_start_only, held = error(0.0), error(1e-9), error(1e7)
    assert held < alone / 3, (held, alone)
    assert held < warped_start_only / 2, (held, warped_start_only)  # the loss, not only the start


def cli_args(clip, style_path, weights_file, *extra):
    return ("--content", str(clip), "--style", str(style_path), "--weights", str(weights_file), "--steps", "2",
            "--later_frame_steps", "1", "--content_layers", "block2_conv2",
            "--style_layers", "block1_conv1,block2_conv1", "--precision", "float32", "--convolution", "direct", *extra)


def test_the_command_line_writes_a_video_at_the_source_rate_and_size(cli, clip, style_path, weights_file, capsys,
                                                                      tmp_path):
    assert cli(*cli_args(clip, style_path, weights_file)) == 0
    out = capsys.readouterr().out
    written = tmp_path / f"clip_{style_path.stem}.mp4"
    assert f"Wrote {written.name} (4 frames, 48x48 at 8 fps" in out
    assert "frame 1/4: objective " in out and "temporal error -, 2 steps" in out  # the log: a line a frame
    assert "frame 4/4: objective " in out and ", 1 steps in " in out
    assert "Per frame: objective " in out and "temporal error 0." in out
    with video_io.open_video(written) as reader, video_io.open_video(clip) as source:
        assert (reader.fps, reader.size, reader.has_audio) == (source.fps, source.size, True)
        assert len(list(reader)) == 4
    # --max_dim, when given, resizes the frames; the default name is numbered, never overwritten.
    assert cli(*cli_args(clip, style_path, weights_file, "--max_dim", "32")) == 0
    with video_io.open_video(tmp_path / f"clip_{style_path.stem}_2.mp4") as reader:
        assert reader.size == (32, 32)
    assert cli(*cli_args(clip, style_path, weights_file, "--output", "x.png")) == 2
    assert ("x.png: a video is written as MP4 (name it .mp4, .m4v or .mov) or as a folder of frames (a name "
            "without a suffix)") in capsys.readouterr().err
    # What style-transfer-apply writes, this writes too (one check for both).
    assert cli(*cli_args(clip, style_path, weights_file, "--output", "x.mov", "--max_dim", "16")) == 0
    with video_io.open_video(tmp_path / "x.mov") as reader:
        assert len(list(reader)) == 4


def test_a_folder_of_frames_becomes_a_video_at_the_frame_rate_asked(cli, clip_photo, style_path, weights_file,
                                                                    capsys, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for number, frame in enumerate(synthetic.synthetic_clip(clip_photo, frames=3, size=(SIZE, SIZE), motion=MOTION),
                                   start=9):  # frame_9, frame_10, frame_11: in that order
        image_io.save_image(frame.image, frames / f"frame_{number}.png")
    assert cli(*cli_args(frames, style_path, weights_file, "--frame_rate", "6")) == 0
    written = tmp_path / f"frames_{style_path.stem}.mp4"
    assert f"Wrote {written.name} (3 frames, 48x48 at 6 fps" in capsys.readouterr().out
    with video_io.open_video(written) as reader:
        assert (reader.fps, reader.has_audio, len(list(reader))) == (6, False, 3)
    # ... or a folder of frames again: an --output without a suffix, never mixed with what is there.
    assert cli(*cli_args(frames, style_path, weights_file, "--output", "styled")) == 0
    assert "Wrote styled (3 frames, 48x48" in capsys.readouterr().out
    written = sorted(path.name for path in (tmp_path / "styled").iterdir())
    assert written == ["frame_000001.png", "frame_000002.png", "frame_000003.png"]
    assert image_io.load_image(str(tmp_path / "styled" / written[0])).shape == (1, SIZE, SIZE, 3)
    assert cli(*cli_args(frames, style_path, weights_file, "--output", "styled")) == 2
    assert "styled: already holds 3 frames; not overwriting them (pass --overwrite" in capsys.readouterr().err
    assert cli(*cli_args(frames, style_path, weights_file, "--output", "frames", "--overwrite")) == 2
    assert "frames: holds other files; frames go into a new or empty folder" in capsys.readouterr().err
    assert len(list(frames.iterdir())) == 3 and not (tmp_path / "frames.partial").exists()


def test_ctrl_c_keeps_the_finished_frames_and_resume_continues(cli, clip, style_path, weights_file, capsys, tmp_path,
                                                              monkeypatch):
    from style_transfer.cli import run_video

    class StopDuringSecondFrame(run_video.StopOnSignal):
        """As if Ctrl-C came once the first frame was finished."""

        def __enter__(self):
            super().__enter__()
            original = self.stop.is_set
            calls = []

            def is_set():
                calls.append(1)
                if len(calls) == 4:  # before frame 1, two steps of frame 1, before frame 2
                    self.received = signal.SIGINT
                    self.stop.set()
                return original()

            self.stop.is_set = is_set
            return self

    monkeypatch.setattr(run_video, "StopOnSignal", StopDuringSecondFrame)
    args = cli_args(clip, style_path, weights_file, "--output", "o.mp4")
    assert cli(*args) == 130
    err = capsys.readouterr().err
    assert "SIGINT: stopped after frame 1 of 4" in err and err.strip().endswith("--resume")
    assert not (tmp_path / "o.mp4").exists() and (tmp_path / "o.mp4.partial").is_dir()
    monkeypatch.setattr(run_video, "StopOnSignal", StopDuringSecondFrame.__mro__[1])
    assert cli(*args) == 1  # without --resume the finished frames are not overwritten
    assert "--resume" in capsys.readouterr().err
    bars = []

    class Bar(run_video.Progress):  # the progress line of a terminal, remembered
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(run_video, "Progress", Bar)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert cli(*args, "--resume") == 0
    assert not (tmp_path / "o.mp4.partial").exists()
    # The rate and ETA count this run's frames only: the bar starts at the frame done before.
    assert [(bar.total, bar.initial) for bar in bars] == [(4, 1)]
    assert cli(*cli_args(clip, style_path, weights_file, "--output", "straight.mp4")) == 0
    resumed, straight = decoded(tmp_path / "o.mp4"), decoded(tmp_path / "straight.mp4")
    assert len(resumed) == len(straight) == 4
    # The same frames up to the encoder's rounding (the parts start with a key frame of their own).
    assert max(np.abs(a - b).mean() for a, b in zip(resumed, straight)) < 0.02


def test_temporal_needs_one_scale_and_no_luminance(config, photo):
    content = photo[:, :SIZE, :SIZE]
    temporal = (content, np.ones([1, SIZE, SIZE, 1], np.float32))
    with pytest.raises(ConfigError, match="scales"):
        api.stylize(content, content, config, temporal=temporal, scales="24,48")
    with pytest.raises(ConfigError, match="preserve_colors"):
        api.stylize(content, content, config, temporal=temporal, preserve_colors="luminance")


def test_temporal_settings_are_checked():
    with pytest.raises(ConfigError, match="temporal_weight"):
        StyleConfig(temporal_weight=-1.0)
    with pytest.raises(ConfigError, match="later_frame_steps"):
        StyleConfig(later_frame_steps=0)
