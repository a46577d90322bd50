"""Validation splits: disjoint from train and test, stratified, the same for every run; --eval-split val."""

from __future__ import annotations

import json
from collections import Counter

import pytest

import run_benchmark
from benchmarks.data.prepare import prepare_stream
from benchmarks.data.registry import load_splits, resolve_spec, with_validation
from benchmarks.data.sources import LabeledTexts, Splits
from benchmarks.errors import UsageError
from tests.small_stream import DATA_DIR, write_small_clinc_csv
from tests.test_sources import write_rows

CLASSES = ["alarm", "music", "weather"]


def texts(part: LabeledTexts) -> set[str]:
    return set(part.texts)


def test_clinc150_keeps_its_own_val_and_its_training_data():
    spec = resolve_spec("clinc150")
    raw = load_splits(spec, DATA_DIR, seed=0)
    held = with_validation(raw, 0.1, seed=0)
    assert held is raw  # its own val split (20 per intent): the training data is the one results were made with
    assert (len(held.train), len(held.val)) == (15000, 3000)
    stream = prepare_stream(spec, DATA_DIR, backbone="tiny-bert", head="linear", first_classes=3, num_tasks=1)
    assert stream.val_fraction is None
    assert len(stream.data.train_y) == 300  # 3 intents x 100, nothing held out


def test_a_held_out_split_is_stratified_disjoint_and_seeded_by_the_data_seed():
    splits = load_splits(resolve_spec("banking77"), DATA_DIR, seed=0)
    held = with_validation(splits, 0.1, seed=0)
    assert not texts(held.val) & texts(held.train) and not texts(held.val) & texts(held.test)
    assert len(held.train) + len(held.val) == len(splits.train)
    val_counts = Counter(held.val.labels)
    assert all(abs(val_counts[c] - 0.1 * n) <= 1 for c, n in Counter(splits.train.labels).items())  # stratified
    assert set(held.val.labels) == set(splits.train.labels)
    assert with_validation(splits, 0.1, seed=0) == held  # every method and run seed gets this very split
    assert texts(with_validation(splits, 0.1, seed=1).val) != texts(held.val)


def test_a_tiny_data_set_still_gets_one_validation_example_per_class():
    train = LabeledTexts([f"{c} {i}" for c in CLASSES for i in range(3)], [c for c in CLASSES for _ in range(3)])
    held = with_validation(Splits(train, train), 0.1, seed=0)
    assert Counter(held.val.labels) == {c: 1 for c in CLASSES}
    assert Counter(held.train.labels) == {c: 2 for c in CLASSES}


@pytest.mark.parametrize("value", ["val", "validation"])
def test_a_files_own_val_rows_are_its_validation_split(tmp_path, value):
    rows = [{"text": f"{c} request {i}", "label": c, "split": "train" if i < 6 else ("test" if i < 8 else value)}
            for c in CLASSES for i in range(10)]
    splits = load_splits(resolve_spec(str(write_rows(tmp_path / "d.csv", rows))), None, seed=0)
    assert Counter(splits.val.labels) == {c: 2 for c in CLASSES}
    assert with_validation(splits, 0.1, seed=0) is splits
    assert all(t.endswith((" 8", " 9")) for t in splits.val.texts)


def test_eval_split_val_measures_on_validation_and_never_tokenizes_a_test_example(tmp_path, monkeypatch):
    """The loader is instrumented: every text the tokenizer sees is recorded."""
    import benchmarks.data.stream as stream

    seen = []
    real = stream.tokenize

    class RecordingTokenizer:
        def __init__(self, tokenizer):
            self.tokenizer, self.pad_token_id = tokenizer, tokenizer.pad_token_id

        def __call__(self, texts, **kwargs):
            seen.extend(texts)
            return self.tokenizer(texts, **kwargs)

    def recording(splits, task_split, tokenizer, *args, **kwargs):
        return real(splits, task_split, RecordingTokenizer(tokenizer), *args, **kwargs)

    monkeypatch.setattr("benchmarks.data.prepare.tokenize", recording)
    csv_path = write_small_clinc_csv(tmp_path / "small.csv", num_classes=4, per_class_train=20)
    out = tmp_path / "out"
    code = run_benchmark.main([
        "--benchmark", str(csv_path), "--tasks", "2", "--backbone", "tiny-bert", "--methods", "finetune",
        "--eval-split", "val", "--wandb", "disabled", "--output", str(out),
    ])
    assert code == 0
    record = json.loads(next(out.rglob("results.json")).read_text())
    assert record["eval_split"] == "val" and record["config"]["eval_split"] == "val"
    assert record["config"]["val_fraction"] == 0.1
    splits = load_splits(resolve_spec(str(csv_path)), None, seed=0)
    test_only = texts(splits.test) - texts(splits.train)  # CLINC150 repeats a few texts across its splits
    assert seen and test_only and not test_only & set(seen)


@pytest.mark.parametrize("fraction", ["0", "1", "1.5", "-0.1"])
def test_a_validation_fraction_outside_0_1_is_refused(fraction, tmp_path, capsys):
    code = run_benchmark.main(["--val-fraction", fraction, "--backbone", "tiny-bert", "--output", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err == f"error: --val-fraction must be between 0 and 1 (exclusive), got {float(fraction)}\n"


def test_a_class_without_a_validation_example_is_refused(tmp_path, capsys):
    rows = [{"text": f"{c} {i}", "label": c, "split": "train" if i < 6 else ("test" if i < 8 else "val")}
            for c in CLASSES for i in range(10) if not (c == "music" and i >= 8)]
    path = write_rows(tmp_path / "d.csv", rows)
    code = run_benchmark.main(["--benchmark", str(path), "--tasks", "3", "--backbone", "tiny-bert",
                               "--wandb", "disabled", "--output", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "error: class 'music' of 'd' has no validation example: raise --val-fraction or fix the data's val split\n"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("results.json"))


def test_with_validation_needs_two_examples_of_every_class():
    train = LabeledTexts(["a 0", "a 1", "b 0"], ["a", "a", "b"])
    with pytest.raises(UsageError, match="cannot make a stratified validation split"):
        with_validation(Splits(train, train), 0.1, seed=0)
