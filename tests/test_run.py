import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_command
from style_transfer.core import config as config_lib, fields
from style_transfer.kernels import devices
from style_transfer.core import image_io
from style_transfer.cli import run

# How long a fresh process may take to import TensorFlow and finish its first steps before a test gives up: a
# failure is found sooner with less, but under pytest -n 2 on a busy 2-core machine 120 s was once too little.
START_LIMIT_S = 600
STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]


@pytest.fixture
def base_args(content_path, style_path, weights_file):
    return ["--content", str(content_path), "--style", str(style_path), "--weights", str(weights_file),
            "--max_dim", "48"]


def read_events(logdir: Path):
    """{tag: [(step, value array)]} from the run directory's event file, via TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    (run_dir,) = [path for path in logdir.iterdir() if path.is_dir()]
    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {tag: [(event.step, make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]
            for tag in accumulator.Tags()["tensors"]}


def png_config(path: Path) -> dict:
    return json.loads(Image.open(path).text["style_transfer:config"])


def test_every_config_field_is_a_flag_with_the_same_default():
    for field in dataclasses.fields(config_lib.StyleConfig):
        default = getattr(config_lib.DEFAULT, field.name)
        if isinstance(default, Mapping):
            default = fields.format_layer_weights(default)
        elif isinstance(default, tuple):
            default = ",".join(map(str, default))
        assert run.FLAGS[field.name].default == default, field.name
        assert run.FLAGS[field.name].help.startswith(field.metadata["help"])


def test_cli_writes_the_png_prints_where_and_logs_to_tensorboard(cli, base_args, capsys, tmp_path):
    assert cli(*base_args, "--steps", "4", "--logdir", "tb", "--save_every", "2") == 0
    out = capsys.readouterr().out
    output = tmp_path / "tubingen_starry_night.png"
    assert f"Wrote {output.name} (48x36, 4 steps" in out and "tensorboard --logdir tb" in out
    image = Image.open(output)
    assert (image.format, image.size, image.mode) == ("PNG", (48, 36), "RGB")
    assert sorted(os.listdir(tmp_path / "tubingen_starry_night.png_run")) == ["step_000002.png", "step_000004.png"]

    events = read_events(tmp_path / "tb")
    scalars = {tag: {step: float(value) for step, value in values} for tag, values in events.items()
               if tag.startswith("loss/")}
    expected_tags = {"loss/total", "loss/content", "loss/style", "loss/tv", "loss/content/block5_conv2",
                     *(f"loss/style/{name}" for name in STYLE_LAYERS)}
    assert set(scalars) == expected_tags
    assert all(list(values) == [1, 2, 3, 4] for values in scalars.values())
    for step in range(1, 5):
        parts = scalars["loss/content"][step] + scalars["loss/style"][step] + scalars["loss/tv"][step]
        assert scalars["loss/total"][step] == pytest.approx(parts, rel=1e-5)
        assert scalars["loss/style"][step] == pytest.approx(
            sum(scalars[f"loss/style/{name}"][step] for name in STYLE_LAYERS), rel=1e-5)
    assert scalars["loss/content"][1] == 0 < scalars["loss/content"][4]  # starts at the content image
    assert [step for step, _ in events["image"]] == [0, 2, 4]
    config_text = events["config"][0][1].item().decode()
    assert "| max_dim | `48` |" in config_text and "| steps | `4` |" in config_text
    assert "_hparams_/session_start_info" in events  # the hparams dashboard's record of this run


@pytest.mark.parametrize("flags, computed", [
    # 48 pixels: too small for Winograd to repay its set-up, so 'auto' means direct whatever the machine.
    ([], {"network": "vgg19", "precision": devices.resolve_precision("auto"), "convolution": "direct"}),
    (["--network", "vgg16", "--weights", "random"], {"network": "vgg16"}),
    (["--precision", "float32", "--convolution", "direct"], {"network": "vgg19", "precision": "float32",
                                                             "convolution": "direct"}),
    (["--precision", "float32", "--convolution", "winograd"], {"precision": "float32", "convolution": "winograd"}),
])
def test_a_run_says_which_network_precision_and_convolution_it_used(cli, base_args, capsys, tmp_path, flags,
                                                                    computed):
    assert cli(*base_args, "--steps", "1", "--nosummary", "--logdir", "tb", *flags) == 0
    recorded = json.loads(Image.open(tmp_path / "tubingen_starry_night.png").text["style_transfer:computed"])
    assert computed.items() <= recorded.items()
    assert recorded["convolution"] in ("direct", "winograd") and recorded["precision"] in ("float32", "bfloat16")
    said = f"; {recorded['network']}, {recorded['precision']} {recorded['convolution'].capitalize()} convolutions)"
    assert said in capsys.readouterr().out
    config_text = read_events(tmp_path / "tb")["config"][0][1].item().decode()
    assert f"| computed convolution | `{recorded['convolution']}` |" in config_text


def test_a_summary_figure_is_written_beside_the_output_unless_switched_off(cli, base_args, capsys, tmp_path):
    assert cli(*base_args, "--steps", "3", "--output", "out/pic.png") == 0
    summary = tmp_path / "out" / "pic.png_summary.png"
    assert f"Summary figure in {Path('out') / 'pic.png_summary.png'}" in capsys.readouterr().out
    figure = Image.open(summary)
    assert figure.size == (1200, 750) and np.asarray(figure).std() > 20
    assert '"steps": 3' in figure.text["style_transfer:config"]
    assert cli(*base_args, "--steps", "3", "--output", "out/pic.png") == 2  # neither file is overwritten
    (tmp_path / "out" / "pic.png").unlink()
    assert cli(*base_args, "--steps", "3", "--output", "out/pic.png") == 2  # the summary alone still counts
    assert "pic.png_summary.png: already exists" in capsys.readouterr().err
    assert cli(*base_args, "--steps", "0", "--output", "bare.png", "--nosummary") == 0
    assert not (tmp_path / "bare.png_summary.png").exists()


def test_outputs_differing_in_extension_keep_their_own_run_directory_and_summary(cli, base_args, tmp_path,
                                                                                 capsys):
    for output in ("o.png", "o.jpg"):
        assert cli(*base_args, "--steps", "2", "--save_every", "2", "--output", output) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "o.jpg", "o.jpg_run", "o.jpg_summary.png", "o.png", "o.png_run", "o.png_summary.png"]
    for output in ("o.png", "o.jpg"):
        assert [path.name for path in (tmp_path / f"{output}_run").iterdir()] == ["step_000002.png"]
    # A run interrupted before companions were named from the whole file name is pointed to, not lost.
    (tmp_path / "r_run" / "checkpoint").mkdir(parents=True)
    (tmp_path / "r_run" / "checkpoint" / "state.json").write_text("{}")
    capsys.readouterr()
    assert cli(*base_args, "--steps", "2", "--output", "r.png", "--resume") == 2
    assert "an earlier version's run is in r_run/: rename it r.png_run/ to resume it" in capsys.readouterr().err


def test_log_every_thins_the_scalars_but_keeps_the_last_step(cli, base_args, tmp_path):
    assert cli(*base_args, "--steps", "7", "--log_every", "3", "--logdir", "tb") == 0
    events = read_events(tmp_path / "tb")
    assert [step for step, _ in events["loss/total"]] == [3, 6, 7]
    assert [step for step, _ in events["image"]] == [0, 7]


def test_an_output_that_is_a_symbolic_link_is_replaced_only_when_asked_and_its_target_never(cli, base_args,
                                                                                          tmp_path, capsys):
    (tmp_path / "target.png").write_bytes(b"precious")
    (tmp_path / "o.png").symlink_to("target.png")
    (tmp_path / "dangling.png").symlink_to("nowhere.png")
    for output in ("o.png", "dangling.png"):
        assert cli(*base_args, "--steps", "1", "--output", output) == 2
        assert f"{output}: already exists as a symbolic link (to " in capsys.readouterr().err
    assert not list(tmp_path.glob("*_run")) and not list(tmp_path.glob("*summary*"))
    assert cli(*base_args, "--steps", "1", "--output", "o.png", "--overwrite") == 0
    assert not (tmp_path / "o.png").is_symlink() and Image.open(tmp_path / "o.png").size == (48, 36)
    assert (tmp_path / "target.png").read_bytes() == b"precious"
    # A directory on the way may be a link: the run writes through it.
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to("real")
    assert cli(*base_args, "--steps", "1", "--save_every", "1", "--output", "linked/p.png") == 0
    assert sorted(path.name for path in (tmp_path / "real").iterdir()) == ["p.png", "p.png_run", "p.png_summary.png"]
    assert (tmp_path / "real" / "p.png_run" / "step_000001.png").exists()


def test_a_second_run_with_the_same_output_names_the_first_and_stops(cli, tmp_path, content_path, style_path,
                                                                     weights_file, base_args, capsys):
    import signal
    import time

    first = start_run(tmp_path, content_path, style_path, weights_file, "out.png")
    try:
        deadline = time.monotonic() + START_LIMIT_S
        while not (tmp_path / "out.png_run" / "step_000001.png").exists():  # the first is at work
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        assert cli(*base_args, "--steps", "2", "--output", "out.png") == 1
        assert capsys.readouterr().err == (f"style-transfer: error: out.png: another run (PID {first.pid}) is writing "
                                           "it; wait for it to end or choose another --output\n")
        assert not (tmp_path / "out.png").exists()
    finally:
        first.send_signal(signal.SIGTERM)  # stops after its step, saving a checkpoint
        first.communicate(timeout=120)
    assert first.returncode == 143
    assert not (tmp_path / ".out.png.lock").exists()  # released and removed as the first run ended


def test_a_default_name_another_run_is_writing_gives_way_to_the_next(cli, base_args, tmp_path):
    script = ("import sys, time\nfrom style_transfer.cli.locks import OutputLock\n"
              "OutputLock('.tubingen_starry_night.png.lock', 'x').acquire()\nprint('held', flush=True)\n"
              "time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert cli(*base_args, "--steps", "0", "--nosummary") == 0
    finally:
        holder.kill()
        holder.wait()
    assert sorted(path.name for path in tmp_path.iterdir()) == [".tubingen_starry_night.png.lock",
                                                                 "tubingen_starry_night_2.png"]


def test_a_run_that_cannot_fit_in_memory_is_refused_at_once_with_the_largest_size_that_fits(
        cli, base_args, capsys, tmp_path, monkeypatch):
    import time

    from style_transfer.optimize import memory

    monkeypatch.setattr(memory, "available_mb", lambda: 6000.0)
    start = time.perf_counter()
    assert cli(*base_args, "--max_dim", "100000") == 2
    assert time.perf_counter() - start < 1
    err = capsys.readouterr().err
    assert err.startswith("style-transfer: error: --max_dim: 100000 needs about ") and err.count("\n") == 1, err
    assert " of memory (estimated), 5.9 GB is available; the largest --max_dim that fits is " in err
    largest, recomputed = (int(number) for number in err.split("fits is ")[1].split(" with")[0].split(" ("))
    config = config_lib.DEFAULT
    sizes = image_io.picture_size(base_args[1]), [image_io.picture_size(base_args[3])]
    assert memory.estimate_mb(config, *sizes, largest) <= 6000 < memory.estimate_mb(config, *sizes, largest + 1)
    assert recomputed > largest and not list(tmp_path.iterdir())
    # --recompute's estimate is its own.
    assert cli(*base_args, "--max_dim", "100000", "--recompute") == 2
    assert f"the largest --max_dim that fits is {recomputed}\n" in capsys.readouterr().err


def test_a_process_asked_for_an_impossible_size_says_so_in_one_line_before_importing_tensorflow(
        tmp_path, content_path, style_path):
    import time

    start = time.perf_counter()
    finished = run_process([sys.executable, "-m", "style_transfer.run", "--content", str(content_path), "--style",
                            str(style_path), "--weights", "random", "--max_dim", "100000"], tmp_path)
    seconds = time.perf_counter() - start
    assert finished.returncode == 2 and finished.stdout == "" and not list(tmp_path.iterdir())
    assert finished.stderr.startswith("style-transfer: error: --max_dim: 100000 needs about ")
    assert finished.stderr.count("\n") == 1, finished.stderr
    # Python and the command's own imports take a fraction of this; importing TensorFlow takes more alone.
    assert seconds < 5, seconds


def test_preset_then_explicit_flags_override_it(cli, base_args, tmp_path):
    assert cli(*base_args, "--preset", "tutorial", "--steps", "2", "--output", "t.png") == 0
    recorded = png_config(tmp_path / "t.png")
    assert (recorded["jpeg_dct"], recorded["resize"], recorded["steps"], recorded["max_dim"]) == ("fast", "tutorial", 2, 48)
    assert cli(*base_args, "--steps", "2", "--output", "d.png", "--style_layers", "block1_conv1:2,block3_conv1") == 0
    recorded = png_config(tmp_path / "d.png")
    assert (recorded["jpeg_dct"], recorded["style_layers"]) == ("accurate", "block1_conv1:2,block3_conv1:1")


def test_outputs_are_never_silently_overwritten(cli, base_args, tmp_path, capsys):
    assert cli(*base_args, "--steps", "0", "--nosummary") == 0
    assert cli(*base_args, "--steps", "0", "--nosummary") == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["tubingen_starry_night.png", "tubingen_starry_night_2.png"]
    (tmp_path / "mine.png").write_bytes(b"precious")
    capsys.readouterr()
    assert cli(*base_args, "--steps", "1", "--output", "mine.png") == 2
    assert "mine.png: already exists; not overwriting it (pass --overwrite to replace it)" in capsys.readouterr().err
    assert (tmp_path / "mine.png").read_bytes() == b"precious"
    assert cli(*base_args, "--steps", "1", "--output", "mine.png", "--overwrite") == 0
    assert Image.open(tmp_path / "mine.png").size == (48, 36)


def test_a_fixed_seed_gives_the_same_picture_and_another_seed_another(cli, base_args, tmp_path):
    for name, seed in (("a.png", "5"), ("b.png", "5"), ("c.png", "6")):
        assert cli(*base_args, "--steps", "3", "--init", "noise", "--seed", seed, "--output", name) == 0
    a, b, c = (np.asarray(Image.open(tmp_path / name)) for name in ("a.png", "b.png", "c.png"))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 10


@pytest.mark.parametrize("extra, status, message", [
    (["--steps", "-1"], 2, "--steps: must be >= 0, got -1"),
    (["--steps", "ten"], 2, "flag --steps=ten"),
    (["--max_dim", "0"], 2, "--max_dim: must be at least 16"),
    (["--preset", "fast"], 2, "--preset: unknown preset 'fast'; known presets: default, tutorial"),
    (["--init_noise", "2"], 2, "--init_noise: must be in [0, 1], got 2"),
    (["--init", "photo"], 2, "--init: must be content, noise, style or the path of a picture; there is no file 'photo'"),
    (["--style_scale", "5"], 2, "--style_scale: must be in (0, 4], got 5"),
    (["--style_blend_weights", "1,2"], 2, "--style_blend_weights: 2 weights for 1 style; give one weight per style"),
    (["--scales", "1024,512"], 2, "--scales: the sizes must increase"),
    (["--style_layers", "block1_conv1,block6_conv1"], 2, "--style_layers: vgg19 has no layer 'block6_conv1'"),
    (["--content_layers", "block5_conv2:x"], 2, "--content_layers: malformed weight 'x'"),
    (["--output", "out.gif"], 2, "out.gif: unknown output extension '.gif'"),
    (["--output", "notes.txt/out.png"], 2, "notes.txt/out.png: cannot be written: notes.txt is not a directory"),
    (["--logdir", "notes.txt"], 2, "cannot write outputs: notes.txt is not a directory"),
    (["--weights", "random:abc"], 2, "--weights: the seed after 'random:' must be a non-negative integer"),
    (["--weights", "missing.h5"], 1, "weights file missing.h5: no such file"),
    (["--max_dim", "16"], 1, "16x12 at max_dim 16 is too small for the layers used, which need at least 16 px"),
    (["--colour", "red"], 2, "Unknown command line flag 'colour'"),
    (["stray"], 2, "unexpected argument 'stray'"),
])
def test_bad_flags_give_one_line_naming_the_flag(cli, base_args, capsys, tmp_path, extra, status, message):
    (tmp_path / "notes.txt").write_text("not a directory")
    assert cli(*base_args, *extra) == status
    err = capsys.readouterr().err
    assert err.startswith("style-transfer: error: ") and message in err, err
    assert err.count("\n") == 1
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.gif"))


def test_intermediate_pictures_are_not_overwritten_either(cli, base_args, capsys, tmp_path):
    steps_dir = tmp_path / "mine.png_run"
    steps_dir.mkdir()
    (steps_dir / "step_000002.png").write_bytes(b"precious")
    assert cli(*base_args, "--steps", "2", "--save_every", "2", "--output", "mine.png") == 2
    assert "mine.png_run: already holds pictures; pass --overwrite" in capsys.readouterr().err
    assert (steps_dir / "step_000002.png").read_bytes() == b"precious" and not (tmp_path / "mine.png").exists()
    # A default name steps around both a taken picture and a taken steps directory.
    (tmp_path / "tubingen_starry_night.png_run").mkdir()
    assert cli(*base_args, "--steps", "2", "--save_every", "2") == 0
    assert (tmp_path / "tubingen_starry_night_2.png").exists()
    assert (tmp_path / "tubingen_starry_night_2.png_run" / "step_000002.png").exists()
    assert cli(*base_args, "--steps", "2", "--save_every", "2", "--output", "mine.png", "--overwrite") == 0
    assert Image.open(steps_dir / "step_000002.png").size == (48, 36)


@pytest.mark.parametrize("missing", ["--content", "--style"])
def test_content_and_style_are_required(cli, base_args, capsys, missing):
    args = list(base_args)
    index = args.index(missing)
    del args[index:index + 2]
    assert cli(*args) == 2
    assert f"{missing} is required" in capsys.readouterr().err


def test_unreadable_input_names_the_file(cli, base_args, capsys, tmp_path):
    (tmp_path / "notes.jpg").write_text("hello")
    args = list(base_args)
    args[args.index("--content") + 1] = "notes.jpg"
    assert cli(*args) == 1
    assert capsys.readouterr().err == "style-transfer: error: notes.jpg: not an image Pillow can read\n"


# Real processes: what a user's terminal shows (no TensorFlow banner, no traceback), the console script,
# and the offline ImageNet path, which needs a fresh process for its own KERAS_HOME.


def run_process(args, tmp_path, **env):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(env)
    return subprocess.run(args, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)


def test_a_process_with_a_missing_input_prints_exactly_one_line(tmp_path, style_path):
    finished = run_process([sys.executable, "-m", "style_transfer.run", "--content", "nope.jpg", "--style",
                            str(style_path), "--weights", "random"], tmp_path)
    assert finished.returncode == 1
    assert finished.stderr == "style-transfer: error: nope.jpg: no such file\n"
    assert finished.stdout == "" and not list(tmp_path.iterdir())


@pytest.mark.parametrize("network", ["vgg19", "vgg16"])
def test_offline_imagenet_says_which_file_where_keras_caches_it_and_how_to_do_without(tmp_path, content_path,
                                                                                       style_path, network):
    # An unreachable proxy makes the download fail at once whether or not this machine has a network.
    proxy = "http://127.0.0.1:9"
    finished = run_process(
        [sys.executable, "-m", "style_transfer", "--content", str(content_path), "--style", str(style_path),
         "--max_dim", "32", "--steps", "1", "--network", network], tmp_path, KERAS_HOME=str(tmp_path / "keras"),
        https_proxy=proxy, HTTPS_PROXY=proxy, no_proxy="", NO_PROXY="")
    assert finished.returncode == 1
    error_lines = finished.stderr.splitlines()
    assert len(error_lines) == 1 and "Traceback" not in finished.stderr, finished.stderr
    line = error_lines[0]
    cached = tmp_path / "keras" / "models" / f"{network}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert line.startswith(f"style-transfer: error: could not download the {network.upper()} ImageNet weights")
    assert f"keras-applications/{network}/" in line
    assert f"Keras caches that file at {cached}" in line and "--weights PATH" in line
    assert not list(tmp_path.glob("*.png"))


def test_help_under_python_m_lists_the_config_flags(tmp_path):
    # Under python -m the module is __main__, which absl files under the script's path.
    finished = run_process([sys.executable, "-m", "style_transfer.run", "--help"], tmp_path)
    assert finished.returncode == 0, finished
    for flag in ("--tv_weight", "--steps", "--recompute"):
        assert f"  {flag}:" in finished.stdout or f"  --[no]{flag[2:]}:" in finished.stdout


def test_console_script_runs_the_same_main(tmp_path, content_path, style_path, weights_file):
    script = Path(sys.executable).with_name("style-transfer")
    assert script.exists(), "pip install -e . installs the style-transfer console script"
    finished = run_process([str(script), "--help"], tmp_path)
    assert finished.returncode == 0, finished
    assert finished.stdout.startswith("Neural style transfer (Gatys et al. 2015) from the command line.")
    for flag in ("--content", "--style", "--output", "--preset", "--style_layers", "--tv_weight", "--logdir"):
        assert flag in finished.stdout
    finished = run_process([str(script), "--content", str(content_path), "--style", str(style_path), "--weights",
                            str(weights_file), "--max_dim", "32", "--steps", "2", "--output", "out.jpg"], tmp_path)
    assert finished.returncode == 0 and finished.stderr == "", finished.stderr
    assert finished.stdout.startswith("Wrote out.jpg (32x24, 2 steps")
    assert Image.open(tmp_path / "out.jpg").format == "JPEG"


# Interrupts, resume and numerical faults, in real processes where signals are involved.


def signal_run_args(content_path, style_path, weights_file, steps=40):
    """The flags of the runs the signal tests interrupt, and of the in-process runs they are compared with."""
    return ["--content", str(content_path), "--style", str(style_path), "--weights", str(weights_file),
            "--max_dim", "40", "--steps", str(steps), "--init", "noise", "--seed", "3", "--save_every", "1",
            "--nosummary"]


def start_run(tmp_path, content_path, style_path, weights_file, output, steps=40):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.Popen(
        [sys.executable, "-m", "style_transfer.run", *signal_run_args(content_path, style_path, weights_file, steps),
         "--output", output],
        cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def interrupt_after(process, picture: Path, signal_number):
    import time

    deadline = time.monotonic() + START_LIMIT_S
    while not picture.exists():  # a step has certainly finished once its picture is there
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal_number)
    return process.communicate(timeout=120)


@pytest.fixture(scope="module")
def uninterrupted_picture(tmp_path_factory, content_path, style_path, weights_file):
    """The pixels of start_run's run made in-process without interruption, once for both signals."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert run_command(*signal_run_args(content_path, style_path, weights_file), "--output", "straight.png") == 0
    return np.asarray(Image.open(folder / "straight.png"))


