"""Every default of a style-transfer run, in one frozen dataclass, plus the named presets.

`StyleConfig` is the single source of defaults: `run.py` generates one absl flag per field (help text from
the field's metadata), the API takes an instance, and the notebook edits one. Construction validates every
field, so an invalid config cannot exist; `ConfigError.field` names the field (which is also the flag).
What every config dataclass is made of (`config_field`, the parsers and checks) is in fields.py.
"""

from __future__ import annotations

import dataclasses
import numbers

from style_transfer.core.errors import ConfigError
from style_transfer.core.fields import (ConfigMethods, check, config_field, normalize_fields, parse_layer_weights,
                                        parse_numbers)
from style_transfer.core.vgg_layers import NETWORK_LAYERS, network_layers

NETWORK_CHOICES = tuple(NETWORK_LAYERS)

INIT_CHOICES = ("content", "noise", "style")  # or the path of a picture
RESIZE_CHOICES = ("antialias", "tutorial")
PRESERVE_COLORS_CHOICES = ("none", "luminance", "histogram")
# A trained network can recombine its result with the photograph's colours, but "histogram" recolours the
# style picture before the targets are computed, which for a network happened at training time.
APPLY_PRESERVE_COLORS_CHOICES = PRESERVE_COLORS_CHOICES[:2]
POOLING_CHOICES = ("max", "avg")
PRECISION_CHOICES = ("auto", "float32", "bfloat16")
CONVOLUTION_CHOICES = ("auto", "direct", "winograd")
OPTIMIZER_CHOICES = ("adam", "lbfgs")
SCHEDULE_CHOICES = ("constant", "cosine", "cooldown")
GRAM_NORM_CHOICES = ("hw", "chw")
JPEG_DCT_CHOICES = ("accurate", "fast")
# Video defaults (docs/video.md has the measurements they were chosen by).
TEMPORAL_WEIGHT = 1e9
LATER_FRAME_STEPS = 150


def is_weights_file(weights: str) -> bool:
    """Whether the `weights` setting names a file (anything but 'imagenet', 'random' and 'random:SEED'); the file
    may not exist."""
    return weights not in ("imagenet", "random") and not weights.startswith("random:")


