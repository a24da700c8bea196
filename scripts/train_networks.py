"""Trains the fast networks the README shows, with real ImageNet VGG16 features, through the project's own commands.

  python scripts/train_networks.py                 # train (or resume) every network below into models/
  python scripts/train_networks.py --steps 600     # a shorter run, e.g. to try a setting
  python scripts/train_networks.py --figure assets/fast/loss_curves.png   # then draw their loss curves

Each network is one `style-transfer-train` run (the CLI, in a subprocess) on the 23 photographs of
../shared/images/photos, with the paintings of ../shared/images/style as styles and the VGG16 weights file
../shared/weights/vgg16_imagenet_notop.h5, all read by relative path and never copied. The four photographs of
../shared/images/content are held out: they judge the networks (scripts/judge_networks.py) and are never
trained on. Networks are megabytes each and are not committed; this script remakes them. A run interrupted
(Ctrl-C) keeps its checkpoint, and running the script again resumes it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_pictures import FEATURES, IMAGES, REPO  # noqa: E402  (the pictures' inputs and features)

MODELS = REPO / "models"
# name: (styles, flags beyond the defaults)
NETWORKS = {
    "three_styles": (["starry_night", "the_scream", "woman-with-hat-matisse"],
                     ["--steps", "1200", "--checkpoint_every", "100", "--sample_every", "100"]),
}
# Short single-style runs that chose the training defaults (docs: the tuning table); only by --only NAME.
_SHORT = ["--steps", "150", "--checkpoint_every", "50", "--sample_every", "50"]
TUNING = {
    **{f"tune_starry_lr{rate}": (["starry_night"], [*_SHORT, "--learning_rate", rate]) for rate in ("1e-3", "1e-2")},
    "tune_starry_residual": (["starry_night"], [*_SHORT, "--residual_output"]),
    "tune_starry_filters16": (["starry_night"], [*_SHORT, "--filters", "16"]),
    # Settings tried on a cheaper proxy (docs/fast.md: "Settings, on a cheaper proxy"): 128-pixel crops and a 256-pixel
    # painting (the same scale ratio as the defaults), 300 steps of 4 crops or as many crops in batches of 1,
    # judged with --max_dim 128. Longer: `--only proxy128_defaults --steps 600` (and so on) resumes the run.
    **{f"proxy128_{name}": (["starry_night"], ["--steps", str(steps), "--checkpoint_every", "100", "--sample_every",
                                               "100", "--image_size", "128", "--style_size", "256", *flags])
       for name, steps, flags in (
           ("defaults", 300, []),
           ("content_weight_4x", 300, ["--content_weight", "40000"]),
           ("content_block2", 300, ["--content_layers", "block2_conv2:1,block5_conv2:1", "--content_weight", "20000"]),
           ("content_block3", 300, ["--content_layers", "block3_conv3:1,block5_conv2:1", "--content_weight", "20000"]),
           ("content_only", 100, ["--style_weight", "0", "--tv_weight", "0"]),
           ("residual_output", 300, ["--residual_output"]),
           ("residual_output_lr1e-4", 300, ["--residual_output", "--learning_rate", "1e-4"]),
           ("batch_1", 1200, ["--batch_size", "1"]),
           ("defaults_seed1", 300, ["--seed", "1"]),
           ("batch_1_seed1", 1200, ["--batch_size", "1", "--seed", "1"]),
           ("filters_32", 300, ["--filters", "32"]))},
    # The stability loss for video (docs/video.md): the same short run without and with it, on smaller crops.
    **{f"stability_starry_{weight}": (["starry_night"], ["--steps", "200", "--checkpoint_every", "100",
                                                        "--sample_every", "100", "--image_size", "128",
                                                        "--style_size", "256", "--temporal_weight", weight])
       for weight in ("0", "1e7")},
}


def train(name: str, styles: list[str], extra: list[str], steps: int | None) -> None:
    model_dir = MODELS / name
    resume = ["--resume"] if list((model_dir / "checkpoints").glob("ckpt-*.index")) else []
    command = [sys.executable, "-m", "style_transfer.train_fast", *FEATURES,
               "--style", ",".join(str(IMAGES / "style" / f"{style}.jpg") for style in styles),
               "--data", str(IMAGES / "photos"), "--model_dir", str(model_dir), "--tflite",
               *extra, *([f"--steps={steps}"] if steps else []), *resume]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def loss_figure(names: list[str], path: Path) -> None:
    """Each network's loss terms (the mean over its batch) against the step, read from its TensorBoard logs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorflow import make_ndarray

    figure = Figure(figsize=(6 * len(names), 4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    for column, name in enumerate(names):
        events = EventAccumulator(str(MODELS / name / "logs"), size_guidance={"tensors": 0}).Reload()
        axes = figure.add_subplot(1, len(names), column + 1)
        for term, colour in (("total", "black"), ("content", "tab:blue"), ("style", "tab:orange"), ("tv", "tab:green")):
            points = events.Tensors(f"loss/{term}")
            axes.plot([point.step for point in points], [float(make_ndarray(point.tensor_proto)) for point in points],
                      label=term, color=colour, linewidth=1.2)
        axes.set(yscale="log", xlabel="step (batch of 4 crops)", ylabel="loss (weighted, mean over the batch)",
                 title=f"{name}: {', '.join({**NETWORKS, **TUNING}[name][0])}")
        axes.title.set_fontsize(9)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(loc="upper right")
    figure.suptitle("Training losses on VGG16 ImageNet features (--network vgg16)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(NETWORKS), help="comma-separated networks to train")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the networks' own)")
    parser.add_argument("--figure", type=Path, help="instead of training, draw the loss curves into this PNG")
    args = parser.parse_args()
    names = args.only.split(",")
    if args.figure:
        loss_figure(names, args.figure)
        return
    for name in names:
        styles, extra = {**NETWORKS, **TUNING}[name]
        train(name, styles, extra, args.steps)


if __name__ == "__main__":
    main()
