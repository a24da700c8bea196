import io
import json
import os
import stat

import numpy as np
import pytest
from PIL import Image

from style_transfer.core import decoding, image_io
from style_transfer.core.errors import ImageError, OutputExistsError

RNG = np.random.default_rng(0)


def uint8_picture(height=12, width=20):
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


def assert_contract(image, height, width):
    assert image.shape == (1, height, width, 3) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1


def test_paths_pil_images_and_arrays_load_to_the_same_pixels(tmp_path):
    pixels = uint8_picture()
    Image.fromarray(pixels).save(tmp_path / "p.png")
    loaded = [image_io.load_image(tmp_path / "p.png"), image_io.load_image(str(tmp_path / "p.png")),
              image_io.load_image(Image.fromarray(pixels)), image_io.load_image(pixels),
              image_io.load_image(pixels[None]), image_io.load_image(pixels.astype(np.float32) / 255)]
    for image in loaded:
        assert_contract(image, 12, 20)
        np.testing.assert_allclose(image, loaded[0], atol=1e-7)
    np.testing.assert_array_equal(image_io.to_uint8(loaded[0]), pixels)


def test_uint8_scaling_is_tensorflows_convert_image_dtype(content_path):
    import tensorflow as tf

    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
    np.testing.assert_array_equal(image_io.load_image(pixels)[0],
                                  tf.image.convert_image_dtype(pixels, tf.float32).numpy())


def test_grey_pictures_become_rgb_with_equal_channels(grey_style_path):
    image = image_io.load_image(grey_style_path)
    assert Image.open(grey_style_path).mode == "L"
    assert_contract(image, *Image.open(grey_style_path).size[::-1])
    np.testing.assert_array_equal(image[..., 0], image[..., 1])
    np.testing.assert_array_equal(image[..., 0], image[..., 2])


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:2, :, 3] = 255  # top half opaque, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    for source in (tmp_path / "a.png", rgba):
        image = image_io.load_image(source)[0]
        np.testing.assert_array_equal(image[0, 0], [1, 0, 0])
        np.testing.assert_array_equal(image[3, 0], [1, 1, 1])


