"""The Gradio app: the Paint tab (the optimiser) and the Fast tab (trained networks, on a picture or a video), one
queue, one folder per session. Imported only once Gradio is known to be installed (style_transfer.ui.build_app checks).

What keeps it safe to leave running:
- every painting goes through one queue, `config.workers` at a time (concurrency group "work");
- uploads arrive as files in Gradio's upload folder (gr.File: Gradio decodes nothing) and are read by
  core.image_io with its limits; no handler takes a path from the browser, and examples and networks are
  chosen by name from lists the server made;
- each session's results live in its own folder (sessions.py), removed when the page closes;
- a run whose page closes stops within a step or a frame: Gradio closes the handler's generator when the page's
  event stream drops, and background.in_background's `finally` stops the run (paint.paint, fast_video.stylise);
- every error is one message in the page (gr.Error), never a traceback.
"""

from __future__ import annotations

import json
import math
import socket
import time
from pathlib import Path

import gradio as gr

from style_transfer.core import image_io
from style_transfer.core.config import is_weights_file
from style_transfer.core.errors import MissingExtraError, PortInUseError
from style_transfer.fast.apply_config import APPLY_DEFAULT
from style_transfer.fast.export import result_metadata
from style_transfer.ui import fast, fast_video, paint
from style_transfer.ui.config import UIConfig
from style_transfer.ui.messages import message, page_errors
from style_transfer.ui.sessions import Sessions

# The project's own example pictures (drawn by scripts/make_assets.py, see assets/CREDITS.md), in a checkout;
# an installed package has none, and the page then offers no examples.
ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLE_PHOTOS = {"lakeside": ASSETS / "content" / "lakeside.png"}
EXAMPLE_PAINTINGS = {name: ASSETS / "style" / f"{name}.png" for name in ("swirls", "mosaic", "waves")}
MAX_STYLES = 8  # blend sliders on the Fast tab; networks with more styles blend their first eight
QUEUE_SIZE = 20  # paintings waiting at most; one more is told the queue is full
MAX_UPLOAD = "200mb"  # bytes per uploaded file (videos too); pixels are limited by config.max_megapixels
PREVIEW_SIZE = 192
# Gradio keeps its own copies of uploads and of the results it serves, named by their contents (so shared by
# sessions that upload the same file): it deletes them every (first) seconds once older than (second), and all
# when the app stops.
GRADIO_CACHE_LIFE = (600, 3600)


