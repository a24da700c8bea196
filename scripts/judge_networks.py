"""Judges trained fast networks on held-out photographs against the optimiser, on real VGG16 features.

  python scripts/judge_networks.py --model models/three_styles
  python scripts/judge_networks.py --model models/three_styles --content tubingen,golden_gate --sheets assets/fast

For every held-out photograph (../shared/images/content, never trained on) and every style of the network:

- the optimiser's result with its default settings (`api.stylize`, VGG16, --max_dim), cached in
  models/judge/ so that judging another network does not run it again;
- the network's result for the same pixels (`export.load`, float32), timed after a first call;
- both saved as 8-bit PNGs, read back and judged by the optimiser's own objective (the default loss weights
  and layers) on those pixels, and by the fraction of identical neighbouring pixel pairs;
- the network's objective at --strength 0, 0.25, 0.5, 0.75 and 1, to show the control is monotone;
- with --baselines, the objective of pictures that do not try to paint (the photograph, the photograph blurred
  by 1 and 2 pixels, flat grey), which puts the network's in scale.

The optimiser sees the style picture at the size the network was trained with, relative to the photograph:
its style_scale is the network's style_size / image_size (a network trained on 256-pixel crops with a
512-pixel painting paints strokes of that scale). Times are CPU seconds of this process (user + system, both
cores), steadier than wall time when the machine is shared. Each record is printed as a JSON line and appended to
--json. With --sheets, the figures the README shows are written there: per style, photograph | network |
optimiser for each photograph, with times; all styles on one photograph; and blends of two styles.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CACHE = REPO / "models" / "judge"
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
CAPTION = "VGG16 ImageNet features (--network vgg16)"


def quantised(image: np.ndarray) -> np.ndarray:
    """What saving as an 8-bit PNG and reading back gives."""
    return np.round(np.clip(image, 0, 1) * 255).astype(np.float32) / 255


def optimiser_result(content: Path, style: Path, config) -> tuple[dict, np.ndarray, list[np.ndarray], np.ndarray]:
    """(record, content pixels, style pixels, 8-bit result) of the optimiser's defaults, from the cache if
    there; the inputs are prepared by a zero-step run, so they are the pixels the optimiser saw."""
    from style_transfer.optimize import api
    from style_transfer.core import image_io

    key = f"{content.stem}_{style.stem}_{config.max_dim}_{config.style_scale:g}"
    path, record_path = CACHE / f"{key}.png", CACHE / f"{key}.json"
    inputs = api.stylize(str(content), str(style), config.replace(steps=0))
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        wall, cpu = time.perf_counter(), time.process_time()
        result = api.stylize(str(content), str(style), config)
        record = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                  "steps": config.steps}
        result.save(path, overwrite=True)
        record_path.write_text(json.dumps(record))
    image = image_io.load_image(str(path))
    return json.loads(record_path.read_text()), inputs.content_image, inputs.style_images, image


def objective(extractor, config, content_image, style_images, image) -> dict[str, float]:
    import tensorflow as tf

    from style_transfer.optimize.optimization import StyleOptimizer

    image = tf.constant(image, tf.float32)
    terms, _ = StyleOptimizer(extractor, tf.constant(content_image), [tf.constant(s) for s in style_images], image,
                              config).loss_and_gradient(image)
    return {term: float(terms[term]) for term in ("total", "content", "style", "tv")}


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    """`image` [1, H, W, 3] blurred by a Gaussian of `sigma` pixels (reflected at the borders)."""
    import tensorflow as tf

    radius = int(3 * sigma)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = np.outer(taps, taps) / taps.sum() ** 2
    padded = tf.pad(image, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
    return tf.nn.depthwise_conv2d(padded, np.tile(kernel[:, :, None, None], (1, 1, 3, 1)).astype(np.float32),
                                  [1, 1, 1, 1], "VALID").numpy()


def baselines(content_image: np.ndarray) -> dict[str, np.ndarray]:
    """Pictures that make no attempt at the style, whose objective puts a network's in scale: the photograph,
    the photograph blurred by 1 and 2 pixels, and a flat mid-grey."""
    return {"photograph": content_image, "blur_1px": blurred(content_image, 1.0),
            "blur_2px": blurred(content_image, 2.0), "grey": np.full_like(content_image, 0.5)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a trained network (style-transfer-train's model_dir)")
    parser.add_argument("--content", default="tubingen,golden_gate,hoovertowernight,brad_pitt",
                        help="held-out photographs in ../shared/images/content, comma-separated stems")
    parser.add_argument("--weights", default=str(SHARED / "weights/vgg16_imagenet_notop.h5"))
    parser.add_argument("--max_dim", type=int, default=256)
    parser.add_argument("--json", type=Path, help="append each record to this file (JSON lines)")
    parser.add_argument("--sheets", type=Path, help="write the README's figures into this folder")
    parser.add_argument("--baselines", action="store_true",
                        help="also judge the photograph, the photograph blurred by 1 and 2 pixels, and flat grey")
    args = parser.parse_args()

    from style_transfer.optimize import api
    from style_transfer.core import artefacts
    from style_transfer.fast import export
    from style_transfer.core.config import DEFAULT

    stylizer = export.load(args.model, "float32")
    trained = stylizer.metadata["config"]
    styles = [Path(style["path"]) for style in stylizer.metadata["styles"]]
    config = DEFAULT.replace(network="vgg16", weights=args.weights, max_dim=args.max_dim,
                             style_scale=trained["style_size"] / trained["image_size"])
    extractor = api.build_extractor(config.replace(precision="float32"))
    judged = {}
    for stem in args.content.split(","):
        content = SHARED / "images" / "content" / f"{stem}.jpg"
        for index, style in enumerate(styles):
            record, content_image, style_images, optimised = optimiser_result(content, style, config)
            stylizer(content_image, index)  # the first call traces
            began, cpu = time.perf_counter(), time.process_time()
            painted = quantised(stylizer(content_image, index))
            seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu
            network_terms = objective(extractor, config, content_image, style_images, painted)
            optimiser_terms = objective(extractor, config, content_image, style_images, optimised)
            by_strength = [objective(extractor, config, content_image, style_images,
                                     quantised(stylizer(content_image, index, strength=strength)))["style"]
                           for strength in STRENGTHS]
            row = {"model": Path(args.model).name, "content": stem, "style": stylizer.style_names[index],
                   "size": list(content_image.shape[1:3]), "network_seconds": round(seconds, 3),
                   "network_cpu_seconds": round(cpu_seconds, 3), "optimiser_seconds": round(record["seconds"], 1),
                   "optimiser_cpu_seconds": round(record["cpu_seconds"], 1), "optimiser_steps": record["steps"],
                   "network": network_terms, "optimiser": optimiser_terms,
                   "ratio": network_terms["total"] / optimiser_terms["total"],
                   "network_flat_pairs": artefacts.flat_pair_fraction(painted),
                   "optimiser_flat_pairs": artefacts.flat_pair_fraction(optimised),
                   "style_loss_by_strength": dict(zip(map(str, STRENGTHS), by_strength))}
            if args.baselines:
                row["baselines"] = {name: objective(extractor, config, content_image, style_images, quantised(image))
                                    for name, image in baselines(content_image).items()}
            print(json.dumps(row), flush=True)
            if args.json:
                with open(args.json, "a") as stream:
                    stream.write(json.dumps(row) + "\n")
            judged[stem, index] = (content_image, painted, optimised, row)
    ratios = [row["ratio"] for *_, row in judged.values()]
    print(f"network / optimiser objective: median {np.median(ratios):.3f}, worst {max(ratios):.3f} over "
          f"{len(ratios)} pairs")
    if args.sheets:
        write_sheets(args.sheets, stylizer, judged)
    return 0


def write_sheets(folder: Path, stylizer, judged: dict) -> None:
    """Per style: photograph | network | optimiser rows; all styles on the first photograph; blends."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    stems = list(dict.fromkeys(stem for stem, _ in judged))

    def grid(rows: list[list[tuple[str, np.ndarray]]], title: str, path: Path) -> None:
        height, width = rows[0][0][1].shape[1:3]
        columns = len(rows[0])
        scale = max(1.0, 7.5 / (columns * width / 100))  # small pictures are drawn larger, for the titles
        figure = Figure(figsize=(scale * columns * width / 100 + 0.4, len(rows) * (scale * height / 100 + 0.45) + 0.6),
                        dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        for r, row in enumerate(rows):
            for c, (label, image) in enumerate(row):
                axes = figure.add_subplot(len(rows), columns, r * columns + c + 1)
                axes.imshow(np.clip(image[0], 0, 1), interpolation="nearest")
                axes.set_title(label, fontsize=9)
                axes.axis("off")
        figure.suptitle(textwrap.fill(title, 110), fontsize=10)
        figure.savefig(path)
        print(f"wrote {path}")

    for index, name in enumerate(stylizer.style_names):
        rows = []
        for stem in stems:
            content_image, painted, optimised, row = judged[stem, index]
            rows.append([(stem, content_image),
                         (f"network: {row['network_cpu_seconds']:.2f} CPU s, objective {row['ratio']:.2f}x", painted),
                         (f"optimiser: {row['optimiser_cpu_seconds']:.0f} CPU s, {row['optimiser_steps']} steps",
                          optimised)])
        grid(rows, f"{name}: fast network against the optimiser, held-out photographs; {CAPTION}",
             folder / f"{name}.png")
    content_image = judged[stems[0], 0][0]
    grid([[(stems[0], content_image)] + [(name, judged[stems[0], index][1])
                                         for index, name in enumerate(stylizer.style_names)]],
         f"One network, {stylizer.styles} styles; {CAPTION}", folder / "all_styles.png")
    if stylizer.styles > 1:
        blends = [(f"{stylizer.style_names[0]} {1 - w:g} / {stylizer.style_names[1]} {w:g}",
                   quantised(stylizer(content_image, {0: 1 - w, 1: w}))) for w in (0.0, 0.25, 0.5, 0.75, 1.0)]
        grid([blends], f"Blends of two styles (--style_mix); {CAPTION}", folder / "blends.png")


if __name__ == "__main__":
    sys.exit(main())
