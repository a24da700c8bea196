"""Speed, memory and time-to-quality of this package against the TensorFlow tutorial, measured in one run.

The baseline is tests/tutorial_reference.py, the in-repo re-statement of the tutorial's code that the
fidelity tests hold `--preset tutorial` to. Both sides get the same pictures and the same VGG19 weights
file (random He-scaled weights written by this script unless --weights names a file). Every measurement runs
in a fresh Python process, so its peak resident memory (ru_maxrss) is its own. --network vgg16 measures both
sides with VGG16 (the tutorial's code building VGG16 instead of VGG19); --network vgg19,vgg16 puts both
networks in one speed table.

  python scripts/bench.py                               # s/step, GFLOP/s and memory at 256, 512, 1024 px
  python scripts/bench.py --sizes 512 --steps 10 --json bench.json
  python scripts/bench.py --quality --plot quality.png  # tutorial objective against time, 1000 tutorial steps
  python scripts/bench.py --quality --network vgg16 --weights ../shared/weights/vgg16_imagenet_notop.h5
  python scripts/bench.py --largest                     # the largest output that fits in memory
  python scripts/bench.py --largest --largest_implementation default_recompute
  python scripts/bench.py --many 20                     # 20 pictures of different sizes in one process
  python scripts/bench.py --memory --sizes 256,512 --implementations default,default_recompute --steps 2
                                                        # the memory estimate against measured peaks
  python scripts/bench.py --fast                        # fast style transfer: training and apply speed

GFLOP/s counts the VGG19 convolutions a step needs (forward to the deepest layer used, and the backward pass
to the image, no weight gradients) against the float32 matrix-product rate measured at the start.
The feed-forward network's measurements (--fast) live in scripts/bench_fast.py.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "images"
sys.path.insert(0, str(REPO / "tests"))  # the tutorial re-statement the tests use

FLAGS = flags.FLAGS
flags.DEFINE_string("content", str(SHARED / "content/tubingen.jpg"), "Content picture.")
flags.DEFINE_string("style", str(SHARED / "style/starry_night.jpg"), "Style picture.")
flags.DEFINE_string("weights", "random", "Weights as for --weights of the CLI; written to one file that "
                    "both sides load.")
flags.DEFINE_list("network", ["vgg19"], "The network of both sides: vgg19 or vgg16; the speed table takes several "
                  "(vgg19,vgg16), the other measurements one.")
flags.DEFINE_list("sizes", ["256", "512", "1024"], "Longest sides to measure.")
flags.DEFINE_integer("steps", 5, "Timed steps per measurement (after two untimed steps: tracing, and XLA's "
                     "compilation of the Winograd transforms for each shape).")
flags.DEFINE_integer("rounds", 2, "Speed table: measure every implementation this many times, in turn (each in its "
                     "own process), and report the median s/step: shared machines drift between processes.")
flags.DEFINE_list("implementations", ["tutorial", "tutorial_preset", "tutorial_preset_direct",
                                       "tutorial_preset_bf16", "default"],
                  "What to measure: tutorial (the baseline), tutorial_preset (float32, Winograd convolutions on a "
                  "CPU), tutorial_preset_direct (float32, TensorFlow's convolutions), tutorial_preset_bf16, default, "
                  "default_float32, default_recompute / default_float32_recompute (--recompute: blocks 1 and "
                  "2 recomputed band by band), and default_float32_recompute_direct (with --convolution direct).")
flags.DEFINE_bool("quality", False, "Instead: the tutorial objective against wall time, for the tutorial's "
                  "1000 steps and for the defaults, at --quality_size.")
flags.DEFINE_integer("quality_size", 512, "Longest side for --quality.")
flags.DEFINE_integer("tutorial_steps", 1000, "Tutorial steps for --quality.")
flags.DEFINE_list("candidate", [], "With --quality: settings to change on the defaults side, as NAME=VALUE "
                  "(e.g. optimizer=lbfgs,steps=300,precision=bfloat16), to try a schedule before it becomes one.")
flags.DEFINE_string("plot", "", "With --quality: save the curves here (PNG).")
flags.DEFINE_bool("largest", False, "Instead: find the largest longest side whose step fits in --memory_gb.")
flags.DEFINE_float("memory_gb", 22.0, "With --largest: the memory budget.")
flags.DEFINE_string("largest_implementation", "default", "With --largest: what to grow (a name of "
                    "--implementations, e.g. default_recompute).")
flags.DEFINE_integer("many", 0, "Instead: stylise this many pictures of different sizes in one process and "
                     "report traces and memory after each: with exact sizes, then with --size_bucket.")
flags.DEFINE_integer("size_bucket", 64, "With --many: the size_bucket of the second run (0: skip it).")
flags.DEFINE_bool("memory", False, "Instead: the estimate that refuses runs too large for the memory available "
                  "(style_transfer/memory.py) against the peak resident memory of whole runs (pictures, targets "
                  "and --steps steps through api.stylize), at --sizes, for --implementations.")
flags.DEFINE_bool("fast", False, "Instead: the fast (feed-forward) style transfer: training steps per second "
                  "at --fast_image_size, then seconds per picture at --sizes through an export loaded with "
                  "export.load. --steps sets the timed training steps.")
flags.DEFINE_list("fast_filters", ["32", "16"], "With --fast: network widths to measure.")
flags.DEFINE_list("fast_precisions", ["float32", "bfloat16"], "With --fast: precisions of the loss network "
                  "(VGG19) to train with; empty (--fast_precisions=) skips the training table.")
flags.DEFINE_list("fast_apply_precisions", ["float32", "bfloat16"], "With --fast: arithmetic of the network when "
                  "applying it (export.load's precision), or 'tflite' for the TensorFlow Lite file.")
flags.DEFINE_integer("fast_image_size", 256, "With --fast: training crop size.")
flags.DEFINE_integer("fast_styles", 1, "With --fast: styles of the networks applied (conditional instance "
                     "normalisation).")
flags.DEFINE_integer("fast_batch_size", 4, "With --fast: training batch.")
flags.DEFINE_integer("fast_repeats", 5, "With --fast: timed calls per picture size (the median is reported).")
flags.DEFINE_string("fast_data", str(SHARED / "content"), "With --fast: folder of training photographs.")
flags.DEFINE_string("json", "", "Also write the results here.")
flags.DEFINE_string("worker", "", "Internal: run one measurement described by this JSON and print its result.")

IMPLEMENTATIONS = {  # name -> (preset, settings) of this package; None is the tutorial's own code
    "tutorial": None,
    "tutorial_preset": ("tutorial", {}),  # float32; Winograd convolutions on a CPU ('auto')
    "tutorial_preset_direct": ("tutorial", {"convolution": "direct"}),
    "tutorial_preset_bf16": ("tutorial", {"precision": "bfloat16"}),
    "default": ("default", {}),
    "default_float32": ("default", {"precision": "float32"}),  # and so Winograd on a CPU
    "default_float32_recompute": ("default", {"precision": "float32", "recompute": True}),
    # The least memory in float32: Winograd's kernel tiles and XLA's compiled transforms cost about 350 MB.
    "default_float32_recompute_direct": ("default", {"precision": "float32", "recompute": True,
                                                     "convolution": "direct"}),
    "default_recompute": ("default", {"recompute": True}),
}


# ---------------------------------------------------------------------------------------------------------
# Measurements, each in its own process.

def peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent's memory across exec.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def conv_gflop(height: int, width: int, network: str = "vgg19", deepest: str = "block5_conv2") -> float:
    """GFLOP of one step: every conv of `network` up to `deepest`, forward and backward to its input."""
    from style_transfer.core.vgg_layers import network_layers

    channels = {"block1": 64, "block2": 128, "block3": 256, "block4": 512, "block5": 512}
    total, c_in, h, w = 0.0, 3, height, width
    layers = network_layers(network)
    for name in layers[: layers.index(deepest) + 1]:
        if name.endswith("_pool"):
            h, w = h // 2, w // 2
            continue
        c_out = channels[name.split("_")[0]]
        total += 2 * 2 * h * w * 9 * c_in * c_out  # multiply-adds, forward and input gradient
        c_in = c_out
    return total / 1e9


def matmul_peak() -> dict:
    """The faster of TensorFlow's and NumPy's float32 4096x4096 matrix product: on a CPU without AVX-512,
    TensorFlow (Eigen) measured about half of NumPy's OpenBLAS, which is nearer the FMA units' limit."""
    import tensorflow as tf

    n = 4096
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    product = tf.function(tf.matmul)
    product(a, b).numpy()
    a_numpy, b_numpy = a.numpy(), b.numpy()
    rates = {}
    for name, multiply in (("tensorflow", lambda: product(a, b).numpy()), ("numpy", lambda: a_numpy @ b_numpy)):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(3):
                multiply()
            best = min(best, (time.perf_counter() - start) / 3)
        rates[name] = 2 * n ** 3 / best / 1e9
    return {"matmul_gflops": max(rates.values()), "matmul_gflops_by_library": rates}


def our_config(preset: str, settings: dict, size: int, weights: str, network: str):
    from style_transfer.core.config import PRESETS

    return PRESETS[preset].replace(max_dim=size, weights=weights, network=network, **settings)


def typed(settings: dict) -> dict:
    """NAME=VALUE strings to the config fields' types."""
    import dataclasses

    from style_transfer.core.config import StyleConfig

    kinds = {field.name: {"int": int, "float": float}.get(field.type, str) for field in dataclasses.fields(StyleConfig)}
    return {name: kinds.get(name, str)(value) for name, value in settings.items()}


