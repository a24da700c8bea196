"""What every config dataclass is made of: fields carrying their flag's help, the parsers of layer and number
lists, type and choice checks, validated copies and a flat dict of the values (for flags, logs and metadata).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import types
from typing import Any, Mapping

from style_transfer.core.errors import ConfigError
from style_transfer.core.vgg_layers import network_layers

FLOAT32_MAX = 3.4028234663852886e38


def config_field(default: Any, help: str, choices: tuple[str, ...] | None = None):
    """A dataclass field whose metadata carries the CLI help (and choices, for enum flags)."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def parse_layer_weights(spec: Any, field: str, network: str) -> Mapping[str, float]:
    """Normalises a layer specification to a read-only `{keras_layer_name: weight}`.

    Accepts a dict, a sequence of names, or a string `"block1_conv1:1,block2_conv1:0.5"` where a bare name
    means weight 1. Raises ConfigError naming `field` for layers `network` does not have, bad weights or an
    empty spec.
    """
    known = network_layers(network)
    if isinstance(spec, str):
        items = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                raise ConfigError(field, f"malformed layer list {spec!r}: empty entry")
            name, sep, weight = part.partition(":")
            try:
                items.append((name.strip(), float(weight) if sep else 1.0))
            except ValueError:
                raise ConfigError(field, f"malformed weight {weight!r} for layer {name!r}") from None
    elif isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        items = [(name, 1.0) for name in spec]
    layers: dict[str, float] = {}
    for name, weight in items:
        if name not in known:
            raise ConfigError(field, f"{network} has no layer {name!r}; its layers: {', '.join(known)}")
        if name in layers:
            raise ConfigError(field, f"layer {name!r} is listed twice")
        weight = float(weight)
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(field, f"weight of {name!r} must be a finite number >= 0, got {weight}")
        layers[name] = weight
    if not layers:
        raise ConfigError(field, "at least one layer is required")
    if sum(layers.values()) <= 0:
        raise ConfigError(field, "the layer weights must not all be zero")
    # Read-only, so a config cannot be changed behind its validation (or the defaults for everyone).
    return types.MappingProxyType(layers)


def parse_numbers(spec: Any, field: str, kind: type) -> tuple:
    """`"3,7"` (or a sequence) -> a tuple of `kind` (int or float); "" -> (). ConfigError names `field`."""
    if isinstance(spec, str):
        parts = [part.strip() for part in spec.split(",")] if spec.strip() else []
    elif isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        parts = [spec]
    else:
        parts = list(spec)
    values = []
    for part in parts:
        try:
            value = kind(part)
            if isinstance(part, float) and kind is int and part != value or isinstance(part, bool):
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(field, f"expected comma-separated {kind.__name__}s, got {spec!r}") from None
        if not math.isfinite(value):
            raise ConfigError(field, f"must be finite numbers, got {spec!r}")
        values.append(value)
    return tuple(values)


def format_layer_weights(layers: Mapping[str, float]) -> str:
    """The inverse of `parse_layer_weights` for strings: `"block1_conv1:1,block2_conv1:0.5"`."""
    return ",".join(f"{name}:{weight:g}" for name, weight in layers.items())


class ConfigMethods:
    """What every config dataclass offers: validated copies and a flat dict of its values."""

    def replace(self, **changes):
        """A copy with `changes` applied (and validated); unknown names raise ConfigError."""
        names = {field.name for field in dataclasses.fields(self)}
        for name in changes:
            if name not in names:
                raise ConfigError(name, "no such setting")
        return dataclasses.replace(self, **changes)

    def to_flat_dict(self) -> dict[str, Any]:
        """Field values as bool/int/float/str (layer dicts formatted), for logs, hparams, metadata and flags."""
        return flat_dict(self)


def normalize_fields(config) -> None:
    """Checks every field of the frozen dataclass `config` against its declared type ("float", "int",
    "bool", "str") and choices, storing NumPy scalars and paths as plain Python values; ConfigError names
    the field."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        # NumPy scalars (from sweeps) and paths are ordinary inputs; they are stored as plain Python values.
        if field.type == "float":
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ConfigError(field.name, f"must be a finite number, got {value!r}")
            if abs(value) > FLOAT32_MAX:  # TensorFlow computes in float32, where it would be infinite
                raise ConfigError(field.name, f"must be at most {FLOAT32_MAX:.4g} (float32), got {value!r}")
            object.__setattr__(config, field.name, float(value))
        elif field.type == "int":
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ConfigError(field.name, f"must be an integer, got {value!r}")
            object.__setattr__(config, field.name, int(value))
        elif field.type == "bool" and not isinstance(value, bool):
            raise ConfigError(field.name, f"must be true or false, got {value!r}")
        elif field.type == "str":
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
                object.__setattr__(config, field.name, value)
            if not isinstance(value, str):
                raise ConfigError(field.name, f"must be a string, got {value!r}")
        choices = field.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(field.name, f"must be one of {', '.join(choices)}; got {value!r}")


def flat_dict(config) -> dict[str, Any]:
    """Field values of a config dataclass as bool/int/float/str (layer dicts and number lists formatted)."""
    flat = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, Mapping):
            value = format_layer_weights(value)
        elif isinstance(value, tuple):
            value = ",".join(f"{number:g}" for number in value)
        flat[field.name] = value
    return flat


def check(condition: bool, field: str, message: str) -> None:
    """ConfigError(field, message) unless `condition`."""
    if not condition:
        raise ConfigError(field, message)