@pytest.mark.parametrize("signal_name, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_saves_image_and_checkpoint_and_resuming_ends_where_an_uninterrupted_run_does(
        tmp_path, content_path, style_path, weights_file, cli, uninterrupted_picture, signal_name, status):
    import signal

    process = start_run(tmp_path, content_path, style_path, weights_file, "out.png")
    out, err = interrupt_after(process, tmp_path / "out.png_run" / "step_000003.png", getattr(signal, signal_name))
    assert process.returncode == status, err
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith(f"style-transfer: {signal_name}: stopped after step ")
    assert "Resume with: style-transfer " in last_line and last_line.endswith("--resume")
    assert "Traceback" not in err and not (tmp_path / "out.png").exists()
    stopped_at = int(last_line.split("stopped after step ")[1].split()[0])
    assert 3 <= stopped_at < 40
    assert (tmp_path / "out.png_run" / f"step_{stopped_at:06d}.png").exists()
    assert (tmp_path / "out.png_run" / "checkpoint" / "state.json").exists()

    # Without --resume the interrupted run is protected; with it, the run finishes.
    resume_args = [*signal_run_args(content_path, style_path, weights_file), "--output", "out.png"]
    assert cli(*resume_args) == 2
    assert cli(*resume_args, "--resume") == 0
    assert not (tmp_path / "out.png_run" / "checkpoint").exists()  # finished: nothing left to resume
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), uninterrupted_picture)


