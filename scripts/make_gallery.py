"""Renders a gallery: one row per content x style pair, one column per value of a control, in one PNG.

  python scripts/make_gallery.py --content photo.jpg --style a.jpg --style b.jpg,c.jpg \
      --control preserve_colors=none,luminance,histogram --set max_dim=256 --set steps=200 \
      --output gallery.png

--control NAME=V1|V2 also works (use | when the values contain commas, e.g. style_blend_weights=1,3|3,1).
Each row starts with its content and style(s); every cell is a `stylize` run with the control set to that
column's value and the --set settings (any StyleConfig field; the preset's for the rest). Cells use one
network per pooling, built once.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from style_transfer.core.errors import StyleTransferError


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def control_values(value: str) -> list[str]:
    """"a|b" or "a,b" -> ["a", "b"]; | wins, so values may contain commas."""
    return [part.strip() for part in value.split("|" if "|" in value else ",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content", action="append", required=True, help="content picture (repeat for more rows)")
    parser.add_argument("--style", action="append", required=True,
                        help="style picture(s) A or A,B (repeat for more rows)")
    parser.add_argument("--control", type=_assignment, required=True,
                        help="the setting each column varies: NAME=V1,V2,... (or V1|V2|...)")
    parser.add_argument("--set", type=_assignment, action="append", default=[], dest="settings",
                        help="a fixed setting NAME=VALUE for every cell (repeatable)")
    parser.add_argument("--preset", default="default", help="named settings to start from")
    parser.add_argument("--output", type=Path, required=True, help="the gallery PNG to write")
    parser.add_argument("--title", default="", help="title above the grid")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    args = parser.parse_args(argv)
    try:
        written, cells = render(args)
    except StyleTransferError as error:
        print(f"make_gallery: error: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {written} ({cells} stylised cells)")
    return 0


def render(args) -> tuple[Path, int]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from style_transfer.optimize import api, figures
    from style_transfer.core import config as config_lib, image_io

    image_io.check_output_path(args.output, overwrite=args.overwrite)
    base = config_lib.preset(args.preset).replace(**config_from_text(dict(args.settings)))
    control, values = args.control[0], control_values(args.control[1])
    configs = [base.replace(**config_from_text({control: value})) for value in values]  # all checked up front
    rows = [(content, style) for content in args.content for style in args.style]
    extractors = {}
    figure = Figure(figsize=(2.6 * (len(values) + 2), 2.3 * len(rows) + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(rows), len(values) + 2, squeeze=False)
    for row, (content, style) in enumerate(rows):
        for column, config in enumerate(configs):
            key = (config.network, config.weights, config.pooling, api.requested_precision(config),
                   tuple(config.style_layers), tuple(config.content_layers))
            if key not in extractors:
                extractors[key] = api.build_extractor(config)
            result = api.stylize(content, style, config, extractor=extractors[key])
            if column == 0:
                _show(grid[row, 0], result.content_image, Path(content).stem)
                _show(grid[row, 1], figures.side_by_side(result.style_images),
                      " + ".join(Path(part).stem for part in api.style_sources(style)))
            _show(grid[row, column + 2], result.image, f"{control}={values[column] or '(none)'}")
    settings = ", ".join(f"{name} {value}" for name, value in args.settings)
    title = args.title or (f"{control}: {', '.join(v or '(none)' for v in values)} "
                           f"({settings or f'preset {args.preset}'})")
    figure.suptitle(textwrap.fill(title, width=int(22 * (len(values) + 2))))  # ~22 characters per column
    written = image_io.save_image(figures.figure_to_image(figure), args.output, overwrite=args.overwrite)
    return written, len(rows) * len(values)


def config_from_text(settings: dict[str, str]) -> dict:
    """{field: text} -> {field: value of the field's type}, as the CLI parses flags (ConfigError if bad)."""
    import dataclasses

    from style_transfer.core.config import StyleConfig
    from style_transfer.core.errors import ConfigError

    types = {field.name: field.type for field in dataclasses.fields(StyleConfig)}
    values = {}
    for name, text in settings.items():
        if name not in types:
            raise ConfigError(name, "no such setting")
        try:
            values[name] = {"int": int, "float": float}.get(types[name], str)(text)
        except ValueError:
            raise ConfigError(name, f"expected {types[name]}, got {text!r}") from None
    return values


def _show(axes, image, title: str) -> None:
    axes.imshow(image[0].clip(0, 1))
    axes.set_title(title, fontsize=9)
    axes.axis("off")


if __name__ == "__main__":
    sys.exit(main())
