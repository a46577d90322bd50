"""What the machine offers a run: native bf16, the precision `auto` resolves to, the attention kernel.

bf16 pays only where the hardware computes it: on a CPU with AMX or AVX512-BF16, or a CUDA GPU that
supports it. Elsewhere torch emulates it: on an AVX2 CPU a MiniLM training step under bf16 autocast
took 18 s against 0.7 s in fp32, while on an AVX512-BF16 one it took 0.34 s against 0.59 s
(docs/speed.md). torch is imported only where needed: the CLI resolves --precision before its heavy
imports.
"""

from __future__ import annotations

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bf16_flags() -> list[str]:
    """The CPU's native-bf16 flags in /proc/cpuinfo; without that file, torch's own checks."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = next((line.partition(":")[2].split() for line in f if line.startswith("flags")), [])
        return [flag for flag in CPU_BF16_FLAGS if flag in flags]
    except OSError:
        import torch

        checks = {"amx_bf16": "_is_amx_tile_supported", "avx512_bf16": "_is_avx512_bf16_supported"}
        return [flag for flag, check in checks.items() if getattr(torch.cpu, check, lambda: False)()]


def native_bf16(device: str) -> bool:
    """Whether `device` ("cpu" or "cuda") computes bf16 natively."""
    if device == "cuda":
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return bool(cpu_bf16_flags())


def resolved_precision(precision: str, device: str = "auto") -> str:
    """--precision as a run records it: `auto` is bf16 where the device the run gets (`--device`; auto:
    CUDA when one is visible, else the CPU) computes bf16 natively, else fp32; fp32 and bf16 stay."""
    if precision != "auto":
        return precision
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return "bf16" if native_bf16(device) else "fp32"


def attn_implementation(device: str, precision: str) -> str | None:
    """The attention kernel to load the backbone with; None keeps transformers' default (sdpa).

    On a CPU with native bf16, eager under bf16 autocast: sdpa's fused CPU backward took 12x its
    forward with AMX (issue #27), and on an AVX512-BF16 CPU eager's bf16 training step was 1.33x faster than sdpa's
    (`python -m benchmarks.kernels`). Everywhere else the default, which was as fast in fp32 on both
    CPUs (eager within 7% of sdpa, inside the rounds' spread) and keeps every earlier result
    bit-identical: eager's features differ from sdpa's by ~5e-7.
    """
    return "eager" if device == "cpu" and precision == "bf16" and native_bf16("cpu") else None
