import numpy as np
import pytest
from PIL import Image

from style_transfer.optimize import figures
from style_transfer.core import image_io
from style_transfer.core.errors import ImageError, OutputExistsError


def flat(height, width, value):
    return np.full((1, height, width, 3), value, np.float32)


LOSSES = {"total": [9.0, 5.0, 3.0], "content": [0.0, 2.0, 1.0], "style": [8.0, 2.5, 1.5], "tv": [1.0, 0.5, 0.5],
          "style/block1_conv1": [1.0, 1.0, 1.0]}


def test_summary_figure_shows_the_three_pictures_and_the_four_terms_on_a_log_scale():
    figure = figures.summary_figure(flat(30, 40, 0.2), flat(50, 50, 0.5), flat(30, 40, 0.8), LOSSES, title="t")
    image_axes, curves = figure.axes[:3], figure.axes[3]
    assert [axes.get_title() for axes in image_axes] == ["content (40x30)", "style (50x50)", "result (40x30)"]
    assert [line.get_label() for line in curves.get_lines()] == ["total", "content", "style", "tv"]
    assert curves.get_yscale() == "log"
    content_line = curves.get_lines()[1].get_ydata()
    assert np.isnan(content_line[0]) and content_line[1] == 2.0  # zero is left out, not drawn as -inf


def test_summary_figure_without_steps_says_so():
    figure = figures.summary_figure(flat(8, 8, 0.1), flat(8, 8, 0.1), flat(8, 8, 0.1), {})
    assert figure.axes[3].texts[0].get_text() == "no steps run"


def test_a_long_title_is_wrapped_inside_the_figure():
    title = "hoovertowernight.jpg in the style of woman-with-hat-matisse.jpg: " + "200 steps, 384x202, 68.0 s, " * 5
    figure = figures.summary_figure(flat(8, 8, 0.1), flat(8, 8, 0.5), flat(8, 8, 0.9), LOSSES, title=title)
    figures.figure_to_image(figure)  # lays the figure out
    extent = figure._suptitle.get_window_extent()
    assert 0 <= extent.x0 and extent.x1 <= figure.bbox.width, (extent, figure.bbox)
    assert figure._suptitle.get_text().replace("\n", " ") == title.strip()


def test_figures_render_to_the_pixel_contract():
    rendered = figures.figure_to_image(figures.summary_figure(flat(8, 8, 0), flat(8, 8, 1), flat(8, 8, 0.5), LOSSES))
    assert rendered.dtype == np.float32 and rendered.shape == (1, 750, 1200, 3)
    assert 0 <= rendered.min() and rendered.max() <= 1 and rendered.std() > 0.05


@pytest.mark.parametrize("suffix, format_", [(".gif", "GIF"), (".webp", "WEBP")])
def test_animations_hold_every_frame_at_the_results_size(tmp_path, suffix, format_):
    frames = [flat(60, 80, 0.0)] + [flat(12, 16, value) for value in (0.25, 0.5, 1.0)]
    path = image_io.save_animation(frames, tmp_path / f"a{suffix}", frame_ms=50)
    animation = Image.open(path)
    assert (animation.format, animation.size, animation.n_frames) == (format_, (16, 12), 4)
    animation.seek(3)
    assert np.asarray(animation.convert("RGB")).min() > 250  # the last frame is the white result
    with pytest.raises(OutputExistsError):
        image_io.save_animation(frames, path)


@pytest.mark.parametrize("frames, name, message", [([], "a.gif", "no frames"), ([flat(4, 4, 0)], "a.mp4", "unknown animation")])
def test_bad_animations_are_refused(tmp_path, frames, name, message):
    with pytest.raises(ImageError, match=message):
        image_io.save_animation(frames, tmp_path / name)
    assert not (tmp_path / name).exists()
