"""video/io.py: streaming reading and writing, audio copied unchanged, atomic and never overwriting."""

from fractions import Fraction

import numpy as np
import pytest

from conftest import write_clip
from style_transfer.core.errors import MissingExtraError, OutputExistsError, VideoError
from style_transfer.video import io as video_io
from style_transfer.video import synthetic

av = pytest.importorskip("av")


def frames_of(photo, count=12, size=(96, 64)):
    return [frame.image for frame in synthetic.synthetic_clip(photo, frames=count, size=size)]


def write_parts(folder, frames):
    """The first four frames as one.mp4, the rest as two.mp4 (as a stopped and a resumed run write them)."""
    for name, part in (("one.mp4", frames[:4]), ("two.mp4", frames[4:])):
        with video_io.VideoWriter(folder / name, 12, (96, 64)) as writer:
            for frame in part:
                writer.write(frame)


def audio_packets(path):
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(container.streams.audio[0]) if packet.dts is not None]


def test_round_trip_keeps_frames_rate_size_and_the_audio_packets(tmp_path, clip_photo):
    source = write_clip(tmp_path / "clip.mp4", frames_of(clip_photo), fps=12, audio_seconds=1.0)
    reader = video_io.open_video(source)
    assert (reader.fps, reader.size, reader.frame_count, reader.has_audio) == (Fraction(12), (96, 64), 12, True)
    decoded = list(reader)
    assert len(decoded) == 12 and decoded[0].shape == (1, 64, 96, 3) and decoded[0].dtype == np.float32

    with video_io.VideoWriter(tmp_path / "out.mp4", reader.fps, reader.size, audio_from=source) as writer:
        for frame in video_io.open_video(source):
            writer.write(1.0 - frame)
    result = video_io.open_video(tmp_path / "out.mp4")
    assert (result.fps, result.size, result.frame_count, result.has_audio) == (Fraction(12), (96, 64), 12, True)
    again = list(result)
    assert max(float(np.abs(got - (1.0 - sent)).mean()) for got, sent in zip(again, decoded)) < 0.03
    assert audio_packets(tmp_path / "out.mp4") == audio_packets(source) != []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4", "out.mp4"]  # no temporary left


