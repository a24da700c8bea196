"""Trains a feed-forward network that paints any photograph in one style (Johnson et al. 2016).

  style-transfer-train --style painting.jpg --data photos/ --model_dir models/painting
  style-transfer-train --style starry.jpg,scream.jpg --data photos/ --model_dir models/two --steps 4000
  style-transfer-train --style painting.jpg --data photos/ --model_dir M --strategy mirrored --batch_size 16

Then stylise pictures in one forward pass each: style-transfer-apply --model M --content a.jpg
(--style NAME picks one of several styles, --style_mix NAME:0.7,OTHER:0.3 blends them).

The model directory M receives config.json, checkpoints/ (every --checkpoint_every steps, and on Ctrl-C;
continue with --resume), logs/ (TensorBoard: losses and sample stylisations; tensorboard --logdir M/logs) and,
at the end, export/: a SavedModel that style_transfer.apply (or any TensorFlow program) loads without this
code. Several machines: run this same command on each, with TF_CONFIG naming the cluster and that machine's
place in it, and --strategy multi_worker.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import flags  # noqa: E402

from style_transfer import cli  # noqa: E402
from style_transfer.cli import UsageError  # noqa: E402
from style_transfer.core.config import PRECISION_CHOICES  # noqa: E402
from style_transfer.core.errors import ResumeError  # noqa: E402
from style_transfer.fast.train_config import TRAIN_DEFAULT, TrainConfig  # noqa: E402

PROGRAM = "style-transfer-train"
COMMAND = cli.Command(PROGRAM, __doc__)
FLAGS = COMMAND.flags

flags.DEFINE_list("style", None, "The painting whose style the network learns, or several, comma-separated, "
                  "for one network that paints each of them (conditional instance normalisation); each style is "
                  "named after its file (starry_night.jpg: starry_night).", flag_values=FLAGS)
flags.DEFINE_string("data", None, "Folder of training photographs (searched recursively; JPEG, PNG, GIF, BMP, "
                    "WebP). Files that are not such pictures are skipped and counted.", flag_values=FLAGS)
flags.DEFINE_string("model_dir", None, "Where the checkpoints, TensorBoard logs and the exported SavedModel go.",
                    flag_values=FLAGS)
flags.DEFINE_bool("resume", False, "Continue the training run in --model_dir from its latest checkpoint, up to "
                  "--steps; the settings that shape the network and its loss must be the same.", flag_values=FLAGS)
flags.DEFINE_bool("overwrite", False, "Start over in a --model_dir that holds a training run, replacing it.",
                  flag_values=FLAGS)
flags.DEFINE_bool("tflite", False, "Also export the network for TensorFlow Lite (LiteRT), as "
                  "export/style_network.tflite: float32, any picture size, for phones and small devices.",
                  flag_values=FLAGS)
flags.DEFINE_bool("progress", True, "Show a progress bar when stdout is a terminal; otherwise (a log file, a "
                  "notebook) print a line at each checkpoint.", flag_values=FLAGS)
cli.define_config_flags(TrainConfig, TRAIN_DEFAULT.to_flat_dict(), FLAGS, module_name=__name__)
COMMAND.groups = (
    ("Required", ("style", "data", "model_dir")),
    ("Most used", ("steps", "style_weight", "content_weight", "image_size", "style_size", "filters", "learning_rate",
                   "batch_size", "network", "resume")),
    ("Output and monitoring", ("overwrite", "tflite", "checkpoint_every", "keep_checkpoints", "log_every",
                               "sample_every", "progress")),
    ("Input pictures", ("max_megapixels",)),
    ("The objective", ("weights", "content_layers", "style_layers", "tv_weight", "tv_smoothing", "gram_norm")),
    ("The network and its training", ("residual_blocks", "residual_output", "seed", "strategy")),
    ("Speed and memory", ("precision",)),
)


def config_from_flags() -> TrainConfig:
    return TRAIN_DEFAULT.replace(**cli.config_changes(TrainConfig, FLAGS))


def check_model_dir(model_dir: Path) -> bool:
    """UsageError unless `model_dir` may be written as the flags ask; whether it holds a run to resume."""
    from style_transfer.fast import fast_layout
    from style_transfer.core import image_io
    from style_transfer.core.errors import OutputError

    if model_dir.exists() and not model_dir.is_dir():
        raise UsageError(f"--model_dir {model_dir}: exists and is not a folder")
    has_run = (model_dir / fast_layout.CONFIG_FILE).is_file()
    has_checkpoint = has_run and bool(list((model_dir / fast_layout.CHECKPOINTS).glob("ckpt-*.index")))
    if FLAGS.resume and FLAGS.overwrite:
        raise UsageError("--resume continues the run in --model_dir and --overwrite replaces it: pass one of them")
    if FLAGS.resume and not has_checkpoint:
        raise UsageError(f"--resume: {model_dir} holds no checkpoint to continue")
    if has_run and not (FLAGS.resume or FLAGS.overwrite):
        raise UsageError(f"{model_dir}: holds a training run; pass --resume to continue it or --overwrite to "
                         "start over")
    if model_dir.is_dir() and not has_run and any(model_dir.iterdir()):
        raise UsageError(f"--model_dir {model_dir}: a folder of other files, not a training run's; choose a new "
                         "or empty folder")
    try:
        image_io.check_writable_directory(model_dir)
    except OutputError as error:
        raise UsageError(f"--model_dir: cannot write there: {error}") from None
    return has_checkpoint


def style_names(paths: list[str]) -> list[str]:
    """Each style's name, its file's stem; UsageError if two share one (apply picks styles by name)."""
    names = [Path(path).stem for path in paths]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"--style: several pictures are named {repeated[0]!r}; styles are named after their files, "
                         "so rename one")
    return names


def run_description(config: TrainConfig, styles: list[tuple[str, str, str]], data: str) -> dict:
    """What config.json records: the settings, each style as (name, path, fingerprint), and the data folder."""
    return {"config": config.to_flat_dict(),
            "styles": [{"name": name, "path": str(Path(path).resolve()), "fingerprint": fingerprint}
                       for name, path, fingerprint in styles],
            "data": str(Path(data).resolve())}


def read_run_description(model_dir: Path) -> dict:
    """The config.json of the run in model_dir, as {"config": {setting: value}, "styles": [{"path",
    "fingerprint"}, ...]} (runs written before a setting existed or before networks had several styles read
    as such runs are now); ResumeError if it is damaged. Needs no TensorFlow, so a damaged file is reported
    before TensorFlow is imported."""
    from style_transfer.fast import fast_layout

    path = model_dir / fast_layout.CONFIG_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf8"))
        config = {**TrainConfig.BEFORE_ADDED, **saved["config"]}
        if "styles" not in saved:  # a run of one style, written before networks had several
            saved["styles"] = [{"path": saved.get("style"), "fingerprint": saved.get("style_fingerprint")}]
        styles = [{"path": style["path"], "fingerprint": style["fingerprint"]} for style in saved["styles"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # ValueError: not UTF-8 or JSON
        raise ResumeError(f"{path}: damaged, so the run cannot be resumed ({type(error).__name__}: "
                          f"{' '.join(str(error).split())[:200]}); start over with --overwrite") from None
    return {"config": config, "styles": styles}


def check_resumable(model_dir: Path, saved: dict, description: dict) -> None:
    """ResumeError unless the run in model_dir, as `saved` (read_run_description) describes it, was trained
    with the same network, loss and style pictures as `description` (run_description)."""
    from style_transfer.kernels.devices import resolve_precision

    def comparable(config: dict, name: str):
        value = config.get(name)
        return resolve_precision(value) if name == "precision" and value in PRECISION_CHOICES else value

    differences = [f"--{name} {saved['config'].get(name)!r} -> {description['config'][name]!r}"
                   for name in TrainConfig.RESUME_FIELDS
                   if comparable(saved["config"], name) != comparable(description["config"], name)]
    if [style["fingerprint"] for style in saved["styles"]] != [style["fingerprint"] for style in description["styles"]]:
        differences.append(f"--style {','.join(str(style['path']) for style in saved['styles'])} -> "
                           f"{','.join(style['path'] for style in description['styles'])} (other pictures)")
    if differences:
        raise ResumeError(f"{model_dir}: cannot resume with other settings than the run's: {'; '.join(differences)}")


def resume_command() -> str:
    arguments = [arg for arg in sys.argv[1:] if arg not in ("--resume", "--noresume", "--overwrite")]
    return shlex.join([PROGRAM, *arguments, "--resume"])


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise UsageError(f"unexpected argument {argv[1]!r} (all inputs are flags, e.g. --data FOLDER)")
    for name in ("style", "data", "model_dir"):
        if not FLAGS[name].value:
            raise UsageError(f"--{name} is required (--style PAINTING --data FOLDER --model_dir M)")
    config = config_from_flags()
    model_dir = Path(FLAGS.model_dir)
    # Everything that can be checked is checked before the loss network is built or a step is run, and what
    # needs no TensorFlow before TensorFlow is imported, which is slow: a mistake is reported at once. In a
    # cluster every worker makes the same checks, so a mistake stops them all, with the same line, before
    # any waits for the others.
    from style_transfer.fast import cluster, dataset, fast_layout
    from style_transfer.core import image_io

    workers = 1  # the input pipelines that share the files: one per worker of a cluster, else one
    if config.strategy == "multi_worker":
        workers = cluster.worker_count(cluster.check_tf_config(os.environ.get("TF_CONFIG"))["cluster"])
    # The other workers of a cluster write nothing there (and would see the chief's files appear meanwhile);
    # without a cluster this process is the chief.
    if config.strategy != "multi_worker":
        check_model_dir(model_dir)
    saved_run = None
    if FLAGS.resume and (model_dir / fast_layout.CONFIG_FILE).exists():
        saved_run = read_run_description(model_dir)
    max_pixels = int(config.max_megapixels * 1e6)
    names = style_names(FLAGS.style)
    for path in FLAGS.style:
        image_io.read_header(path, max_pixels=max_pixels)
    folder = dataset.scan_folder(FLAGS.data, max_pixels=max_pixels, workers=workers)
    cli.import_tensorflow_quietly()

    import tensorflow as tf

    from style_transfer.core import files, preprocessing
    from style_transfer.fast import training

    # MultiWorkerMirroredStrategy configures TensorFlow's collective ops, which must happen before any op runs.
    strategy = training.make_strategy(config.strategy)
    chief = training.is_chief(strategy)
    if chief and config.strategy == "multi_worker":
        check_model_dir(model_dir)
    styles = [preprocessing.resize_to_max_dim(image_io.load_image(path, max_pixels=max_pixels),
                                              config.style_size).numpy() for path in FLAGS.style]
    description = run_description(config, [(name, path, image_io.fingerprint(style))
                                            for name, path, style in zip(names, FLAGS.style, styles)], FLAGS.data)
    if FLAGS.resume and chief:
        check_resumable(model_dir, saved_run or read_run_description(model_dir), description)
    if folder.skipped:
        examples = "; ".join(f"{path}: {reason}" for path, reason in folder.skipped[:3])
        print(f"{PROGRAM}: skipped {len(folder.skipped)} of {len(folder.skipped) + len(folder.paths)} files in "
              f"{FLAGS.data}: {examples}{' ...' if len(folder.skipped) > 3 else ''}", file=sys.stderr)

    trainer = training.FastTrainer(config, styles, folder.paths, model_dir, strategy, style_names=names)
    start = trainer.restore() if FLAGS.resume else 0
    if trainer.chief:
        if FLAGS.overwrite:  # the new run is set up: what the replaced one left goes now, not before
            for name in (training.CHECKPOINTS, training.LOGS, training.EXPORT):
                shutil.rmtree(model_dir / name, ignore_errors=True)
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / training.CONFIG_FILE).write_text(json.dumps(description, indent=2), encoding="utf8")
    writer = tf.summary.create_file_writer(str(model_dir / training.LOGS)) if trainer.chief else None
    if writer is not None and start == 0:
        with writer.as_default(step=0):
            tf.summary.text("config", "\n".join(f"    {key}: {value}" for key, value in description["config"].items()))
    progress = None
    if FLAGS.progress and sys.stdout.isatty() and trainer.chief and config.steps > start:
        import keras

        progress = keras.utils.Progbar(config.steps, unit_name="step", stateful_metrics=["loss", "steps/s"])
    started = time.perf_counter()

    report_lines = FLAGS.progress and progress is None and trainer.chief

    def on_step(step, terms):
        rate = (step - start) / max(time.perf_counter() - started, 1e-9)
        if progress is not None:
            progress.update(step, values=[("loss", terms["total"]), ("steps/s", rate)], finalize=step == config.steps)
        elif report_lines and step % config.checkpoint_every == 0 and step < config.steps:
            remaining = (config.steps - step) / rate
            print(f"step {step}/{config.steps}: loss {terms['total']:.4g}, {rate:.2f} steps/s, about "
                  f"{remaining / 60:.0f} min to go; writing a checkpoint", flush=True)

    with cli.StopOnSignal(PROGRAM) as stopper:
        step = trainer.run(on_step, stop=stopper.stop, summary_writer=writer)
        seconds = time.perf_counter() - started
        stopper.saving = True
        if step < config.steps:
            with files.uncaptured_stderr():  # the input pipeline may still be decoding a picture
                print(f"{PROGRAM}: stopped after step {step} of {config.steps}; the checkpoint is in "
                      f"{model_dir / training.CHECKPOINTS}. Resume with: {resume_command()}", file=sys.stderr,
                      flush=True)
            return 128 + stopper.received if stopper.received else 1
        exported = trainer.export(metadata={**description, "steps": step, "style_names": names},
                                  tflite=FLAGS.tflite)
    rate = f", {(step - start) / seconds:.2f} steps/s" if step > start and seconds > 0 else ""
    workers = training.worker_count(strategy)
    print(f"Trained {step - start} steps{f' (from step {start})' if start else ''} in {seconds:.1f} s{rate} on "
          f"{strategy.num_replicas_in_sync} replica(s), {workers} worker(s); weights digest {trainer.weights_digest()}")
    if exported:
        print(f"Exported the network to {exported}; apply it with: style-transfer-apply --model "
              f"{model_dir} --content PHOTO")
        print(f"TensorBoard logs in {model_dir / training.LOGS}; view with: tensorboard --logdir "
              f"{model_dir / training.LOGS}")
    if stopper.received:
        return 128 + stopper.received
    return 0


def console_main() -> None:
    """Entry point of the `style-transfer-train` console script and of `python -m style_transfer.train_fast`."""
    COMMAND.console_main(main)


if __name__ == "__main__":
    console_main()