@dataclasses.dataclass(frozen=True)
class StyleConfig(ConfigMethods):
    """Everything that decides a stylised image, how a run is monitored, and what it trades memory for.

    Defaults are the TensorFlow tutorial's objective (see `TUTORIAL`) with its total variation smoothed below
    differences of 0.03 (`tv_smoothing`: L1 total variation leaves flat blocks as the optimisation converges)
    and a faster optimiser schedule: 380 Adam steps at a learning rate of 0.03 with beta_1 and beta_2 0.9, a
    20-step warm-up, the rate held and then cooled down over the last 40% of the steps, and bfloat16
    convolutions where the CPU computes them natively, else float32 with Winograd ('auto'). Each of these was
    chosen on real ImageNet features (docs/performance.md). Two further departures affect only how input files
    become pixels: accurate JPEG decoding and antialiased resizing to exactly `max_dim`.
    """

    # The network whose features define content and style.
    network: str = config_field("vgg19", "The ImageNet network whose features define content and style: 'vgg19' (the "
                          "tutorial's and Gatys et al.'s) or 'vgg16' (three convolutions fewer, a faster step).",
                          NETWORK_CHOICES)
    # Image sizes.
    max_dim: int = config_field(512, "Longest side of the output image in pixels; the style image is resized to the "
                          "same longest side (times style_scale). A video keeps its own size unless this is given.")
    resize: str = config_field("antialias", "How inputs are resized to max_dim: 'antialias' (antialiased bilinear, "
                         "longest side exactly max_dim) or 'tutorial' (the tutorial's plain bilinear, which "
                         "aliases large photographs, and its float32-truncated size, which can come out a pixel "
                         "short).", RESIZE_CHOICES)
    max_megapixels: float = config_field(100.0, "Refuse input pictures whose header claims more megapixels than "
                                   "this, before decoding them (decompression bombs).")
    jpeg_dct: str = config_field("accurate", "JPEG decoding: 'accurate' (Pillow, integer slow DCT) or 'fast' "
                           "(TensorFlow's default integer fast DCT, which the tutorial's tf.image.decode_image "
                           "uses).", JPEG_DCT_CHOICES)
    # The objective.
    content_layers: dict = config_field({"block5_conv2": 1.0}, "Content layers as NAME or NAME:WEIGHT, "
                                  "comma-separated (Keras layer names of the network, e.g. block5_conv2).")
    style_layers: dict = config_field(
        {name: 1.0 for name in ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")},
        "Style layers as NAME or NAME:WEIGHT, comma-separated; weights are normalised to sum to 1.")
    content_weight: float = config_field(1e4, "Weight of the content loss (mean squared error of feature maps).")
    style_weight: float = config_field(1e-2, "Weight of the style loss (mean squared error of Gram matrices "
                                 "averaged over locations).")
    tv_weight: float = config_field(30.0, "Weight of the total-variation loss (see tv_smoothing).")
    tv_smoothing: float = config_field(0.03, "Smooths the total variation's absolute value below this pixel difference "
                                 "(sqrt(d^2 + s^2) - s, pixels in [0, 1]): 0 is tf.image.total_variation, the "
                                 "tutorial's, which flattens smooth shading into blocks and steps as the "
                                 "optimisation converges.")
    # The optimiser.
    optimizer: str = config_field("adam", "'adam' (the tutorial's: projected Adam) or 'lbfgs' (SciPy's L-BFGS-B with "
                            "pixels bounded to [0, 1], Gatys et al.'s choice: fewer, surer steps).",
                            OPTIMIZER_CHOICES)
    steps: int = config_field(380, "Number of optimiser steps (for lbfgs: iterations) at every scale.")
    learning_rate: float = config_field(0.03, "Adam learning rate, in image units (pixels are in [0, 1]).")
    schedule: str = config_field("cooldown", "Adam learning-rate schedule over the steps of each scale: 'constant' (the "
                           "tutorial's, with warmup_steps 0); 'cosine' (from learning_rate down to "
                           "final_learning_rate along a half cosine); 'cooldown' (learning_rate, then down to "
                           "final_learning_rate over the last cooldown_fraction of the steps along 1 - sqrt: big "
                           "moves, then fine ones).", SCHEDULE_CHOICES)
    final_learning_rate: float = config_field(0.0005, "With the cosine and cooldown schedules: the learning rate of the "
                                        "last step.")
    cooldown_fraction: float = config_field(0.4, "With the cooldown schedule: the share of the steps, at the end, over "
                                      "which the learning rate falls.")
    warmup_steps: int = config_field(20, "Adam's learning rate rises linearly to the scheduled one over this many first "
                               "steps of each scale, at most a tenth of them (0: none, the tutorial's): Adam's "
                               "first steps move nearly every pixel by nearly the full rate, however small its "
                               "gradient, which adds noise.")
    beta_1: float = config_field(0.9, "Adam beta_1 (the tutorial's 0.99 overshoots: its objective rises for the "
                           "first ~50 steps).")
    beta_2: float = config_field(0.9, "Adam beta_2 (the tutorial's is 0.999; 0.9 reaches a lower objective in the "
                           "same steps).")
    epsilon: float = config_field(0.1, "Adam epsilon (large on purpose: it damps the first steps).")
    grid_steps: int = config_field(0, "Over the last this many Adam steps (of the last scale), pull every pixel "
                             "towards the nearest of the 256 levels an 8-bit picture stores, with a force rising "
                             "linearly to grid_strength, so that saving rounds off less of the result. 0: off, "
                             "as in the tutorial. Not used with preserve_colors=luminance, whose saved pixels are "
                             "not the optimised ones.")
    grid_strength: float = config_field(1e5, "With grid_steps: the pull's final stiffness (force per unit of distance "
                                  "near a level; a pixel's gradient is of the order of 100).")
    init: str = config_field("content", "Starting image: 'content', 'noise' (uniform), 'style' (the first style "
                       "image resized to the content's size) or the path of a picture (resized likewise).")
    init_noise: float = config_field(0.0, "Blend this fraction of uniform noise into the starting image (0: none, "
                               "1: noise only); seeded by --seed.")
    seed: int = config_field(0, "Seed of the noise initialisation.")
    # Artistic controls.
    style_blend_weights: tuple = config_field((), "With several styles: their weights as W1,W2,... (normalised to "
                                        "sum to 1; empty: equal). The Gram targets are blended.")
    preserve_colors: str = config_field("none", "Keep the content's colours: 'luminance' stylises the luminance "
                                  "only and puts back the content's chrominance (YIQ); 'histogram' first gives "
                                  "the style image(s) the content's colour mean and covariance.",
                                  PRESERVE_COLORS_CHOICES)
    style_scale: float = config_field(1.0, "Style image size relative to the output's (longest sides), up to 4. The "
                                "network sees the painting's strokes at the size they have in the resized style "
                                "image, so above 1 makes brush strokes bigger, below 1 smaller.")
    style_max_dim: int = config_field(0, "Upper bound on the style image's longest side in pixels (0: none).")
    gram_norm: str = config_field("hw", "Gram matrix normalisation: 'hw' divides by the number of locations "
                            "(the tutorial's), 'chw' also by the channel count, so every layer's Gram entries "
                            "are on one scale (raise style_weight about 1e4-fold).", GRAM_NORM_CHOICES)
    pooling: str = config_field("max", "The network's pooling: 'max' (as trained) or 'avg' (Gatys et al.'s choice: "
                          "smoother results; activations are rescaled to max pooling's mean on the content "
                          "image so the loss weights keep their meaning).", POOLING_CHOICES)
    precision: str = config_field("auto", "Arithmetic of the network's convolutions: 'float32'; 'bfloat16' (the losses stay "
                            "float32; faster on CPUs with AVX512_BF16 or AMX and on recent GPUs, slower where "
                            "bfloat16 is emulated, and slightly less exact); 'auto' picks bfloat16 for Adam where the CPU "
                            "has it natively (AVX512_BF16 or AMX, with TensorFlow's oneDNN kernels on) and no GPU "
                            "is used.", PRECISION_CHOICES)
    convolution: str = config_field("auto", "How the network's float32 convolutions are computed: 'direct' (TensorFlow's "
                              "own: Eigen or oneDNN on a CPU, cuDNN on a GPU); 'winograd' (Winograd's F(4x4, "
                              "3x3) from 128 input channels on, 4x fewer multiplications, and the other layers' "
                              "and the pools' gradients by faster formulas: the same objective to float "
                              "rounding; float32 only, so it makes 'auto' precision float32); 'auto' picks winograd where "
                              "the convolutions are float32, no GPU is used and max_dim is at least 128 (below, "
                              "its set-up costs more than it saves).", CONVOLUTION_CHOICES)
    recompute: bool = config_field(False, "Gradient checkpointing: the network's first two blocks (its full- and "
                             "half-resolution activations) run in horizontal bands, forward and again in the "
                             "backward pass, so no more than a band's activations are held at once. The same "
                             "objective to float rounding, less peak memory for more time per step: for outputs "
                             "near the memory limit. In float32 the least memory is with --convolution direct, "
                             "which has no Winograd kernel tiles to hold.")
    size_bucket: int = config_field(0, "Run the network on the picture padded up to a multiple of this many pixels per "
                               "side, the padding masked out of every layer: the same objective, to float "
                               "rounding. oneDNN keeps compiled kernels for every input shape it meets, so a "
                               "process that stylises pictures of many sizes grows; with buckets it meets few "
                               "shapes. Costs the padded area's time. 0: exact sizes.")
    mask: str = config_field("", "A picture assigning regions to styles (empty: none). Grey levels, black to white, "
                       "select styles 1..N; with one style, white is styled and black keeps the content. "
                       "Transparent pixels always keep the content.")
    scales: str = config_field("1", "Coarse-to-fine optimisation: a number of scales up to 8 (each twice the "
                         "previous size, ending at max_dim) or an explicit increasing list of sizes ending at "
                         "max_dim, e.g. 256,512; --steps runs at every scale.")
    weights: str = config_field("imagenet", "The network's weights: 'imagenet' (Keras' verified download and cache), "
                          "a local .h5 file (the network's official notop file or a Keras .weights.h5), or 'random' / "
                          "'random:SEED' (He-scaled random weights, for tests and benchmarks only).")
    # Monitoring.
    logdir: str = config_field("", "Write TensorBoard logs to a new run directory under this directory "
                         "(empty: no logs).")
    log_every: int = config_field(1, "Write the loss scalars every this many steps.")
    save_every: int = config_field(0, "Every this many steps save the current image (to TensorBoard and, from the "
                             "CLI, as <output>_run/step_NNNNNN.png); 0 never.")
    # Video (Ruder, Dosovitskiy and Brox 2016).
    temporal_weight: float = config_field(TEMPORAL_WEIGHT, "Video: weight of the temporal loss, which holds each frame "
                                          "after the first to the previous result moved by the optical flow, where "
                                          "the flow is reliable; each such frame also starts from that moved "
                                          "result. 0: every frame is stylised on its own, from --init.")
    later_frame_steps: int = config_field(LATER_FRAME_STEPS, "Video, with temporal_weight above 0: optimiser steps "
                                          "for each frame after the first, which starts from the previous result "
                                          "(the first frame takes --steps).")
    frame_rate: float = config_field(25.0, "Video from a folder of frames (--content FOLDER, its pictures in natural "
                                     "order): frames per second of the video made from them.")

    def __post_init__(self):
        # Frozen: normalised values are written with object.__setattr__.
        network_layers(self.network)  # first: the layers are checked against it
        for name in ("content_layers", "style_layers"):
            object.__setattr__(self, name, parse_layer_weights(getattr(self, name), name, self.network))
        if isinstance(self.scales, numbers.Integral) and not isinstance(self.scales, bool):
            object.__setattr__(self, "scales", str(self.scales))
        elif isinstance(self.scales, (tuple, list)):
            object.__setattr__(self, "scales", ",".join(str(size) for size in self.scales))
        object.__setattr__(self, "style_blend_weights",
                           parse_numbers(self.style_blend_weights, "style_blend_weights", float))
        normalize_fields(self)
        check(self.max_dim >= 16, "max_dim", f"must be at least 16 (VGG pools four times before block5), "
               f"got {self.max_dim}")
        check(self.steps >= 0, "steps", f"must be >= 0, got {self.steps}")
        check(self.max_megapixels > 0, "max_megapixels", f"must be > 0, got {self.max_megapixels}")
        for name in ("content_weight", "style_weight", "tv_weight", "tv_smoothing"):
            check(getattr(self, name) >= 0, name, f"must be >= 0, got {getattr(self, name)}")
        # Pixels live in [0, 1] and Adam moves each by about learning_rate per step: above 1 every step
        # only throws pixels to 0 or 1 (the loss curves for 1 and 1e30 are identical).
        check(0 < self.learning_rate <= 1, "learning_rate", f"must be in (0, 1] (pixels are in [0, 1] and Adam "
               f"moves each by about this much per step), got {self.learning_rate:g}")
        check(0 < self.final_learning_rate <= self.learning_rate or self.schedule == "constant",
               "final_learning_rate", f"must be in (0, learning_rate] = (0, {self.learning_rate:g}], "
               f"got {self.final_learning_rate:g}")
        check(0 < self.cooldown_fraction <= 1, "cooldown_fraction",
               f"must be in (0, 1], got {self.cooldown_fraction:g}")
        check(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        for name in ("beta_1", "beta_2"):
            check(0 <= getattr(self, name) < 1, name, f"must be in [0, 1), got {getattr(self, name)}")
        check(self.epsilon > 0, "epsilon", f"must be > 0, got {self.epsilon}")
        check(self.grid_steps >= 0, "grid_steps", f"must be >= 0 (0: off), got {self.grid_steps}")
        check(self.grid_strength >= 0, "grid_strength", f"must be >= 0, got {self.grid_strength:g}")
        check(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        check(self.weights != "", "weights", "must be 'imagenet', 'random[:SEED]' or a file path")
        check(not self.weights.startswith("random:") or self.weights[len("random:"):].isdigit(), "weights",
               f"the seed after 'random:' must be a non-negative integer, got {self.weights!r}")
        check(0 <= self.init_noise <= 1, "init_noise", f"must be in [0, 1], got {self.init_noise:g}")
        check(self.init != "", "init", f"must be one of {', '.join(INIT_CHOICES)} or a picture's path")
        check(all(w >= 0 for w in self.style_blend_weights) and (not self.style_blend_weights
                                                                   or sum(self.style_blend_weights) > 0),
               "style_blend_weights", f"must be >= 0 and not all zero, got {self.style_blend_weights}")
        # Up to 4: a style picture 4x the output's size already needs 16x the memory of the output's features.
        check(0 < self.style_scale <= 4, "style_scale", f"must be in (0, 4], got {self.style_scale:g}")
        check(self.style_max_dim == 0 or self.style_max_dim >= 16, "style_max_dim",
               f"must be 0 (no bound) or at least 16, got {self.style_max_dim}")
        # Measured: with bfloat16 gradients L-BFGS-B's line search fails within a few iterations.
        check(not (self.optimizer == "lbfgs" and self.precision == "bfloat16"), "precision",
               "bfloat16 gradients are too coarse for L-BFGS-B's line search; use float32 (or 'auto', which "
               "picks float32 for lbfgs) or --optimizer adam")
        check(not (self.convolution == "winograd" and self.precision == "bfloat16"), "convolution",
               "Winograd's transforms are too coarse in bfloat16; use --precision float32 (or 'auto', which "
               "picks float32 with winograd) or --convolution direct")
        self.scale_sizes  # validates `scales`
        check(self.size_bucket >= 0, "size_bucket", f"must be >= 0 (0: exact sizes), got {self.size_bucket}")
        check(self.log_every >= 1, "log_every", f"must be >= 1, got {self.log_every}")
        check(self.save_every >= 0, "save_every", f"must be >= 0, got {self.save_every}")
        check(self.temporal_weight >= 0, "temporal_weight", f"must be >= 0 (0: frames stylised on their own), "
               f"got {self.temporal_weight:g}")
        check(self.frame_rate > 0, "frame_rate", f"must be > 0, got {self.frame_rate:g}")
        check(self.later_frame_steps >= 1, "later_frame_steps", f"must be >= 1, got {self.later_frame_steps}")

    @property
    def scale_sizes(self) -> tuple[int, ...]:
        """The longest side at each scale, coarse to fine; the last is always max_dim."""
        spec = self.scales.strip()
        if spec.isdigit() and int(spec) <= 8:
            count = int(spec)
            check(count >= 1, "scales", f"the number of scales must be 1 to 8 (or list sizes), got {count}")
            sizes = tuple(round(self.max_dim / 2 ** (count - 1 - index)) for index in range(count))
            check(sizes[0] >= 16, "scales", f"{count} scales halve max_dim {self.max_dim} down to {sizes[0]} px, "
                   "below VGG's 16 px minimum; use fewer scales or a larger max_dim")
            return sizes
        sizes = parse_numbers(spec, "scales", int)
        check(len(sizes) >= 1, "scales", "give a number of scales or a list of sizes")
        check(all(a < b for a, b in zip(sizes, sizes[1:])), "scales",
               f"the sizes must increase, got {self.scales!r}")
        check(sizes[0] >= 16, "scales", f"sizes must be at least 16 px, got {sizes[0]} (a number up to 8 counts "
               "scales)")
        check(sizes[-1] == self.max_dim, "scales", f"the last size is the output's and must equal max_dim "
               f"({self.max_dim}), got {sizes[-1]}; set --max_dim {sizes[-1]} or end the list at {self.max_dim}")
        return sizes

    @property
    def total_steps(self) -> int:
        """Steps over all scales (`steps` at each)."""
        return self.steps * len(self.scale_sizes)



DEFAULT = StyleConfig()

# The published TensorFlow tutorial "Neural style transfer" (tensorflow.org/tutorials/generative/style_transfer),
# every value spelled out so a change of the defaults can never move it. Its results match the tutorial's
# code step for step given the same weights and input files (tests/test_tutorial.py checks this).
TUTORIAL = StyleConfig(
    network="vgg19",
    max_dim=512,
    resize="tutorial",
    jpeg_dct="fast",
    content_layers={"block5_conv2": 1.0},
    style_layers={name: 1.0 for name in ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                                         "block5_conv1")},
    content_weight=1e4,
    style_weight=1e-2,
    tv_weight=30.0,
    tv_smoothing=0.0,
    optimizer="adam",
    steps=1000,
    learning_rate=0.02,
    schedule="constant",
    final_learning_rate=0.0005,
    cooldown_fraction=0.4,
    warmup_steps=0,
    grid_steps=0,
    grid_strength=1e5,
    beta_1=0.99,
    beta_2=0.999,
    epsilon=0.1,
    init="content",
    init_noise=0.0,
    style_blend_weights=(),
    preserve_colors="none",
    style_scale=1.0,
    style_max_dim=0,
    gram_norm="hw",
    pooling="max",
    precision="float32",
    convolution="auto",
    mask="",
    scales="1",
)

PRESETS: dict[str, StyleConfig] = {"default": DEFAULT, "tutorial": TUTORIAL}


def preset(name: str) -> StyleConfig:
    """The named preset; ConfigError (field `preset`) for an unknown name."""
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]