def test_resume_needs_a_checkpoint_and_the_same_settings(cli, base_args, capsys, tmp_path):
    assert cli(*base_args, "--steps", "3", "--output", "r.png", "--resume") == 2
    assert "--resume: r.png_run/checkpoint holds no checkpoint to continue" in capsys.readouterr().err
    # Make a checkpoint with the API, as an interrupted run leaves it.
    from style_transfer.optimize import api
    from style_transfer.cli import run as run_module

    run_module.FLAGS.unparse_flags()
    config = run_module.config_lib.DEFAULT.replace(weights=base_args[5], max_dim=48, steps=3)
    import threading

    stop = threading.Event()
    stop.set()
    api.stylize(base_args[1], base_args[3], config, stop=stop).save_checkpoint(tmp_path / "r.png_run" / "checkpoint")
    assert cli(*base_args, "--steps", "3", "--output", "r.png", "--resume", "--tv_weight", "1") == 1
    assert "the checkpoint was made with other settings (tv_weight was 30.0, now 1.0)" in capsys.readouterr().err
    assert cli(*base_args, "--steps", "3", "--output", "r.png", "--overwrite") == 0  # starting over
    assert not (tmp_path / "r.png_run" / "checkpoint").exists()


def test_a_diverging_run_stops_and_keeps_the_last_finite_image(cli, base_args, capsys, tmp_path):
    assert cli(*base_args, "--steps", "5", "--style_weight", "1e38", "--output", "d.png") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "became non-finite (NaN or infinity) at step 1" in err
    kept = tmp_path / "d.png_run" / "last_finite_step_000000.png"
    assert f"The last finite image is in {kept.relative_to(tmp_path)}" in err
    assert np.asarray(Image.open(kept)).std() > 10 and not (tmp_path / "d.png").exists()


