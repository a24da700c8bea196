"""Turns the pictures a run saved with --save_every into an animated GIF or WebP of the optimisation.

  style-transfer --content a.jpg --style b.jpg --save_every 10 --output out.png
  python scripts/make_animation.py out.png_run --content a.jpg --output out.gif

Frames are step_*.png in step order; --content puts the starting picture first (resized to the frames).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from style_transfer.core import image_io
from style_transfer.core.errors import StyleTransferError


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"must be in (0, 1000], got {text}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("frames", type=Path, help="directory of step_NNNNNN.png pictures (<output>_run)")
    parser.add_argument("--output", type=Path, required=True, help="animation to write (.gif or .webp)")
    parser.add_argument("--content", type=Path, help="picture to show first, before step 1")
    parser.add_argument("--fps", type=_positive, default=10, help="frames per second (default 10)")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    args = parser.parse_args(argv)
    try:
        paths = sorted(args.frames.glob("step_*.png"))
        if not paths:
            raise image_io.ImageError(f"{args.frames}: no step_*.png pictures (run with --save_every N)")
        frames = ([image_io.load_image(args.content)] if args.content else []) + [image_io.load_image(p) for p in paths]
        written = image_io.save_animation(frames, args.output, frame_ms=round(1000 / args.fps),
                                          overwrite=args.overwrite)
    except StyleTransferError as error:
        print(f"make_animation: error: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {written} ({len(frames)} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