def speed(spec: dict) -> dict:
    """Seconds per step of one implementation at one size, after one untimed (tracing) step."""
    import tensorflow as tf

    size, steps = spec["size"], spec["steps"]
    implementation = IMPLEMENTATIONS[spec["implementation"]]
    if implementation is None:
        from tutorial_reference import TutorialRun

        run = TutorialRun(spec["content"], spec["style"], spec["weights"], size, network=spec["network"])
        shape = run.image.shape

        def step():
            return run.train_step(run.image)
    else:
        from style_transfer.optimize import api
        from style_transfer.optimize.optimization import StyleOptimizer

        config = our_config(*implementation, size, spec["weights"], spec["network"])
        config = config.replace(scales="1")  # a step at full size; the default's schedule is --quality's business
        content, style = api.load_inputs(spec["content"], spec["style"], config)
        optimizer = StyleOptimizer(api.build_extractor(config), content, style, content, config)
        shape = optimizer.image.shape

        def step():
            return optimizer.step()[0]["total"]
    step()
    tf.convert_to_tensor(step()).numpy()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    tf.convert_to_tensor(loss).numpy()
    seconds = (time.perf_counter() - start) / steps
    height, width = int(shape[1]), int(shape[2])
    return {"height": height, "width": width, "seconds_per_step": seconds,
            "gflop_per_step": conv_gflop(height, width, spec["network"]), "peak_rss_mb": peak_rss_mb()}


