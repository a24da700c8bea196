"""The feed-forward ("fast") style transfer's part of scripts/bench.py: training speed and apply speed.

bench.py owns the flags, the subprocess runner and the JSON; this module holds what `--fast` measures, so
bench.py stays one file about the optimisation-based method. Each function below taking a `spec` runs in a
fresh worker process (bench.py --worker), so its peak resident memory is its own.

  training:  FastTrainer.run at image_size x image_size crops of real photographs, batch batch_size, the loss
             network's precision as given; seconds per step after `warmup` untimed steps (the first traces).
  apply:     a random-weight network of each width exported with export.save, loaded in another process with
             export.load (what users run) in float32 and in bfloat16, or its TensorFlow Lite file through
             TensorFlow's interpreter ("tflite"), one 4:3 picture per call; median of `repeats` calls after
             a warm-up call that traces.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

# The goal: a 1024x768 picture in at most 0.5 s in float32 on a 2-core CPU, with the default network, measured
# against the earlier default (32 filters) in the same run.
GOAL_SIZE, GOAL_SECONDS, BASELINE_FILTERS = 1024, 0.5, 32
WARMUP_STEPS = 2


# ---------------------------------------------------------------------------------------------------------
# Measurements, each in its own process.

def train_speed(spec: dict) -> dict:
    """Seconds per training step of FastTrainer, timed between on_step calls after the warm-up steps."""
    from style_transfer.fast import dataset
    from style_transfer.core import image_io, preprocessing
    from style_transfer.fast.train_config import TrainConfig
    from style_transfer.fast.training import FastTrainer

    steps = WARMUP_STEPS + spec["steps"]
    # checkpoint_every past the end: the only checkpoint is the final one, written after the last on_step.
    config = TrainConfig(image_size=spec["image_size"], batch_size=spec["batch_size"], filters=spec["filters"],
                         precision=spec["precision"], weights=spec["weights"], network=spec["network"], steps=steps,
                         checkpoint_every=steps + 1)
    style = preprocessing.resize_to_max_dim(image_io.load_image(spec["style"]), config.style_size).numpy()
    paths = dataset.scan_folder(spec["data"]).paths
    times = []
    with tempfile.TemporaryDirectory() as model_dir:
        trainer = FastTrainer(config, style, paths, model_dir)
        start = time.perf_counter()
        trainer.run(lambda step, terms: times.append(time.perf_counter()))
    seconds = (times[-1] - times[WARMUP_STEPS - 1]) / spec["steps"]
    return {"seconds_per_step": seconds, "first_step_seconds": times[0] - start,
            "loss_precision": trainer.extractor.precision, "pictures": len(paths)}


def export_network(spec: dict) -> dict:
    """Writes a random-weight network of `filters` width to `directory` with export.save."""
    import keras

    from style_transfer.fast import export
    from style_transfer.fast.transformer import transformer_network

    keras.utils.set_random_seed(0)
    network = transformer_network(spec["filters"], styles=spec.get("styles", 1))
    export.save(network, spec["directory"], metadata={"filters": spec["filters"], "weights": "random"},
                tflite=spec.get("tflite", False))
    return {"parameters": int(network.count_params())}


def apply_speed(spec: dict) -> dict:
    """Seconds per picture of an export loaded with export.load: the median of `repeats` calls after one."""
    import numpy as np

    from style_transfer.fast import export
    from style_transfer.core import image_io, preprocessing

    width, height = spec["size"], spec["size"] * 3 // 4
    picture = preprocessing.resize(image_io.load_image(spec["content"]), (height, width), antialias=True).numpy()
    start = time.perf_counter()
    if spec["precision"] == "tflite":
        stylizer = export.load(Path(spec["directory"]) / export.TFLITE_FILE)
    else:
        stylizer = export.load(spec["directory"], spec["precision"])
    loaded = time.perf_counter()
    stylizer(picture)
    first = time.perf_counter()
    seconds = []
    for _ in range(spec["repeats"]):
        begin = time.perf_counter()
        result = stylizer(picture)
        seconds.append(time.perf_counter() - begin)
    if result.shape != picture.shape or not np.isfinite(result).all():
        raise SystemExit(f"the export returned {result.shape} for {picture.shape}, or values that are not finite")
    return {"height": height, "width": width, "seconds_per_image": statistics.median(seconds),
            "all_seconds": seconds, "load_seconds": loaded - start, "first_call_seconds": first - loaded}


# ---------------------------------------------------------------------------------------------------------
# The driver's part.

def run_fast(common: dict, measure, machine: dict, *, filters: list[int], precisions: list[str], sizes: list[int],
             steps: int, batch_size: int, image_size: int, repeats: int, data: str,
             apply_precisions: list[str] = ("float32", "bfloat16"), styles: int = 1) -> dict:
    """Both tables of --fast, each row measured by `measure(spec)` in a fresh process; the JSON's "fast"."""
    print(f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, TensorFlow "
          f"{machine['tensorflow']}; bfloat16 instructions: {bf16_instructions() or 'none'}")
    print(f"\ntraining: {image_size}x{image_size} crops of {data}, batch {batch_size}, "
          f"{steps} timed steps after {WARMUP_STEPS} warm-up steps")
    print(f"{'filters':>7} {'loss net':<9} {'s/step':>7} {'steps/s':>7} {'images/s':>8} {'1st step':>8} "
          f"{'peak RSS':>9} {'2000 steps':>10}")
    training = []
    for width in filters:
        for precision in precisions:
            result = measure({"kind": "fast_train", "filters": width, "precision": precision, "steps": steps,
                              "batch_size": batch_size, "image_size": image_size, "data": data, **common})
            training.append({"filters": width, "precision": precision, **result})
            if "error" in result:
                print(f"{width:>7} {precision:<9} failed: {result['error']}")
                continue
            per_step = result["seconds_per_step"]
            print(f"{width:>7} {precision:<9} {per_step:>7.3f} {1 / per_step:>7.2f} {batch_size / per_step:>8.2f} "
                  f"{result['first_step_seconds']:>7.1f}s {result['peak_rss_mb']:>6.0f} MB "
                  f"{2000 * per_step / 60:>6.0f} min", flush=True)

    print(f"\napply: one 4:3 picture per call through export.load, median of {repeats} calls after a warm-up call; "
          f"networks of {styles} style(s)")
    print(f"{'filters':>7} {'size':>9} {'arithm.':<9} {'s/image':>8} {'images/s':>8} {'load':>6} {'1st call':>8} "
          f"{'peak RSS':>9}")
    applying, goal = [], {}
    with tempfile.TemporaryDirectory() as directory:
        for width in filters:
            export_dir = str(Path(directory) / f"filters_{width}")
            exported = measure({"kind": "fast_export", "filters": width, "directory": export_dir, "styles": styles,
                                "tflite": "tflite" in apply_precisions})
            if "error" in exported:
                print(f"{width:>7} export failed: {exported['error']}")
                continue
            for size in sizes:
                for arithmetic in apply_precisions:
                    result = measure({"kind": "fast_apply", "directory": export_dir, "size": size,
                                      "precision": arithmetic, "repeats": repeats, "content": common["content"]})
                    applying.append({"filters": width, "size": size, "parameters": exported["parameters"],
                                     "precision": arithmetic, **result})
                    if "error" in result:
                        print(f"{width:>7} {size:>9} {arithmetic:<9} failed: {result['error']}")
                        continue
                    per_image = result["seconds_per_image"]
                    print(f"{width:>7} {result['width']:>4}x{result['height']:<4} {arithmetic:<9} {per_image:>8.3f} "
                          f"{1 / per_image:>8.2f} {result['load_seconds']:>5.1f}s "
                          f"{result['first_call_seconds']:>7.2f}s {result['peak_rss_mb']:>6.0f} MB", flush=True)
                    if size == GOAL_SIZE:
                        goal[width, arithmetic] = per_image
    for (width, arithmetic), per_image in goal.items():
        verdict = "met" if per_image <= GOAL_SECONDS else "missed"
        baseline = goal.get((BASELINE_FILTERS, arithmetic))
        ratio = f", {baseline / per_image:.2f}x as fast as {BASELINE_FILTERS} filters" if baseline else ""
        print(f"goal ({GOAL_SIZE}x{GOAL_SIZE * 3 // 4} in at most {GOAL_SECONDS:g} s), filters {width} {arithmetic}: "
              f"{per_image:.3f} s{ratio}, {verdict}")
    return {"training": training, "apply": applying,
            "goal": {"size": GOAL_SIZE, "seconds": GOAL_SECONDS,
                     "met": {f"{width} {arithmetic}": per_image <= GOAL_SECONDS
                             for (width, arithmetic), per_image in goal.items()}}}


def bf16_instructions() -> str:
    """The CPU's bfloat16 instruction sets (AVX512_BF16, AMX): what bfloat16 needs to pay."""
    from style_transfer.kernels import devices

    return ", ".join(name for name in devices.BFLOAT16_FLAGS if name in devices.cpu_flags())
