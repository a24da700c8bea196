"""Paints a picture in style-transfer-ui through a real browser and saves a screenshot of the page.

  python scripts/make_ui_screenshot.py --network vgg16 --weights ../shared/weights/vgg16_imagenet_notop.h5 \
      --photo ../shared/images/content/tubingen.jpg --painting ../shared/images/style/starry_night.jpg \
      --size 256 --steps 100 --output assets/ui.webp

Starts the app on a free port, opens it in headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright), uploads the pictures, sets the size and steps, presses Start, waits for the result and saves the
screenshot (a .webp output is converted from Chromium's PNG, at quality 90). tests/test_ui.py drives the
browser with `paint_in_browser` too.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_painting(page, url: str, photo: Path, paintings: list[Path], *, size: int, steps: int) -> None:
    """In the Playwright `page`: opens `url`, uploads the pictures, sets the size and steps, presses Start."""
    page.goto(url)
    page.locator("#photo input[type=file]").set_input_files(str(photo))
    page.locator("#paintings input[type=file]").set_input_files([str(path) for path in paintings])
    for element, value in (("#size", size), ("#steps", steps)):
        number = page.locator(f"{element} input[type=number]")
        number.fill(str(value))
        number.press("Enter")
    page.locator("#preview img").first.wait_for(timeout=60_000)  # the uploads are in
    page.locator("#start").click()


def paint_in_browser(url: str, photo: Path, paintings: list[Path], *, size: int, steps: int, screenshot: Path,
                     timeout_s: float = 600.0) -> dict:
    """Opens `url` in headless Chromium, paints `photo` in the manner of `paintings` at `size` px for `steps`
    steps, saves a screenshot of the whole page to `screenshot` once the result shows. Returns the status line
    and the result picture's size as the page shows it: {"status", "width", "height"}."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            start_painting(page, url, photo, paintings, size=size, steps=steps)
            page.get_by_text("saved as").wait_for(timeout=timeout_s * 1000)
            result = page.locator("#result img")
            result.wait_for()
            page.wait_for_function("document.querySelector('#result img').complete")
            width, height = result.evaluate("image => [image.naturalWidth, image.naturalHeight]")
            status = page.locator("#status").inner_text()
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            quality = {"quality": 85} if screenshot.suffix.lower() in (".jpg", ".jpeg") else {}
            page.screenshot(path=str(screenshot), full_page=True, **quality)
            return {"status": status, "width": width, "height": height}
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="vgg16")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--painting", type=Path, action="append", required=True)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--output", type=Path, default=Path("assets/ui.webp"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from style_transfer.ui import UIConfig, build_app

    port = free_port()
    app = build_app(UIConfig(network=args.network, weights=args.weights, port=port))
    app.launch(block=False, quiet=True)
    png = args.output.with_suffix(".png")
    try:
        shown = paint_in_browser(f"http://127.0.0.1:{port}/", args.photo, args.painting, size=args.size,
                                 steps=args.steps, screenshot=png)
    finally:
        app.close()
    if args.output.suffix.lower() != ".png":
        from PIL import Image

        Image.open(png).convert("RGB").save(args.output, quality=90)
        png.unlink()
    print(f"{shown['status']} ({shown['width']}x{shown['height']} shown); screenshot in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