@pytest.mark.parametrize("value, message", [("1e39", "must be at most 3.403e+38 (float32)"),
                                            ("5", "must be in (0, 1]")])
def test_an_absurd_learning_rate_is_refused_before_any_work(cli, base_args, capsys, tmp_path, value, message):
    assert cli(*base_args, "--learning_rate", value) == 2
    assert f"--learning_rate: {message}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.fixture
def interrupting(monkeypatch):
    """Makes the next in-process run behave as if Ctrl-C came during its first step."""
    import signal

    original = run.StopOnSignal

    class InterruptedAtOnce(original):
        def __enter__(self):
            super().__enter__()
            self.received = signal.SIGINT
            self.stop.set()
            return self

    def arm(on=True):
        monkeypatch.setattr(run, "StopOnSignal", InterruptedAtOnce if on else original)

    return arm


def test_overwrite_with_a_mistyped_input_keeps_the_interrupted_run(cli, base_args, capsys, tmp_path, interrupting):
    interrupting()
    assert cli(*base_args, "--steps", "5", "--output", "o.png") == 130
    assert (tmp_path / "o.png_run" / "checkpoint" / "state.json").exists()
    interrupting(False)
    typo = list(base_args)
    typo[typo.index("--content") + 1] = "tubingen.jgp"
    assert cli(*typo, "--steps", "5", "--output", "o.png", "--overwrite") == 1
    assert (tmp_path / "o.png_run" / "checkpoint" / "state.json").exists()  # hours of work not thrown away
    capsys.readouterr()
    assert cli(*base_args, "--steps", "5", "--output", "o.png", "--resume") == 0
    assert "5 steps (4 after resuming)" in capsys.readouterr().out
    assert not (tmp_path / "o.png_run").exists()  # checkpoint and interruption picture gone: nothing left over


