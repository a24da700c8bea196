"""style-transfer-ui: a live server started here (random VGG16 weights, tiny pictures), driven by Gradio's own
client as a page would drive it, and once by a real headless browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gradio = pytest.importorskip("gradio", reason='needs the ui extra: pip install -e ".[test,ui]"')
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import make_ui_screenshot  # noqa: E402

PHOTO_SIZE = (56, 40)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A tiny photograph and two tiny paintings (noise and stripes), and damaged and huge files."""
    from test_image_io import png_claiming

    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (PHOTO_SIZE[1], PHOTO_SIZE[0], 3), dtype=np.uint8)).save(folder / "photo.png")
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(folder / "noise.png")
    stripes = np.zeros((48, 48, 3), np.uint8)
    stripes[::4] = 255
    Image.fromarray(stripes).save(folder / "stripes.png")
    (folder / "random.jpg").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    buffer = (folder / "photo.png").read_bytes()
    (folder / "cut.png").write_bytes(buffer[: len(buffer) // 2])
    (folder / "bomb.png").write_bytes(png_claiming(12_000, 10_000))
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A --models folder: a tiny two-style network's export (named `two`) and a folder that is no network."""
    import keras

    from style_transfer.fast import export
    from style_transfer.fast.transformer import transformer_network

    folder = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(3)
    network = transformer_network(filters=4, residual_blocks=1, styles=2)
    export.save(network, folder / "two", metadata={"style_names": ["dots", "stripes"], "steps": 7})
    (folder / "notes").mkdir()
    return folder


@pytest.fixture(scope="module")
def server(models):
    """The app on a free port of 127.0.0.1, with random VGG16 weights; one per module (the first painting
    traces the optimiser's step, which later ones reuse)."""
    from style_transfer.ui import UIConfig, build_app

    heartbeat = os.environ.get("GRADIO_HEARTBEAT_INTERVAL")
    os.environ["GRADIO_HEARTBEAT_INTERVAL"] = "0.25"  # a closed page is noticed within a quarter second
    app = build_app(UIConfig(network="vgg16", weights="random", port=make_ui_screenshot.free_port(),
                             models=str(models)))
    app.launch(block=False, quiet=True)
    assert app.url == f"http://127.0.0.1:{app.config.port}/"
    yield app
    app.close()
    if heartbeat is None:
        os.environ.pop("GRADIO_HEARTBEAT_INTERVAL")
    else:
        os.environ["GRADIO_HEARTBEAT_INTERVAL"] = heartbeat


@pytest.fixture
def client(server):
    client = Client(server.url, verbose=False, download_files=False)
    yield client
    client.close()


def paint_arguments(pictures, photo="photo.png", paintings=("noise.png",), size=32, steps=3, blend=""):
    """The /paint endpoint's inputs in order: photo, example photo, paintings, example paintings, size, steps,
    strength, colour preservation, style scale, blend weights, network."""
    return (handle_file(str(pictures / photo)), None, [handle_file(str(pictures / name)) for name in paintings], [],
            size, steps, 1.0, "none", 1.0, blend, "vgg16")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A tiny clip (4 frames of 64x48 at 8 frames/s, half a second of sound), a longer one (24 frames, no
    sound), the first cut in half, and random bytes named .mp4."""
    pytest.importorskip("av", reason='needs the video extra: pip install -e ".[test,ui,video]"')
    from conftest import write_clip
    from style_transfer.video import synthetic

    folder = tmp_path_factory.mktemp("clips")
    scene = np.random.default_rng(1).random((96, 128, 3), dtype=np.float32)
    for name, frames, sound in (("clip.mp4", 4, 0.5), ("long.mp4", 24, 0.0)):
        write_clip(folder / name, [frame.image for frame in synthetic.synthetic_clip(scene, frames=frames,
                                                                                     size=(64, 48))],
                   fps=8, audio_seconds=sound)
    whole = (folder / "clip.mp4").read_bytes()
    (folder / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    (folder / "noise.mp4").write_bytes(np.random.default_rng(2).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return folder


def video_arguments(clip, size=64, smoothing=0.5, weights=(1, 0)):
    """The /fast_video endpoint's inputs in order: network, video, size, strength, colour preservation,
    temporal smoothing, the eight style sliders."""
    return ("two", handle_file(str(clip)), size, 1.0, "none", smoothing, *weights, *[0] * (8 - len(weights)))


def server_paths(server) -> list[str]:
    """Where the server keeps files: what no metadata may show."""
    return [tempfile.gettempdir(), str(server.sessions.root), str(Path(gradio.utils.get_upload_folder()))]


def fetch(server, file_data) -> Path:
    """The server-side file behind an output (the app and the test share the machine)."""
    path = Path(file_data["path"] if isinstance(file_data, dict) else file_data)
    assert path.is_file(), path
    return path


def test_a_tiny_painting_streams_its_progress_and_ends_with_the_png_and_its_settings(server, client, pictures):
    job = client.submit(*paint_arguments(pictures, paintings=("noise.png", "stripes.png"), blend="2,1"),
                        api_name="/paint")
    picture, figure, status, download = job.result(timeout=900)
    assert status.startswith("Done: 3 steps in") and "32x23" in status
    updates = [output[2] for output in job.outputs()]
    assert any(update.startswith("Step ") and " of 3" in update for update in updates), updates
    assert figure["type"] == "matplotlib"
    shown, saved = Image.open(fetch(server, picture)), Image.open(fetch(server, download))
    assert shown.size == saved.size == (32, 23)  # 56x40 at longest side 32
    np.testing.assert_array_equal(np.asarray(shown.convert("RGB")), np.asarray(saved.convert("RGB")))
    config = json.loads(saved.text["style_transfer:config"])
    assert (config["max_dim"], config["steps"], config["network"], config["weights"]) == (32, 3, "vgg16", "random")
    assert config["style_blend_weights"] == "2,1"
    assert fetch(server, download).name == "photo_noise_stripes.png"
    # The uploads by the names they had on this side, never where the server keeps them.
    assert saved.text["style_transfer:content"] == "photo.png"
    assert json.loads(saved.text["style_transfer:styles"]) == ["noise.png", "stripes.png"]
    assert not [value for value in saved.text.values() for path in server_paths(server) if path in value]


@pytest.mark.parametrize("name, words", [("random.jpg", "random.jpg: not an image"),
                                         ("cut.png", "cut.png: "),
                                         ("bomb.png", "bomb.png: 12000x10000 is 120.0 megapixels, more than the limit")])
def test_a_bad_upload_is_one_message_in_the_page(server, client, pictures, name, words):
    with pytest.raises(AppError) as raised:
        client.predict(*paint_arguments(pictures, photo=name), api_name="/paint")
    message = str(raised.value)
    assert message.startswith(words), message
    assert "\n" not in message and "Traceback" not in message and "/tmp" not in message and "gradio" not in message


def test_a_settings_mistake_is_one_message_naming_the_control(server, client, pictures):
    with pytest.raises(AppError, match=r"^blend weights: 1 weights? for 2 paintings"):
        client.predict(*paint_arguments(pictures, paintings=("noise.png", "stripes.png"), blend="1"),
                       api_name="/paint")


def test_stop_ends_the_run_early_and_keeps_the_picture_so_far(server, client, pictures):
    job = client.submit(*paint_arguments(pictures, steps=1000), api_name="/paint")
    deadline = time.monotonic() + 600
    while not any(output[2].startswith("Step ") for output in job.outputs()):
        assert time.monotonic() < deadline and not job.done(), job.outputs()
        time.sleep(0.2)
    client.predict(api_name="/stop")
    picture, _, status, download = job.result(timeout=120)
    assert status.startswith("Stopped after step "), status
    steps_done = int(status.split()[3])
    assert 1 <= steps_done < 1000
    saved = Image.open(fetch(server, download))
    assert saved.size == (32, 23)
    assert json.loads(saved.text["style_transfer:config"])["steps"] == 1000


def test_two_sessions_paint_one_after_the_other_and_each_stops_only_its_own(server, pictures):
    from gradio_client.utils import Status

    first, second = (Client(server.url, verbose=False, download_files=False) for _ in range(2))
    try:
        running = first.submit(*paint_arguments(pictures, steps=1000), api_name="/paint")
        deadline = time.monotonic() + 600
        while not any(output[2].startswith("Step ") for output in running.outputs()):
            assert time.monotonic() < deadline and not running.done(), running.outputs()
            time.sleep(0.2)
        waiting = second.submit(*paint_arguments(pictures, steps=2), api_name="/paint")
        time.sleep(2)
        assert waiting.status().code == Status.IN_QUEUE and not waiting.outputs()  # one worker: it waits
        second.predict(api_name="/stop")  # the second session has no run going: the first's goes on
        time.sleep(1)
        assert not running.done()
        first.predict(api_name="/stop")
        assert running.result(timeout=120)[2].startswith("Stopped after step ")
        assert waiting.result(timeout=600)[2].startswith("Done: 2 steps")
    finally:
        first.close()
        second.close()


def test_a_sessions_folder_is_removed_when_its_page_closes(server, pictures):
    client = Client(server.url, verbose=False, download_files=False)
    _, status, download = client.predict("two", handle_file(str(pictures / "photo.png")), None, 32, 1.0, "none",
                                         1.0, 0.0, 0, 0, 0, 0, 0, 0, api_name="/fast")
    folder = server.sessions.root / client.session_hash
    assert [path.name for path in folder.iterdir()] == [fetch(server, download).name]  # Gradio serves a copy
    client.close()
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not folder.exists()
    assert server.sessions.root.is_dir()  # other sessions' folders stay


def test_the_fast_tab_paints_a_blend_of_a_trained_networks_styles(server, client, pictures):
    picture, status, download = client.predict("two", handle_file(str(pictures / "photo.png")), None, 48, 0.5,
                                               "luminance", 0.25, 0.75, 0, 0, 0, 0, 0, 0, api_name="/fast")
    assert status.startswith("Painted 48x34 in")
    saved = Image.open(fetch(server, download))
    assert saved.size == (48, 34)
    assert json.loads(saved.text["style_transfer:style"]) == {"dots": 0.25, "stripes": 0.75}
    assert json.loads(saved.text["style_transfer:controls"]) == {"strength": 0.5, "preserve_colors": "luminance"}
    assert saved.text["style_transfer:model"] == "two"  # the page's name for it, never the server's path
    assert saved.text["style_transfer:content"] == "photo.png"
    assert not [value for value in saved.text.values() for path in server_paths(server) if path in value]
    with pytest.raises(AppError, match="give at least one style a weight above 0"):
        client.predict("two", handle_file(str(pictures / "photo.png")), None, 48, 1.0, "none", 0, 0, 0, 0, 0, 0, 0,
                       0, api_name="/fast")


def test_the_fast_tab_paints_a_video_frame_by_frame_with_its_sound(server, client, clips):
    from style_transfer.video import io as video_io

    job = client.submit(*video_arguments(clips / "clip.mp4"), api_name="/fast_video")
    video, status, download = job.result(timeout=600)
    assert status.startswith("Done: 4 frames of 64x48 in") and "saved as clip_two.mp4" in status, status
    updates = [output[1] for output in job.outputs()]
    assert any(update.startswith("Frame 1 of 4 · ") for update in updates), updates
    assert fetch(server, video).read_bytes() == fetch(server, download).read_bytes()
    with video_io.open_video(fetch(server, download)) as result:
        assert (result.frame_count, result.size, result.fps, result.has_audio) == (4, (64, 48), 8, True)
        assert len([frame for frame in result if frame is not None]) == 4
    folder = server.sessions.root / client.session_hash
    assert [path.name for path in folder.iterdir()] == ["clip_two.mp4"]  # nothing else, no unfinished parts


@pytest.mark.parametrize("name, words", [("cut.mp4", "cut.mp4: not a video FFmpeg can read"),
                                         ("noise.mp4", "noise.mp4: not a video FFmpeg can read"),
                                         ("photo.png", "photo.png: not a video file")])
def test_a_damaged_or_unsupported_video_is_one_message_in_the_page(server, client, clips, pictures, name, words):
    with pytest.raises(AppError) as raised:
        client.predict(*video_arguments((pictures if name.endswith(".png") else clips) / name),
                       api_name="/fast_video")
    message = str(raised.value)
    assert message.startswith(words), message
    assert "\n" not in message and "Traceback" not in message and "/tmp" not in message


def test_stop_ends_a_video_and_keeps_nothing_half_written(server, client, clips, monkeypatch):
    from style_transfer.fast import export

    original, frames, stopped = export.Stylizer.__call__, [], threading.Event()

    def held(self, *args, **kwargs):  # the second frame waits until Stop has been pressed
        frames.append(1)
        if len(frames) == 2:
            stopped.wait(timeout=120)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(export.Stylizer, "__call__", held)
    job = client.submit(*video_arguments(clips / "long.mp4"), api_name="/fast_video")
    deadline = time.monotonic() + 600
    while len(frames) < 2:
        assert time.monotonic() < deadline and not job.done(), job.outputs()
        time.sleep(0.1)
    client.predict(api_name="/stop_video")
    stopped.set()
    video, status, download = job.result(timeout=120)
    assert status.startswith("Stopped after frame 2 of 24; a video is kept only whole"), status
    assert video is None and download is None and len(frames) == 2
    assert not list((server.sessions.root / client.session_hash).glob("long_two*"))


def test_without_the_video_extra_the_video_part_says_so_and_pictures_still_paint(models, pictures, clips,
                                                                               monkeypatch):
    from style_transfer.ui import UIConfig, build_app

    for module in ("av", "cv2"):
        monkeypatch.setitem(sys.modules, module, None)
    app = build_app(UIConfig(network="vgg16", weights="random", port=make_ui_screenshot.free_port(),
                             models=str(models)))
    monkeypatch.undo()
    line = 'Videos need PyAV and OpenCV, which are not installed: pip install -e ".[ui,video]"'
    shown = [component["props"] for component in app.blocks.config["components"]
             if component["props"].get("elem_id") == "video_missing"]
    assert shown == [dict(shown[0], value=line, visible=True)]
    app.launch(block=False, quiet=True)
    client = Client(f"http://127.0.0.1:{app.config.port}/", verbose=False, download_files=False)
    try:
        with pytest.raises(AppError) as raised:
            client.predict(*video_arguments(clips / "clip.mp4"), api_name="/fast_video")
        assert str(raised.value) == line
        _, status, _ = client.predict("two", handle_file(str(pictures / "photo.png")), None, 32, 1.0, "none", 1, 0,
                                      0, 0, 0, 0, 0, 0, api_name="/fast")
        assert status.startswith("Painted 32x23 in")
    finally:
        client.close()
        app.close()


def test_only_networks_the_server_listed_can_be_named(server, client, pictures):
    assert server.networks.names == ["two"]  # the folder that holds no network is not offered
    for name in ("notes", str(server.networks.found["two"]), "../two"):
        with pytest.raises(AppError):
            client.predict(name, handle_file(str(pictures / "photo.png")), None, 48, 1.0, "none", 1, 0, 0, 0, 0, 0,
                           0, 0, api_name="/fast")


def test_the_page_paints_in_a_real_browser(server, pictures, tmp_path):
    if not make_ui_screenshot.CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {make_ui_screenshot.CHROMIUM} (apt-get install -y chromium; .ci/run does)")
    pytest.importorskip("playwright", reason="needs playwright (the test extra)")
    # UPDATE_UI_SCREENSHOT=1 writes the docs' screenshot (random weights) into assets/, else a temporary file.
    screenshot = (REPO / "assets" / "ui_test.jpg" if os.environ.get("UPDATE_UI_SCREENSHOT")
                  else tmp_path / "ui_test.jpg")
    shown = make_ui_screenshot.paint_in_browser(server.url, pictures / "photo.png", [pictures / "noise.png"],
                                                size=32, steps=2, screenshot=screenshot)
    assert shown["status"].startswith("Done: 2 steps") and (shown["width"], shown["height"]) == (32, 23)
    page = np.asarray(Image.open(screenshot).convert("RGB"))
    assert page.shape[1] == 1280 and page.std() > 10  # a rendered page, not a blank one


def test_the_page_paints_a_video_in_a_real_browser(server, clips):
    if not make_ui_screenshot.CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {make_ui_screenshot.CHROMIUM} (apt-get install -y chromium; .ci/run does)")
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (the test extra)")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(make_ui_screenshot.CHROMIUM), headless=True)
        try:
            page = browser.new_page()
            page.goto(server.url)
            page.get_by_role("tab", name="Fast").click()
            page.get_by_role("tab", name="Video").click()
            size = page.locator("#fast_size input[type=number]")
            size.fill("64")
            size.press("Enter")
            page.locator("#video input[type=file]").set_input_files(str(clips / "clip.mp4"))
            page.locator("#video video").wait_for(timeout=60_000)  # the upload plays in the page
            page.locator("#paint_video").click()
            page.wait_for_function("document.querySelector('#video_status').innerText.startsWith('Done')",
                                   timeout=600_000)
            assert page.locator("#video_status").inner_text().startswith("Done: 4 frames of 64x48")
            page.wait_for_function("(video => video && video.readyState >= 1)"
                                   "(document.querySelector('#video_result video'))", timeout=60_000)
            shown = page.locator("#video_result video").evaluate("video => [video.videoWidth, video.videoHeight]")
            assert shown == [64, 48]  # the browser decodes the result
        finally:
            browser.close()


def test_a_page_that_closes_stops_its_run_within_a_few_steps_and_frees_the_worker(server, pictures, client,
                                                                                  monkeypatch):
    if not make_ui_screenshot.CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {make_ui_screenshot.CHROMIUM} (apt-get install -y chromium; .ci/run does)")
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (the test extra)")
    from style_transfer.ui import paint

    steps, on_step = [], paint._Watcher.on_step

    def counted(self, step, image, terms):  # at most ten steps a second: 1000 take at least 100 s
        steps.append((time.monotonic(), step))
        time.sleep(0.1)
        return on_step(self, step, image, terms)

    monkeypatch.setattr(paint._Watcher, "on_step", counted)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(make_ui_screenshot.CHROMIUM), headless=True)
        try:
            page = browser.new_page()
            make_ui_screenshot.start_painting(page, server.url, pictures / "photo.png", [pictures / "noise.png"],
                                              size=32, steps=1000)
            page.wait_for_function("document.querySelector('#status').innerText.startsWith('Step ')",
                                   timeout=600_000)
            assert len(server.sessions.running()) == 1
            page.close()
            closed_at = time.monotonic()
            deadline = time.monotonic() + 120
            while server.sessions.running():
                assert time.monotonic() < deadline, f"still running at step {steps[-1][1]}"
                time.sleep(0.1)
        finally:
            browser.close()
    # Gradio notices the page's event stream dropping and closes the run's generator (1.4 s, 8 steps, here).
    after = [(round(at - closed_at, 2), step) for at, step in steps if at > closed_at]
    assert steps[-1][1] < 1000 and (not after or after[-1][0] < 10), after
    # The worker is free: the next painting starts at once.
    assert client.predict(*paint_arguments(pictures, steps=1), api_name="/paint")[2].startswith("Done: 1 steps")


def test_the_command_line_refuses_mistakes_in_one_line_before_starting():
    for arguments, words in ((["--port", "70000"], "--port: must be in [0, 65535]"),
                             (["--weights", "/nonexistent.h5"], "--weights /nonexistent.h5: no such file"),
                             (["--models", "/nonexistent"], "--models /nonexistent: no such folder"),
                             (["extra"], "unexpected argument 'extra'")):
        result = subprocess.run([sys.executable, "-m", "style_transfer.ui", *arguments], capture_output=True,
                                text=True, timeout=120, cwd=REPO)
        assert result.returncode == 2, result  # a usage error, as every command's
        assert result.stderr.startswith("style-transfer-ui: error: ") and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def start_command(arguments, tmp_path) -> subprocess.Popen:
    """`style-transfer-ui` with random VGG16 weights and `arguments`, its temporary folders under `tmp_path`."""
    environment = dict(os.environ, TMPDIR=str(tmp_path), GRADIO_TEMP_DIR=str(tmp_path / "gradio"))
    return subprocess.Popen([sys.executable, "-m", "style_transfer.ui", "--network", "vgg16", "--weights", "random",
                             *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=environment)


def sessions_folders(tmp_path) -> list[Path]:
    return list(tmp_path.glob("style-transfer-ui-*"))


def test_a_busy_port_is_one_line_and_nothing_is_left(tmp_path, monkeypatch, capsys):
    import signal
    import socket

    from style_transfer.cli import ui as command

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the app's folder would stay
    on_sigterm = signal.getsignal(signal.SIGTERM)  # main() handles SIGTERM as Ctrl-C
    try:
        with socket.socket() as taken, pytest.raises(SystemExit) as exited:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            command.COMMAND.run(command.main, ["style-transfer-ui", "--port", str(port), "--network", "vgg16",
                                               "--weights", "random"])
    finally:
        signal.signal(signal.SIGTERM, on_sigterm)
    printed = capsys.readouterr()
    assert exited.value.code == 2, printed
    assert printed.err.startswith(f"style-transfer-ui: error: --port {port}: in use "), printed.err
    assert len(printed.err.strip().splitlines()) == 1 and "serving on" not in printed.out, printed
    assert not sessions_folders(tmp_path)


def test_port_0_serves_on_a_free_port_it_names_and_sigterm_stops_it_cleanly(tmp_path):
    import re
    import signal
    import urllib.request

    command = start_command(["--port", "0"], tmp_path)
    try:
        line = command.stdout.readline()
        serving = re.fullmatch(r"style-transfer-ui: serving on (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C to stop\)\n", line)
        assert serving and int(serving[2]) != 0, (line, command.stderr.read() if command.poll() is not None else "")
        with urllib.request.urlopen(serving[1], timeout=60) as page:
            assert page.status == 200 and b"Style transfer" in page.read()
        assert len(sessions_folders(tmp_path)) == 1
        command.send_signal(signal.SIGTERM)
        stdout, stderr = command.communicate(timeout=120)
    finally:
        command.kill()
    assert command.returncode == 0, stderr
    assert stdout.endswith("style-transfer-ui: stopped; the sessions' files are removed\n"), stdout
    assert not sessions_folders(tmp_path)


def test_sigterm_while_the_app_is_being_built_removes_its_folder(tmp_path):
    import signal

    command = start_command(["--port", "0"], tmp_path)
    try:
        deadline = time.monotonic() + 300
        while not sessions_folders(tmp_path):  # the app's folder exists: it is being built (or serves)
            assert time.monotonic() < deadline and command.poll() is None, command.poll()
            time.sleep(0.02)
        command.send_signal(signal.SIGTERM)
        stdout, stderr = command.communicate(timeout=120)
    finally:
        command.kill()
    assert command.returncode in (0, 130), (command.returncode, stdout, stderr)  # 0 if it was serving already
    assert "Traceback" not in stderr and not sessions_folders(tmp_path), stderr


def test_without_gradio_the_command_says_how_to_install_it_and_importing_the_package_needs_none():
    hide_gradio = ("import sys; sys.modules['gradio'] = None; import style_transfer.ui; "
                   "assert 'gradio' not in [name for name, module in sys.modules.items() if module]; "
                   "sys.argv = ['style-transfer-ui']; from style_transfer.cli.ui import console_main; console_main()")
    result = subprocess.run([sys.executable, "-c", hide_gradio], capture_output=True, text=True, timeout=120,
                            cwd=REPO)
    assert result.returncode == 1
    assert result.stderr == ('style-transfer-ui: error: the web app needs Gradio, which is not installed; install '
                             'it with pip install -e ".[ui]"\n')


def test_a_session_that_ends_during_a_run_keeps_its_folder_until_the_run_ends():
    """Gradio ends a session when its page's heartbeat stops, which a dropped connection can cause while the
    page is still open: the run goes on, and its folder goes when it ends. Names that could leave the root
    are refused."""
    from style_transfer.ui.sessions import Sessions

    sessions = Sessions()
    folder = sessions.folder("abc")
    stop = sessions.begin_run("abc")
    sessions.end("abc")
    assert folder.is_dir() and not stop.is_set()
    sessions.end_run("abc", stop)
    assert not folder.exists()
    idle = sessions.folder("def")
    sessions.end("def")
    assert not idle.exists()
    with pytest.raises(ValueError, match="not a session name"):
        sessions.folder("../x")
    sessions.close()
    assert not sessions.root.exists()


def test_a_result_name_another_run_takes_meanwhile_gives_way_to_the_next(tmp_path, monkeypatch):
    """Two runs of one session save under one stem: the name each looked at can be taken before it writes."""
    from style_transfer.core import image_io
    from style_transfer.ui import fast, paint

    original, raced_names = image_io.save_image, []

    def raced(image, path, **options):  # the other run writes the first name this one tries, just before it
        if not raced_names:
            raced_names.append(path.name)
            path.write_bytes(b"the other run's")
        return original(image, path, **options)

    monkeypatch.setattr(image_io, "save_image", raced)
    image = np.full((1, 8, 8, 3), 0.5, np.float32)
    assert fast.save_result(image, tmp_path, "photo_two", {}).name == "photo_two_2.png"
    assert (tmp_path / "photo_two.png").read_bytes() == b"the other run's"

    class Result:  # what paint.save_result needs of a StylizeResult
        def save(self, path, *, metadata=None):
            return image_io.save_image(image, path, metadata=metadata)

    raced_names.clear()
    assert paint.save_result(Result(), tmp_path, "photo_noise").name == "photo_noise_2.png"
    assert raced_names == ["photo_noise.png"]


def test_two_runs_of_one_session_each_keep_their_stop_and_the_folder_stays_until_both_end(tmp_path):
    """With more than one worker a page can have two runs going: Stop reaches both, and the first one's end
    neither marks the session idle nor lets its folder go while the second still writes there."""
    from style_transfer.ui.sessions import Sessions

    sessions = Sessions(parent=tmp_path)
    folder = sessions.folder("abc")
    with sessions.run("abc") as first:
        with sessions.run("abc") as second:
            assert sessions.stop("abc") and first.is_set() and second.is_set()
            sessions.end("abc")  # the page's heartbeat stopped
        assert sessions.running() == ["abc"] and folder.is_dir()  # the first run still goes on
    assert sessions.running() == [] and not folder.exists()
    assert not sessions.stop("abc")
    sessions.close()


def test_a_closed_sessions_object_is_not_kept_alive_until_the_program_ends(tmp_path):
    import gc
    import weakref

    from style_transfer.ui.sessions import Sessions

    sessions = Sessions(parent=tmp_path)
    root, alive = sessions.root, weakref.ref(sessions)
    sessions.close()
    del sessions
    gc.collect()
    assert alive() is None and not root.exists()  # atexit no longer holds its close()


def test_the_losses_are_handed_over_only_with_a_new_picture_and_at_the_end(server, pictures, monkeypatch):
    """The page draws its loss plot from them (a matplotlib figure and a PNG): only when the picture changes,
    never at every step."""
    import threading

    from style_transfer.ui import paint

    monkeypatch.setattr(paint, "IMAGE_INTERVAL", 1e9)  # a picture at the first and the last step only
    config = paint.config_of(paint.Settings(size=32, steps=6, network="vgg16"), weights="random",
                             max_megapixels=server.config.max_megapixels)  # the server's paintings' (traced) step
    updates = list(paint.paint(pictures / "photo.png", [pictures / "noise.png"], config, stop=threading.Event(),
                               extractors=server.extractors))
    assert updates[-1].result is not None and len(updates[-1].losses) == 6
    for update in updates[:-1]:
        assert (update.image is None) == (update.losses is None), update
        if update.losses is not None:
            assert len(update.losses) == update.step
    assert any(update.losses is None for update in updates[:-1]), [update.step for update in updates]


def test_a_network_loading_does_not_hold_up_another_sessions_network(tmp_path, monkeypatch):
    from style_transfer.fast import export
    from style_transfer.ui import fast

    networks = fast.Networks(None)
    networks.found = {"slow": tmp_path / "slow", "quick": tmp_path / "quick"}
    slow_started, quick_done, quick_in_time = threading.Event(), threading.Event(), []

    def load(path, precision):  # the slow network's load lasts until the quick one has loaded (or 20 s)
        if path.name == "slow":
            slow_started.set()
            quick_in_time.append(quick_done.wait(timeout=20))
        return f"stylizer of {path.name}"

    monkeypatch.setattr(export, "load", load)
    slow = threading.Thread(target=lambda: networks.load("slow"))
    slow.start()
    assert slow_started.wait(timeout=30)
    assert networks.load("quick") == "stylizer of quick"
    quick_done.set()
    slow.join(timeout=60)
    assert quick_in_time == [True], "the quick network waited for the slow one to load"
    assert networks.load("slow") == "stylizer of slow" and list(networks._loaded) == ["quick", "slow"]


@pytest.mark.parametrize("size", [32, 64])
def test_the_fast_tab_sizes_a_picture_as_style_transfer_apply_max_dim_does(pictures, size):
    """The size control is style-transfer-apply's --max_dim: the longest side, down or up (a 56x40 picture at
    64 is enlarged), with the same pixels."""
    from style_transfer.fast import apply as fast_apply
    from style_transfer.ui import fast

    class Unchanged:  # a network that paints nothing, so the result is the picture it was given
        def __call__(self, image, style, *, strength, preserve_colors):
            return image

    shown = fast.apply(Unchanged(), pictures / "photo.png", {}, strength=1.0, preserve_colors="none", size=size,
                       max_megapixels=100)
    [(_, applied, error)] = fast_apply.picture_dataset([pictures / "photo.png"], max_dim=size, max_pixels=10**8)
    assert error.numpy() == b"" and shown.shape == (1, *applied.shape) and max(shown.shape[1:3]) == size
    np.testing.assert_allclose(shown[0], applied.numpy(), atol=1e-5)


def test_an_address_not_of_this_machine_is_a_port_error_and_leaves_nothing(tmp_path, monkeypatch):
    from style_transfer.core.errors import PortInUseError
    from style_transfer.ui import UIConfig, build_app

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the app's folder would stay
    app = build_app(UIConfig(network="vgg16", weights="random", host="192.0.2.1", port=0))  # TEST-NET-1
    with pytest.raises(PortInUseError, match=r"^cannot listen on 192\.0\.2\.1:0: "):
        app.launch(block=False, quiet=True)
    assert not list(tmp_path.glob("style-transfer-ui-*"))