def _free_port(host: str) -> int:
    """A port no program listens on at `host` now (the system's pick), for --port 0: Gradio takes 0 for a port
    to try, not for any free one."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _available(examples: dict[str, Path]) -> dict[str, Path]:
    return {name: path for name, path in examples.items() if path.is_file()}


def _check_upload(path, max_megapixels: float) -> None:
    """ImageError for an upload that is not a picture, damaged at its start, or claims too many pixels."""
    image_io.read_header(path, max_pixels=int(max_megapixels * 1e6))


def _thumbnail(source, max_megapixels: float):
    return image_io.to_pil(image_io.load_image(source, max_pixels=int(max_megapixels * 1e6), max_dim=PREVIEW_SIZE))


class StyleTransferApp:
    """The app of one `UIConfig`: `blocks` (gr.Blocks), `sessions`, `launch(...)` and `close()`."""

    def __init__(self, config: UIConfig):
        self.config = config
        self.sessions = Sessions()
        self.extractors = paint.Extractors()
        self.networks = fast.Networks(config.models)
        self.photos = _available(EXAMPLE_PHOTOS)
        self.paintings = _available(EXAMPLE_PAINTINGS)
        self.video_problem = fast_video.missing_extra()  # the line the Video part shows instead, or None
        self.blocks = self._build()

    # --- the Paint tab -------------------------------------------------------------------------------------

    def _photo_and_paintings(self, photo_file, photo_example, painting_files, painting_examples):
        """The photograph and the paintings to use, as server-side paths: the uploaded photograph, else the
        chosen example; the uploaded paintings, then the chosen examples."""
        photo = photo_file or (self.photos.get(photo_example) if photo_example else None)
        if photo_example and not photo_file and photo is None:
            raise gr.Error(f"no example photograph named {str(photo_example)[:80]!r}", print_exception=False)
        paintings = list(painting_files or [])
        for name in painting_examples or []:
            if name not in self.paintings:
                raise gr.Error(f"no example painting named {str(name)[:80]!r}", print_exception=False)
            paintings.append(self.paintings[name])
        return photo, paintings

    def preview(self, photo_file, photo_example, painting_files, painting_examples):
        """The pictures a run would use, small, captioned in order; a warning for each that cannot be read."""
        photo, paintings = self._photo_and_paintings(photo_file, photo_example, painting_files, painting_examples)
        shown = []
        for role, source in [("photograph", photo), *((f"painting {i + 1}", p) for i, p in enumerate(paintings))]:
            if source is None:
                continue
            try:
                shown.append((_thumbnail(source, self.config.max_megapixels), f"{role}: {Path(source).name}"))
            except Exception as error:
                gr.Warning(message(error, [source]))
        return shown

    def start(self, photo_file, photo_example, painting_files, painting_examples, size, steps, strength,
              preserve_colors, style_scale, blend, network, request: gr.Request):
        """Start: yields (picture, loss figure, status, download) as the picture forms; the last has the PNG."""
        session = request.session_hash
        uploads = [photo_file, *(painting_files or [])]
        with page_errors(uploads):
            photo, paintings = self._photo_and_paintings(photo_file, photo_example, painting_files,
                                                         painting_examples)
            for upload in uploads:
                if upload:
                    _check_upload(upload, self.config.max_megapixels)
            settings = paint.Settings(size=size, steps=steps, strength=strength, preserve_colors=preserve_colors,
                                      style_scale=style_scale, blend=blend or "", network=network)
            config = paint.config_of(settings, weights=self.config.weights,
                                     max_megapixels=self.config.max_megapixels)
            folder = self.sessions.folder(session)
            with self.sessions.run(session) as stop:
                yield None, paint.loss_figure([]), "Loading the pictures and the network…", None
                for progress in paint.paint(photo, paintings, config, stop=stop, extractors=self.extractors):
                    if progress.result is None:
                        if progress.image is None:  # the status only: picture and plot change together
                            yield gr.skip(), gr.skip(), paint.describe(progress), gr.skip()
                        else:
                            yield (progress.image, paint.loss_figure(progress.losses), paint.describe(progress),
                                   gr.skip())
                        continue
                    figure = paint.loss_figure(progress.losses)
                    result = progress.result
                    stem = "_".join([Path(photo).stem, *(Path(p).stem for p in paintings)])[:100]
                    # What it was made from, by the files' names: an upload's is the name it had on the
                    # user's machine (Gradio keeps it, in a folder of its own), never the server's path.
                    made_from = {"style_transfer:content": Path(photo).name,
                                 "style_transfer:styles": json.dumps([Path(p).name for p in paintings])}
                    saved = paint.save_result(result, folder, stem, made_from)
                    if result.interrupted:
                        status = (f"Stopped after step {result.steps_done} of {config.total_steps}; the picture so "
                                  f"far is kept ({result.seconds:.1f} s).")
                    else:
                        status = (f"Done: {result.steps_done} steps in {result.seconds:.1f} s "
                                  f"({progress.steps_per_second:.2f} steps/s).")
                    height, width = result.image.shape[1:3]
                    yield progress.image, figure, f"{status} {width}x{height}, saved as {saved.name}.", str(saved)

    def stop(self, request: gr.Request):
        if self.sessions.stop(request.session_hash):
            gr.Info("Stopping after this step; the picture so far is kept.")

    # --- the Fast tab --------------------------------------------------------------------------------------

    def choose_network(self, name):
        """The style sliders and the description of the network `name`."""
        hidden = [gr.update(visible=False)] * MAX_STYLES
        if not name:
            return [*hidden, "No network chosen."]
        with page_errors():
            stylizer = self.networks.load(name)
        trained = stylizer.metadata.get("steps")
        about = (f"**{name}**: {stylizer.styles} style{'s' if stylizer.styles > 1 else ''}"
                 f"{f', trained for {trained} steps' if trained else ''}, computing in {stylizer.precision}.")
        if stylizer.styles == 1:
            return [*hidden, about]
        sliders = [gr.update(visible=index < stylizer.styles, value=1.0 if index == 0 else 0.0,
                             label=stylizer.style_names[index] if index < stylizer.styles else f"style {index + 1}")
                   for index in range(MAX_STYLES)]
        return [*sliders, about + " Move the sliders to blend its styles."]

    def rescan(self):
        names = self.networks.rescan()
        return gr.update(choices=names, value=names[0] if names else None)

    def apply(self, request: gr.Request, name, picture_file, picture_example, size, strength, preserve_colors,
              *weights):
        """Paint on the Fast tab: (picture, status, download)."""
        with page_errors([picture_file]):
            picture = picture_file or (self.photos.get(picture_example) if picture_example else None)
            if picture_file:
                _check_upload(picture_file, self.config.max_megapixels)
            stylizer = self.networks.load(name)
            style = fast.style_weights(stylizer, weights)
            started = time.perf_counter()
            painted = fast.apply(stylizer, picture, style, strength=float(strength), preserve_colors=preserve_colors,
                                 size=int(size), max_megapixels=self.config.max_megapixels)
            seconds = time.perf_counter() - started
            metadata = result_metadata(stylizer, style, strength=float(strength), preserve_colors=preserve_colors,
                                       content=Path(picture).name if picture else "")
            metadata["style_transfer:model"] = name  # the page's name for it, not the server's path
            saved = fast.save_result(painted, self.sessions.folder(request.session_hash),
                                     f"{Path(picture).stem}_{name}"[:100], metadata)
        height, width = painted.shape[1:3]
        return (image_io.to_uint8(painted), f"Painted {width}x{height} in {seconds:.2f} s ({stylizer.precision}); "
                f"saved as {saved.name}.", str(saved))

    def apply_video(self, request: gr.Request, name, video_file, size, strength, preserve_colors, smoothing,
                    *weights):
        """Paint on the Fast tab's Video part: yields (video, status, download) frame by frame; the last has the
        MP4, or nothing when the run stopped."""
        session = request.session_hash
        with page_errors([video_file]):
            if self.video_problem:
                raise MissingExtraError(self.video_problem)
            config = APPLY_DEFAULT.replace(max_dim=int(size), strength=float(strength), preserve_colors=preserve_colors,
                                           temporal_weight=float(smoothing))
            reader = fast_video.check_video(video_file, config)
            stylizer = self.networks.load(name)
            style = fast.style_weights(stylizer, weights)
            output = fast_video.output_path(self.sessions.folder(session), f"{Path(video_file).stem}_{name}"[:100])
            settings = {"model": name, "style": style, "strength": config.strength,
                        "preserve_colors": config.preserve_colors, "precision": stylizer.precision}
            with self.sessions.run(session) as stop:
                yield None, "Starting…", None
                for progress in fast_video.stylise(stylizer, video_file, style, config, output, stop=stop,
                                                   settings=settings):
                    if progress.result is None:
                        yield gr.skip(), fast_video.describe(progress), gr.skip()
                        continue
                    result = progress.result
                    if result.path is None:
                        yield None, (f"Stopped after frame {result.frames} of {result.total or '?'}; a video is kept "
                                     "only whole, so nothing was saved."), None
                        return
                    width, height = reader.size
                    damaged = (f" {result.damaged} damaged frame{'s' if result.damaged > 1 else ''} repeated the "
                               "previous result." if result.damaged else "")
                    flicker = (f", flicker {result.temporal_error:.4f}" if math.isfinite(result.temporal_error)
                               else "")
                    frames = f"{result.frames} frame{'s' if result.frames > 1 else ''} of {width}x{height}"
                    yield (str(result.path), f"Done: {frames} in {result.seconds:.1f} s "
                           f"({progress.frames_per_second:.2f} frames/s, {stylizer.precision}{flicker}); saved as "
                           f"{result.path.name}.{damaged}", str(result.path))

    def stop_video(self, request: gr.Request):
        if self.sessions.stop(request.session_hash):
            gr.Info("Stopping after this frame; nothing is kept.")

    # --- the page ------------------------------------------------------------------------------------------

    def end_session(self, request: gr.Request):
        self.sessions.end(request.session_hash)

    def _build(self) -> gr.Blocks:
        config = self.config
        work = {"concurrency_limit": config.workers, "concurrency_id": "work"}
        fixed_network = is_weights_file(config.weights)  # a file holds one network's weights
        with gr.Blocks(title="Style transfer", analytics_enabled=False, delete_cache=GRADIO_CACHE_LIFE) as blocks:
            gr.Markdown("# Style transfer\nRepaint a photograph in the manner of a painting.")
            with gr.Tab("Paint"):
                with gr.Row():
                    with gr.Column(scale=1):
                        photo_file = gr.File(label="Photograph", file_types=["image"], type="filepath", elem_id="photo")
                        photo_example = gr.Dropdown(list(self.photos), value=None, label="…or an example photograph",
                                                    visible=bool(self.photos))
                        painting_files = gr.File(label="Paintings (one or more)", file_count="multiple",
                                                 file_types=["image"], type="filepath", elem_id="paintings")
                        painting_examples = gr.CheckboxGroup(list(self.paintings), label="…and example paintings",
                                                             visible=bool(self.paintings))
                        preview = gr.Gallery(label="In use (blend weights follow this order)", columns=4,
                                             height=180, interactive=False, allow_preview=False,
                                             elem_id="preview")
                        with gr.Accordion("Controls", open=True):
                            size = gr.Slider(32, config.largest_size, value=min(384, config.largest_size), step=16,
                                             label="Size (longest side, pixels)", elem_id="size")
                            steps = gr.Slider(1, 1000, value=200, step=1, label="Steps", elem_id="steps")
                            strength = gr.Slider(0.1, 10, value=1.0, step=0.1,
                                                 label="Style strength (× the default style weight)")
                            preserve_colors = gr.Radio(["none", "luminance", "histogram"], value="none",
                                                       label="Keep the photograph's colours")
                            style_scale = gr.Slider(0.25, 2.0, value=1.0, step=0.05,
                                                    label="Style scale (brush strokes bigger above 1)")
                            blend = gr.Textbox(label="Blend weights, one per painting (e.g. 2,1; empty: equal)")
                            network = gr.Radio(["vgg19", "vgg16"], value=config.network, label="Network",
                                               interactive=not fixed_network)
                        with gr.Row():
                            start = gr.Button("Start", variant="primary", elem_id="start")
                            stop = gr.Button("Stop", variant="stop", elem_id="stop")
                    with gr.Column(scale=1):
                        result = gr.Image(label="Result", type="numpy", format="png", interactive=False,
                                          elem_id="result")
                        status = gr.Markdown("Choose a photograph and a painting, then Start.", elem_id="status")
                        losses = gr.Plot(label="Loss")
                        download = gr.File(label="Download the PNG (its settings are in its metadata)",
                                           interactive=False, elem_id="download")
                chosen = [photo_file, photo_example, painting_files, painting_examples]
                for component in chosen:
                    component.change(self.preview, chosen, preview, api_name=False, concurrency_limit=2)
                start.click(self.start, [*chosen, size, steps, strength, preserve_colors, style_scale, blend,
                                         network], [result, losses, status, download], api_name="paint", **work)
                stop.click(self.stop, None, None, api_name="stop", queue=False)
            with gr.Tab("Fast"):
                names = self.networks.names
                with gr.Row():
                    with gr.Column(scale=1):
                        with gr.Row():
                            network_name = gr.Dropdown(names, value=names[0] if names else None,
                                                       label="Trained network", scale=3)
                            look_again = gr.Button("Look again", scale=1)
                        about = gr.Markdown("" if names else "No trained networks: start the app with --models "
                                            "FOLDER (a folder of style-transfer-train runs).")
                        sliders = [gr.Slider(0, 1, value=1.0 if index == 0 else 0.0, step=0.05,
                                             label=f"style {index + 1}", visible=False) for index in range(MAX_STYLES)]
                    with gr.Column(scale=1):
                        fast_size = gr.Slider(32, config.largest_size, value=min(512, config.largest_size), step=16,
                                              label="Size (longest side, pixels)", elem_id="fast_size")
                        fast_strength = gr.Slider(0, 1, value=APPLY_DEFAULT.strength, step=0.05, label="Strength")
                        fast_colors = gr.Radio(["none", "luminance"], value=APPLY_DEFAULT.preserve_colors,
                                               label="Keep the colours")
                with gr.Tab("Picture"):
                    with gr.Row():
                        with gr.Column(scale=1):
                            picture_file = gr.File(label="Picture", file_types=["image"], type="filepath")
                            picture_example = gr.Dropdown(list(self.photos), value=None,
                                                          label="…or an example picture", visible=bool(self.photos))
                            paint_fast = gr.Button("Paint", variant="primary")
                        with gr.Column(scale=1):
                            fast_result = gr.Image(label="Result", type="numpy", format="png", interactive=False)
                            fast_status = gr.Markdown()
                            fast_download = gr.File(label="Download the PNG (its settings are in its metadata)",
                                                    interactive=False)
                with gr.Tab("Video", elem_id="video_tab"):
                    gr.Markdown(self.video_problem or "", visible=bool(self.video_problem), elem_id="video_missing")
                    with gr.Row(visible=not self.video_problem):
                        with gr.Column(scale=1):
                            # Taken as a file, as Gradio received it: the format is not converted, and the frames
                            # are read by video.io as style-transfer-apply reads them.
                            video_file = gr.Video(label="Video", sources=["upload"], include_audio=True,
                                                  elem_id="video")
                            smoothing = gr.Slider(0, 1, value=APPLY_DEFAULT.temporal_weight, step=0.05,
                                                  label="Temporal smoothing (less flicker, softer strokes; "
                                                        "--temporal_weight)")
                            with gr.Row():
                                paint_video = gr.Button("Paint the video", variant="primary", elem_id="paint_video")
                                stop_video = gr.Button("Stop", variant="stop", elem_id="stop_video")
                        with gr.Column(scale=1):
                            video_result = gr.Video(label="Result", interactive=False, buttons=["download"],
                                                    elem_id="video_result")
                            video_status = gr.Markdown("Choose a video, then Paint the video.",
                                                       elem_id="video_status")
                            video_download = gr.File(label="Download the MP4 (with the video's sound)",
                                                     interactive=False, elem_id="video_download")
                network_name.change(self.choose_network, network_name, [*sliders, about], api_name=False)
                look_again.click(self.rescan, None, network_name, api_name=False)
                paint_fast.click(self.apply, [network_name, picture_file, picture_example, fast_size, fast_strength,
                                              fast_colors, *sliders], [fast_result, fast_status, fast_download],
                                 api_name="fast", **work)
                paint_video.click(self.apply_video, [network_name, video_file, fast_size, fast_strength, fast_colors,
                                                     smoothing, *sliders], [video_result, video_status, video_download],
                                  api_name="fast_video", **work)
                stop_video.click(self.stop_video, None, None, api_name="stop_video", queue=False)
            blocks.load(self.choose_network, network_name, [*sliders, about], api_name=False)
            blocks.unload(self.end_session)
        blocks.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
        return blocks

    def launch(self, *, block: bool = True, **options):
        """Starts the server (gr.Blocks.launch with this app's host, port, share and upload limit; port 0: a free
        port the system picks), then `url` is where it answers; with `block`, serves until interrupted
        (KeyboardInterrupt) and then closes the app. PortInUseError when it cannot listen there."""
        port = self.config.port
        try:
            port = port or _free_port(self.config.host)
            self.blocks.launch(server_name=self.config.host, server_port=port, share=self.config.share,
                               max_file_size=MAX_UPLOAD, show_error=True, prevent_thread_lock=True, **options)
        except OSError:  # Gradio's words for any port it could not listen on ("Cannot find empty port ..."), and
            # the socket module's for a host that is not this machine's
            self.close()
            raise PortInUseError(self.config.host, port) from None
        if block:
            try:
                self.wait()
            finally:
                self.close()
        return self

    @property
    def url(self) -> str | None:
        """Where the launched app answers on this machine ("http://127.0.0.1:7860/"), None before `launch`."""
        return self.blocks.local_url

    def wait(self) -> None:
        """Serves until the app is closed or the main thread is interrupted (Ctrl-C, or the command line's SIGTERM)."""
        try:
            while self.blocks.is_running:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass

    def close(self) -> None:
        """Stops the server and removes every session's folder."""
        try:
            self.blocks.close(verbose=False)
        finally:
            self.sessions.close()
