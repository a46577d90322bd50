"""One results contract: every results.json committed under docs/ (written by earlier versions of the
suite) reads through `read_results`, and its config completes to one a RunConfig can hold."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from benchmarks.results import RunConfig, Unreadable, read_results, recorded_config
from reports.collect import load_results

DOCS = Path(__file__).resolve().parents[1] / "docs"
COMMITTED = sorted([*DOCS.glob("tuned-runs/**/results.json"), *DOCS.glob("protocol-runs/**/results.json"),
                    *DOCS.glob("precision-runs/**/results.json")])


def test_there_are_committed_runs():
    assert len(COMMITTED) >= 60


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(DOCS)))
def test_a_committed_results_file_reads_and_its_config_is_a_run_config(path):
    record = read_results(path)
    config = RunConfig(**recorded_config(record))  # every field known, none missing
    assert config.label == record["method"] and record["status"] == "finished"
    assert len(record["accuracy_matrix"]) == (1 if config.declared.joint else record["num_tasks"])


def test_the_reports_read_them_all():
    assert len(load_results(DOCS / "tuned-runs")) == len(list(DOCS.glob("tuned-runs/**/results.json")))


def test_a_record_from_before_status_existed_reads_as_finished(tmp_path):
    record = json.loads(COMMITTED[0].read_text())
    del record["status"], record["completed_tasks"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(record))
    assert read_results(path)["status"] == "finished"


def test_a_broken_record_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**json.loads(COMMITTED[0].read_text()), "seed": "0"}))
    with pytest.raises(Unreadable, match="'seed' is \"0\""):
        read_results(path)
    assert {f.name for f in fields(RunConfig)} >= {"method", "method_source", "hp"}