def scalar(tensor) -> float:
    """The tutorial's losses have shape [1] (tf.image.total_variation keeps the batch axis)."""
    import numpy as np

    return float(np.asarray(tensor).reshape(-1)[0])


def memory_peak(spec: dict) -> dict:
    """A whole run's peak resident memory at one size, and memory.py's estimate of it."""
    from style_transfer.optimize import api, memory
    from style_transfer.core import image_io

    config = our_config(*IMPLEMENTATIONS[spec["implementation"]], spec["size"], spec["weights"], spec["network"])
    config = config.replace(steps=spec["steps"])
    sizes = image_io.picture_size(spec["content"]), [image_io.picture_size(spec["style"])]
    estimate = memory.estimate_mb(config, *sizes)
    result = api.stylize(spec["content"], spec["style"], config)
    return {"height": int(result.image.shape[1]), "width": int(result.image.shape[2]), "estimate_mb": estimate,
            "precision": result.computed["precision"], "peak_rss_mb": peak_rss_mb()}


def run_worker(spec: dict) -> dict:
    import bench_fast

    kinds = {"matmul": lambda spec: matmul_peak(), "speed": speed, "quality": quality, "many": many,
             "memory": memory_peak,
             "fast_train": bench_fast.train_speed, "fast_export": bench_fast.export_network,
             "fast_apply": bench_fast.apply_speed}
    result = kinds[spec["kind"]](spec)
    result.setdefault("peak_rss_mb", peak_rss_mb())
    return result


