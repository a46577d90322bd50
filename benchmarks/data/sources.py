"""Raw labelled texts from a local folder, a CSV/JSON file or the Hugging Face hub.

Every loader returns `Splits` of plain Python strings, so that everything downstream
(class order, task split, tokenization) is independent of where the data came from.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

from benchmarks.errors import UsageError, first_line

FILE_SUFFIXES = (".csv", ".json", ".jsonl")
SPLIT_COLUMN = "split"
SPLIT_VALUES = {"train": "train", "test": "test", "val": "val", "validation": "val"}  # value -> part


@dataclass(frozen=True)
class LabeledTexts:
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Splits:
    train: LabeledTexts
    test: LabeledTexts
    val: LabeledTexts | None = None


def _read_text(path: Path, kind: str) -> str:
    """The whole file as text (gunzipped if it ends in .gz); every way that fails is one UsageError line
    ("malformed {kind} in ...")."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"missing data file {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a data file: pass a .csv, .json or .jsonl file") from None
    except OSError as e:
        raise UsageError(f"cannot read data file {path} ({e.strerror}): check its permissions") from None
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:  # not gzip (BadGzipFile), or cut short
            raise UsageError(f"malformed gzip file {path} ({e}): replace it with a complete copy") from None
    try:
        return data.decode("utf-8-sig")  # -sig: a byte order mark (Excel) is not part of the first column name
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UsageError(
            f"malformed {kind} in {path}: byte 0x{data[e.start]:02x} on line {line} is not UTF-8; save the file as UTF-8 text"
        ) from None


def _read_json(path: Path):
    try:
        return json.loads(_read_text(path, "JSON"))
    except json.JSONDecodeError as e:
        raise UsageError(f"malformed JSON in {path}, line {e.lineno} column {e.colno}: {e.msg}") from None


def _read_csv_rows(path: Path) -> list[dict]:
    reader = csv.DictReader(io.StringIO(_read_text(path, "CSV"), newline=""), strict=True)
    try:
        return list(reader)
    except csv.Error as e:
        if str(e) == "unexpected end of data":  # reader.line_num: the last line of the last complete row
            raise UsageError(
                f"malformed CSV in {path}: a quote opened after line {reader.line_num} is never closed; close it"
            ) from None
        hint = ' (a quote inside a field: quote the field and double it, "say ""hi""")' if "expected after" in str(e) else ""
        raise UsageError(f"malformed CSV in {path}, line {reader.reader.line_num}: {e}{hint}") from None


def _original_or_gzipped(path: Path) -> Path:
    """`path`, or its `.gz` copy (the form the package ships) when only that exists."""
    gzipped = path.with_name(path.name + ".gz")
    return gzipped if not path.exists() and gzipped.exists() else path


def load_clinc150_dir(folder: Path) -> Splits:
    """The original `data_full.json` of clinc/oos-eval (or the package's gzipped copy of it); the
    out-of-scope queries are left out."""
    path = _original_or_gzipped(folder / "data_full.json")
    data = _read_json(path)

    def part(key: str) -> LabeledTexts:
        try:
            pairs = data[key]
            return LabeledTexts([str(t) for t, _ in pairs], [str(y) for _, y in pairs])
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"malformed {path}: no [text, intent] pairs under '{key}'") from None

    return Splits(train=part("train"), test=part("test"), val=part("val"))


def load_banking77_dir(folder: Path) -> Splits:
    """The original `train.csv` / `test.csv` (columns text, category) of PolyAI's task-specific-datasets
    (or the package's gzipped copies of them)."""
    paths = [_original_or_gzipped(folder / name) for name in ("train.csv", "test.csv")]
    parts = [_columns(_read_csv_rows(path), "text", "category", path) for path in paths]
    return Splits(train=parts[0], test=parts[1])