def test_resuming_with_another_picture_is_refused(cli, base_args, capsys, tmp_path, interrupting, grey_style_path):
    interrupting()
    assert cli(*base_args, "--steps", "5", "--output", "o.png") == 130
    interrupting(False)
    other = list(base_args)
    other[other.index("--style") + 1] = str(grey_style_path)
    assert cli(*other, "--steps", "5", "--output", "o.png", "--resume") == 1
    assert "made from other content or style pictures" in capsys.readouterr().err


def test_run_directory_pictures_are_protected_whatever_save_every_is(cli, base_args, capsys, tmp_path):
    (tmp_path / "o.png_run").mkdir()
    (tmp_path / "o.png_run" / "step_000001.png").write_bytes(b"precious")
    assert cli(*base_args, "--steps", "2", "--output", "o.png") == 2
    assert "o.png_run: already holds pictures" in capsys.readouterr().err
    assert (tmp_path / "o.png_run" / "step_000001.png").read_bytes() == b"precious"


def test_overwrite_clears_the_replaced_runs_pictures_once_the_new_run_worked(cli, base_args, tmp_path):
    (tmp_path / "o.png_run").mkdir()
    (tmp_path / "o.png_run" / "step_000009.png").write_bytes(b"old run")
    (tmp_path / "o.png_run" / "notes.txt").write_text("the user's own file")
    assert cli(*base_args, "--steps", "4", "--save_every", "2", "--output", "o.png", "--overwrite") == 0
    assert sorted(p.name for p in (tmp_path / "o.png_run").iterdir()) == ["notes.txt", "step_000002.png", "step_000004.png"]


