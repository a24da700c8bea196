"""Shared fixtures: real pictures from ../shared/images (or stand-ins from assets/), seeded random VGG weights,
weights files.

No network and no ImageNet weights: VGG19 and VGG16 get He-scaled random weights (see features.build_vgg),
and the weights files the tests load are written here, in the layouts users have.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
# Real photographs and paintings live beside the repository (see ../shared/images/SOURCES.md), never in it.
IMAGES = Path(os.environ.get("STYLE_TRANSFER_TEST_IMAGES", REPO.parent / "shared" / "images"))
ASSETS = REPO / "assets"

# Where ../shared/images is absent (a fresh clone), each picture the tests name has a stand-in cut from the
# project's own assets/, in the same role (photograph or painting) and of the same kind: a JPEG (tests cut files
# short, compare decoders, copy the bytes) of the real picture's size and mode (tests expect its decoded sizes).
# Siblings are there too: test_train_fast trains on the photographs beside content_path and the paintings
# beside style_path. {shared picture: (asset, the part of it (left, top, right, bottom), size, mode)}
STAND_INS = {
    "content/tubingen.jpg": ("content/lakeside.png", (0, 0, 640, 480), (1024, 768), "RGB"),
    "content/golden_gate.jpg": ("content/lakeside.png", (240, 0, 640, 300), (979, 734), "RGB"),
    "content/hoovertowernight.jpg": ("content/lakeside.png", (0, 140, 640, 477), (760, 400), "RGB"),
    "content/brad_pitt.jpg": ("content/lakeside.png", (40, 180, 278, 480), (1054, 1331), "RGB"),
    "style/starry_night.jpg": ("style/swirls.png", (0, 96, 512, 416), (1024, 640), "RGB"),
    "style/the_scream.jpg": ("style/mosaic.png", (110, 0, 512, 512), (1200, 1528), "RGB"),
    "style/shipwreck.jpg": ("style/waves.png", (0, 0, 640, 441), (960, 662), "RGB"),
    "style/escher_sphere.jpg": ("style/mosaic.png", (0, 0, 333, 512), (960, 1475), "L"),  # single-channel
}


def shared_picture(relative: str, needed_for: str) -> Path:
    """The real picture `relative` of ../shared/images; the test skips, saying why only it will do, when absent."""
    path = IMAGES / relative
    if not path.is_file():
        pytest.skip(f"needs the real picture {path} ({needed_for}); set STYLE_TRANSFER_TEST_IMAGES to "
                    "../shared/images")
    return path


@pytest.fixture(scope="session")
def picture(tmp_path_factory):
    """`picture("content/tubingen.jpg")`: that file of ../shared/images, or where it is absent its stand-in from
    STAND_INS. The stand-ins are written once per session, all into one folder laid out like ../shared/images."""
    stand_ins = []

    def find(relative: str) -> Path:
        if (IMAGES / relative).is_file():
            return IMAGES / relative
        if relative not in STAND_INS:
            pytest.fail(f"{IMAGES / relative} not found, and STAND_INS has no stand-in for it")
        if not stand_ins:
            stand_ins.append(_write_stand_ins(tmp_path_factory.mktemp("stand_in_images")))
        return stand_ins[0] / relative

    return find


def _write_stand_ins(folder: Path) -> Path:
    for relative, (asset, part, size, mode) in STAND_INS.items():
        (folder / relative).parent.mkdir(exist_ok=True)
        stand_in = Image.open(ASSETS / asset).convert(mode).resize(size, Image.Resampling.LANCZOS, box=part)
        # Quality 90, 4:2:0 chroma, as photographs from the web; all over 20 kB, so a 20 kB prefix is cut short.
        stand_in.save(folder / relative, quality=90)
    return folder


@pytest.fixture(scope="session")
def content_path(picture) -> Path:
    return picture("content/tubingen.jpg")


def write_damaged_pictures(folder: Path, content_path: Path) -> Path:
    """The damaged files of issue 29 in `folder`: random bytes named .jpg, a JPEG cut short, an empty .png."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "random.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (folder / "truncated.jpg").write_bytes(content_path.read_bytes()[:20000])
    (folder / "empty.png").write_bytes(b"")
    return folder


def write_clip(path: Path, frames, *, fps=12, codec: str = "libx264", audio_seconds: float = 0.0,
               start_seconds: float = 0.0, rotation: int = 0) -> Path:
    """Encodes `frames` (float32 [1, H, W, 3] in [0, 1], even sizes) with PyAV as `codec` (libx264, or mjpeg
    whose frames stand alone, for damaging one), with a 440 Hz AAC tone of `audio_seconds` when > 0; both
    streams start at `start_seconds` (as a broadcast recording's do, far from 0). `rotation`: the display
    rotation, degrees counter-clockwise, that a phone records (the frames are stored unturned)."""
    import av

    frames = [np.clip(np.rint(frame[0] * 255), 0, 255).astype(np.uint8) for frame in frames]
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        audio = container.add_stream("aac", rate=16000) if audio_seconds else None
        if audio:
            audio.layout = "mono"
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index + round(start_seconds * fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio:
            samples = int(16000 * audio_seconds)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000)).astype(np.float32)[None]
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + 1024]), format="fltp",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start + round(start_seconds * 16000)
                container.mux(audio.encode(chunk))
            container.mux(audio.encode(None))
    return path


