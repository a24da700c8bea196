"""The memory a `style-transfer` run will need, estimated before any work, and the memory it may use.

The estimate is a fixed part (TensorFlow, the network's weights and Winograd's kernel tiles) plus a part
per megapixel of the output (the activations the step keeps for its backward pass), fitted to measured peak
resident memory (docs/performance.md; `scripts/bench.py --memory` compares it with measured peaks). It errs
on the high side: 'auto' precision counts as float32, the larger. Importing this
module imports no TensorFlow, so a run that cannot fit is refused at once.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# (fixed MB, MB per output megapixel) by (precision, recompute), fitted to measured peaks: float32 with Eigen's
# kernels (AVX2), bfloat16 with oneDNN's.
PEAK_MODEL = {("float32", False): (1700, 1600), ("float32", True): (1700, 800),
              ("bfloat16", False): (1000, 1150), ("bfloat16", True): (1200, 500)}
VGG16_SHARE = 0.96  # VGG16's peak against VGG19's: the convolutions it lacks run at a quarter resolution or less
FORWARD_SHARE = 0.5  # a style picture's targets take one forward pass: about half a step's memory per pixel
LBFGS_BYTES_PER_PIXEL = 600  # SciPy's L-BFGS-B: (2 * 10 + 5) float64 vectors of 3 values per pixel


def output_size(width: int, height: int, max_dim: int) -> tuple[int, int]:
    """(width, height) of a picture of `width` x `height` resized to longest side `max_dim`."""
    scale = max_dim / max(width, height)
    return (max_dim, max(1, round(height * scale))) if width >= height else (max(1, round(width * scale)), max_dim)


def estimate_mb(config, content_size: tuple[int, int], style_sizes: list[tuple[int, int]],
                max_dim: int | None = None) -> float:
    """Peak resident memory in MB of a run of `config` (a StyleConfig) on a content picture of `content_size`
    (width, height) and styles of `style_sizes`, at `max_dim` (default: config.max_dim)."""
    max_dim = max_dim or config.max_dim
    precision = "bfloat16" if config.precision == "bfloat16" else "float32"  # 'auto' may be either
    fixed, per_megapixel = PEAK_MODEL[(precision, bool(config.recompute))]
    if config.network == "vgg16":
        fixed, per_megapixel = fixed * VGG16_SHARE, per_megapixel * VGG16_SHARE
    width, height = output_size(*content_size, max_dim)
    if config.size_bucket:
        width, height = (math.ceil(side / config.size_bucket) * config.size_bucket for side in (width, height))
    step = per_megapixel * width * height / 1e6
    if config.optimizer == "lbfgs":
        step += LBFGS_BYTES_PER_PIXEL * width * height / 2 ** 20
    style_max_dim = round(max_dim * config.style_scale)
    if config.style_max_dim:
        style_max_dim = min(style_max_dim, config.style_max_dim)
    targets = max((FORWARD_SHARE * per_megapixel * math.prod(output_size(*size, style_max_dim)) / 1e6
                   for size in style_sizes), default=0.0)
    return fixed + max(step, targets)


def largest_max_dim(config, content_size: tuple[int, int], style_sizes: list[tuple[int, int]],
                    available: float) -> int | None:
    """The largest max_dim whose estimate fits in `available` MB (None if not even 16 px does)."""
    low, high = 16, config.max_dim
    if estimate_mb(config, content_size, style_sizes, low) > available:
        return None
    while low < high:  # the estimate grows with max_dim
        middle = (low + high + 1) // 2
        if estimate_mb(config, content_size, style_sizes, middle) <= available:
            low = middle
        else:
            high = middle - 1
    return low


def available_mb() -> float | None:
    """Memory this process may still take, in MB: /proc/meminfo's MemAvailable, or what its cgroup's limit
    leaves if that is less (cgroup v2 or v1, this group's and its parents'). None where neither is readable."""
    candidates = [_meminfo_available(), *_cgroup_headroom()]
    candidates = [value for value in candidates if value is not None]
    return min(candidates) / 2 ** 20 if candidates else None


def describe_mb(megabytes: float) -> str:
    """1536 -> '1.5 GB'; 2.5e7 -> '23.8 TB'."""
    for unit, size in (("TB", 2 ** 20), ("GB", 2 ** 10)):
        if megabytes >= size:
            return f"{megabytes / size:.1f} {unit}"
    return f"{megabytes:.0f} MB"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_headroom() -> list[int]:
    """Limit minus usage (reclaimable page cache not counted as used) of every cgroup level with a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    headroom = []
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if controllers == "":  # v2
            files, root = ("memory.max", "memory.current", "inactive_file"), Path("/sys/fs/cgroup")
        elif "memory" in controllers.split(","):  # v1
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
            root = Path("/sys/fs/cgroup/memory")
        else:
            continue
        # Inside a container the group's path may be the host's while the mount shows the group as its root.
        directory = root / group.lstrip("/")
        directory = directory if directory.is_dir() else root
        while True:
            level = _headroom(directory, *files)
            if level is not None:
                headroom.append(level)
            if directory == root or directory.parent == directory:
                break
            directory = directory.parent
    return headroom


def _headroom(directory: Path, limit_file: str, usage_file: str, inactive_key: str) -> int | None:
    try:
        limit_text = (directory / limit_file).read_text().strip()
        if limit_text == "max" or int(limit_text) >= 2 ** 60:  # no limit
            return None
        usage = int((directory / usage_file).read_text())
        stat = dict(line.split() for line in (directory / "memory.stat").read_text().splitlines())
        return int(limit_text) - usage + int(stat.get(inactive_key, 0))
    except (OSError, ValueError):
        return None
