"""Install with `pip install -e ".[test]"` (see README.md)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "style_transfer" / "__init__.py").read_text()).group(1)

setup(
    name="style-transfer",
    version=VERSION,
    description="Neural style transfer (Gatys et al. 2015) with TensorFlow/Keras: CLI, Python API, TensorBoard",
    long_description=(HERE / "README.md").read_text(encoding="utf8"),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["style_transfer", "style_transfer.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",  # 2.16 is the first release that ships Keras 3
        "tensorboard>=2.16",  # tensorflow 2.21 no longer pulls it in; we log to it and read its events
        "h5py>=3.0",  # reads the official VGG19 weights file
        "numpy>=1.23",
        "pillow>=9.1",
        "absl-py>=1.0",
        "matplotlib>=3.5",
        "scipy>=1.11",  # L-BFGS-B with bounds (--optimizer lbfgs); 1.11 lets a callback stop it cleanly
    ],
    extras_require={
        # hypothesis: property tests of image loading; nbclient, nbformat, ipykernel: run the notebook;
        # pytest-xdist: the suite on two processes (-n 2), since most of its time is single-threaded.
        "test": ["pytest>=7", "pytest-xdist>=3.5", "hypothesis>=6", "nbclient>=0.7", "nbformat>=5.7", "ipykernel>=6",
                 "playwright>=1.40"],  # drives Debian's Chromium in the web app's browser test (no download)
        "gpu": ["tensorflow[and-cuda]>=2.16"],
        # videos (docs/video.md): PyAV's wheels carry FFmpeg with x264; OpenCV's DIS optical flow
        "video": ["av>=14", "opencv-python-headless>=4.8"],
        # the documentation site: mkdocs build --strict (see README.md, Documentation)
        "docs": ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"],
        # style-transfer-ui, the web app (docs/ui.md); Gradio brings gradio_client, which its tests use
        "ui": ["gradio>=6.0"],
    },
    entry_points={"console_scripts": ["style-transfer=style_transfer.cli.run:console_main",
                                      "style-transfer-train=style_transfer.cli.train_fast:console_main",
                                      "style-transfer-apply=style_transfer.cli.apply:console_main",
                                      "style-transfer-ui=style_transfer.cli.ui:console_main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Graphics",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
