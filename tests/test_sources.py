"""Loading raw splits: the two local benchmarks, generic CSV/JSON/JSONL files, and their errors."""

import csv
import json
from collections import Counter
from dataclasses import replace

import pytest

from benchmarks.errors import UsageError
from benchmarks.data.registry import REGISTRY, limit_per_class, load_splits, resolve_spec
from benchmarks.data.sources import LabeledTexts

# --- the registered benchmarks, read from the data folder (packaged) --------------------------


def test_clinc150_local(data_dir):
    splits = load_splits(resolve_spec("clinc150"), data_dir, seed=0)
    assert (len(splits.train), len(splits.test), len(splits.val)) == (15000, 4500, 3000)
    # 150 balanced intents: 100 / 30 / 20 examples each; the out-of-scope queries are left out
    for part, per_class in ((splits.train, 100), (splits.test, 30), (splits.val, 20)):
        counts = Counter(part.labels)
        assert len(counts) == 150
        assert set(counts.values()) == {per_class}
        assert "oos" not in counts
    assert all(isinstance(t, str) and t for t in splits.train.texts)


def test_banking77_local(data_dir):
    splits = load_splits(resolve_spec("banking77"), data_dir, seed=0)
    assert (len(splits.train), len(splits.test)) == (10003, 3080)
    assert splits.val is None
    assert len(set(splits.train.labels)) == 77
    assert set(Counter(splits.test.labels).values()) == {40}
    assert set(splits.test.labels) == set(splits.train.labels)
    assert "card_arrival" in splits.train.labels


def test_registered_specs_follow_learn_or_recall():
    assert (REGISTRY["clinc150"].num_tasks, REGISTRY["clinc150"].max_length) == (15, 50)
    assert (REGISTRY["banking77"].num_tasks, REGISTRY["banking77"].max_length) == (7, 64)


# --- generic files -----------------------------------------------------------------------

CLASSES = ["alarm", "music", "weather"]
ROWS = [{"text": f"{c} request {i}", "label": c} for c in CLASSES for i in range(10)]  # 30 rows


def write_rows(path, rows):
    """The same list of dicts as a .csv, .json (list of objects) or .jsonl file."""
    if path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def load(path, seed=0, **columns):
    return load_splits(resolve_spec(str(path), **columns), None, seed=seed)


def pairs(part: LabeledTexts):
    return list(zip(part.texts, part.labels))


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_file_with_split_column_uses_it(tmp_path, suffix):
    rows = [dict(r, split="test" if r["text"].endswith(" 0") else "train") for r in ROWS]
    splits = load(write_rows(tmp_path / f"data{suffix}", rows))
    assert pairs(splits.test) == [(f"{c} request 0", c) for c in CLASSES]  # file order kept
    assert len(splits.train) == 27
    assert all(not t.endswith(" 0") for t in splits.train.texts)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_file_without_split_column_gets_seeded_stratified_split(tmp_path, suffix):
    path = write_rows(tmp_path / f"data{suffix}", ROWS)
    splits = load(path, seed=0)
    # 20% of 30 rows, stratified: 2 test examples of each of the 3 classes
    assert Counter(splits.test.labels) == {c: 2 for c in CLASSES}
    assert Counter(splits.train.labels) == {c: 8 for c in CLASSES}
    assert sorted(pairs(splits.train) + pairs(splits.test)) == sorted((r["text"], r["label"]) for r in ROWS)
    assert load(path, seed=0) == splits
    assert pairs(load(path, seed=1).test) != pairs(splits.test)


def test_same_rows_give_the_same_split_in_every_format(tmp_path):
    loaded = [load(write_rows(tmp_path / f"data{suffix}", ROWS), seed=3) for suffix in (".csv", ".json", ".jsonl")]
    assert loaded[0] == loaded[1] == loaded[2]


def test_json_object_with_data_key(tmp_path):
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps({"data": ROWS}), encoding="utf-8")
    assert len(load(path).train) == 24


def test_custom_column_names(tmp_path):
    rows = [{"id": i, "utterance": r["text"], "intent": r["label"]} for i, r in enumerate(ROWS)]
    path = write_rows(tmp_path / "custom.csv", rows)
    splits = load(path, text_column="utterance", label_column="intent")
    assert set(splits.train.labels) == set(CLASSES)
    assert all(t.startswith(tuple(CLASSES)) for t in splits.train.texts)  # texts, not ids
    assert resolve_spec(str(path), "utterance", "intent").name == "custom"