def test_exif_orientation_is_applied(tmp_path):
    # A smooth picture: JPEG keeps it within a few levels, while any wrong orientation is far off.
    rows, columns = np.mgrid[0:10, 0:30]
    pixels = np.stack([rows * 25, columns * 8, 255 - columns * 8], -1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    for jpeg_dct in ("accurate", "fast"):
        image = image_io.load_image(tmp_path / "rotated.jpg", jpeg_dct=jpeg_dct)
        assert image.shape == (1, 30, 10, 3)
        upright = np.rot90(pixels, k=-1)
        assert np.abs(image_io.to_uint8(image).astype(int) - upright).mean() < 4


def test_fast_dct_reproduces_tensorflows_jpeg_decoding_and_accurate_differs(content_path):
    import tensorflow as tf

    tutorial_pixels = tf.image.convert_image_dtype(
        tf.image.decode_image(tf.io.read_file(str(content_path)), channels=3), tf.float32).numpy()
    fast = image_io.load_image(content_path, jpeg_dct="fast")[0]
    accurate = image_io.load_image(content_path, jpeg_dct="accurate")[0]
    np.testing.assert_array_equal(fast, tutorial_pixels)
    assert np.abs(accurate - tutorial_pixels).max() > 0  # the two decoders really differ on this JPEG
    np.testing.assert_array_equal(image_io.to_uint8(accurate), np.asarray(Image.open(content_path).convert("RGB")))


def test_sixteen_bit_grey_keeps_its_precision(tmp_path):
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    image = image_io.load_image(tmp_path / "deep.png")
    np.testing.assert_allclose(image[0, ..., 0], ramp / 65535, atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.jpg", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: (d / "notes.jpg").write_text("not a picture") and d / "notes.jpg", "not an image"),
    (lambda d: (d / "empty.png").write_bytes(b"") or d / "empty.png", "not an image"),
])
def test_unusable_files_raise_one_line_naming_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ImageError, match=message) as raised:
        image_io.load_image(path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_truncated_jpeg_is_refused(tmp_path, content_path):
    data = content_path.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.jpg: cannot decode image"):
        image_io.load_image(tmp_path / "cut.jpg")


@pytest.mark.parametrize("array, message", [
    (np.full((4, 4, 3), 1.5, np.float32), r"in \[0, 1\]"),
    (np.full((4, 4, 3), np.nan, np.float32), "finite"),
    (np.zeros((2, 4, 4, 3), np.uint8), "batch of 2"),
    (np.zeros((4, 4, 2), np.uint8), "expected shape"),
    (np.zeros((4, 4, 3), np.int64), "uint8 or float"),
])
def test_arrays_outside_the_pixel_contract_are_refused(array, message):
    with pytest.raises(ImageError, match=message):
        image_io.load_image(array)


def test_save_rounds_to_nearest_and_round_trips(tmp_path):
    image = np.array([[[[0.0, 0.5, 1.0], [0.2, 0.8, 0.999]]]], np.float32)
    path = image_io.save_image(image, tmp_path / "out.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), [[[0, 128, 255], [51, 204, 255]]])
    np.testing.assert_allclose(image_io.load_image(path), image, atol=0.5 / 255 + 1e-7)


def test_save_is_atomic_creates_directories_and_never_overwrites_silently(tmp_path):
    first, second = np.zeros((1, 4, 4, 3), np.float32), np.ones((1, 4, 4, 3), np.float32)
    path = image_io.save_image(first, tmp_path / "new" / "dir" / "out.png")
    with pytest.raises(ImageError, match="already exists"):
        image_io.save_image(second, path)
    assert np.asarray(Image.open(path)).max() == 0  # untouched
    image_io.save_image(second, path, overwrite=True)
    assert np.asarray(Image.open(path)).min() == 255
    assert os.listdir(path.parent) == ["out.png"]  # no temporary files left behind


def test_saved_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = image_io.save_image(np.zeros((1, 2, 2, 3), np.float32), tmp_path / "out.png")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("name", ["out.gif", "out", "out.PNG.txt"])
def test_unknown_output_extensions_are_refused_before_writing(tmp_path, name):
    with pytest.raises(ImageError, match="unknown output extension"):
        image_io.save_image(np.zeros((1, 2, 2, 3), np.float32), tmp_path / name)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name, format_", [("a.jpg", "JPEG"), ("a.JPEG", "JPEG"), ("a.webp", "WEBP"),
                                           ("a.bmp", "BMP"), ("a.tif", "TIFF"), ("a.png", "PNG")])
def test_output_format_follows_the_extension(tmp_path, name, format_):
    path = image_io.save_image(np.full((1, 8, 8, 3), 0.5, np.float32), tmp_path / name)
    assert Image.open(path).format == format_


def test_png_metadata_is_written(tmp_path):
    path = image_io.save_image(np.zeros((1, 2, 2, 3), np.float32), tmp_path / "m.png",
                               metadata={"style_transfer:config": json.dumps({"steps": 3})})
    assert json.loads(Image.open(path).text["style_transfer:config"]) == {"steps": 3}


@pytest.mark.parametrize("mode, values, expected", [
    ("I", np.full((4, 4), 200, np.int32), 200 / 255),  # 32-bit integer holding 8-bit values
    ("I", np.full((4, 4), 40000, np.int32), 40000 / 65535),  # ... holding 16-bit values
    ("F", np.full((4, 4), 0.25, np.float32), 0.25),  # float in [0, 1]
    ("F", np.full((4, 4), 128.0, np.float32), 128 / 255),  # float in [0, 255]
])
def test_integer_and_float_grey_modes_keep_their_brightness(mode, values, expected):
    image = image_io.load_image(Image.fromarray(values, mode))
    np.testing.assert_allclose(image, expected, rtol=1e-6)