def measure(spec: dict) -> dict:
    """Runs one measurement in a fresh process; its result, or {"error": ...} if the process failed."""
    completed = subprocess.run([sys.executable, __file__, f"--worker={json.dumps(spec)}"],
                               capture_output=True, text=True)
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        reason = (completed.stderr.strip().splitlines() or [f"exit status {completed.returncode}"])[-1]
        if completed.returncode < 0:
            reason = f"killed by signal {-completed.returncode} (out of memory?)"
        return {"error": reason}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------------------
# Time to quality.

def quality(spec: dict) -> dict:
    """Objective against time: the tutorial's steps, or this package's defaults, judged by the tutorial's loss."""
    import numpy as np

    from style_transfer.core import artefacts, image_io
    from tutorial_reference import TutorialRun

    judge = TutorialRun(spec["content"], spec["style"], spec["weights"], spec["size"], network=spec["network"])
    curve = []
    if spec["implementation"] == "tutorial":
        start, cpu_start = time.perf_counter(), time.process_time()
        for step in range(1, spec["steps"] + 1):
            loss = scalar(judge.train_step(judge.image))  # the objective before this step
            curve.append({"step": step - 1, "seconds": time.perf_counter() - start,
                          "cpu_seconds": time.process_time() - cpu_start, "objective": loss})
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        final = judge.image.numpy()
        judge.image.assign(judge.content_image)
    else:
        from style_transfer.optimize import api
        from style_transfer.core import preprocessing
        from style_transfer.optimize.optimization import Callback

        config = our_config("default", {}, spec["size"], spec["weights"], spec["network"]).replace(
            **typed(spec["candidate"]))
        extractor = api.build_extractor(config)  # built before the clock starts, as the tutorial's is

        class Snapshots(Callback):
            def __init__(self):
                self.images, self.start, self.excluded = [], time.perf_counter(), 0.0
                self.cpu_start, self.cpu_excluded = time.process_time(), 0.0

            def on_step(self, step, image, terms):
                begin, cpu_begin = time.perf_counter(), time.process_time()
                self.images.append((step, begin - self.start - self.excluded,
                                    cpu_begin - self.cpu_start - self.cpu_excluded, image.numpy()))
                self.excluded += time.perf_counter() - begin
                self.cpu_excluded += time.process_time() - cpu_begin

        # The same pixels as the tutorial's (its decoding and resizing), so both are judged against one
        # content and one style image; at max_dim already, they are not resized again.
        from tutorial_reference import tutorial_load_img

        content, style = judge.content_image.numpy(), tutorial_load_img(spec["style"], spec["size"]).numpy()
        snapshots = Snapshots()
        result = api.stylize(content, style, config, extractor=extractor, callbacks=[snapshots])
        seconds = time.perf_counter() - snapshots.start - snapshots.excluded
        cpu_seconds = time.process_time() - snapshots.cpu_start - snapshots.cpu_excluded
        final = result.image
        shape = tuple(judge.content_image.shape[1:3])
        for step, elapsed, cpu_elapsed, image in snapshots.images[:: max(1, len(snapshots.images) // 100)]:
            image = preprocessing.resize(image, shape, antialias=True) if image.shape[1:3] != shape else image
            curve.append({"step": step, "seconds": elapsed, "cpu_seconds": cpu_elapsed,
                          "objective": scalar(judge.objective(image))})
    with tempfile.TemporaryDirectory() as directory:  # judged as saved: 8-bit PNG, read back
        saved = image_io.save_image(final, Path(directory) / "result.png")
        reloaded = image_io.load_image(saved)
    if reloaded.shape != judge.content_image.shape:
        raise SystemExit(f"result {reloaded.shape} and tutorial {judge.content_image.shape} differ in shape")
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "final_objective": scalar(judge.objective(reloaded)), "curve": curve,
            "flat_pairs": artefacts.flat_pair_fraction(reloaded),
            "peak_rss_mb": peak_rss_mb(), "height": int(reloaded.shape[1]), "width": int(reloaded.shape[2]),
            "mean_abs_change": float(np.mean(np.abs(reloaded - judge.content_image)))}


# ---------------------------------------------------------------------------------------------------------
# Many pictures in one process.

def many(spec: dict) -> dict:
    """Stylises `count` pictures of different sizes with one extractor; traces and memory after each."""
    import numpy as np

    from style_transfer.optimize import api
    from style_transfer.core import image_io, preprocessing

    config = our_config("default", {}, 256, spec["weights"], spec["network"]).replace(steps=spec["steps"], scales="1",
                                                                       size_bucket=spec["size_bucket"])
    extractor = api.build_extractor(config)
    content, style = image_io.load_image(spec["content"]), image_io.load_image(spec["style"])
    rows = []
    for index in range(spec["count"]):
        size = 160 + 8 * ((index * 7) % 20)  # 160..312 px: 20 distinct sizes, in a shuffled order
        picture = preprocessing.resize_to_max_dim(content, size).numpy()
        result = api.stylize(picture, style, config, max_dim=size, extractor=extractor)
        objectives = extractor.compiled_objectives.values()
        rows.append({"picture": index + 1, "size": list(result.image.shape[1:3]),
                     "traces": sum(o.tracing_count() for o in objectives),
                     "rss_mb": current_rss_mb(), "seconds": result.seconds,
                     "changed": float(np.mean(np.abs(result.image - result.content_image)))})
    return {"rows": rows, "peak_rss_mb": peak_rss_mb()}


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


# ---------------------------------------------------------------------------------------------------------
# The driver.

def main(argv):
    del argv
    if FLAGS.worker:
        print(json.dumps(run_worker(json.loads(FLAGS.worker))))
        return
    from conftest import write_official_layout
    from style_transfer.core import vgg
    from style_transfer.core.config import NETWORK_CHOICES

    networks = FLAGS.network
    unknown = [network for network in networks if network not in NETWORK_CHOICES]
    if unknown:
        sys.exit(f"bench.py: --network {','.join(unknown)}: choose from {', '.join(NETWORK_CHOICES)}")
    if not FLAGS.quality and not FLAGS.largest and not FLAGS.many and not FLAGS.fast and not FLAGS.memory:
        report = {"machine": machine(), "weights": FLAGS.weights, "content": FLAGS.content, "style": FLAGS.style,
                  "speed": {}}
        for network in networks:
            with tempfile.TemporaryDirectory() as directory:
                weights = str(write_official_layout(vgg.build_vgg(FLAGS.weights, network),
                                                    Path(directory) / f"{network}.h5"))
                print(f"{network}:")
                report["speed"][network] = run_speed({"content": FLAGS.content, "style": FLAGS.style,
                                                      "weights": weights, "network": network})
        if len(networks) > 1:
            print_network_ratios(report["speed"])
        if FLAGS.json:
            Path(FLAGS.json).write_text(json.dumps(report, indent=1))
            print(f"JSON written to {FLAGS.json}")
        return
    if len(networks) != 1:
        sys.exit("bench.py: --network takes one network except for the speed table")
    network = networks[0]
    with tempfile.TemporaryDirectory() as directory:
        weights = str(write_official_layout(vgg.build_vgg(FLAGS.weights, network),
                                            Path(directory) / f"{network}.h5"))
        common = {"content": FLAGS.content, "style": FLAGS.style, "weights": weights, "network": network}
        report = {"machine": machine(), "weights": FLAGS.weights, "network": network, "content": FLAGS.content,
                  "style": FLAGS.style}
        if FLAGS.quality:
            report["quality"] = run_quality(common)
        elif FLAGS.largest:
            report["largest"] = run_largest(common)
        elif FLAGS.many:
            report["many"] = run_many(common)
        elif FLAGS.memory:
            report["memory"] = run_memory(common)
        elif FLAGS.fast:
            report["fast"] = run_fast(common, report["machine"])
    if FLAGS.json:
        Path(FLAGS.json).write_text(json.dumps(report, indent=1))
        print(f"JSON written to {FLAGS.json}")


def machine() -> dict:
    import platform

    import tensorflow as tf

    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PAGE_SIZE")
                                                                        * os.sysconf("SC_PHYS_PAGES") / 2 ** 30),
            "tensorflow": tf.__version__, "python": platform.python_version()}