@pytest.fixture(scope="session")
def clip_photo(content_path):
    """The content photograph at 384 px, the scene of the synthetic clips (video.synthetic)."""
    import cv2

    from style_transfer.core import image_io, preprocessing

    photo = image_io.load_image(content_path)[0]
    height, width = preprocessing.target_size(*photo.shape[:2], 384)
    return cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)[None]


@pytest.fixture(scope="session")
def style_path(picture) -> Path:
    return picture("style/starry_night.jpg")


@pytest.fixture(scope="session")
def grey_style_path(picture) -> Path:
    return picture("style/escher_sphere.jpg")


# Real ImageNet VGG16 weights, beside the repository like the pictures (see ../shared/weights/SOURCES.md).
VGG16_WEIGHTS = Path(os.environ.get("STYLE_TRANSFER_VGG16_WEIGHTS",
                                    REPO.parent / "shared" / "weights" / "vgg16_imagenet_notop.h5"))


@pytest.fixture(scope="session")
def vgg16_weights_path() -> Path:
    """The ImageNet VGG16 notop weights file; the test skips, saying where it looked, when it is absent."""
    if not VGG16_WEIGHTS.is_file():
        pytest.skip(f"real VGG16 weights {VGG16_WEIGHTS} not found (set STYLE_TRANSFER_VGG16_WEIGHTS to "
                    "vgg16_imagenet_notop.h5)")
    return VGG16_WEIGHTS


@pytest.fixture(scope="session")
def random_vgg():
    """VGG19(include_top=False) with He-normal weights from seed 0, built once per session."""
    from style_transfer.core.vgg import build_vgg

    return build_vgg("random", "vgg19")


NETWORKS = ("vgg19", "vgg16")
# The feature extractor's settings the tests compare others with: VGG's max pools and TensorFlow's own float32
# convolutions. The extractor has no defaults (StyleConfig holds them, and its 'auto' depends on the machine).
EXACT = {"pooling": "max", "precision": "float32", "convolution": "direct"}


@pytest.fixture(scope="session")
def random_vgg_of(random_vgg):
    """`random_vgg_of(network)`: VGG19 (`random_vgg`) or VGG16 with He-normal weights from seed 0, each built
    once per session."""
    from style_transfer.core.vgg import build_vgg

    built = {"vgg19": random_vgg}

    def of(network: str):
        if network not in built:
            built[network] = build_vgg("random", network)
        return built[network]

    return of


def write_official_layout(model, path: Path, *, extra_layers: dict | None = None) -> Path:
    """Writes `model`'s conv weights in the layout of vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5.

    That file is Keras 2's HDF5 format: root attribute `layer_names` (every layer, weightless ones too),
    one group per layer whose attribute `weight_names` lists its datasets in order (kernel, bias).
    `extra_layers` ({name: [arrays]}) adds layers such as the classifier of the include_top file.
    """
    with h5py.File(path, "w") as weights_file:
        layer_names = [layer.name for layer in model.layers] + list(extra_layers or {})
        weights_file.attrs["layer_names"] = [name.encode() for name in layer_names]
        weights_file.attrs["backend"] = b"tensorflow"
        for layer in model.layers:
            arrays = [np.asarray(w) for w in layer.get_weights()]
            _write_layer(weights_file, layer.name, arrays)
        for name, arrays in (extra_layers or {}).items():
            _write_layer(weights_file, name, arrays)
    return path


def _write_layer(weights_file, name: str, arrays) -> None:
    group = weights_file.create_group(name)
    names = [f"{name}_W_1:0", f"{name}_b_1:0"][: len(arrays)]
    group.attrs["weight_names"] = [n.encode() for n in names]
    for weight_name, array in zip(names, arrays):
        group.create_dataset(weight_name, data=array)


@pytest.fixture(scope="session")
def weights_file(random_vgg, tmp_path_factory) -> Path:
    """The session's random VGG19 weights as a file in the official notop layout."""
    return write_official_layout(random_vgg, tmp_path_factory.mktemp("weights") / "vgg19_notop.h5")


def run_command(*args: str) -> int:
    """Runs style-transfer in-process with `args` in the current directory; returns the exit status."""
    from style_transfer.cli import run

    run.FLAGS.unparse_flags()
    try:
        remaining = run._parse_flags(["style-transfer", *args])
        return run._main_with_errors(remaining)
    except SystemExit as exit_:
        return exit_.code
    finally:
        run.FLAGS.unparse_flags()


@pytest.fixture
def cli(monkeypatch, tmp_path):
    """Runs the CLI in-process in a fresh working directory; returns the exit status."""
    monkeypatch.chdir(tmp_path)
    return run_command


def pytest_configure(config):
    # Keras' TensorFlow backend calls np.array(x) on tensors; NumPy 2 warns about TensorFlow's __array__.
    # Not ours to fix, and it drowns real warnings.
    config.addinivalue_line("filterwarnings",
                            "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


@pytest.fixture
def apply_cli(monkeypatch, tmp_path):
    """Runs style-transfer-apply in-process in a fresh working directory; returns the exit status."""
    from style_transfer.cli import apply

    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> int:
        try:
            return apply.COMMAND.run(apply.main, [apply.PROGRAM, *args])
        except SystemExit as exit_:
            return exit_.code
        finally:
            apply.FLAGS.unparse_flags()

    return invoke