def test_an_output_under_a_file_is_refused_before_writing(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ImageError, match="cannot be written: .*afile is not a directory"):
        image_io.check_output_path(tmp_path / "afile" / "out.png")


# --- A corpus of odd but valid files: every one must load, with the colour it holds. ---

COLOUR = (200, 100, 50)


def solid(mode="RGB", size=(24, 16), colour=COLOUR):
    return Image.new("RGB", size, colour).convert(mode) if mode != "RGB" else Image.new("RGB", size, colour)


def animated_gif(path):
    frames = [solid(colour=COLOUR), solid(colour=(0, 0, 255))]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def half_transparent(path):
    rgba = solid().convert("RGBA")
    rgba.putalpha(128)
    rgba.save(path, format="PNG")


def sixteen_bit_grey(path):
    grey = int(np.dot(COLOUR, [0.299, 0.587, 0.114]))
    Image.fromarray(np.full((16, 24), grey * 257, np.uint16)).save(path, format="PNG")


def palette_with_transparency(path):
    picture = solid().convert("P")
    picture.info["transparency"] = 255  # an index nothing uses: the colour stays
    picture.save(path, format="PNG", transparency=255)


GREY = (int(np.dot(COLOUR, [0.299, 0.587, 0.114])),) * 3
WHITE_BLEND = tuple(round((c * 128 + 255 * 127) / 255) for c in COLOUR)
CORPUS = [
    # (file name, how to write it, the colour expected back, tolerance in levels)
    ("photo.jpg", lambda p: solid().save(p, format="JPEG", quality=95), COLOUR, 4),
    ("PHOTO.JPEG", lambda p: solid().save(p, format="JPEG", quality=95), COLOUR, 4),
    ("no extension", lambda p: solid().save(p, format="PNG"), COLOUR, 0),
    ("actually a jpeg.png", lambda p: solid().save(p, format="JPEG", quality=95), COLOUR, 4),
    ("ünïcødé 名前.png", lambda p: solid().save(p, format="PNG"), COLOUR, 0),
    ("grey.png", lambda p: solid("L").save(p, format="PNG"), GREY, 1),
    ("palette.gif", lambda p: solid("P").save(p, format="GIF"), COLOUR, 8),
    ("animated.gif", animated_gif, COLOUR, 8),
    ("picture.bmp", lambda p: solid().save(p, format="BMP"), COLOUR, 0),
    ("picture.webp", lambda p: solid().save(p, format="WEBP", lossless=True), COLOUR, 0),
    ("picture.tiff", lambda p: solid().save(p, format="TIFF"), COLOUR, 0),
    ("cmyk.tif", lambda p: solid("CMYK").save(p, format="TIFF"), COLOUR, 8),
    ("cmyk.jpg", lambda p: solid("CMYK").save(p, format="JPEG", quality=95), COLOUR, 10),
    ("grey-alpha.png", lambda p: solid("LA").save(p, format="PNG"), GREY, 1),
    ("half-transparent.png", half_transparent, WHITE_BLEND, 2),
    ("deep.png", sixteen_bit_grey, GREY, 1),
    ("palette-transparency.png", palette_with_transparency, COLOUR, 8),
]


@pytest.mark.parametrize("name, write, colour, tolerance", CORPUS, ids=[entry[0] for entry in CORPUS])
def test_odd_but_valid_files_load_with_their_colour(tmp_path, name, write, colour, tolerance):
    path = tmp_path / name
    write(path)
    image = image_io.load_image(path)
    assert_contract(image, 16, 24)
    mean = image_io.to_uint8(image).reshape(-1, 3).mean(axis=0)
    assert np.abs(mean - colour).max() <= tolerance, mean


