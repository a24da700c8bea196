"""How closely `--preset tutorial` follows the TensorFlow tutorial over many steps, measured.

Runs, on the same pictures and the same weights (a file this script writes, random unless --weights
names one; VGG19, or VGG16 with --network vgg16, the tutorial's code building that network instead): the tutorial's code compiled as published (the yardstick), the same code run eagerly (the
tutorial's own rounding noise), and this package's tutorial preset. Prints the relative loss difference of
each from the yardstick at chosen steps, and plots the three loss curves and the differences.

  python scripts/compare_tutorial.py --steps 100 --max_dim 64 --plot assets/tutorial_fidelity.png \
      --network vgg16 --weights ../shared/weights/vgg16_imagenet_notop.h5
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tutorial re-statement the tests use

FLAGS = flags.FLAGS
flags.DEFINE_string("content", str(REPO.parent / "shared/images/content/tubingen.jpg"), "Content picture.")
flags.DEFINE_string("style", str(REPO.parent / "shared/images/style/starry_night.jpg"), "Style picture.")
flags.DEFINE_string("weights", "random", "Weights as for --weights of the CLI.")
flags.DEFINE_enum("network", "vgg19", ["vgg19", "vgg16"], "The network of both sides.")
flags.DEFINE_integer("max_dim", 64, "Longest side (the tutorial's is 512).")
flags.DEFINE_integer("steps", 100, "Steps to run each implementation.")
flags.DEFINE_string("plot", "", "Save a matplotlib figure of the curves here (PNG).")
flags.DEFINE_string("json", "", "Save the per-step losses here.")


def main(argv):
    del argv
    import numpy as np

    from conftest import write_official_layout
    from style_transfer.optimize import api
    from style_transfer.core import vgg
    from style_transfer.core.config import TUTORIAL
    from tutorial_reference import TutorialRun

    with tempfile.TemporaryDirectory() as directory:
        # The tutorial loads its weights through Keras; give both sides the same file.
        weights_path = write_official_layout(vgg.build_vgg(FLAGS.weights, FLAGS.network),
                                             Path(directory) / f"{FLAGS.network}.h5")
        runs = {
            "tutorial (tf.function)": TutorialRun(FLAGS.content, FLAGS.style, weights_path, FLAGS.max_dim,
                                                  network=FLAGS.network).run(FLAGS.steps),
            "tutorial (eager)": TutorialRun(FLAGS.content, FLAGS.style, weights_path, FLAGS.max_dim,
                                            compiled=False, network=FLAGS.network).run(FLAGS.steps),
            "style_transfer --preset tutorial": api.stylize(
                FLAGS.content, FLAGS.style, TUTORIAL.replace(max_dim=FLAGS.max_dim, steps=FLAGS.steps,
                                                             weights=str(weights_path),
                                                             network=FLAGS.network)).losses["total"],
        }
    reference = np.asarray(runs["tutorial (tf.function)"])
    drift = {name: np.abs(np.asarray(losses) - reference) / reference for name, losses in runs.items()}
    checkpoints = sorted({s for s in (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000) if s <= FLAGS.steps} | {FLAGS.steps})
    print(f"Relative loss difference from the tutorial's compiled code, {FLAGS.max_dim} px, {FLAGS.network} with "
          f"{FLAGS.weights} weights")
    print(f"{'step':>6} " + " ".join(f"{name:>34}" for name in list(runs)[1:]))
    for step in checkpoints:
        print(f"{step:>6} " + " ".join(f"{drift[name][step - 1]:>34.1e}" for name in list(runs)[1:]))
    print(f"loss from {reference[0]:.6g} at step 1 to {reference[-1]:.6g} at step {FLAGS.steps}")
    if FLAGS.json:
        Path(FLAGS.json).write_text(json.dumps({name: list(map(float, losses)) for name, losses in runs.items()}))
    if FLAGS.plot:
        plot(runs, drift, Path(FLAGS.plot))
        print(f"Plot written to {FLAGS.plot}")


def plot(runs, drift, path: Path) -> None:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (curves, differences) = plt.subplots(1, 2, figsize=(11, 4))
    colours = dict(zip(runs, ("tab:blue", "tab:orange", "tab:green")))  # one colour per run in both panels
    for name, losses in runs.items():
        curves.plot(range(1, len(losses) + 1), losses, label=name, linewidth=1, color=colours[name])
    curves.set(xlabel="step", ylabel="tutorial objective", yscale="log",
               title=f"Loss curves, {FLAGS.max_dim} px, {FLAGS.network} (weights {Path(FLAGS.weights).name})")
    curves.legend()
    for name in list(runs)[1:]:
        # Clamped at 1e-9 so the exact agreement of step 1 shows on the log scale.
        differences.plot(range(1, len(drift[name]) + 1), np.maximum(drift[name], 1e-9), label=name, linewidth=1,
                         color=colours[name])
    differences.set(xlabel="step", ylabel="relative difference", yscale="log",
                    title="Difference from the tutorial's compiled code")
    differences.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    app.run(main)
