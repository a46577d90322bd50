"""`python -m benchmarks.kernels`: every attention kernel at fp32, and at bf16 only where the CPU computes it natively."""

from __future__ import annotations

import pytest

from benchmarks import kernels
from benchmarks.engine.hardware import native_bf16
from benchmarks.models.loading import load_backbone


def test_each_kernel_and_precision_is_timed_against_the_default(capsys, monkeypatch):
    loaded = []  # each contender loads its backbone with its own kernel

    def load(name, attn_implementation=None):
        encoder = load_backbone(name, attn_implementation=attn_implementation)[0]
        loaded.append(encoder.config._attn_implementation)
        return encoder, None

    monkeypatch.setattr(kernels, "load_backbone", load)
    result = kernels.main(["--backbone", "tiny-bert", "--rounds", "2"])
    expected = {"sdpa_fp32", "eager_fp32"} | ({"sdpa_bf16", "eager_bf16"} if native_bf16("cpu") else set())
    assert {k for k in result if k.endswith(("fp32", "bf16"))} == expected
    assert loaded == ["sdpa", "eager"] * (len(expected) // 2)
    assert result["sdpa_fp32"]["train_speedup"] == result["sdpa_fp32"]["eval_speedup"] == 1.0
    for name in expected:
        figures = result[name]
        assert figures["train_s"] > 0 and figures["eval_s"] > 0
        assert figures["train_speedup"] == pytest.approx(result["sdpa_fp32"]["train_s"] / figures["train_s"])
    printed = capsys.readouterr().out
    assert ("bf16: skipped" in printed) != native_bf16("cpu")


def test_bf16_is_skipped_where_it_would_be_emulated(monkeypatch, capsys):
    monkeypatch.setattr(kernels, "native_bf16", lambda device: False)
    result = kernels.main(["--backbone", "tiny-bert", "--rounds", "1"])
    assert {k for k in result if k.endswith(("fp32", "bf16"))} == {"sdpa_fp32", "eager_fp32"}
    assert "bf16: skipped, the cpu computes no bf16 natively" in capsys.readouterr().out
