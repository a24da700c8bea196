"""Probes what the fast network can learn at all, with pixel losses that need no VGG pass (about 10 steps a second).

  python scripts/probe_fast_network.py teachers                  # the optimiser's results on the training photographs
  python scripts/probe_fast_network.py autoencode --steps 2000   # the network trained to give back the photograph
  python scripts/probe_fast_network.py distil --steps 4000       # ... to give back the optimiser's result
  python scripts/probe_fast_network.py distil --steps 4000 --residual_output

The proxy of docs/fast.md: the 23 photographs of ../shared/images/photos resized to a short side of 128 (as
`style-transfer-train --image_size 128` resizes them), random 128-pixel crops and flips in batches of 4, the
network of `style-transfer-train` (transformer_network, the training defaults unless --filters and
--residual_output say otherwise), Adam at 1e-3 on the mean absolute difference from the target pixels.

- `teachers` runs the optimiser's defaults (VGG16) on each resized photograph, with the painting at 256 pixels
  (as `--style_size 256` trains), into models/probe/teachers/<style>/; `distil` trains on those.
- `autoencode` asks for the photograph itself: a network that cannot give it back cannot keep its
  block5_conv2 features while it paints either.

The network is then judged as scripts/judge_networks.py judges a trained one: on held-out photographs at 128
pixels, by the optimiser's objective, against the optimiser's defaults (cached in models/judge/). One JSON line
per photograph and judging; the network's pictures are saved beside its weights in models/probe/<name>/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from judge_networks import SHARED, objective, optimiser_result, quantised  # noqa: E402

PROBE = Path(__file__).resolve().parents[1] / "models" / "probe"
SIZE = 128  # the proxy's crops; the painting is at twice this


def training_photographs() -> list[Path]:
    return sorted((SHARED / "images" / "photos").glob("*.jpg"))


def resized_photograph(path: Path) -> np.ndarray:
    """[h, w, 3] in [0, 1], 8-bit values: the short side resized to SIZE, antialiased, as the training pipeline
    resizes (which rounds the long side up; this rounds it to the nearest pixel)."""
    import tensorflow as tf

    from style_transfer.core import image_io

    image = image_io.load_image(str(path))[0]
    height, width = image.shape[:2]
    scale = SIZE / min(height, width)
    size = (max(SIZE, round(height * scale)), max(SIZE, round(width * scale)))
    return quantised(tf.image.resize(image, size, antialias=True).numpy())


def make_teachers(style: str, config) -> None:
    from style_transfer.core import image_io
    from style_transfer.optimize import api

    folder = PROBE / "teachers" / style
    folder.mkdir(parents=True, exist_ok=True)
    for path in training_photographs():
        target = folder / f"{path.stem}.png"
        if target.exists():
            continue
        photograph = resized_photograph(path)
        longest = max(photograph.shape[:2])
        began = time.perf_counter()
        result = api.stylize(photograph, str(SHARED / "images" / "style" / f"{style}.jpg"),
                             config.replace(max_dim=longest, style_scale=2 * SIZE / longest))
        image_io.save_image(result.image, target)
        print(f"{path.stem}: {photograph.shape[1]}x{photograph.shape[0]} in {time.perf_counter() - began:.0f} s",
              flush=True)


def pairs(task: str, style: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photograph, target) for every training photograph, each [h, w, 3]."""
    from style_transfer.core import image_io

    result = []
    for path in training_photographs():
        photograph = resized_photograph(path)
        if task == "autoencode":
            result.append((photograph, photograph))
            continue
        teacher = PROBE / "teachers" / style / f"{path.stem}.png"
        if not teacher.exists():
            raise SystemExit(f"{teacher} is missing: run `python scripts/probe_fast_network.py teachers` first")
        result.append((photograph, image_io.load_image(str(teacher))[0]))
    return result


def crops(data, rng: np.random.Generator, batch: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Aligned random SIZE x SIZE crops of photograph and target, each flipped with probability 1/2."""
    inputs, targets = [], []
    for index in rng.integers(len(data), size=batch):
        photograph, target = data[index]
        top = rng.integers(photograph.shape[0] - SIZE + 1)
        left = rng.integers(photograph.shape[1] - SIZE + 1)
        flip = -1 if rng.random() < 0.5 else 1
        inputs.append(photograph[top:top + SIZE, left:left + SIZE][:, ::flip])
        targets.append(target[top:top + SIZE, left:left + SIZE][:, ::flip])
    return np.stack(inputs), np.stack(targets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["teachers", "autoencode", "distil"])
    parser.add_argument("--style", default="starry_night", help="a painting of ../shared/images/style (stem)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--judge_every", type=int, default=1000)
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--residual_output", action="store_true")
    parser.add_argument("--content", default="tubingen,golden_gate", help="held-out photographs (stems)")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from style_transfer.core import image_io
    from style_transfer.core.config import DEFAULT
    from style_transfer.fast.transformer import transformer_network
    from style_transfer.optimize import api

    config = DEFAULT.replace(network="vgg16", weights=str(SHARED / "weights/vgg16_imagenet_notop.h5"))
    if args.task == "teachers":
        make_teachers(args.style, config)
        return 0
    name = f"{args.task}_filters{args.filters}" + ("_residual" if args.residual_output else "")
    folder = PROBE / name
    folder.mkdir(parents=True, exist_ok=True)
    data = pairs(args.task, args.style)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    network = transformer_network(args.filters, styles=1, residual_output=args.residual_output)
    adam = keras.optimizers.Adam(1e-3)

    @tf.function
    def train_step(photographs, targets):
        with tf.GradientTape() as tape:
            outputs = network([photographs, tf.ones([tf.shape(photographs)[0], 1])], training=True)
            loss = tf.reduce_mean(tf.abs(outputs - targets))
        adam.apply_gradients(zip(tape.gradient(loss, network.trainable_variables), network.trainable_variables))
        return loss

    judged = config.replace(max_dim=SIZE, style_scale=2.0)  # as judge_networks.py --max_dim 128 sets it
    extractor = api.build_extractor(judged.replace(precision="float32"))
    style = SHARED / "images" / "style" / f"{args.style}.jpg"

    def judge(step: int, seconds: float) -> None:
        for stem in args.content.split(","):
            _, content_image, style_images, optimised = optimiser_result(
                SHARED / "images" / "content" / f"{stem}.jpg", style, judged)
            painted = quantised(network([content_image, np.ones([1, 1], np.float32)], training=False).numpy())
            image_io.save_image(painted, folder / f"{stem}_step{step}.png", overwrite=True)
            terms = objective(extractor, judged, content_image, style_images, painted)
            reference = objective(extractor, judged, content_image, style_images, optimised)
            record = {"probe": name, "step": step, "train_seconds": round(seconds), "content": stem,
                      "network": terms, "optimiser": reference, "ratio": terms["total"] / reference["total"],
                      "mean_abs_from_photograph": float(np.abs(painted - content_image).mean()),
                      "mean_abs_from_optimiser": float(np.abs(painted - optimised).mean())}
            print(json.dumps(record), flush=True)

    began, losses = time.perf_counter(), []
    for step in range(1, args.steps + 1):
        losses.append(float(train_step(*crops(data, rng))))
        if step % 100 == 0:
            print(f"step {step}: mean absolute difference {np.mean(losses[-100:]):.4f} over the last 100 steps",
                  flush=True)
        if step % args.judge_every == 0 or step == args.steps:
            network.save_weights(str(folder / f"step{step}.weights.h5"))
            judge(step, time.perf_counter() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