# --- Decompression bombs: refused from the header, before any decoding. ---


def png_claiming(width, height):
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


@pytest.mark.parametrize("width, height, message", [
    (12_000, 10_000, "12000x10000 is 120.0 megapixels, more than the limit of 100"),
    (100_000, 100_000, "refused"),  # beyond Pillow's own hard limit, which speaks first
])
def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(tmp_path, width, height, message):
    (tmp_path / "bomb.png").write_bytes(png_claiming(width, height))
    with pytest.raises(ImageError, match=message) as raised:
        image_io.load_image(tmp_path / "bomb.png", max_pixels=100_000_000)
    assert "bomb.png" in str(raised.value)


def test_the_pixel_cap_applies_to_images_and_arrays_too():
    with pytest.raises(ImageError, match="more than the limit"):
        image_io.load_image(np.zeros((20, 30, 3), np.uint8), max_pixels=500)
    assert image_io.load_image(np.zeros((20, 25, 3), np.uint8), max_pixels=500).shape == (1, 20, 25, 3)


# --- Property: whatever the bytes, the result is a picture in the contract or the tool's own error. ---

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _valid_file(format_):
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(buffer, format=format_)
    return buffer.getvalue()


VALID = {format_: _valid_file(format_) for format_ in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")}


def _check_loads_or_refuses(data: bytes, jpeg_dct: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "input")
        with open(path, "wb") as stream:
            stream.write(data)
        try:
            image = image_io.load_image(path, jpeg_dct=jpeg_dct, max_pixels=10_000_000)
        except ImageError as error:
            assert "\n" not in str(error)
            return
        assert image.ndim == 4 and image.shape[0] == 1 and image.shape[-1] == 3 and image.dtype == np.float32
        assert 0 <= image.min() and image.max() <= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096), st.sampled_from(["accurate", "fast"]))
def test_random_bytes_give_a_picture_or_an_image_error(data, jpeg_dct):
    _check_loads_or_refuses(data, jpeg_dct)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(VALID)), st.data(), st.sampled_from(["accurate", "fast"]))
def test_damaged_real_files_give_a_picture_or_an_image_error(format_, data, jpeg_dct):
    original = VALID[format_]
    start = data.draw(st.integers(0, len(original) - 1))
    patch = data.draw(st.binary(min_size=0, max_size=64))
    cut = data.draw(st.integers(start, len(original)))
    _check_loads_or_refuses(original[:start] + patch + original[cut:], jpeg_dct)


def test_our_own_bugs_are_not_blamed_on_the_file(tmp_path, monkeypatch):
    # The property tests above could not fail if every exception became an ImageError; only what damaged
    # files make decoders raise does.
    Image.new("RGB", (4, 4)).save(tmp_path / "fine.png")

    def broken(image, keep_alpha=False, grey_scale=None):
        raise TypeError("a bug in the package")

    monkeypatch.setattr(decoding, "pil_to_array", broken)
    with pytest.raises(TypeError, match="a bug in the package"):
        image_io.load_image(tmp_path / "fine.png")


def test_a_pixel_cap_above_pillows_own_limit_is_honoured(tmp_path):
    (tmp_path / "big.png").write_bytes(png_claiming(20_000, 10_000))  # 200 MP: above Pillow's 179 MP
    with pytest.raises(ImageError, match="cannot decode image"):  # got past the header: the cap was ours
        image_io.load_image(tmp_path / "big.png", max_pixels=500_000_000)
    with pytest.raises(ImageError, match="200.0 megapixels, more than the limit of 100"):
        image_io.load_image(tmp_path / "big.png", max_pixels=100_000_000)


