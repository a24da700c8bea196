"""Draws the project's own example pictures into assets/: a content scene and three style textures.

Everything is procedural (NumPy and Pillow, fixed seeds), so the repository holds no third-party images and a
fresh clone can run the README's command without bringing pictures. Re-running reproduces the same files.

  python scripts/make_assets.py            # writes assets/content/lakeside.png, assets/style/*.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from style_transfer.core import image_io

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def _to_contract(rgb: np.ndarray) -> np.ndarray:
    """[H, W, 3] floats in [0, 1] (or uint8) -> the package's [1, H, W, 3] float32 contract."""
    return image_io.load_image(np.clip(rgb, 0, 1).astype(np.float32) if rgb.dtype != np.uint8 else rgb)


def _ridge(width: int, rng: np.random.Generator, octaves: int = 6) -> np.ndarray:
    """A 1-D fractal profile in [0, 1]: sums of sines of rising frequency and falling amplitude."""
    x = np.linspace(0, 1, width)
    profile = sum(rng.uniform(0.5, 1) / 2 ** octave * np.sin(2 * np.pi * (2 ** octave * x + rng.uniform()))
                  for octave in range(octaves))
    return (profile - profile.min()) / np.ptp(profile)


def lakeside(width: int = 640, height: int = 480, seed: int = 1, *, sky_mask: bool = False) -> np.ndarray:
    """A photograph-like scene: evening sky and sun, two mountain ranges, a village and trees, a lake.

    sky_mask=True draws its mask instead: the sky above the far mountains white, everything else black.
    """
    rng = np.random.default_rng(seed)
    horizon = int(height * 0.62)
    rows = np.linspace(0, 1, horizon)[:, None, None]
    sky = (1 - rows) * np.array([0.16, 0.32, 0.62]) + rows * np.array([0.98, 0.74, 0.50])
    scene = np.zeros((height, width, 3))
    scene[:horizon] = sky
    yy, xx = np.mgrid[0:horizon, 0:width]
    sun_distance = np.hypot(xx - width * 0.7, yy - horizon * 0.55) / width
    scene[:horizon] += (np.exp(-(sun_distance / 0.05) ** 2) * 0.8 + np.exp(-(sun_distance / 0.25) ** 2) * 0.15)[..., None] * np.array([1, 0.85, 0.6])
    for colour, base, amplitude in [((0.36, 0.40, 0.55), 0.30, 0.22), ((0.17, 0.30, 0.20), 0.12, 0.14)]:
        ridge = horizon - (base + amplitude * _ridge(width, rng)) * horizon
        mask = yy >= ridge[None, :]
        if sky_mask:  # the far range is drawn first: above it is sky
            sky = np.zeros((height, width))
            sky[:horizon][~mask] = 1
            return _to_contract(np.repeat(sky[..., None], 3, axis=-1))
        shade = 1 - 0.25 * (yy - ridge[None, :]).clip(0) / horizon
        scene[:horizon][mask] = (np.array(colour) * shade[..., None])[mask]
    picture = Image.fromarray((scene.clip(0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for _ in range(14):  # trees on the shore
        x, size = rng.uniform(0, width), rng.uniform(14, 30)
        draw.polygon([(x, horizon - 2.6 * size), (x - size * 0.6, horizon), (x + size * 0.6, horizon)], fill=(20, 48, 28))
    for index in range(7):  # a village: walls, roofs, lit windows
        x = width * 0.12 + index * rng.uniform(34, 48)
        w, h = rng.uniform(26, 40), rng.uniform(22, 40)
        wall = tuple(int(v) for v in rng.choice([(222, 205, 170), (200, 120, 90), (235, 230, 215), (180, 160, 120)]))
        draw.rectangle([x, horizon - h, x + w, horizon], fill=wall, outline=(60, 45, 35))
        draw.polygon([(x - 4, horizon - h), (x + w / 2, horizon - h - w * 0.55), (x + w + 4, horizon - h)], fill=(120, 40, 30))
        for wx in (x + w * 0.2, x + w * 0.6):
            draw.rectangle([wx, horizon - h * 0.7, wx + w * 0.18, horizon - h * 0.45], fill=(250, 220, 120))
    scene = np.asarray(picture).astype(np.float64) / 255
    # The lake mirrors the scene, darker and bluer, broken by horizontal ripples.
    depth_rows = height - horizon
    source_rows = horizon - 1 - np.arange(depth_rows)
    ripple = (3 * np.sin(np.arange(depth_rows)[:, None] * 0.9 + np.arange(width)[None, :] * 0.05)).astype(int)
    columns = (np.arange(width)[None, :] + ripple).clip(0, width - 1)
    reflection = scene[source_rows[:, None].clip(0), columns]
    scene[horizon:] = reflection * 0.62 + np.array([0.05, 0.12, 0.22])
    scene += rng.normal(0, 0.012, scene.shape)  # sensor noise, so it reads as a photograph
    blurred = Image.fromarray((scene.clip(0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))
    return _to_contract(np.asarray(blurred))


def swirls(size: int = 512, seed: int = 2) -> np.ndarray:
    """Thick brush strokes following a field of vortices, in night blues and star yellows."""
    rng = np.random.default_rng(seed)
    picture = Image.new("RGB", (size, size), (24, 40, 92))
    draw = ImageDraw.Draw(picture)
    centres = rng.uniform(0, size, (6, 2))
    spins = rng.choice([-1, 1], 6) * rng.uniform(0.6, 1.4, 6)
    palette = [(28, 60, 140), (52, 96, 180), (90, 140, 210), (230, 210, 90), (245, 240, 200), (20, 30, 70)]
    weights = np.array([0.3, 0.25, 0.2, 0.1, 0.05, 0.1])
    for _ in range(5000):
        x, y = rng.uniform(0, size, 2)
        colour = palette[rng.choice(len(palette), p=weights)]
        points = [(x, y)]
        for _ in range(8):
            dx, dy = 0.0, 0.0
            for (cx, cy), spin in zip(centres, spins):
                rx, ry = x - cx, y - cy
                r2 = rx * rx + ry * ry + 400
                dx, dy = dx - spin * ry / r2 * 4000, dy + spin * rx / r2 * 4000
            norm = np.hypot(dx, dy) + 1e-9
            x, y = x + 4 * dx / norm, y + 4 * dy / norm
            points.append((x, y))
        draw.line(points, fill=colour, width=int(rng.integers(3, 7)), joint="curve")
    return _to_contract(np.asarray(picture.filter(ImageFilter.SMOOTH)))


def mosaic(size: int = 512, seed: int = 3, cells: int = 180) -> np.ndarray:
    """Stained glass: Voronoi cells of saturated colour separated by dark lead lines."""
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, size, (cells, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    distances = np.hypot(xx[..., None] - seeds[:, 0], yy[..., None] - seeds[:, 1])
    nearest = np.sort(distances, axis=-1)[..., :2]
    owner = distances.argmin(axis=-1)
    palette = np.array([(200, 30, 40), (240, 180, 30), (30, 90, 170), (40, 140, 80), (120, 50, 140), (235, 235, 220)]) / 255
    colours = palette[rng.integers(0, len(palette), cells)] * rng.uniform(0.75, 1.1, (cells, 1))
    glass = colours[owner] * (1 - 0.25 * (nearest[..., 0] / (nearest[..., 1] + 1e-9))[..., None])
    lead = (nearest[..., 1] - nearest[..., 0]) < 3.0
    glass[lead] = (0.08, 0.07, 0.06)
    return _to_contract(glass)


def waves(width: int = 640, height: int = 448, seed: int = 4) -> np.ndarray:
    """Layered waves in Prussian blue and cream with white crests, like a woodblock print."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    picture = np.empty((height, width, 3))
    picture[:] = (0.93, 0.88, 0.76)  # paper
    for band in range(9):
        base = height * (0.15 + band * 0.1)
        amplitude, frequency, phase = rng.uniform(8, 26), rng.uniform(0.012, 0.03), rng.uniform(0, 6.3)
        crest = base + amplitude * np.sin(xx * frequency + phase) + 0.4 * amplitude * np.sin(xx * frequency * 3.1 + phase)
        below = yy > crest
        shade = np.array((0.07, 0.18, 0.38)) * (1 + 0.5 * band / 9) + 0.05 * np.sin(yy * 0.35)[..., None]
        picture[below] = shade[below]
        foam = np.abs(yy - crest) < 2.5 + 2 * (np.sin(xx * 0.2 + band) > 0.6)
        picture[foam] = (0.97, 0.97, 0.95)
    return _to_contract(picture)


PICTURES = {
    "content/lakeside.png": lakeside,
    "style/swirls.png": swirls,
    "style/mosaic.png": mosaic,
    "style/waves.png": waves,
    "masks/lakeside_sky.png": lambda: lakeside(sky_mask=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ASSETS, help="directory to write into (default: assets/)")
    args = parser.parse_args()
    for relative, draw in PICTURES.items():
        path = image_io.save_image(draw(), args.out / relative, overwrite=True)
        print(f"Wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