def test_limit_per_class_is_seeded_and_keeps_small_classes_whole():
    data = LabeledTexts([f"a{i}" for i in range(10)] + ["b0", "b1", "b2"], ["a"] * 10 + ["b"] * 3)
    limited = limit_per_class(data, 4, seed=0)
    assert Counter(limited.labels) == {"a": 4, "b": 3}
    assert limited.texts[-3:] == ["b0", "b1", "b2"]
    assert set(limited.texts) <= set(data.texts)
    assert limited.texts == sorted(limited.texts, key=data.texts.index)  # original order kept
    assert limit_per_class(data, 4, seed=0) == limited
    assert limit_per_class(data, 4, seed=1) != limited
    assert limit_per_class(data, 100, seed=0) == data


# --- errors ------------------------------------------------------------------------------


def test_missing_data_file(tmp_path):
    with pytest.raises(UsageError, match=r"^missing data file .*nope\.csv$"):
        load(tmp_path / "nope.csv")


def test_missing_column_lists_the_available_columns(tmp_path):
    rows = [{"utterance": r["text"], "intent": r["label"]} for r in ROWS]
    path = write_rows(tmp_path / "data.csv", rows)
    with pytest.raises(UsageError) as error:
        load(path)
    message = str(error.value)
    assert "no column 'text' or 'label'" in message
    assert "(columns: utterance, intent)" in message
    assert "--text-column/--label-column" in message
    with pytest.raises(UsageError, match="no column 'label' "):
        load(path, text_column="utterance")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("latin1.csv", "text,label\ncaf\xe9,a\n".encode("latin-1"), "malformed CSV in"),
        ("cut.json", b'[{"text": "a", "label"', "malformed JSON in"),
        ("object.json", b'{"text": "a", "label": "b"}', "expected a list of objects"),
        ("bad.jsonl", b'{"text": "a", "label": "b"}\n{"text": oops}\n', "malformed JSONL in"),
        ("scalars.jsonl", b'{"text": "a", "label": "b"}\n42\n', "expected a list of objects"),
        ("empty.json", b"[]", "holds no examples"),
    ],
)
def test_malformed_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as error:
        load(path)
    assert name in str(error.value)


def test_class_without_test_example(tmp_path):
    rows = [dict(r, split="train") for r in ROWS] + [{"text": "wake me", "label": "alarm", "split": "test"}]
    with pytest.raises(UsageError, match=r"class 'music' of 'data' has no test example \(2 such classes\)"):
        load(write_rows(tmp_path / "data.csv", rows))


def test_too_few_examples_for_a_stratified_split(tmp_path):
    rows = ROWS[:10] + [{"text": "only one", "label": "lonely"}]
    with pytest.raises(UsageError, match="cannot make a stratified test split"):
        load(write_rows(tmp_path / "data.csv", rows))


def test_registered_benchmark_with_data_dir_lacking_its_folder(tmp_path):
    with pytest.raises(UsageError, match=f"no folder 'banking77' in data directory {tmp_path}"):
        load_splits(resolve_spec("banking77"), tmp_path, seed=0)


def test_unknown_benchmark_name(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UsageError) as error:
        load_splits(resolve_spec("no-such-benchmark"), None, seed=0)
    message = str(error.value)
    assert message.startswith("unknown benchmark 'no-such-benchmark'")
    assert "not clinc150 or banking77" in message


def test_registered_benchmark_without_data_dir_or_packaged_copy_names_the_fix():
    """Both registered benchmarks are packaged (tests/test_packaged_data.py); one without a packaged copy goes to the hub."""
    spec = replace(resolve_spec("banking77"), packaged=None)
    with pytest.raises(UsageError, match=r"^cannot load banking77: pass --data-dir .* banking77/; its hub copy 'PolyAI/banking77'"):
        load_splits(spec, None, seed=0)


def test_class_with_test_examples_only(tmp_path):
    rows = [dict(r, split="train" if r["text"][-1] in "123" else "test") for r in ROWS]
    rows.append({"text": "snooze", "label": "zz", "split": "test"})
    with pytest.raises(UsageError, match="class 'zz' of 'data' has test examples but no training example"):
        load(write_rows(tmp_path / "data.csv", rows))


def test_jsonl_row_missing_the_label_is_a_usage_error(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + '{"text": "no label here"}\n')
    with pytest.raises(UsageError, match=f"example {len(ROWS) + 1} has no value for 'label'"):
        load(path)


def test_jsonl_error_names_the_broken_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": "b"}\n{"text": "c", "label": "d"}\n{oops\n')
    with pytest.raises(UsageError, match="line 3"):
        load(path)



def test_json_row_missing_the_split_is_a_usage_error(tmp_path):
    rows = [dict(r, split="test" if r["text"].endswith(" 0") else "train") for r in ROWS] + [ROWS[1]]
    with pytest.raises(UsageError):
        load(write_rows(tmp_path / "data.json", rows))