def run_speed(common: dict) -> dict:
    peak = measure({"kind": "matmul"})
    by_library = ", ".join(f"{name} {rate:.0f}" for name, rate in peak["matmul_gflops_by_library"].items())
    print(f"float32 matrix-product peak: {peak['matmul_gflops']:.0f} GFLOP/s (4096x4096, best of 3; {by_library})")
    rows = []
    for size in map(int, FLAGS.sizes):
        runs = {implementation: [] for implementation in FLAGS.implementations}
        for _ in range(FLAGS.rounds):
            for implementation in FLAGS.implementations:
                runs[implementation].append(measure({"kind": "speed", "implementation": implementation,
                                                     "size": size, "steps": FLAGS.steps, **common}))
        for implementation, results in runs.items():
            rows.append({"size": size, "implementation": implementation, **median_run(results)})
            print_speed_row(rows[-1], rows, peak["matmul_gflops"])
    return {"matmul_gflops": peak["matmul_gflops"], "matmul_gflops_by_library": peak["matmul_gflops_by_library"],
            "rows": rows}


def median_run(results: list[dict]) -> dict:
    """The rounds of one measurement: the median s/step, the largest peak RSS, and every round's s/step."""
    import numpy as np

    good = [result for result in results if "error" not in result]
    if not good:
        return results[0]
    seconds = [result["seconds_per_step"] for result in good]
    return {**good[0], "seconds_per_step": float(np.median(seconds)), "rounds_seconds_per_step": seconds,
            "peak_rss_mb": max(result["peak_rss_mb"] for result in good)}