def audio_lead(path):
    """How many seconds the first audio packet of `path` starts before its first video packet."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        starts = {"video": [], "audio": []}
        for packet in container.demux(video, audio):
            if packet.size and packet.pts is not None:  # not the empty packets that end each stream
                starts[packet.stream.type].append(packet.pts * packet.time_base)
    return float(min(starts["video"]) - min(starts["audio"]))


@pytest.mark.parametrize("suffix", [".ts", ".mp4"])
def test_the_audio_keeps_its_place_when_the_source_starts_late(tmp_path, clip_photo, suffix):
    # A broadcast recording's streams start far from 0; the result's video starts at 0, and so must its sound.
    frames = frames_of(clip_photo, 6)
    source = write_clip(tmp_path / f"late{suffix}", frames, fps=12, audio_seconds=1.0, start_seconds=2.0)
    lead = audio_lead(source)
    assert abs(lead) < 0.1  # what the tone's first packet does: starts with the encoder's priming
    with video_io.VideoWriter(tmp_path / "out.mp4", 12, (96, 64), audio_from=source) as writer:
        for frame in frames:
            writer.write(frame)
    assert audio_lead(tmp_path / "out.mp4") == pytest.approx(lead, abs=0.002)
    write_parts(tmp_path, frames)
    joined = video_io.join_videos([tmp_path / "one.mp4", tmp_path / "two.mp4"], tmp_path / "all.mp4",
                                  audio_from=source)
    assert audio_lead(joined) == pytest.approx(lead, abs=0.002)


def test_ntsc_rate_stays_exact_and_odd_sizes_become_even(tmp_path, clip_photo):
    frame = frames_of(clip_photo, 1, (96, 64))[0][:, :63, :95]
    with video_io.VideoWriter(tmp_path / "ntsc.mp4", Fraction(30000, 1001), (95, 63)) as writer:
        writer.write(frame)
        writer.write(frame)
    reader = video_io.open_video(tmp_path / "ntsc.mp4")
    assert (reader.fps, reader.size, len(list(reader))) == (Fraction(30000, 1001), (94, 62), 2)
    assert video_io.open_video(tmp_path / "ntsc.mp4", max_dim=47).size == (46, 30)  # longest side, even


def test_results_are_tagged_bt709_and_converted_by_it(tmp_path):
    # An untagged file leaves players to guess the matrix (BT.709 for HD, BT.601 below): colours shift where
    # the guess is not the matrix the encoder used.
    green = np.zeros((1, 64, 96, 3), np.float32)
    green[..., 1] = 1.0
    with video_io.VideoWriter(tmp_path / "green.mp4", 12, (96, 64)) as writer:
        writer.write(green)
    with av.open(str(tmp_path / "green.mp4")) as container:
        context = container.streams.video[0].codec_context
        bt709, limited = 1, 1
        assert (context.colorspace, context.color_primaries, context.color_trc) == (bt709, bt709, bt709)
        assert context.color_range == limited
        luma = next(container.decode(video=0)).to_ndarray(format="yuv420p")[:64]
    assert abs(float(luma.mean()) - 173.0) < 1.5  # 16 + 219 * 0.7152, BT.709's luma of pure green
    np.testing.assert_allclose(next(iter(video_io.open_video(tmp_path / "green.mp4"))), green, atol=3 / 255)


@pytest.mark.parametrize("rotation, red", [(90, "bottom"), (-90, "top")])
def test_a_rotated_video_comes_upright(tmp_path, rotation, red):
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display rotation")
    # A phone stores a portrait clip landscape with a display rotation; players turn it, and so must the reader.
    stored = np.zeros((1, 32, 64, 3), np.float32)
    stored[:, :, :32, 0] = 1.0  # the stored frame's left half is red
    source = write_clip(tmp_path / "phone.mp4", [stored] * 2, rotation=rotation)
    reader = video_io.open_video(source)
    assert reader.size == (32, 64)
    frame = next(iter(reader))
    assert frame.shape == (1, 64, 32, 3)
    # a quarter turn counter-clockwise (90) brings the left half to the bottom; clockwise (-90), to the top
    bottom, top = frame[0, 40:, :, 0].mean(), frame[0, :24, :, 0].mean()
    assert (bottom, top) == ((pytest.approx(1, abs=0.05), pytest.approx(0, abs=0.05)) if red == "bottom" else
                             (pytest.approx(0, abs=0.05), pytest.approx(1, abs=0.05)))


def test_never_overwrites_and_discards_an_unfinished_file(tmp_path, clip_photo):
    existing = tmp_path / "taken.mp4"
    existing.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        video_io.VideoWriter(existing, 12, (96, 64))
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(RuntimeError), video_io.VideoWriter(tmp_path / "broken.mp4", 12, (96, 64)) as writer:
        writer.write(frames_of(clip_photo, 1)[0])
        raise RuntimeError("stop")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken.mp4"]
    with pytest.raises(VideoError, match="MP4"):
        video_io.VideoWriter(tmp_path / "result.avi", 12, (96, 64))


def test_unreadable_files_are_one_clear_error(tmp_path):
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    with pytest.raises(VideoError, match="noise.mp4: not a video FFmpeg can read"):
        video_io.open_video(tmp_path / "noise.mp4")
    with pytest.raises(VideoError, match="no such file"):
        video_io.open_video(tmp_path / "missing.mp4")
    with av.open(str(tmp_path / "sound.m4a"), "w") as container:  # audio, no video
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = 16000, 0
        container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))
    with pytest.raises(VideoError, match="no video stream"):
        video_io.open_video(tmp_path / "sound.m4a")


def damage_frame(path, index):
    """Zeroes most of packet `index` of `path` in place."""
    with av.open(str(path)) as container:
        packets = [(packet.pos, packet.size) for packet in container.demux(container.streams.video[0])
                   if packet.dts is not None]
    position, size = packets[index]
    data = bytearray(path.read_bytes())
    data[position + size // 4:position + size] = bytes(size - size // 4)
    path.write_bytes(bytes(data))


def test_a_damaged_frame_comes_as_none_in_its_place(tmp_path, clip_photo):
    source = write_clip(tmp_path / "clip.avi", frames_of(clip_photo, 8), codec="mjpeg")
    damage_frame(source, 4)
    reader = video_io.open_video(source)
    frames = list(reader)
    assert [frame is None for frame in frames] == [False] * 4 + [True] + [False] * 3
    assert reader.damaged == 1


def test_join_copies_the_parts_in_order(tmp_path, clip_photo):
    frames = frames_of(clip_photo, 6)
    write_parts(tmp_path, frames)
    joined = video_io.join_videos([tmp_path / "one.mp4", tmp_path / "two.mp4"], tmp_path / "all.mp4")
    decoded = list(video_io.open_video(joined))
    assert len(decoded) == 6
    assert all(float(np.abs(got - sent).mean()) < 0.03 for got, sent in zip(decoded, frames))


def test_joining_a_damaged_part_is_one_clear_error(tmp_path, clip_photo):
    with video_io.VideoWriter(tmp_path / "one.mp4", 12, (96, 64)) as writer:
        writer.write(frames_of(clip_photo, 1)[0])
    (tmp_path / "two.mp4").write_bytes(b"not a video")
    with pytest.raises(VideoError, match="two.mp4: not a video FFmpeg can read"):
        video_io.join_videos([tmp_path / "one.mp4", tmp_path / "two.mp4"], tmp_path / "all.mp4")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["one.mp4", "two.mp4"]


def test_without_the_extra_one_line_names_the_install_command(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "av", None)
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[video\]"'):
        video_io.open_video("clip.mp4")