def _decode_in_a_process(path, max_dim: int) -> dict:
    """Loads `path` for `max_dim` in a fresh process: the loaded shape, the peak resident memory and the time."""
    import subprocess
    import sys

    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (this test process) across exec.
    script = f"""
import json, time
from style_transfer.core import image_io
start = time.perf_counter()
image = image_io.load_image({str(path)!r}, max_dim={max_dim})
seconds = time.perf_counter() - start
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"shape": image.shape, "peak_mb": peak / 1024, "seconds": seconds}}))
"""
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def test_a_huge_jpeg_for_a_small_output_is_decoded_small_in_little_memory_and_time(tmp_path):
    # A 10000x7000 photograph (70 megapixels: 210 MB as bytes, 840 MB as float32) for a 64 px output.
    gradient = Image.linear_gradient("L").resize((10000, 7000))
    grain = Image.effect_noise((1000, 700), 64).resize((10000, 7000))
    Image.merge("RGB", (gradient, grain, gradient.transpose(Image.Transpose.ROTATE_180))).save(tmp_path / "huge.jpg")
    Image.open(tmp_path / "huge.jpg").resize((640, 448)).save(tmp_path / "small.jpg")
    huge, small = (_decode_in_a_process(tmp_path / name, 64) for name in ("huge.jpg", "small.jpg"))
    # DCT-scaled to 1/8 while decoding (1250x875), then averaged by 4: 312x219, still 4x the output's 64 px.
    assert huge["shape"] == [1, 219, 312, 3]
    assert huge["peak_mb"] - small["peak_mb"] < 150, (huge, small)
    assert huge["seconds"] < 10, huge
    # The decompression-bomb limit still applies to the header, whatever the size asked for.
    with pytest.raises(ImageError, match="70.0 megapixels, more than the limit of 50"):
        image_io.load_image(tmp_path / "huge.jpg", max_pixels=50_000_000, max_dim=64)