def print_speed_row(row: dict, rows: list, peak: float) -> None:
    if len(rows) == 1:
        print(f"{'size':>10} {'implementation':<22} {'s/step':>7} {'speed-up':>8} {'GFLOP/s':>8} {'of peak':>7} "
              f"{'peak RSS':>9} {'MB/MP':>6}")
    if "error" in row:
        print(f"{row['size']:>10} {row['implementation']:<22} failed: {row['error']}")
        return
    baseline = next((r for r in rows if r["size"] == row["size"] and r["implementation"] == "tutorial"
                     and "error" not in r), None)
    speedup = baseline["seconds_per_step"] / row["seconds_per_step"] if baseline else float("nan")
    row["speedup"] = speedup
    gflops = row["gflop_per_step"] / row["seconds_per_step"]
    megapixels = row["height"] * row["width"] / 1e6
    row["gflops"], row["mb_per_megapixel"] = gflops, row["peak_rss_mb"] / megapixels
    print(f"{row['width']:>5}x{row['height']:<4} {row['implementation']:<22} {row['seconds_per_step']:>7.3f} "
          f"{speedup:>7.2f}x {gflops:>8.0f} {gflops / peak:>6.0%} {row['peak_rss_mb']:>6.0f} MB "
          f"{row['mb_per_megapixel']:>6.0f}", flush=True)


def print_network_ratios(speed: dict) -> None:
    """Each network's s/step and peak RSS against the first's, implementation by implementation."""
    first, *others = speed
    for other in others:
        print(f"{other} against {first}:")
        for row in speed[other]["rows"]:
            base = next((r for r in speed[first]["rows"] if r["size"] == row["size"]
                         and r["implementation"] == row["implementation"] and "error" not in r), None)
            if base is None or "error" in row:
                continue
            print(f"{row['width']:>5}x{row['height']:<4} {row['implementation']:<22} s/step "
                  f"{row['seconds_per_step'] / base['seconds_per_step']:.2f}x, peak RSS "
                  f"{row['peak_rss_mb'] / base['peak_rss_mb']:.2f}x")


def run_fast(common: dict, machine: dict) -> dict:
    import bench_fast

    return bench_fast.run_fast(common, measure, machine, filters=[int(width) for width in FLAGS.fast_filters],
                               precisions=FLAGS.fast_precisions, sizes=[int(size) for size in FLAGS.sizes],
                               steps=FLAGS.steps, batch_size=FLAGS.fast_batch_size,
                               image_size=FLAGS.fast_image_size, repeats=FLAGS.fast_repeats, data=FLAGS.fast_data,
                               apply_precisions=FLAGS.fast_apply_precisions, styles=FLAGS.fast_styles)


