"""The scripts in scripts/ do what their docstrings say."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_assets_are_exactly_what_make_assets_draws(tmp_path, monkeypatch):
    make_assets = load("make_assets")
    monkeypatch.setattr(sys, "argv", ["make_assets.py", "--out", str(tmp_path)])
    make_assets.main()
    for relative in make_assets.PICTURES:
        drawn = np.asarray(Image.open(tmp_path / relative))
        committed = np.asarray(Image.open(make_assets.ASSETS / relative))
        np.testing.assert_array_equal(drawn, committed, err_msg=relative)
        assert drawn.std() > 20  # a real picture, not a flat fill


def test_make_animation_turns_saved_steps_into_a_gif(tmp_path, capsys):
    from style_transfer.core import image_io

    for step in (10, 20, 30):
        image_io.save_image(np.full((1, 6, 8, 3), step / 30, np.float32), tmp_path / "steps" / f"step_{step:06d}.png")
    image_io.save_image(np.zeros((1, 30, 40, 3), np.float32), tmp_path / "content.png")
    make_animation = load("make_animation")
    assert make_animation.main([str(tmp_path / "steps"), "--content", str(tmp_path / "content.png"),
                                "--output", str(tmp_path / "run.gif")]) == 0
    assert "Wrote" in capsys.readouterr().out
    animation = Image.open(tmp_path / "run.gif")
    assert (animation.size, animation.n_frames) == ((8, 6), 4)
    assert make_animation.main([str(tmp_path / "steps"), "--output", str(tmp_path / "run.gif")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert make_animation.main([str(tmp_path / "nothing"), "--output", str(tmp_path / "x.gif")]) == 1
    assert "no step_*.png pictures" in capsys.readouterr().err


def test_make_gallery_renders_one_column_per_control_value(tmp_path, capsys, content_path, style_path,
                                                           grey_style_path, weights_file):
    make_gallery = load("make_gallery")
    common = ["--content", str(content_path), "--set", f"weights={weights_file}", "--set", "max_dim=32",
              "--set", "steps=2"]
    assert make_gallery.main([*common, "--style", str(style_path), "--style", f"{style_path},{grey_style_path}",
                              "--control", "style_scale=1,2", "--output", str(tmp_path / "two.png")]) == 0
    assert "(4 stylised cells)" in capsys.readouterr().out
    assert make_gallery.main([*common, "--style", str(style_path), "--control", "pooling=max,avg,max",
                              "--output", str(tmp_path / "three.png")]) == 0
    two, three = Image.open(tmp_path / "two.png"), Image.open(tmp_path / "three.png")
    assert three.width > two.width and two.height > three.height  # 2 + 3 columns vs 2 + 2; 2 rows vs 1
    assert make_gallery.main([*common, "--style", str(style_path), "--control", "pooling=max,mean",
                              "--output", str(tmp_path / "bad.png")]) == 1
    assert "make_gallery: error: pooling: must be one of max, avg; got 'mean'" in capsys.readouterr().err
    assert not (tmp_path / "bad.png").exists()
    assert make_gallery.control_values("style_blend_weights=1,3|3,1".partition("=")[2]) == ["1,3", "3,1"]


def test_the_probes_crops_keep_photograph_and_target_aligned():
    probe = load("probe_fast_network")
    rng = np.random.default_rng(0)
    photograph = rng.random((probe.SIZE, probe.SIZE + 77, 3)).astype(np.float32)
    target = 1 - photograph  # any pixelwise function of the photograph
    places = []
    for _ in range(8):
        inputs, targets = probe.crops([(photograph, target)], rng)
        assert inputs.shape == targets.shape == (4, probe.SIZE, probe.SIZE, 3)
        np.testing.assert_array_equal(targets, 1 - inputs)  # the same crop and flip of both
        for crop in inputs:  # where in the photograph each crop came from, and whether it was flipped
            places += [(left, flip) for left in range(78) for flip in (1, -1)
                       if np.array_equal(photograph[:, left:left + probe.SIZE][:, ::flip], crop)]
    assert len(places) == 32  # every crop is a SIZE x SIZE piece of the photograph, as it is or mirrored
    assert {flip for _, flip in places} == {1, -1} and len(set(places)) > 10  # both ways round, many places