def _oriented_jpeg(path):
    rows, columns = np.mgrid[0:300, 0:1200]
    pixels = np.stack([rows * 255 // 300, columns * 255 // 1200, 255 - columns * 255 // 1200], -1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate 90 degrees clockwise
    Image.fromarray(pixels).save(path, exif=exif, quality=95)


def _oriented_tiff(path):
    rows, columns = np.mgrid[0:300, 0:1200]
    pixels = np.stack([rows * 255 // 300, columns * 255 // 1200, 255 - columns * 255 // 1200], -1).astype(np.uint8)
    Image.fromarray(pixels).save(path, tiffinfo={0x0112: 6})


def _transparent_palette_png(path):
    picture = Image.new("P", (1200, 900), 0)
    picture.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    picture.paste(1, (0, 0, 600, 900))  # left half blue, right half colour 0, transparent: white
    picture.save(path, transparency=0)


def _dark_sixteen_bit_png(path):
    # 16-bit values that all fit in 8 bits: the scale must still be 16-bit's after reducing.
    Image.fromarray(np.tile(np.arange(0, 240, dtype=np.uint16), (900, 5))).save(path)


@pytest.mark.parametrize("write, name", [(_oriented_jpeg, "sideways.jpg"), (_oriented_tiff, "sideways.tif"),
                                         (_transparent_palette_png, "palette.png"),
                                         (_dark_sixteen_bit_png, "sixteen.png")])
def test_pictures_reduced_while_decoding_keep_orientation_alpha_and_scale(tmp_path, write, name):
    from style_transfer.core import preprocessing

    write(tmp_path / name)
    whole = image_io.load_image(tmp_path / name)
    reduced = image_io.load_image(tmp_path / name, max_dim=32)
    assert max(reduced.shape[1:3]) < max(whole.shape[1:3]) / 2  # it was reduced
    assert (reduced.shape[1] > reduced.shape[2]) == (whole.shape[1] > whole.shape[2])  # same way up
    assert image_io.picture_size(tmp_path / name) == whole.shape[2:0:-1]
    levels = np.abs(preprocessing.resize_to_max_dim(whole, 32) - preprocessing.resize_to_max_dim(reduced, 32)) * 255
    assert np.mean(levels) < 1 and np.max(levels) < 8, (np.mean(levels), np.max(levels))


def test_a_mask_is_reduced_without_blending_its_regions(tmp_path):
    # Stripes 7 px wide of three grey levels (three styles), and a transparent band: reducing by 8 must not
    # average neighbouring stripes into levels that would name other regions.
    grey = np.repeat(np.array([0, 128, 255], np.uint8)[np.arange(1024) // 7 % 3][None], 768, axis=0)
    alpha = np.full((768, 1024), 255, np.uint8)
    alpha[300:400] = 0
    Image.fromarray(np.stack([grey, alpha], -1), "LA").save(tmp_path / "mask.png")
    whole = image_io.load_mask(tmp_path / "mask.png")
    reduced = image_io.load_mask(tmp_path / "mask.png", max_dim=32)
    assert reduced.shape == (1, 96, 128, 2)
    assert set(np.unique(reduced[..., 0])) <= set(np.unique(whole[..., 0])) and len(np.unique(reduced[..., 0])) == 3
    assert set(np.unique(reduced[..., 1])) == {0.0, 1.0}


@pytest.mark.parametrize("fails", [False, True])
def test_decoder_chatter_becomes_one_log_line_or_part_of_the_error(tmp_path, capfd, caplog, monkeypatch, fails):
    # C decoders (libjpeg, libtiff) write to file descriptor 2 directly, as this stand-in does.
    Image.new("RGB", (4, 4)).save(tmp_path / "odd.png")
    real_decode = decoding._decode_file

    def chatty_decode(path, jpeg_dct, max_pixels, keep_alpha=False, max_dim=None):
        os.write(2, b"Corrupt data: 4 extraneous bytes\n")
        if fails:
            raise ImageError(f"{path}: cannot decode image (bad)")
        return real_decode(path, jpeg_dct, max_pixels, keep_alpha, max_dim)

    monkeypatch.setattr(decoding, "_decode_file", chatty_decode)
    if fails:
        with pytest.raises(ImageError, match=r"cannot decode image \(bad\) \[decoder: Corrupt data: 4 extraneous bytes\]"):
            image_io.load_image(tmp_path / "odd.png")
    else:
        assert image_io.load_image(tmp_path / "odd.png").shape == (1, 4, 4, 3)
        assert "odd.png: Corrupt data: 4 extraneous bytes" in caplog.text
    assert "Corrupt data" not in capfd.readouterr().err  # nothing raw on stderr


def test_an_output_that_is_a_symbolic_link_exists_and_is_replaced_never_written_through(tmp_path):
    (tmp_path / "target.png").write_bytes(b"precious")
    (tmp_path / "link.png").symlink_to("target.png")
    (tmp_path / "dangling.png").symlink_to("nowhere.png")
    picture = image_io.load_image(uint8_picture())
    for name in ("link.png", "dangling.png"):
        with pytest.raises(OutputExistsError, match=f"{name}: already exists as a symbolic link"):
            image_io.save_image(picture, tmp_path / name)
    for name in ("link.png", "dangling.png"):
        image_io.save_image(picture, tmp_path / name, overwrite=True)
        assert not (tmp_path / name).is_symlink() and image_io.load_image(tmp_path / name).shape == (1, 12, 20, 3)
    assert (tmp_path / "target.png").read_bytes() == b"precious" and not (tmp_path / "nowhere.png").exists()


def test_png_compression_changes_the_file_size_not_the_pixels(tmp_path, content_path):
    image = image_io.load_image(content_path)
    fast = image_io.save_image(image, tmp_path / "fast.png", png_compression=1)
    small = image_io.save_image(image, tmp_path / "small.png", png_compression=9)
    assert fast.stat().st_size > small.stat().st_size  # a photograph: 3% larger at level 1 than at 9
    np.testing.assert_array_equal(np.asarray(Image.open(fast)), np.asarray(Image.open(small)))
