"""--max-length above what the backbone takes is clamped with a warning, and a text longer than
that is truncated: the grid runs to the end instead of indexing past the position embeddings."""

from __future__ import annotations

import json

import pytest

import run_benchmark


@pytest.mark.parametrize("backbone, head, limit", [("tiny-bert", "linear", 512), ("tiny-gpt2", "lm", 510)])
def test_max_length_above_the_backbone_is_clamped_and_long_texts_truncated(backbone, head, limit, tmp_path, capsys):
    long_text = " ".join(f"word{i}" for i in range(3000))  # several thousand tokens
    rows = [f"{c} text {i},{c}" for c in "abc" for i in range(4)] + [f"{long_text},a"]
    (tmp_path / "long.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    args = ["--benchmark", str(tmp_path / "long.csv"), "--tasks", "3", "--backbone", backbone, "--head", head,
            "--max-length", "100000", "--batch-size", "4", "--wandb", "disabled", "--output", str(tmp_path / "out")]

    assert run_benchmark.main(args) == 0

    err = capsys.readouterr().err
    assert f"warning: max length 100000 is more than backbone {backbone} takes: using {limit}\n" in err
    assert "Traceback" not in err
    record = json.loads((tmp_path / "out" / "long-cil-finetune-seed0" / "results.json").read_text())
    assert record["status"] == "finished" and record["config"]["max_length"] == limit