def run_quality(common: dict) -> dict:
    size = FLAGS.quality_size
    runs = {}
    for implementation, steps in (("tutorial", FLAGS.tutorial_steps), ("default", None)):
        print(f"running {implementation} at {size} px ...", flush=True)
        candidate = dict(setting.split("=", 1) for setting in FLAGS.candidate)
        runs[implementation] = measure({"kind": "quality", "implementation": implementation, "size": size,
                                        "steps": steps, "candidate": candidate, **common})
        if "error" in runs[implementation]:
            raise SystemExit(f"{implementation}: {runs[implementation]['error']}")
    tutorial, default = runs["tutorial"], runs["default"]
    print(f"{'':<10} {'wall time':>10} {'CPU time':>10} {'objective (saved PNG)':>22} {'peak RSS':>9} "
          f"{'flat pairs':>10}")
    for name, run in runs.items():
        print(f"{name:<10} {run['seconds']:>9.1f}s {run['cpu_seconds']:>9.1f}s {run['final_objective']:>22.5g} "
              f"{run['peak_rss_mb']:>6.0f} MB {run['flat_pairs']:>10.2%}")
    reached = next((point for point in default["curve"] if point["objective"] <= tutorial["final_objective"]),
                   None)
    # CPU time (user and system, the process's own) is the steadier measure on a machine other jobs share.
    print(f"defaults: {tutorial['seconds'] / default['seconds']:.2f}x less wall time, "
          f"{tutorial['cpu_seconds'] / default['cpu_seconds']:.2f}x less CPU time, final objective "
          f"{default['final_objective'] / tutorial['final_objective']:.3f}x the tutorial's after "
          f"{FLAGS.tutorial_steps} steps")
    if reached:
        print(f"defaults first reach the tutorial's final objective at {reached['seconds']:.1f} s "
              f"({tutorial['seconds'] / reached['seconds']:.1f}x sooner; {reached['cpu_seconds']:.1f} CPU s, "
              f"{tutorial['cpu_seconds'] / reached['cpu_seconds']:.1f}x less CPU time)")
    matched = next((point for point in tutorial["curve"] if point["objective"] <= default["final_objective"]), None)
    if matched:  # the other way round: the tutorial's time to the defaults' quality
        print(f"the tutorial first reaches the defaults' final objective at step {matched['step']}, "
              f"{matched['cpu_seconds']:.1f} CPU s: {matched['cpu_seconds'] / default['cpu_seconds']:.2f}x the "
              f"defaults' CPU time ({matched['seconds'] / default['seconds']:.2f}x their wall time)")
    if FLAGS.plot:
        plot_quality(runs, Path(FLAGS.plot), size)
        print(f"Plot written to {FLAGS.plot}")
    return runs


