"""Judges settings of the optimiser on real features: the tutorial's objective of the saved picture and its flat blocks.

  python scripts/judge_settings.py --run base: --run smooth:tv_smoothing=0.03 --run lr:learning_rate=0.03,steps=300
  python scripts/judge_settings.py --run tutorial:preset=tutorial --max_dim 256 --json judged.jsonl

Each --run NAME:SETTING=VALUE,... is one `stylize` call: the defaults (or preset=tutorial's settings, with the
defaults' decoding and resizing so that both see the same pixels) with those settings changed, on VGG16 with
the ImageNet weights in ../shared/weights. Its result is saved as an 8-bit PNG, read back, and judged by the
tutorial's objective (its loss weights and L1 total variation) on the same network, and by the fraction of
neighbouring pixel pairs that are identical (artefacts.flat_pair_fraction). README, Performance, shows a table
made this way. Times are printed but depend on what else the machine is doing; bench.py --quality measures
time to quality.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, help="NAME:SETTING=VALUE,... (repeatable)")
    parser.add_argument("--content", default=str(SHARED / "images/content/tubingen.jpg"))
    parser.add_argument("--style", default=str(SHARED / "images/style/starry_night.jpg"))
    parser.add_argument("--weights", default=str(SHARED / "weights/vgg16_imagenet_notop.h5"))
    parser.add_argument("--max_dim", type=int, default=256)
    parser.add_argument("--json", type=Path, help="also append each run's record to this file (JSON lines)")
    args = parser.parse_args()

    from make_gallery import config_from_text  # the CLI's parsing of NAME=VALUE settings
    from style_transfer.optimize import api
    from style_transfer.core import artefacts, image_io
    from style_transfer.core.config import DEFAULT, TUTORIAL
    from style_transfer.optimize.optimization import StyleOptimizer

    base = DEFAULT.replace(network="vgg16", weights=args.weights, max_dim=args.max_dim)
    # The tutorial's objective, on the pixels the defaults see (their decoding and resizing).
    judge = TUTORIAL.replace(network="vgg16", weights=args.weights, max_dim=args.max_dim,
                             resize=DEFAULT.resize, jpeg_dct=DEFAULT.jpeg_dct)
    extractor = api.build_extractor(base)
    judge_extractor = api.build_extractor(judge)  # float32, whatever 'auto' means for the runs
    for spec in args.run:
        name, _, text = spec.partition(":")
        settings = dict(setting.split("=", 1) for setting in text.split(",") if setting)
        start = judge if settings.pop("preset", "default") == "tutorial" else base
        config = start.replace(**config_from_text(settings))
        if api.requested_precision(config) != api.requested_precision(base) or config.pooling != base.pooling:
            raise SystemExit(f"judge_settings: --run {name}: precision and pooling are the defaults' here")
        began = time.perf_counter()
        result = api.stylize(args.content, args.style, config, extractor=extractor)
        seconds = time.perf_counter() - began
        with tempfile.TemporaryDirectory() as directory:
            saved = image_io.load_image(result.save(Path(directory) / "result.png"))
        terms, _ = StyleOptimizer(judge_extractor, result.content_image, result.style_images, saved,
                                  judge).loss_and_gradient(saved)
        record = {"name": name, "settings": text, "seconds": round(seconds, 1),
                  **{f"tutorial_{term}": float(terms[term]) for term in ("total", "style", "content", "tv")},
                  "flat_pairs": artefacts.flat_pair_fraction(saved)}
        print(json.dumps(record), flush=True)
        if args.json:
            with open(args.json, "a") as stream:
                stream.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
