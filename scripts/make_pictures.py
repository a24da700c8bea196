"""Remakes every picture the README shows, with real ImageNet VGG16 features, through the project's own commands.

  python scripts/make_pictures.py                       # everything, into assets/
  python scripts/make_pictures.py --only examples,hero  # some parts: examples, hero, flat_blocks,
                                                        # galleries, animation

The inputs are the photographs and paintings in ../shared/images and the VGG16 weights file
../shared/weights/vgg16_imagenet_notop.h5, read by relative path and never copied: only results go into
assets/ (assets/CREDITS.md names the inputs' sources and licences). VGG19's ImageNet weights cannot be
downloaded where these pictures are made, so every run uses `--network vgg16`, and every caption says so.
The results are `style-transfer` runs (the CLI, in a subprocess) and `scripts/make_gallery.py` grids with the
default settings unless a caption says otherwise; the hero and flat-block figures are put together here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IMAGES = SHARED / "images"
WEIGHTS = SHARED / "weights" / "vgg16_imagenet_notop.h5"
ASSETS = REPO / "assets"
FEATURES = ["--network", "vgg16", "--weights", str(WEIGHTS)]
CAPTION = "VGG16 ImageNet features (--network vgg16)"
# Photograph and painting of each example, the first also the README's first picture.
PAIRS = [("content/tubingen.jpg", "style/starry_night.jpg"),
         ("content/golden_gate.jpg", "style/shipwreck.jpg"),
         ("content/hoovertowernight.jpg", "style/woman-with-hat-matisse.jpg")]
EXAMPLE_SIZE = 512
GALLERY_SIZE = 192
PARTS = ("examples", "hero", "flat_blocks", "animation", "galleries")


def example_path(content: str, style: str) -> Path:
    return ASSETS / "examples" / f"{Path(content).stem}_{Path(style).stem}.png"


def style_transfer(*arguments: str) -> None:
    """One `style-transfer` run, as a user types it; a failure stops everything."""
    command = [sys.executable, "-m", "style_transfer.run", *FEATURES, "--overwrite", "--noprogress", *arguments]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def make_examples() -> None:
    for content, style in PAIRS:
        style_transfer("--content", str(IMAGES / content), "--style", str(IMAGES / style),
                       "--max_dim", str(EXAMPLE_SIZE), "--output", str(example_path(content, style)))


def make_hero() -> None:
    """Photograph | painting | result, one row per example pair: the README's first picture."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from style_transfer.optimize import figures
    from style_transfer.core import image_io, preprocessing

    figure = Figure(figsize=(12, 3.0 * len(PAIRS) + 0.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(PAIRS), 3, squeeze=False, width_ratios=[1, 1, 1])
    for row, (content, style) in enumerate(PAIRS):
        pictures = [image_io.load_image(IMAGES / content), image_io.load_image(IMAGES / style),
                    image_io.load_image(example_path(content, style))]
        titles = [Path(content).name, Path(style).name, f"result, {EXAMPLE_SIZE} px, defaults"]
        for column, (picture, title) in enumerate(zip(pictures, titles)):
            axes = grid[row, column]
            axes.imshow(preprocessing.resize_to_max_dim(picture, 512).numpy()[0].clip(0, 1))
            axes.set_title(title, fontsize=10)
            axes.axis("off")
    figure.suptitle(f"style-transfer with its default settings, {CAPTION}")
    written = image_io.save_image(figures.figure_to_image(figure), ASSETS / "hero.png", overwrite=True)
    print(f"Wrote {written}")


def make_flat_blocks() -> None:
    """The same run with the tutorial's L1 total variation and with the default smoothed one, zoomed 4x."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from style_transfer.core import artefacts, image_io
    from style_transfer.optimize import figures

    content, style = PAIRS[0]
    runs = {}
    for smoothing in ("0", None):
        output = REPO / "build" / "pictures" / f"flat_blocks_{smoothing or 'default'}.png"
        style_transfer("--content", str(IMAGES / content), "--style", str(IMAGES / style), "--max_dim",
                       str(GALLERY_SIZE), "--nosummary", "--output", str(output),
                       *(["--tv_smoothing", smoothing] if smoothing else []))
        runs[smoothing] = image_io.load_image(output)
    figure = Figure(figsize=(12, 5.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(1, 2)
    for axes, (smoothing, image) in zip(grid, runs.items()):
        crop = image[0, 30:102, 45:141]  # the towers and roofs, where the blocks showed
        axes.imshow(crop, interpolation="nearest")
        name = "--tv_smoothing 0 (the tutorial's L1 total variation)" if smoothing else "the defaults"
        axes.set_title(f"{name}\n{artefacts.flat_pair_fraction(image):.1%} of neighbouring pixels identical",
                       fontsize=10)
        axes.axis("off")
    figure.suptitle(f"{Path(content).name} x {Path(style).name}, {GALLERY_SIZE} px, a detail enlarged, {CAPTION}")
    written = image_io.save_image(figures.figure_to_image(figure), ASSETS / "gallery" / "flat_blocks.png",
                                  overwrite=True)
    print(f"Wrote {written}")


def galleries() -> dict[str, list[str]]:
    """Each control's gallery: its make_gallery.py arguments after the common ones."""
    photo = str(IMAGES / "content/golden_gate.jpg")
    tubingen = str(IMAGES / "content/tubingen.jpg")
    starry, scream = str(IMAGES / "style/starry_night.jpg"), str(IMAGES / "style/the_scream.jpg")
    return {
        "preserve_colors": ["--content", photo, "--style", starry, "--control", "preserve_colors=none,luminance,histogram"],
        "style_scale": ["--content", tubingen, "--style", starry, "--control", "style_scale=0.5,1,2"],
        "style_blend_weights": ["--content", photo, "--style", f"{starry},{scream}",
                                "--control", "style_blend_weights=3,1|1,1|1,3"],
        "mask": ["--content", photo, "--style", f"{starry},{scream}",
                 "--control", f"mask=|{ASSETS / 'masks' / 'top_half.png'}"],
        "pooling": ["--content", tubingen, "--style", starry, "--control", "pooling=max,avg"],
        "init": ["--content", tubingen, "--style", starry, "--control", "init=content,noise,style"],
        "scales": ["--content", tubingen, "--style", starry, "--control", "scales=1,2"],
    }


def make_mask() -> None:
    """A two-region mask for the golden_gate photograph: black (first style) above, white (second) below."""
    import numpy as np

    from style_transfer.core import image_io

    width, height = image_io.load_image(IMAGES / "content/golden_gate.jpg").shape[2:0:-1]
    mask = np.zeros((1, height, width, 3), np.float32)
    mask[:, height // 2:] = 1.0
    image_io.save_image(mask, ASSETS / "masks" / "top_half.png", overwrite=True)


def make_galleries() -> None:
    make_mask()
    for name, arguments in galleries().items():
        command = [sys.executable, str(REPO / "scripts" / "make_gallery.py"), *arguments,
                   "--set", "network=vgg16", "--set", f"weights={WEIGHTS}",
                   "--set", f"max_dim={GALLERY_SIZE}",
                   "--title", f"--{name}: defaults otherwise, {CAPTION}",
                   "--output", str(ASSETS / "gallery" / f"{name}.png"), "--overwrite"]
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, check=True, cwd=REPO)


def make_animation() -> None:
    from style_transfer.optimize import layout

    content, style = PAIRS[0]
    output = REPO / "build" / "pictures" / "animation.png"
    style_transfer("--content", str(IMAGES / content), "--style", str(IMAGES / style), "--max_dim",
                   str(GALLERY_SIZE), "--save_every", "10", "--nosummary", "--output", str(output))
    command = [sys.executable, str(REPO / "scripts" / "make_animation.py"), str(layout.run_directory(output)),
               "--content", str(IMAGES / content), "--output", str(ASSETS / "examples" / "animation.gif"),
               "--overwrite"]
    subprocess.run(command, check=True, cwd=REPO)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    args = parser.parse_args()
    parts = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if not WEIGHTS.is_file() or not IMAGES.is_dir():
        print(f"make_pictures: error: needs {WEIGHTS} and {IMAGES} beside the repository", file=sys.stderr)
        return 1
    makers = {"examples": make_examples, "hero": make_hero, "flat_blocks": make_flat_blocks,
              "galleries": make_galleries, "animation": make_animation}
    for part in PARTS:
        if part in parts:
            makers[part]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