def test_several_styles_a_mask_and_colour_preservation_from_the_command_line(cli, content_path, style_path,
                                                                            grey_style_path, weights_file,
                                                                            capsys, tmp_path):
    from style_transfer.core import color

    mask = Image.new("L", (400, 300), 0)
    mask.paste(255, (200, 0, 400, 300))
    mask.save(tmp_path / "halves.png")
    args = ["--content", str(content_path), "--style", f"{style_path},{grey_style_path}", "--weights",
            str(weights_file), "--max_dim", "48", "--steps", "3", "--logdir", "tb"]
    assert cli(*args, "--mask", "halves.png", "--preserve_colors", "luminance") == 0
    output = tmp_path / "tubingen_starry_night+escher_sphere.png"
    assert f"Wrote {output.name} (48x36, 3 steps" in capsys.readouterr().out
    content = api_content(content_path)
    saved = image_io.load_image(output)
    assert np.abs(color.rgb_to_yiq(saved)[..., 1:] - color.rgb_to_yiq(content)[..., 1:]).max() < 2.5 / 255
    config_text = read_events(tmp_path / "tb")["config"][0][1].item().decode()
    assert "| mask | `halves.png` |" in config_text and "| preserve_colors | `luminance` |" in config_text
    assert cli(*args, "--scales", "2", "--style_blend_weights", "1,3", "--pooling", "avg", "--init_noise", "0.2",
               "--style_scale", "2", "--gram_norm", "chw", "--style_weight", "100") == 0
    assert "Wrote tubingen_starry_night+escher_sphere_2.png (48x36, 6 steps" in capsys.readouterr().out


