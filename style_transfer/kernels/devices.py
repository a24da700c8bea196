"""What the machine computes fast: whether 'auto' precision means bfloat16 here, and 'auto' convolution Winograd.

Imports TensorFlow only (not Keras), so style-transfer-apply can decide without loading the training code.
"""

from __future__ import annotations

import os

import tensorflow as tf

BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")  # the CPU instruction sets that compute bfloat16 natively
# Values of oneDNN's ONEDNN_MAX_CPU_ISA (older name DNNL_MAX_CPU_ISA) that keep its kernels off those
# instructions, so that bfloat16 is emulated even on a CPU that has them.
ISA_CAPS_WITHOUT_BFLOAT16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI")


def resolve_precision(precision: str) -> str:
    """'auto' -> 'bfloat16' on a machine with no GPU whose CPU computes bfloat16 natively (AVX512_BF16 or
    AMX on Linux) through oneDNN, else 'float32'; other values are returned as they are.

    Where bfloat16 is only emulated it runs slower than float32, so 'auto' never picks it there. That includes
    a CPU with the instructions when oneDNN is switched off (TF_ENABLE_ONEDNN_OPTS=0): TensorFlow's own
    kernels then emulate bfloat16, far slower than oneDNN; and oneDNN capped below them
    (ONEDNN_MAX_CPU_ISA=AVX2, say).
    """
    if precision != "auto":
        return precision
    if tf.config.list_physical_devices("GPU"):
        return "float32"
    native = cpu_flags() & set(BFLOAT16_FLAGS) and onednn_enabled() and not onednn_isa_capped_below_bfloat16()
    return "bfloat16" if native else "float32"


def resolve_convolution(convolution: str, precision: str) -> str:
    """'auto' -> 'winograd' for float32 (`precision` resolved) on a machine with no GPU, else 'direct' (bfloat16
    is too coarse for Winograd's transforms, and cuDNN picks its own algorithms, Winograd among them).
    'winograd' with bfloat16 is a ValueError; other values are returned as they are."""
    if convolution == "winograd" and precision != "float32":
        raise ValueError(f"Winograd convolutions are float32 only, not {precision}")
    if convolution != "auto":
        return convolution
    if precision != "float32" or tf.config.list_physical_devices("GPU"):
        return "direct"
    return "winograd"


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs its CPU kernels through oneDNN: TF_ENABLE_ONEDNN_OPTS if set,
    else TensorFlow's own default for the CPU (on x86 with AVX-512, among others)."""
    try:  # TensorFlow's own answer, which applies its default for the CPU; not a public API, hence the fallback
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false", "off")


def onednn_isa_capped_below_bfloat16() -> bool:
    """Whether ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) keeps oneDNN off the bfloat16 instructions."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or ""
    return cap.strip().upper() in ISA_CAPS_WITHOUT_BFLOAT16


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:  # not Linux
        pass
    return set()
