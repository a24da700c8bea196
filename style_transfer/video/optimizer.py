"""Video through the optimiser, frame by frame, with Ruder, Dosovitskiy and Brox (2016)'s temporal consistency.

The first frame is stylised in full (`config.steps` from `config.init`). Each later frame starts from the
previous result warped onto it by the optical flow of the input frames, and a temporal term holds it there
where the flow is reliable (forward-backward consistent), for `config.later_frame_steps` steps. With
`config.temporal_weight` 0 every frame is stylised on its own: the baseline the flicker is measured against.

The frames, the flow, stopping and resuming are the frame loop's (stream.stylise_video, shared with the fast
networks); each frame is one call of the optimiser's public `stylize`, so its checks and callbacks are the
still pictures'.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from style_transfer.core.config import StyleConfig
from style_transfer.optimize import api
from style_transfer.optimize.optimization import Callback
from style_transfer.video import flow as flow_lib
from style_transfer.video import stream

# Settings that may change between a stopped run and its resumption: they change how a run is watched, not
# its frames.
RESUMABLE_CHANGES = ("logdir", "log_every", "save_every")


class FrameStopped(Exception):
    """The run was asked to stop while a frame was being optimised: that frame is dropped, the finished ones
    are kept (stream.stylise_video saves them before this propagates) and a resumed run redoes it."""

    def __init__(self, frames_done: int):
        super().__init__(f"stopped during frame {frames_done + 1}")
        self.frames_done = frames_done


@dataclasses.dataclass
class FrameRecord:
    """How one frame went. index: its place in the video, from 0 (damaged frames count). objective: the
    style-transfer objective (content + style + tv, without the temporal term) of the frame's result; terms:
    every term of it, with "temporal" for a frame that had one. temporal_error: the mean |result - previous
    result warped onto this frame| over the reliable pixels, in [0, 1] (flow.temporal_error; flow of the
    input frames), None for the first frame. steps: the optimiser's steps; seconds: the frame's wall time."""

    index: int
    objective: float
    terms: dict[str, float]
    temporal_error: float | None
    steps: int
    seconds: float


class FrameStyliser:
    """The optimiser as stream.stylise_video's `stylise_frame(frame, carried) -> result`; `records` keeps a
    FrameRecord per frame stylised (no pictures).

    style: as for api.stylize. config: the run's settings (its max_dim is each frame's size: the frame loop
    has already resized the frames). extractor: from api.build_extractor(config), built on first use
    otherwise. callbacks: the optimiser's, for every frame's steps. stop: once set, the frame under way ends
    after its current step and FrameStopped is raised. on_record: called with each frame's FrameRecord.
    """

    def __init__(self, style, config: StyleConfig, *, extractor=None, callbacks: Sequence[Callback] = (),
                 stop: threading.Event | None = None, on_record: Callable[[FrameRecord], None] | None = None,
                 first_index: int = 0):
        self.style, self.config, self.extractor = style, config, extractor
        self.callbacks, self.stop, self.on_record = list(callbacks), stop, on_record
        self.records: list[FrameRecord] = []
        self.index = first_index

    def __call__(self, frame: np.ndarray, carried: stream.Carried | None) -> np.ndarray:
        started = time.perf_counter()
        height, width = frame.shape[1:3]
        config = self.config.replace(max_dim=max(height, width))
        if self.extractor is None:
            self.extractor = api.build_extractor(config)
        options = {}
        if carried is not None and config.temporal_weight > 0:
            reliable = carried.mask.reshape(1, height, width, 1)
            options = dict(steps=config.later_frame_steps, init_image=carried.image,
                           temporal=(carried.image, reliable))
        result = api.stylize(frame, self.style, config, extractor=self.extractor, callbacks=self.callbacks,
                             stop=self.stop, **options)
        if result.interrupted:
            raise FrameStopped(self.index)
        terms = final_terms(result)
        error = None
        if carried is not None:
            error = flow_lib.carried_error(result.image, carried.image, carried.mask)
        record = FrameRecord(index=self.index, objective=terms["total"] - terms.get("temporal", 0.0), terms=terms,
                             temporal_error=error, steps=result.steps_done, seconds=time.perf_counter() - started)
        self.records.append(record)
        logging.info("frame %d: objective %.5g (content %.4g, style %.4g, tv %.4g), temporal term %.4g, "
                     "temporal error %s, %d steps in %.1f s", record.index + 1, record.objective,
                     terms["content"], terms["style"], terms["tv"], terms.get("temporal", 0.0),
                     "-" if error is None else f"{error:.4f}", record.steps, record.seconds)
        if self.on_record:
            self.on_record(record)
        return result.image

    def on_frame(self, done: int, total: int | None) -> None:
        """The frame loop's count after each frame written: the next frame is number `done` (from 0), damaged
        frames, which repeat a result without being stylised, counted too."""
        self.index = done


def final_terms(result) -> dict[str, float]:
    """The objective's terms at the result's final image (its losses history holds each step's image before
    that step's update, one step behind)."""
    terms, _ = result.optimizer.loss_and_gradient(tf.constant(result.image))
    return {name: float(value) for name, value in terms.items()}


def run_settings(config: StyleConfig) -> dict:
    """What a stopped run records of `config` and a resumed one must repeat (stream's `settings`)."""
    return {name: value for name, value in config.to_flat_dict().items()
            if name not in RESUMABLE_CHANGES and name != "max_dim"}


def stylize_video(source: str | os.PathLike, style, output: str | os.PathLike, config: StyleConfig, *,
                  max_dim: int = 0, resume: bool = False, overwrite: bool = False, extractor=None,
                  callbacks: Sequence[Callback] = (), stop: threading.Event | None = None,
                  on_record: Callable[[FrameRecord], None] | None = None,
                  on_saving: Callable[[bool], None] | None = None,
                  ) -> tuple[stream.VideoResult, list[FrameRecord]]:
    """Stylises the video `source` (or a folder of frames, at config.frame_rate) in the manner of `style`
    into the MP4 `output`, at the source's frame rate and size (`max_dim` 0) or with its longest side `max_dim`, its audio copied; frames are streamed,
    one held at a time. Returns the frame loop's VideoResult (`path` None when stopped) and a FrameRecord
    per frame stylised by this call.

    style, config: as for api.stylize (config.max_dim is replaced by the frames' size). resume: continue
    the stopped run of `output` from its next frame (ResumeError if there is none, or its settings or
    source differ). stop: once set, the frame under way is dropped and the run stops; the finished frames
    are kept in stream.partial_directory(output) for `resume`, and FrameStopped is raised. on_record: called
    with each frame's FrameRecord (the command line's progress bar). on_saving: stream.stylise_video's.
    Raises VideoError, OutputExistsError, ResumeError, ConfigError, ImageError (all ValueErrors) for bad
    inputs.
    """
    styliser = FrameStyliser(style, config, extractor=extractor, callbacks=callbacks, stop=stop,
                             on_record=on_record, first_index=frames_done(output) if resume else 0)
    try:
        result = stream.stylise_video(source, output, styliser, max_dim=max_dim, temporal_weight=0.0,
                                      resume=resume, overwrite=overwrite, settings=run_settings(config),
                                      should_stop=lambda: stop is not None and stop.is_set(),
                                      on_frame=styliser.on_frame, frame_rate=config.frame_rate,
                                      on_saving=on_saving)
    except FrameStopped:
        raise FrameStopped(frames_done(output)) from None
    return result, styliser.records


def frames_done(output: str | os.PathLike) -> int:
    """How many frames the stopped run of `output` has finished (0 when there is none)."""
    state = Path(stream.partial_directory(output)) / stream.STATE_FILE
    try:
        return int(json.loads(state.read_text(encoding="utf8")).get("frames_done", 0))
    except (OSError, ValueError):
        return 0