def plot_quality(runs: dict, path: Path, size: int) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = {"tutorial": f"TensorFlow tutorial (Adam, {FLAGS.tutorial_steps} steps)",
              "default": "style_transfer defaults" + (f" ({', '.join(FLAGS.candidate)})" if FLAGS.candidate else "")}
    for name, run in runs.items():
        points = run["curve"]
        line, = axes.plot([p["cpu_seconds"] for p in points], [p["objective"] for p in points], label=labels[name])
        axes.plot([run["cpu_seconds"]], [run["final_objective"]], "o", color=line.get_color())
    axes.axhline(runs["tutorial"]["final_objective"], color="grey", linewidth=0.8, linestyle="--")
    network = FLAGS.network[0].upper()
    axes.set(xlabel="CPU time, user + system (s)", ylabel=f"tutorial objective ({network} features)", yscale="log",
             title=f"Time to quality at {size} px, {network} ({machine()['cpu']}, {os.cpu_count()} cores)")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def run_largest(common: dict) -> dict:
    """Steps of --largest_implementation at growing sizes until one fails or is predicted to exceed the
    budget."""
    implementation = FLAGS.largest_implementation
    if implementation not in IMPLEMENTATIONS:
        sys.exit(f"bench.py: --largest_implementation {implementation!r} is not one of "
                 f"{', '.join(sorted(IMPLEMENTATIONS))}")
    rows, size = [], 1024
    print(f"{implementation}:\n{'size':>10} {'s/step':>8} {'peak RSS':>10} {'MB/MP':>6}")
    while True:
        result = measure({"kind": "speed", "implementation": implementation, "size": size, "steps": 1, **common})
        rows.append({"size": size, **result})
        if "error" in result:
            print(f"{size:>10} failed: {result['error']}")
            break
        megapixels = result["height"] * result["width"] / 1e6
        print(f"{result['width']:>5}x{result['height']:<4} {result['seconds_per_step']:>8.1f} "
              f"{result['peak_rss_mb']:>7.0f} MB {result['peak_rss_mb'] / megapixels:>6.0f}", flush=True)
        next_size = int(size * 1.25)
        predicted_gb = result["peak_rss_mb"] / megapixels * megapixels * (next_size / size) ** 2 / 1024
        if predicted_gb > FLAGS.memory_gb:
            print(f"next size {next_size} predicted at {predicted_gb:.1f} GB > {FLAGS.memory_gb:g} GB budget")
            break
        size = next_size
    fitted = [row["size"] for row in rows if "error" not in row]
    print(f"largest measured size that fits: {max(fitted) if fitted else 'none'} px")
    return {"implementation": implementation, "rows": rows, "largest": max(fitted) if fitted else None}


def run_memory(common: dict) -> dict:
    """The estimate against the measured peak, each run in its own process."""
    rows = []
    print(f"{'size':>10} {'implementation':<34} {'precision':>9} {'estimate':>9} {'peak RSS':>9} {'estimate/peak':>13}")
    for size in map(int, FLAGS.sizes):
        for implementation in FLAGS.implementations:
            if IMPLEMENTATIONS[implementation] is None:  # the tutorial's code: not a run of ours
                continue
            result = measure({"kind": "memory", "implementation": implementation, "size": size,
                              "steps": FLAGS.steps, **common})
            rows.append({"size": size, "implementation": implementation, **result})
            if "error" in result:
                print(f"{size:>10} {implementation:<34} failed: {result['error']}")
                continue
            print(f"{result['width']:>5}x{result['height']:<4} {implementation:<34} {result['precision']:>9} "
                  f"{result['estimate_mb']:>6.0f} MB {result['peak_rss_mb']:>6.0f} MB "
                  f"{result['estimate_mb'] / result['peak_rss_mb']:>12.2f}x", flush=True)
    return {"rows": rows}


def run_many(common: dict) -> dict:
    """The same pictures with exact sizes and with --size_bucket, each run in its own process."""
    buckets = [0] + ([FLAGS.size_bucket] if FLAGS.size_bucket else [])
    results = {}
    for bucket in buckets:
        result = measure({"kind": "many", "count": FLAGS.many, "steps": FLAGS.steps, "size_bucket": bucket,
                          **common})
        if "error" in result:
            raise SystemExit(result["error"])
        results[f"size_bucket={bucket}"] = result
    header = "".join(f" | {name:>21}" for name in results)
    print(f"{'':>17}{header}")
    print(f"{'picture':>7} {'size':>9}" + " | traces  RSS MB seconds" * len(results))
    for index, row in enumerate(results["size_bucket=0"]["rows"]):
        cells = "".join(f" | {r['rows'][index]['traces']:>6} {r['rows'][index]['rss_mb']:>7.0f} "
                        f"{r['rows'][index]['seconds']:>7.1f}" for r in results.values())
        print(f"{row['picture']:>7} {row['size'][1]:>4}x{row['size'][0]:<4}{cells}")
    for name, result in results.items():
        later = [row["rss_mb"] for row in result["rows"][3:]]
        seconds = sum(row["seconds"] for row in result["rows"])
        if later:
            print(f"{name}: RSS after picture 4 {min(later):.0f}..{max(later):.0f} MB (grew "
                  f"{later[-1] - later[0]:.0f} MB); {seconds:.1f} s for all pictures")
    return results


if __name__ == "__main__":
    app.run(main)
