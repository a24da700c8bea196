"""Training a transformation network for one or several styles under tf.distribute (Johnson et al. 2016;
several styles in one network: Dumoulin et al. 2017).

The loss is the optimiser's own (style-transfer's): the same FeatureExtractor (of config.network, VGG19 or VGG16) and
`losses.total_loss`, evaluated per picture (`per_example=True`) so tf.distribute can average it over the
global batch:

    content targets = VGG(photos);  style targets[s] = Gram(VGG(style picture s))
    loss = compute_average_loss(total_loss(VGG(network(photos, one_hot(s_i))), ..., style targets[s_i]), global batch)

With temporal_weight > 0 a stability term joins it (after Gupta et al. 2017 and Ruder et al. 2018, who
teach the network what a small motion does instead of showing it video): T is a small random zoom and
shift of each crop, and the term is temporal_weight * mean |network(T(photo)) - T(network(photo))|, the
output failing to move with the picture. Only pixels: no VGG pass, one more pass of the network.

Picture i of the run (counted over all steps and replicas) is painted in style s_i = i mod S: every batch
mixes the styles evenly, and a resumed run goes on with the styles the uninterrupted run would have used.

Every replica computes its share of the batch; Keras' Adam sums the gradients over replicas (and
workers) before applying them, so the result is the gradient of the mean over the global batch, whatever the
number of replicas. Only the chief worker writes checkpoints, summaries and the export; the other workers
save their checkpoints to a temporary directory and delete it, as TensorFlow's multi-worker guide requires
(saving may involve collective operations every worker must join).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from style_transfer.fast import dataset as dataset_lib
from style_transfer.fast import cluster, export
from style_transfer.core import files, losses
from style_transfer.core.errors import ConfigError, DataError, NumericalError, ResumeError
from style_transfer.core.features import FeatureExtractor
from style_transfer.fast.train_config import TrainConfig
from style_transfer.fast.transformer import transformer_network

CHECKPOINTS = "checkpoints"
EXPORT = export.RUN_EXPORT
LOGS = "logs"
CONFIG_FILE = export.RUN_CONFIG


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy `name` (TrainConfig.strategy); ConfigError naming `strategy` if it cannot
    be built, e.g. multi_worker without a valid TF_CONFIG."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        cluster.check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError("strategy", f"unknown strategy {name!r}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: the only worker, the chief, or worker 0 without a chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return cluster.is_chief(resolver.cluster_spec().as_dict(), resolver.task_type, resolver.task_id)


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """How many worker processes train together (1 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    return cluster.worker_count(resolver.cluster_spec().as_dict())


# The stability loss's motion: zoom in by up to 5% and shift by up to 3% of the side, about what a hand-held
# camera moves between frames at 256 px.
MAX_ZOOM = 0.05
MAX_SHIFT = 0.03


def moved_boxes(batch: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """[batch, 4] float32 boxes (y1, x1, y2, x2, in [0, 1] of the picture) for tf.image.crop_and_resize: each
    a random zoom by 1 to 1 + MAX_ZOOM and shift by up to MAX_SHIFT, inside the picture. `seed` is int64 [2]
    (stateless: a resumed run draws what the uninterrupted one would have)."""
    draws = tf.random.stateless_uniform([batch, 3], seed, minval=-1.0, maxval=1.0)
    half = 0.5 / (1.0 + MAX_ZOOM * (draws[:, 0] + 1.0) / 2)
    centre = 0.5 + MAX_SHIFT * draws[:, 1:]
    centre = tf.clip_by_value(centre, half[:, None], 1.0 - half[:, None])
    return tf.stack([centre[:, 0] - half, centre[:, 1] - half, centre[:, 0] + half, centre[:, 1] + half], axis=1)


def move(images: tf.Tensor, boxes: tf.Tensor) -> tf.Tensor:
    """T: each of `images` [B, h, w, C] cut to its box and resized back to h x w (bilinear)."""
    size = tf.shape(images)[1:3]
    return tf.image.crop_and_resize(images, boxes, tf.range(tf.shape(images)[0]), size)


class FastTrainer:
    """The network, its Adam (`keras_optimizer`), the losses and the distributed train step, for S styles and a
    data folder.

    style_images: S float32 [1, H, W, 3] pictures in [0, 1], each at the size whose Gram matrices are its
    targets (one array for a single style). paths: the training pictures (dataset.scan_folder). model_dir:
    where checkpoints, logs and the export go. style_names: what TensorBoard calls each style (default
    "style 1", "style 2", ...).
    """

    def __init__(self, config: TrainConfig, style_images: np.ndarray | list[np.ndarray], paths: list[str],
                 model_dir: str | Path, strategy: tf.distribute.Strategy | None = None, *,
                 style_names: list[str] | None = None):
        if isinstance(style_images, np.ndarray) and style_images.ndim == 4:
            style_images = [style_images]
        if not style_images:
            raise ValueError("at least one style picture is needed")
        self.styles = len(style_images)
        self.style_names = list(style_names or [f"style {index + 1}" for index in range(self.styles)])
        if len(self.style_names) != self.styles:
            raise ValueError(f"{len(self.style_names)} style names for {self.styles} style pictures")
        self.config = config
        self.model_dir = Path(model_dir)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = is_chief(self.strategy)
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ConfigError("batch_size", f"{config.batch_size} does not divide among the {replicas} replicas; "
                              f"use a multiple of {replicas}")
        self.global_batch = config.batch_size
        keras.utils.set_random_seed(config.seed)  # the network's initial weights
        # The loss network is frozen and the same on every replica. MultiWorkerMirroredStrategy broadcasts the
        # initial value of every variable made in its scope, and its broadcast has no bfloat16 kernel (the loss
        # network's arithmetic on CPUs with native bfloat16): there each worker builds its own, outside the scope.
        own_extractor = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        with contextlib.nullcontext() if own_extractor else self.strategy.scope():
            layers = (*config.content_layers, *config.style_layers)
            # VGG's max pools as trained, and TensorFlow's own convolutions: the Winograd layers take one picture
            # at a time, and training feeds batches.
            self.extractor = FeatureExtractor(layers, weights=config.weights, network=config.network,
                                              pooling="max", precision=config.precision, convolution="direct")
        with self.strategy.scope():
            self.network = transformer_network(config.filters, config.residual_blocks, self.styles,
                                               residual_output=config.residual_output)
            self.keras_optimizer = keras.optimizers.Adam(config.learning_rate)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        grams = [{name: losses.gram_matrix(features[name], config.gram_norm) for name in config.style_layers}
                 for features in (self.extractor(tf.constant(image, tf.float32)) for image in style_images)]
        # {layer: [S, c, c]}: gathered per picture by its style index.
        self.style_targets = {name: tf.concat([gram[name] for gram in grams], axis=0) for name in config.style_layers}

        self.paths = paths
        self.samples = dataset_lib.sample_batch(paths, image_size=config.image_size)
        # `optimizer` is the key under which checkpoints already written hold Adam's variables: it stays.
        self.checkpoint = tf.train.Checkpoint(network=self.network, optimizer=self.keras_optimizer, step=self.step)
        self._manager = None  # the chief's, made at its first save (after a restore, so it sees the old ones)
        self._train_step = tf.function(self._distributed_step)

    def distributed_dataset(self, start_step: int = 0) -> tf.distribute.DistributedDataset:
        """The training batches from step `start_step` on, split among the replicas: a resumed run goes on
        with the batches the uninterrupted run would have had."""
        def dataset_fn(input_context):
            per_replica = input_context.get_per_replica_batch_size(self.global_batch)
            # Each step takes one batch for each of this pipeline's replicas.
            local_replicas = input_context.num_replicas_in_sync // input_context.num_input_pipelines
            return dataset_lib.training_dataset(self.paths, image_size=self.config.image_size,
                                                batch_size=per_replica, seed=self.config.seed,
                                                skip_batches=start_step * local_replicas, input_context=input_context)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def style_indices(self, batch: int) -> tf.Tensor:
        """[batch] int32: the style of each picture of this replica's share of the current step's batch."""
        replica = tf.distribute.get_replica_context()
        replica_id = tf.cast(replica.replica_id_in_sync_group if replica else 0, tf.int64)
        first = self.step * self.global_batch + replica_id * tf.cast(batch, tf.int64)
        return tf.cast((first + tf.range(batch, dtype=tf.int64)) % self.styles, tf.int32)

    def loss_terms(self, photos: tf.Tensor, styles: tf.Tensor | None = None) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """(stylised photos, {term: [B] per-picture values}) for a batch of photos [B, h, w, 3], picture i
        painted in style styles[i] (int32 [B]; default the first style for every picture)."""
        if styles is None:
            styles = tf.zeros([tf.shape(photos)[0]], tf.int32)
        config = self.config
        content_targets = self.extractor(photos)
        stylised = self.network([photos, tf.one_hot(styles, self.styles)], training=True)
        style_targets = {name: tf.gather(target, styles) for name, target in self.style_targets.items()}
        _, terms = losses.total_loss(
            self.extractor(stylised), stylised, content_targets=content_targets, style_targets=style_targets,
            content_layers=config.content_layers, style_layers=config.style_layers,
            content_weight=config.content_weight, style_weight=config.style_weight, tv_weight=config.tv_weight,
            tv_smoothing=config.tv_smoothing, gram_norm=config.gram_norm, per_example=True)
        if config.temporal_weight > 0:
            boxes = moved_boxes(tf.shape(photos)[0], tf.stack([tf.cast(config.seed, tf.int64), self.step]))
            moved = self.network([move(photos, boxes), tf.one_hot(styles, self.styles)], training=True)
            terms["temporal"] = config.temporal_weight * tf.reduce_mean(
                tf.abs(moved - move(stylised, boxes)), axis=[1, 2, 3])
            terms["total"] = terms["total"] + terms["temporal"]
        return stylised, terms

    def _replica_step(self, photos):
        styles = self.style_indices(tf.shape(photos)[0])
        with tf.GradientTape() as tape:
            _, terms = self.loss_terms(photos, styles)
            # Summed over this replica's pictures and divided by the global batch: the replicas' gradients
            # then add up (Keras' Adam all-reduces them) to the gradient of the global mean.
            loss = tf.nn.compute_average_loss(terms["total"], global_batch_size=self.global_batch)
        variables = self.network.trainable_variables
        gradients = tape.gradient(loss, variables)
        self.keras_optimizer.apply_gradients(zip(gradients, variables))
        return {name: tf.nn.compute_average_loss(value, global_batch_size=self.global_batch)
                for name, value in terms.items()}

    def _distributed_step(self, iterator):
        per_replica = self.strategy.run(self._replica_step, args=(next(iterator),))
        self.step.assign_add(1)
        return {name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()}

    def stylise(self, photos: tf.Tensor, style: int = 0) -> tf.Tensor:
        """The network's output for `photos` [B, H, W, 3] in [0, 1] in style number `style` (inference mode)."""
        weights = tf.one_hot(tf.fill([tf.shape(photos)[0]], style), self.styles)
        return self.network([photos, weights], training=False)

    def restore(self) -> int:
        """Restores the latest checkpoint in model_dir/checkpoints; returns its step (0 if there is none).
        ResumeError, with nothing on disk changed, if it is damaged or does not fit this network."""
        latest = files.latest_checkpoint(self.model_dir / CHECKPOINTS)
        if latest is None:
            return 0
        try:
            # Every weight of this network must come from the checkpoint: one written by an earlier version
            # of the network would otherwise restore in part and train on silently.
            files.restore_checkpoint(self.checkpoint, latest)
        except AssertionError:
            raise ResumeError(f"{latest}: this checkpoint does not fit the network of this version of "
                              "style_transfer (it was written by another); start a new run with --overwrite "
                              "or use the version that wrote it") from None
        step = int(self.step.numpy())
        if Path(latest).name != f"ckpt-{step}":  # save_checkpoint numbers each checkpoint by its step
            raise ResumeError(f"{latest}: holds step {step}, not the step its name says; the checkpoint index was "
                              "altered or damaged")
        return step

    def save_checkpoint(self) -> Path | None:
        """Writes a checkpoint of the network, Adam's state and the step; the chief's path (None elsewhere)."""
        if self.chief:
            if self._manager is None:
                self._manager = tf.train.CheckpointManager(self.checkpoint, str(self.model_dir / CHECKPOINTS),
                                                           max_to_keep=self.config.keep_checkpoints)
            return Path(self._manager.save(checkpoint_number=int(self.step.numpy())))
        # Every worker saves (saving may run collectives); only the chief's checkpoint is kept.
        directory = tempfile.mkdtemp(prefix="style_transfer_worker_checkpoint_")
        tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=1).save()
        shutil.rmtree(directory, ignore_errors=True)
        return None

    def run(self, on_step: Callable[[int, dict[str, float]], None], *, stop: threading.Event | None = None,
            summary_writer=None) -> int:
        """Trains from the current step up to config.steps; returns the last step done.

        on_step(step, {term: mean over the global batch}) after each step. Checkpoints every
        config.checkpoint_every steps; summaries (losses every log_every steps, sample stylisations every
        sample_every) go to `summary_writer` if given. NumericalError if the loss stops being finite;
        DataError (after a checkpoint) if no training picture decodes any more.
        """
        config = self.config
        step = first = int(self.step.numpy())
        iterator = iter(self.distributed_dataset(step))
        while step < config.steps:
            try:
                outputs = self._train_step(iterator)
            except tf.errors.OutOfRangeError:  # the pictures' pipeline ends only once every one failed to decode
                if step > first:
                    self.save_checkpoint()
                raise DataError(f"none of the {len(self.paths)} training pictures decodes any more (each was named "
                                f"in a warning as it failed); training stopped after step {step}") from None
            terms = {name: float(value) for name, value in outputs.items()}
            step = int(self.step.numpy())
            if not np.isfinite(terms["total"]):
                raise NumericalError(f"the training loss stopped being finite at step {step}; lower "
                                     f"--learning_rate (now {config.learning_rate:g})", step)
            if summary_writer is not None:
                self.write_summaries(summary_writer, step, terms)
            on_step(step, terms)
            stopping = stop is not None and stop.is_set()
            if step % config.checkpoint_every == 0 or step == config.steps or stopping:
                self.save_checkpoint()
            if stopping:
                break
        return step

    def write_summaries(self, writer, step: int, terms: dict[str, float]) -> None:
        config = self.config
        always = step in (1, config.steps)  # the first and last steps are always logged
        losses = step % config.log_every == 0 or always
        samples = (config.sample_every and step % config.sample_every == 0) or always
        if not (losses or samples):
            return
        with writer.as_default(step=step):
            if losses:
                for name, value in terms.items():
                    tf.summary.scalar(f"loss/{name}", value)
            if samples:
                for style in range(self.styles):
                    tf.summary.image("stylised" if self.styles == 1 else f"stylised/{self.style_names[style]}",
                                     self.stylise(self.samples, style), max_outputs=len(self.samples))
        writer.flush()

    def export(self, directory: str | Path | None = None, *, metadata: dict | None = None,
               tflite: bool = False) -> Path | None:
        """Writes the SavedModel, and with `tflite` the TensorFlow Lite network in it (chief only; returns its
        path, None elsewhere). A plain copy of the network is saved, so the export holds no distributed
        variables."""
        if not self.chief:
            return None
        plain = transformer_network(self.config.filters, self.config.residual_blocks, self.styles,
                                    residual_output=self.config.residual_output)
        plain.set_weights(self.network.get_weights())
        return export.save(plain, directory or self.model_dir / EXPORT, metadata=metadata, overwrite=True,
                           tflite=tflite)

    @property
    def optimizer(self):
        """The former name of `keras_optimizer` (Adam), kept, with its setter, for code written before: in
        this project "the optimiser" is style-transfer's Gatys optimisation."""
        return self.keras_optimizer

    @optimizer.setter
    def optimizer(self, value) -> None:
        self.keras_optimizer = value

    def weights_digest(self) -> str:
        """A short SHA-256 of the network's weights: equal on every worker of a correct distributed run."""
        digest = hashlib.sha256()
        for weight in self.network.get_weights():
            digest.update(np.ascontiguousarray(weight).tobytes())
        return digest.hexdigest()[:16]
