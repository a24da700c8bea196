"""Every default of training a fast style-transfer network, in one frozen dataclass (`TrainConfig`).

The loss settings mean exactly what they mean in `StyleConfig` (the same network, layers, weights and
normalisation feed the same `losses.total_loss`), and default to the same values; train_fast.py generates one
flag per field, as run.py does for StyleConfig.
"""

from __future__ import annotations

import dataclasses
from style_transfer.core.config import (DEFAULT, GRAM_NORM_CHOICES, NETWORK_CHOICES, PRECISION_CHOICES, ConfigMethods,
                                   config_field, check, network_layers, normalize_fields, parse_layer_weights,
                                   pools_through)

STRATEGY_CHOICES = ("default", "mirrored", "multi_worker")
_STYLE_HELP = {field.name: field.metadata["help"] for field in dataclasses.fields(DEFAULT)}


@dataclasses.dataclass(frozen=True)
class TrainConfig(ConfigMethods):
    """How a transformation network is trained for one style (Johnson et al. 2016)."""

    # Data.
    image_size: int = config_field(256, "Training crops are image_size x image_size: each photograph is resized so "
                             "its short side is this, then cropped at random and flipped at random.")
    style_size: int = config_field(512, "Longest side, in pixels, of the style picture whose Gram matrices are the "
                             "targets; larger makes the brush strokes bigger.")
    batch_size: int = config_field(4, "Pictures per step over all replicas and workers (the global batch); it must "
                             "divide evenly among the replicas.")
    max_megapixels: float = config_field(DEFAULT.max_megapixels, "Skip data pictures (and refuse a style picture) whose header claims "
                                   "more megapixels than this.")
    # The network.
    filters: int = config_field(8, "Width of the network's outer blocks (Johnson et al.: 32; the middle runs at 4x). "
                          "Compute grows with its square.")
    residual_blocks: int = config_field(5, "Residual blocks at a quarter of the resolution (Johnson et al.: 5).")
    residual_output: bool = config_field(False, "The network paints a change to the photograph: its last layer "
                                   "starts at zero and is added to the photograph (in logits), so training "
                                   "starts from the photograph, as the optimiser does.")
    # The objective, as in StyleConfig.
    network: str = config_field(DEFAULT.network, _STYLE_HELP["network"], NETWORK_CHOICES)
    content_layers: dict = config_field(dict(DEFAULT.content_layers), _STYLE_HELP["content_layers"])
    style_layers: dict = config_field(dict(DEFAULT.style_layers), _STYLE_HELP["style_layers"])
    content_weight: float = config_field(DEFAULT.content_weight, _STYLE_HELP["content_weight"])
    style_weight: float = config_field(DEFAULT.style_weight, _STYLE_HELP["style_weight"])
    tv_weight: float = config_field(DEFAULT.tv_weight, "Weight of the total-variation loss (per picture; see "
                              "tv_smoothing).")
    tv_smoothing: float = config_field(DEFAULT.tv_smoothing, _STYLE_HELP["tv_smoothing"])
    gram_norm: str = config_field(DEFAULT.gram_norm, _STYLE_HELP["gram_norm"], GRAM_NORM_CHOICES)
    temporal_weight: float = config_field(0.0, "Weight of the stability loss for video (0: off): each crop is also "
                                    "seen slightly shifted and zoomed (T), and the network is taught to move its "
                                    "output with the picture: temporal_weight * mean |f(T(x)) - T(f(x))| per picture, "
                                    "pixels in [0, 1] (docs/video.md on its scale). Costs one more pass of the "
                                    "network per step.")
    weights: str = config_field(DEFAULT.weights, _STYLE_HELP["weights"])
    precision: str = config_field(DEFAULT.precision, "Arithmetic of the loss network's convolutions: 'float32', "
                            "'bfloat16' (faster on CPUs with AVX512_BF16 or AMX and on recent GPUs, slightly less "
                            "exact) or 'auto' (bfloat16 where the CPU has it natively and no GPU is used, as "
                            "style-transfer's --precision auto). The network itself always trains in float32.",
                            PRECISION_CHOICES)
    # Optimisation.
    steps: int = config_field(2000, "Training steps (batches); --resume continues up to this many.")
    learning_rate: float = config_field(1e-3, "Adam learning rate of the network's weights.")
    seed: int = config_field(0, "Seed of the network's initial weights and of the data order, crops and flips.")
    strategy: str = config_field("default", "tf.distribute strategy: 'default' (one device), 'mirrored' "
                           "(MirroredStrategy: every GPU of this machine) or 'multi_worker' "
                           "(MultiWorkerMirroredStrategy: the machines listed in the TF_CONFIG environment "
                           "variable, each running this same command).", STRATEGY_CHOICES)
    # Monitoring and checkpoints.
    log_every: int = config_field(10, "Write the loss scalars to TensorBoard every this many steps.")
    sample_every: int = config_field(100, "Every this many steps, write stylisations of a few fixed data pictures to "
                               "TensorBoard (0: only at the end).")
    checkpoint_every: int = config_field(200, "Save a checkpoint every this many steps (and at the end, or when "
                                   "interrupted).")
    keep_checkpoints: int = config_field(3, "How many of the latest checkpoints to keep.")

    def __post_init__(self):
        network_layers(self.network)  # first: the layers are checked against it
        for name in ("content_layers", "style_layers"):
            object.__setattr__(self, name, parse_layer_weights(getattr(self, name), name, self.network))
        normalize_fields(self)
        # Every 2x2 pool up to and including the deepest layer used halves the side.
        minimum = 2 ** max(pools_through(name) for name in {*self.content_layers, *self.style_layers})
        check(self.image_size >= max(minimum, 16), "image_size", f"must be at least {max(minimum, 16)} for the "
              f"layers used, got {self.image_size}")
        check(self.style_size >= max(minimum, 16), "style_size", f"must be at least {max(minimum, 16)} for the "
              f"layers used, got {self.style_size}")
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.max_megapixels > 0, "max_megapixels", f"must be > 0, got {self.max_megapixels}")
        check(1 <= self.filters <= 256, "filters", f"must be in [1, 256], got {self.filters}")
        check(0 <= self.residual_blocks <= 32, "residual_blocks", f"must be in [0, 32], got {self.residual_blocks}")
        for name in ("content_weight", "style_weight", "tv_weight", "tv_smoothing", "temporal_weight"):
            check(getattr(self, name) >= 0, name, f"must be >= 0, got {getattr(self, name)}")
        check(self.weights != "", "weights", "must be 'imagenet', 'random[:SEED]' or a file path")
        check(self.steps >= 0, "steps", f"must be >= 0, got {self.steps}")
        check(0 < self.learning_rate <= 1, "learning_rate", f"must be in (0, 1], got {self.learning_rate:g}")
        check(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        check(self.log_every >= 1, "log_every", f"must be >= 1, got {self.log_every}")
        check(self.sample_every >= 0, "sample_every", f"must be >= 0, got {self.sample_every}")
        check(self.checkpoint_every >= 1, "checkpoint_every", f"must be >= 1, got {self.checkpoint_every}")
        check(self.keep_checkpoints >= 1, "keep_checkpoints", f"must be >= 1, got {self.keep_checkpoints}")

    # What a checkpoint's network and targets depend on: resuming with other values would train another model.
    # batch_size and seed too: a resumed run skips the files the first part used, counted in batches.
    # precision is compared as resolved on this machine, so 'auto' resumes a run trained in what it means.
    RESUME_FIELDS = ("image_size", "style_size", "batch_size", "seed", "filters", "residual_blocks",
                     "residual_output", "network", "content_layers", "style_layers", "content_weight",
                     "style_weight", "tv_weight", "tv_smoothing", "gram_norm", "weights", "precision",
                     "temporal_weight")
    # Settings added after runs existed, with the value those runs were trained with: before network, VGG19;
    # before tv_smoothing, the tutorial's L1 total variation; before residual_output, a plain output; before
    # temporal_weight, no stability loss.
    BEFORE_ADDED = {"network": "vgg19", "tv_smoothing": 0.0, "residual_output": False, "temporal_weight": 0.0}


TRAIN_DEFAULT = TrainConfig()