def _columns(rows: list[dict], text_column: str, label_column: str, where) -> LabeledTexts:
    if not rows:
        raise UsageError(f"{where} holds no examples")
    missing = [c for c in (text_column, label_column) if c not in rows[0]]
    if missing:
        raise UsageError(
            f"{where} has no column {' or '.join(repr(c) for c in missing)} (columns: {', '.join(rows[0])}); "
            "name them with --text-column/--label-column"
        )
    for number, row in enumerate(rows, start=1):
        empty = [c for c in (text_column, label_column) if row.get(c) is None]
        if empty:
            raise UsageError(f"{where}: example {number} has no value for '{empty[0]}': fill it in or remove the example")
    return LabeledTexts([str(r[text_column]) for r in rows], [str(r[label_column]) for r in rows])


def _read_jsonl(path: Path) -> list:
    rows = []
    for number, line in enumerate(_read_text(path, "JSONL").split("\n"), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise UsageError(
                    f"malformed JSONL in {path}, line {number}: {e.msg}; every line must be one JSON object"
                ) from None
    return rows


def load_file(path: Path, text_column: str, label_column: str) -> tuple[LabeledTexts, LabeledTexts | None, LabeledTexts | None]:
    """A CSV, JSON (list of objects) or JSONL file; returns (train, test or None, validation or None).

    A column named `split` with values train/test/val (or validation) assigns every example to
    its part; a part the file does not have is made by the caller (seeded, stratified).
    """
    if path.suffix == ".csv":
        rows = _read_csv_rows(path)
    elif path.suffix == ".jsonl":
        rows = _read_jsonl(path)
    else:
        rows = _read_json(path)
        if isinstance(rows, dict) and "data" in rows:
            rows = rows["data"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"malformed {path}: expected a list of objects with '{text_column}' and '{label_column}'")
    if not (rows and SPLIT_COLUMN in rows[0]):
        return _columns(rows, text_column, label_column, path), None, None
    unsplit = next((n for n, r in enumerate(rows, start=1) if r.get(SPLIT_COLUMN) not in SPLIT_VALUES), None)
    if unsplit is not None:
        raise UsageError(f"{path}: example {unsplit} has no '{SPLIT_COLUMN}' value train, test, val or validation")
    parts = {part: [r for r in rows if SPLIT_VALUES[r[SPLIT_COLUMN]] == part] for part in ("train", "test", "val")}
    if not parts["train"]:
        raise UsageError(f"{path} has no example whose '{SPLIT_COLUMN}' is train: mark the training examples")
    train, test, val = (_columns(parts[p], text_column, label_column, path) if parts[p] else None for p in parts)
    return train, test, val


def load_hub(
    name: str, config: str | None, text_column: str, label_column: str, failure: str
) -> tuple[LabeledTexts, LabeledTexts | None, LabeledTexts | None]:
    """A Hugging Face hub data set; integer labels are mapped to their ClassLabel names.

    `failure` starts the error message when the hub cannot serve it (offline, a typo...).
    """
    import datasets

    try:
        dataset = datasets.load_dataset(name, config)
    except Exception as e:  # the hub raises many types (offline, not found, gated)
        raise UsageError(f"{failure} ({first_line(e)})") from None

    def part(split) -> LabeledTexts:
        missing = [c for c in (text_column, label_column) if c not in split.column_names]
        if missing:
            raise UsageError(
                f"'{name}' has no column {' or '.join(repr(c) for c in missing)} (columns: {', '.join(split.column_names)}); "
                "name them with --text-column/--label-column"
            )
        feature = split.features[label_column]
        labels = split[label_column]
        if hasattr(feature, "int2str"):
            labels = feature.int2str(labels)
        return LabeledTexts([str(t) for t in split[text_column]], [str(y) for y in labels])

    if "train" not in dataset:
        raise UsageError(f"'{name}' has no 'train' split (splits: {', '.join(dataset)})")
    optional = (part(dataset[split]) if split in dataset else None for split in ("test", "validation"))
    return part(dataset["train"]), *optional