def api_content(content_path):
    from style_transfer.optimize import api
    from style_transfer.core.config import DEFAULT

    return api.load_inputs(content_path, content_path, DEFAULT.replace(max_dim=48))[0].numpy()


def test_resume_messages_name_the_run_and_old_checkpoints_count_new_settings_as_defaults(cli, base_args, capsys,
                                                                                        tmp_path):
    Image.new("RGB", (64, 48), (90, 120, 150)).save(tmp_path / "my_photo.png")
    assert cli("--content", "my_photo.png", *base_args[2:], "--resume") == 2
    assert "--resume: no interrupted run of my_photo_starry_night here" in capsys.readouterr().err
    import threading

    from style_transfer.optimize import api, checkpoints

    config = config_lib.DEFAULT.replace(weights=base_args[5], max_dim=48, steps=3)
    stop = threading.Event()
    stop.set()
    directory = api.stylize(base_args[1], base_args[3], config, stop=stop).save_checkpoint(tmp_path / "o.png_run" / "checkpoint")
    # A checkpoint written before the artistic controls existed has no entry for them.
    state = checkpoints.read_state(directory)
    for name in ("mask", "scales", "pooling", "style_blend_weights", "init_noise"):
        del state["config"][name]
    checkpoints.write_state(directory, state)
    assert cli(*base_args, "--steps", "3", "--output", "o.png", "--resume", "--logdir", "tb", "--tv_weight", "2") == 1
    assert "(tv_weight was 30.0, now 2.0)" in capsys.readouterr().err
    assert not (tmp_path / "tb").exists() or not any((tmp_path / "tb").iterdir())  # a failed resume logs nothing
    assert cli(*base_args, "--steps", "3", "--output", "o.png", "--resume") == 0
