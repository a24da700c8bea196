"""video/stream.py: the frame loop, its blending, stopping and resuming, damaged frames."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import write_clip
from style_transfer.core import image_io
from style_transfer.core.errors import OutputExistsError, ResumeError, VideoError
from style_transfer.video import io as video_io
from style_transfer.video import stream, synthetic

pytest.importorskip("av")
MOTION = synthetic.Motion(pan=(2.0, 1.0), object_side=20, object_start=(10, 20), object_step=(4.0, 0.0))


@pytest.fixture
def source(tmp_path, clip_photo):
    frames = [frame.image for frame in synthetic.synthetic_clip(clip_photo, frames=10, size=(96, 64), motion=MOTION)]
    return write_clip(tmp_path / "clip.mp4", frames, fps=10, audio_seconds=1.0)


def flickering(seed=0):
    """A stand-in for a network whose strokes jump: the frame inverted, plus fresh noise each frame."""
    rng = np.random.default_rng(seed)
    return lambda frame, carried: np.clip(1.0 - frame + rng.normal(0, 0.06, frame.shape), 0, 1).astype(np.float32)


def test_blending_lowers_the_temporal_error(tmp_path, source):
    alone = stream.stylise_video(source, tmp_path / "alone.mp4", flickering())
    blended = stream.stylise_video(source, tmp_path / "blended.mp4", flickering(), temporal_weight=0.8)
    assert alone.frames == blended.frames == 10 and not alone.stopped
    assert blended.temporal_error < alone.temporal_error / 3, (blended.temporal_error, alone.temporal_error)
    assert video_io.open_video(blended.path).has_audio
    assert not stream.partial_directory(blended.path).exists()


def test_the_callable_gets_the_warped_previous_result(tmp_path, source):
    seen = []

    def record(frame, carried):
        seen.append(carried)
        return frame

    stream.stylise_video(source, tmp_path / "out.mp4", record)
    assert seen[0] is None and all(isinstance(carried, stream.Carried) for carried in seen[1:])
    assert seen[1].image.shape == (1, 64, 96, 3) and seen[1].mask.shape == (64, 96, 1)


def test_each_frame_warps_the_previous_result_once(tmp_path, source, monkeypatch):
    # The reliability mask warps the forward flow, and the previous result is moved onto the frame once: the
    # temporal error measures that same picture rather than warping it again.
    from style_transfer.video import flow

    warped, original = [], flow.warp
    monkeypatch.setattr(flow, "warp", lambda image, motion: (warped.append(1), original(image, motion))[1])
    result = stream.stylise_video(source, tmp_path / "out.mp4", lambda frame, carried: frame)
    assert result.frames == 10 and result.temporal_error < 0.05
    assert len(warped) == 2 * 9


def test_stopping_keeps_the_finished_frames_and_resume_continues(tmp_path, source):
    calls = []
    identity = lambda frame, carried: (calls.append(1), frame)[1]  # noqa: E731
    output = tmp_path / "out.mp4"
    stop_after = iter([False] * 4 + [True])
    first = stream.stylise_video(source, output, identity, temporal_weight=0.5, should_stop=lambda: next(stop_after))
    assert first.stopped and first.path is None and first.frames == 4 and not output.exists()
    state = json.loads((first.partial / stream.STATE_FILE).read_text())
    assert state["frames_done"] == 4 and len(state["parts"]) == 1

    with pytest.raises(ResumeError, match="--resume"):  # not without asking
        stream.stylise_video(source, output, identity, temporal_weight=0.5)
    with pytest.raises(ResumeError, match="temporal_weight"):  # not with other settings
        stream.stylise_video(source, output, identity, temporal_weight=0.2, resume=True)
    calls.clear()
    second = stream.stylise_video(source, output, identity, temporal_weight=0.5, resume=True)
    assert len(calls) == 6 and second.frames == 10 and second.path == output
    assert not first.partial.exists()
    whole = stream.stylise_video(source, tmp_path / "whole.mp4", identity, temporal_weight=0.5)
    resumed, straight = list(video_io.open_video(output)), list(video_io.open_video(whole.path))
    assert len(resumed) == len(straight) == 10
    # the same frames (up to encoding), in the same places: one frame apart they differ several times more
    assert max(float(np.abs(a - b).mean()) for a, b in zip(resumed, straight)) < 0.02
    assert float(np.abs(resumed[5] - straight[4]).mean()) > 0.04
    assert video_io.open_video(output).has_audio
    with pytest.raises(ResumeError, match="nothing to resume"):
        stream.stylise_video(source, tmp_path / "other.mp4", identity, resume=True)


def test_a_folder_of_frames_out_stops_and_resumes_like_a_video(tmp_path, source):
    identity = lambda frame, carried: frame  # noqa: E731
    output = tmp_path / "frames"
    stop_after = iter([False] * 4 + [True])
    first = stream.stylise_video(source, output, identity, should_stop=lambda: next(stop_after))
    assert first.stopped and first.frames == 4 and not output.exists()
    second = stream.stylise_video(source, output, identity, resume=True)
    assert second.path == output and second.frames == 10 and not first.partial.exists()
    names = sorted(path.name for path in output.iterdir())
    assert names == [f"frame_{number:06d}.png" for number in range(1, 11)]
    # The PNGs are the frames themselves (no second encoding): as close to the decoded source as 8 bits allow.
    decoded = list(video_io.open_video(source))
    for number in (1, 5, 10):
        written = image_io.load_image(str(output / f"frame_{number:06d}.png"))
        assert np.abs(written - decoded[number - 1]).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(OutputExistsError, match="already holds 10 frames"):
        stream.stylise_video(source, output, identity)
    replaced = stream.stylise_video(source, output, lambda frame, carried: 1 - frame, overwrite=True)
    assert sorted(path.name for path in replaced.path.iterdir()) == names
    assert image_io.load_image(str(output / "frame_000001.png")).mean() == pytest.approx(1 - decoded[0].mean(), abs=0.01)
    (output / "notes.txt").write_text("mine")
    with pytest.raises(VideoError, match="holds other files"):
        stream.stylise_video(source, output, identity, overwrite=True)
    assert (output / "notes.txt").read_text() == "mine" and len(list(output.iterdir())) == 11


def test_an_error_midway_keeps_the_finished_frames_for_resume(tmp_path, source):
    count = []

    def failing(frame, carried):
        count.append(1)
        if len(count) == 7:
            raise RuntimeError("out of memory")
        return frame

    with pytest.raises(RuntimeError):
        stream.stylise_video(source, tmp_path / "out.mp4", failing)
    state = json.loads((stream.partial_directory(tmp_path / "out.mp4") / stream.STATE_FILE).read_text())
    assert state["frames_done"] == 6
    assert stream.stylise_video(source, tmp_path / "out.mp4", lambda f, c: f, resume=True).frames == 10


def test_a_killed_run_keeps_the_frames_saved_before_it(tmp_path, source):
    # Killed outright (out of memory, a second Ctrl-C, the machine going down): no `finally` runs. The frames
    # saved every save_every_seconds (here after each frame) are kept for --resume.
    output = tmp_path / "out.mp4"
    script = f"""if True:
        import os
        from style_transfer.video import stream
        calls = []
        def stylise(frame, carried):
            calls.append(1)
            if len(calls) == 7:
                os._exit(9)
            return frame
        stream.stylise_video({str(source)!r}, {str(output)!r}, stylise, save_every_seconds=0)
    """
    assert subprocess.run([sys.executable, "-c", script], capture_output=True).returncode == 9
    state = json.loads((stream.partial_directory(output) / stream.STATE_FILE).read_text())
    assert state["frames_done"] == 6
    calls = []
    result = stream.stylise_video(source, output, lambda frame, carried: (calls.append(1), frame)[1], resume=True)
    assert result.frames == 10 and len(calls) == 4 and len(list(video_io.open_video(output))) == 10


def test_saving_and_joining_are_announced_so_a_second_ctrl_c_waits_for_them(tmp_path, source, monkeypatch):
    # The command lines make signals wait while on_saving says True (a second Ctrl-C otherwise quits at once,
    # leaving a half-joined temporary file beside the result).
    saving, seen = [False], []
    original_join, original_save = video_io.join_videos, stream._save_state
    monkeypatch.setattr(video_io, "join_videos", lambda *a, **k: (seen.append(("join", saving[0])),
                                                                  original_join(*a, **k))[1])
    monkeypatch.setattr(stream, "_save_state", lambda *a: (seen.append(("state", saving[0])), original_save(*a))[1])
    stream.stylise_video(source, tmp_path / "out.mp4", lambda frame, carried: frame, save_every_seconds=0,
                         on_saving=lambda busy: saving.__setitem__(0, busy))
    assert seen[0] == ("state", False)  # the new run's first state, before any frame
    assert ("join", True) in seen and len(seen) > 10 and all(busy for _, busy in seen[1:])
    assert saving == [False]


def test_a_damaged_frame_repeats_the_previous_result(tmp_path, clip_photo):
    from test_video_io import damage_frame

    frames = [frame.image for frame in synthetic.synthetic_clip(clip_photo, frames=8, size=(96, 64), motion=MOTION)]
    source = write_clip(tmp_path / "clip.avi", frames, codec="mjpeg")
    damage_frame(source, 4)
    result = stream.stylise_video(source, tmp_path / "out.mp4", lambda frame, carried: frame)
    assert (result.frames, result.damaged) == (8, 1)
    written = list(video_io.open_video(result.path))
    assert len(written) == 8
    assert float(np.abs(written[4] - written[3]).mean()) < 0.01 < float(np.abs(written[4] - frames[4]).mean())


def test_a_run_killed_while_saving_resumes_from_the_frames_its_state_names(tmp_path, source, monkeypatch):
    # Killed (a second Ctrl-C quits at once) after the last result was saved but before the state: the next run
    # must continue from the state's frames with the result of the state's last frame, not a later one.
    output = tmp_path / "out.mp4"
    stops = iter([False] * 4 + [True])
    stream.stylise_video(source, output, lambda frame, carried: frame, should_stop=lambda: next(stops))

    def killed(partial, state):
        raise KeyboardInterrupt

    stops = iter([False] * 3 + [True])
    with monkeypatch.context() as patched:
        patched.setattr(stream, "_save_state", killed)
        with pytest.raises(KeyboardInterrupt):
            stream.stylise_video(source, output, lambda frame, carried: frame, resume=True,
                                 should_stop=lambda: next(stops))
    seen = []
    resumed = stream.stylise_video(source, output, lambda frame, carried: (seen.append(carried), frame)[1],
                                   resume=True)
    assert resumed.frames == 10 and len(seen) == 6
    straight = []
    stream.stylise_video(source, tmp_path / "straight.mp4", lambda frame, carried: (straight.append(carried), frame)[1])
    np.testing.assert_allclose(seen[0].image, straight[4].image, atol=1e-6)


def test_damaged_frames_before_the_first_readable_one_are_counted_once_across_a_resume(tmp_path, clip_photo):
    from style_transfer.core import image_io

    folder = tmp_path / "frames"
    folder.mkdir()
    for number, frame in enumerate(synthetic.synthetic_clip(clip_photo, frames=6, size=(96, 64), motion=MOTION)):
        image_io.save_image(frame.image, folder / f"frame_{number}.png")
    (folder / "frame_0.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    output = tmp_path / "out.mp4"
    stops = iter([False, True])  # frame 1 is damaged and waits for frame 2's result; the run stops before it
    first = stream.stylise_video(folder, output, lambda frame, carried: frame, should_stop=lambda: next(stops))
    assert first.stopped and first.frames == 0
    result = stream.stylise_video(folder, output, lambda frame, carried: frame, resume=True)
    assert (result.frames, result.damaged) == (6, 1)
