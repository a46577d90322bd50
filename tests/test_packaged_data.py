"""CLINC150 and Banking77 ship inside the package: with no data folder and no network, both benchmarks run,
and the tests read them (a fresh clone passes `make test`)."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import pytest

import run_benchmark
from benchmarks.data import registry, sources
from benchmarks.data.registry import load_splits, resolve_spec

REFERENCE_COPY = Path(__file__).resolve().parents[2] / "shared" / "data"  # the team's reference copy, where present
# The packaged files and the license each source note names.
PACKAGED = {"clinc150": (["data_full.json"], "CC BY 3.0"), "banking77": (["train.csv", "test.csv"], "CC BY 4.0")}


@pytest.fixture
def no_hub(monkeypatch):
    """The hub may not be asked (conftest also sets HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the hub was asked for data")

    monkeypatch.setattr(registry, "load_hub", refuse)
    monkeypatch.delenv("CLBENCH_DATA_DIR", raising=False)


def recorded_hashes(folder: Path) -> dict[str, str]:
    """`file -> sha256` from the table in the packaged SOURCE.md."""
    return dict(re.findall(r"^\| (\S+) \| ([0-9a-f]{64}) \|$", (folder / "SOURCE.md").read_text(), re.M))


@pytest.mark.parametrize("name", PACKAGED)
def test_the_packaged_copy_is_the_original_file_its_source_note_names(name):
    """The gzipped files decompress to the originals whose SHA-256 the source note records."""
    folder = resolve_spec(name).packaged
    files, license_name = PACKAGED[name]
    hashes = recorded_hashes(folder)
    assert sorted(hashes) == sorted(files)
    for file in files:
        assert hashlib.sha256(gzip.decompress((folder / f"{file}.gz").read_bytes())).hexdigest() == hashes[file]
    assert license_name in (folder / "SOURCE.md").read_text()
    assert "Attribution" in (folder / "LICENSE").read_text()


@pytest.mark.parametrize("name", PACKAGED)
def test_the_packaged_copy_equals_the_reference_copy(name):
    if not (REFERENCE_COPY / name).is_dir():
        pytest.skip(f"no reference copy at {REFERENCE_COPY / name} (the hash test above still checks the files)")
    folder = resolve_spec(name).packaged
    for file in PACKAGED[name][0]:
        assert gzip.decompress((folder / f"{file}.gz").read_bytes()) == (REFERENCE_COPY / name / file).read_bytes()
    assert (folder / "LICENSE").read_bytes() == (REFERENCE_COPY / name / "LICENSE").read_bytes()


@pytest.mark.parametrize("name, sizes, classes", [("clinc150", (15000, 3000, 4500), 150), ("banking77", (10003, None, 3080), 77)])
def test_without_a_data_dir_the_benchmark_loads_from_the_package(name, sizes, classes, no_hub):
    assert registry.data_dir_from(None) is None
    packaged = load_splits(resolve_spec(name), None, seed=0)
    assert (len(packaged.train), packaged.val and len(packaged.val), len(packaged.test)) == sizes
    assert len(set(packaged.train.labels)) == len(set(packaged.test.labels)) == classes
    assert packaged == load_splits(resolve_spec(name), resolve_spec(name).packaged.parent, seed=0)  # as a --data-dir too


def test_a_given_data_dir_still_wins_and_must_hold_the_data(tmp_path, no_hub, capsys):
    """--data-dir is explicit: a folder without clinc150/ is an error, not a silent fallback."""
    code = run_benchmark.main(["--backbone", "tiny-bert", "--data-dir", str(tmp_path), "--output", str(tmp_path / "o")])
    assert code == 2
    assert capsys.readouterr().err == f"error: no folder 'clinc150' in data directory {tmp_path}\n"


def test_a_broken_gzip_is_one_error_line(tmp_path):
    (tmp_path / "data_full.json.gz").write_bytes(gzip.compress(b'{"train": []}')[:-5])
    with pytest.raises(sources.UsageError, match=r"^malformed gzip file .*data_full.json.gz \(.*\): replace it"):
        sources.load_clinc150_dir(tmp_path)


def test_an_original_csv_wins_over_a_gzipped_one(tmp_path):
    """A data folder holding both forms reads the plain file (the one a user edits)."""
    for split in ("train", "test"):
        (tmp_path / f"{split}.csv").write_text("text,category\nhello,greet\nbye,leave\n")
        (tmp_path / f"{split}.csv.gz").write_bytes(gzip.compress(b"text,category\nother,x\nmore,y\n"))
    assert sorted(sources.load_banking77_dir(tmp_path).train.labels) == ["greet", "leave"]
