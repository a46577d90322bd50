"""CLINC150 ships inside the package: with no data folder and no network, `--benchmark clinc150` still runs."""

from __future__ import annotations

import gzip

import pytest

import run_benchmark
from benchmarks.data import registry, sources
from benchmarks.data.registry import load_splits, resolve_spec


@pytest.fixture
def no_hub(monkeypatch):
    """The hub may not be asked (conftest also sets HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the hub was asked for data")

    monkeypatch.setattr(registry, "load_hub", refuse)
    monkeypatch.delenv("CLBENCH_DATA_DIR", raising=False)


def test_the_packaged_copy_is_the_original_file(data_dir):
    packaged = resolve_spec("clinc150").packaged
    original = (data_dir / "clinc150" / "data_full.json").read_bytes()
    assert gzip.decompress((packaged / "data_full.json.gz").read_bytes()) == original
    assert (packaged / "LICENSE").read_bytes() == (data_dir / "clinc150" / "LICENSE").read_bytes()
    assert "CC BY 3.0" in (packaged / "SOURCE.md").read_text()


def test_without_a_data_dir_clinc150_loads_from_the_package_as_from_the_shared_copy(data_dir, no_hub):
    assert registry.data_dir_from(None) is None
    packaged = load_splits(resolve_spec("clinc150"), None, seed=0)
    shared = load_splits(resolve_spec("clinc150"), data_dir, seed=0)
    assert packaged == shared
    assert (len(packaged.train), len(packaged.val), len(packaged.test)) == (15000, 3000, 4500)
    assert len(set(packaged.train.labels)) == 150


def test_a_given_data_dir_still_wins_and_must_hold_the_data(tmp_path, no_hub, capsys):
    """--data-dir is explicit: a folder without clinc150/ is an error, not a silent fallback."""
    code = run_benchmark.main(["--backbone", "tiny-bert", "--data-dir", str(tmp_path), "--output", str(tmp_path / "o")])
    assert code == 2
    assert capsys.readouterr().err == f"error: no folder 'clinc150' in data directory {tmp_path}\n"


def test_a_broken_gzip_is_one_error_line(tmp_path):
    (tmp_path / "data_full.json.gz").write_bytes(gzip.compress(b'{"train": []}')[:-5])
    with pytest.raises(sources.UsageError, match=r"^malformed gzip file .*data_full.json.gz \(.*\): replace it"):
        sources.load_clinc150_dir(tmp_path)
