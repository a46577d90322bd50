"""W&B logging with the real wandb package in offline mode: what `wandb sync` would upload.

A tiny real run (tiny-bert, 10 CLINC150 intents, 3 tasks) through the CLI; its offline run
folder is read back: the run record (name, group, job type, config), the history (per-task
accuracies, loss terms), the summary, the table files and the heatmap PNGs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from pathlib import Path

import matplotlib.image
import pytest
import wandb
import wandb_workspaces.reports.v2 as wr
from PIL import Image
from wandb.proto import wandb_internal_pb2

import run_benchmark
from benchmarks.metrics import forgetting_matrix
from benchmarks.engine.wandb_logging import WandbTracker
from reports.wandb_report import panels
from tests.small_stream import write_small_clinc_csv

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = ["--backbone", "tiny-bert", "--tasks", "3", "--epochs", "1", "--lr", "1e-3", "--head-lr", "1e-2"]


@pytest.fixture(autouse=True)
def wandb_env(tmp_path, monkeypatch):
    """wandb's settings, caches and credentials in tmp_path: nothing from or to the user's home.

    wandb reads its environment once per process session (later changes are ignored), so
    the session is torn down around each test: a test's own variables then take effect.
    """
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))
    monkeypatch.setenv("NETRC", str(tmp_path / "wandb-home" / "netrc"))
    for name in ("API_KEY", "MODE", "BASE_URL", "PROJECT", "ENTITY", "INIT_TIMEOUT"):
        monkeypatch.delenv(f"WANDB_{name}", raising=False)
    wandb.teardown()
    yield monkeypatch
    wandb.teardown()


def wandb_records(run_dir: Path) -> list:
    """The records of an offline run's .wandb file (a LevelDB-style log of protobuf Records).

    Format: a 7-byte file header, then 32 KiB blocks of chunks, each with a 7-byte header
    (crc32, length, type: 1 full, 2 first, 3 middle, 4 last).
    """
    (path,) = run_dir.glob("run-*.wandb")
    data, block = path.read_bytes(), 32768
    pos, chunk, records = 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def wandb_dirs(out: Path, run_name: str) -> list[Path]:
    """The offline W&B run folders of a run, in order: the id its run directory keeps names them. A part started
    in the same second as the one before (a tiny run on a fast CPU) gets wandb's suffix: `...-<id>-1`."""
    run_id = (out / run_name / "wandb_run_id").read_text()
    pattern = rf"offline-run-\d{{8}}_\d{{6}}-{re.escape(run_id)}(-\d+)?"
    return sorted(f for f in (out / "wandb").glob("offline-run-*") if re.fullmatch(pattern, f.name))


def md5_b64(path: Path) -> str:
    """The digest W&B records for an artifact file: base64 of its MD5."""
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


def items(update) -> dict:
    """A history or summary update as {key: value}, nested keys joined with '/'."""
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in update}


def table_rows(run_dir: Path, relative_path: str) -> list[list]:
    """A logged wandb.Table file, without its "after task" column."""
    table = json.loads((run_dir / "files" / relative_path).read_text())
    assert table["columns"][0] == "after task"
    return [row[1:] for row in table["data"]]


def panel_keys(panel) -> list[tuple[str, str]]:
    """What a W&B Report panel reads: ("summary", key) for logged values, ("config", key) for the run's config."""
    if isinstance(panel, wr.BarPlot):
        return [("summary", m) for m in panel.metrics]
    if isinstance(panel, wr.LinePlot):
        return [("summary", k) for k in (panel.x, *panel.y)]
    if isinstance(panel, wr.ScatterPlot):
        return [("config", panel.x.name), ("summary", panel.y.name)]
    return [("summary", panel.table_name)]


def assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    height, width, _ = matplotlib.image.imread(path).shape
    assert height > 100 and width > 100


def test_offline_run_holds_the_matrices_the_results_file_holds(tmp_path, capsys):
    csv_path = write_small_clinc_csv(tmp_path / "x.csv")
    out = tmp_path / "out"
    code = run_benchmark.main(
        [*TINY, "--benchmark", str(csv_path), "--wandb", "offline", "--wandb-group", "g-test", "--output", str(out)]
    )
    assert code == 0
    stdout, stderr = capsys.readouterr()
    assert stderr == ""
    assert "group g-test" in stdout and f"wandb sync {out / 'wandb'}/offline-run-*" in stdout

    results = json.loads((out / "x-cil-finetune-seed0" / "results.json").read_text())
    R, F = results["accuracy_matrix"], forgetting_matrix(results["accuracy_matrix"])
    (run_dir,) = wandb_dirs(out, "x-cil-finetune-seed0")
    records = wandb_records(run_dir)

    (run,) = [r.run for r in records if r.HasField("run")]
    assert (run.display_name, run.run_group, run.job_type) == ("x-cil-finetune-seed0", "g-test", "train")
    assert list(run.tags) == ["finetune", "cil", "x"]
    config = {k: v for k, v in items(run.config.update).items() if k != "_wandb"}
    assert config == {**results["config"], "label": "finetune"}

    history = [items(r.history.item) for r in records if r.HasField("history")]
    per_task = [h for h in history if "acc/average_seen" in h]
    assert [h["task"] for h in per_task] == [1, 2, 3]
    for k, h in enumerate(per_task, start=1):
        # the row of task k, the average over the k seen tasks, and both matrices so far
        assert [h[f"acc/task_{j}"] for j in range(1, k + 1)] == R[k - 1][:k]
        assert h["acc/average_seen"] == pytest.approx(sum(R[k - 1][:k]) / k)
        # incremental tables: each task logs its new row only, not a new copy of the table
        for name, M in (("accuracy", R), ("forgetting", F)):
            assert h[f"matrix/{name}/log_mode"] == "INCREMENTAL" and h[f"matrix/{name}/increment_num"] == k - 1
            assert table_rows(run_dir, h[f"matrix/{name}/path"]) == [M[k - 1]]
    # The heatmaps once, at the end, over the whole matrix.
    (images,) = [h for h in history if "heatmap/accuracy/path" in h]
    assert images["task"] == 3
    for name in ("accuracy", "forgetting"):
        assert_valid_png(run_dir / "files" / images[f"heatmap/{name}/path"])
    # The increments make up exactly the results file's matrices, None where forgetting is undefined.
    for name, M in (("accuracy", R), ("forgetting", F)):
        assert [row for h in per_task for row in table_rows(run_dir, h[f"matrix/{name}/path"])] == M
    assert F[0] == [None, None, None]

    losses = [h for h in history if "iteration" in h]
    assert len(losses) >= 3 and all(h["train/loss"] > 0 and h["train/ce"] > 0 for h in losses)
    assert [h["iteration"] for h in losses] == sorted(h["iteration"] for h in losses)

    summary = {}
    for r in records:
        if r.HasField("summary"):
            summary.update(items(r.summary.update))
    for key in ("final_average_accuracy", "average_incremental_accuracy", "forgetting", "backward_transfer"):
        assert summary[key] == pytest.approx(results[key])

    # Everything the W&B Report's panels read is logged.
    read = [key for panel in panels() for key in panel_keys(panel)]
    assert [name for _, name in read] == ["final_average_accuracy", "task", "acc/average_seen", "epochs",
                                          "final_average_accuracy", "matrix/accuracy", "matrix/forgetting"]
    for source, name in read:
        assert name in config if source == "config" else (name in summary or f"{name}/path" in summary), name

    # The results file as an artifact, byte for byte.
    (results_artifact,) = [r.artifact for r in records if r.HasField("artifact") and r.artifact.type == "results"]
    (entry,) = results_artifact.manifest.contents
    assert (results_artifact.name, entry.path) == ("results-x-cil-finetune-seed0", "results.json")
    assert entry.digest == md5_b64(out / "x-cil-finetune-seed0" / "results.json")

    # The invocation's report was written too, and logged as an artifact of a `report` run in the group.
    assert "finetune" in (out / "report.md").read_text()
    (report_dir,) = [d for d in (out / "wandb").glob("offline-run-*") if d != run_dir]
    report_records = wandb_records(report_dir)
    (report_run,) = [r.run for r in report_records if r.HasField("run")]
    assert (report_run.job_type, report_run.run_group) == ("report", "g-test")
    (report_artifact,) = [r.artifact for r in report_records if r.HasField("artifact")]
    files = {e.path: e.digest for e in report_artifact.manifest.contents}
    assert {"report.md", "report.html", "results.csv"} <= set(files) and any(f.startswith("figures/") for f in files)
    assert files["report.md"] == md5_b64(out / "report.md")


def test_replay_loss_terms_are_logged_separately(tmp_path):
    csv_path = write_small_clinc_csv(tmp_path / "x.csv")
    out = tmp_path / "out"
    args = [*TINY, "--benchmark", str(csv_path), "--methods", "derpp", "--buffer-size", "30", "--output", str(out)]
    assert run_benchmark.main(args) == 0  # --wandb offline is the default
    (run_dir,) = wandb_dirs(out, "x-cil-derpp-seed0")
    history = [items(r.history.item) for r in wandb_records(run_dir) if r.HasField("history")]
    logged = set().union(*history)
    assert {"train/loss", "train/ce", "train/replay_ce", "train/mse"} <= logged


def test_online_without_a_server_warns_once_and_the_run_completes(tmp_path, wandb_env, capsys):
    """A well-formed but unknown key and a server nobody listens on: wandb.init fails after 2 s."""
    wandb_env.setenv("WANDB_API_KEY", "0" * 40)
    wandb_env.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    wandb_env.setenv("WANDB_INIT_TIMEOUT", "2")
    csv_path = write_small_clinc_csv(tmp_path / "x.csv")
    out = tmp_path / "out"

    code = run_benchmark.main([*TINY, "--benchmark", str(csv_path), "--wandb", "online", "--output", str(out)])

    assert code == 0
    results = json.loads((out / "x-cil-finetune-seed0" / "results.json").read_text())
    assert len(results["accuracy_matrix"]) == 3
    lines = capsys.readouterr().err.splitlines()  # one line per W&B run: the run's and the report's
    assert len(lines) == 2, lines
    assert lines[0].startswith("warning: W&B logging is off for x-cil-finetune-seed0 (CommError:"), lines
    assert lines[1].startswith("warning: W&B logging is off for the report (CommError:"), lines


def test_an_error_after_init_turns_logging_off_with_one_warning(tmp_path, capsys):
    tracker = WandbTracker("offline", tmp_path, "clbench-text", None, "g")
    tracker.start("r", {"seed": 0, "num_tasks": 2}, ["finetune"], tmp_path, [], False)
    tracker.run.finish()  # the run is gone under the tracker: wandb raises on the next log

    tracker.log_task([[0.5, 0.0], [0.25, 0.5]], joint=False)
    tracker.log_task([[0.5, 0.0], [0.25, 0.5]], joint=False)
    tracker.finish({"final_average_accuracy": 0.375, "average_incremental_accuracy": 0.4375,
                    "forgetting": 0.25, "backward_transfer": -0.25}, False, tmp_path / "results.json")

    assert tracker.off
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("warning: W&B logging is off for r (UsageError:"), stderr


def test_a_resumed_grid_keeps_its_group_and_its_runs_ids(tmp_path, capsys):
    """The default group comes from --output, so a --resume lands in the same group; the resumed
    run reuses its W&B id. Offline, wandb cannot continue a run: the second part is a new offline
    run with that id (`wandb sync` uploads both into one run), and the console says so."""
    from benchmarks.engine.wandb_logging import default_group

    csv_path = write_small_clinc_csv(tmp_path / "x.csv")
    out = tmp_path / "out"
    args = [*TINY, "--benchmark", str(csv_path), "--output", str(out)]
    assert run_benchmark.main([*args, "--stop-after-task", "1"]) == 0
    (first,) = wandb_dirs(out, "x-cil-finetune-seed0")
    run_id = (out / "x-cil-finetune-seed0" / "wandb_run_id").read_text()
    capsys.readouterr()
    assert run_benchmark.main([*args, "--resume"]) == 0
    assert f"[x-cil-finetune-seed0] W&B: offline mode cannot continue run {run_id}" in capsys.readouterr().out

    parts = wandb_dirs(out, "x-cil-finetune-seed0")
    assert len(parts) == 2 and parts[0] == first
    runs = [r.run for part in parts for r in wandb_records(part) if r.HasField("run")]
    assert {(r.run_id, r.run_group, r.job_type) for r in runs} == {(run_id, default_group(out), "train")}
    assert default_group(out) == default_group(tmp_path / "." / "out") != default_group(tmp_path / "other" / "out")
    # The second part starts with the finished task again (a new offline run has nothing), then goes on.
    history = [items(r.history.item) for r in wandb_records(parts[1]) if r.HasField("history")]
    assert [h["task"] for h in history if "acc/average_seen" in h] == [1, 2, 3]


def test_probing_matrix_is_logged_as_a_table_a_heatmap_and_summary_numbers(tmp_path):
    csv_path = write_small_clinc_csv(tmp_path / "x.csv")
    out = tmp_path / "out"
    args = [*TINY, "--benchmark", str(csv_path), "--probe", "--probe-per-class", "5", "--output", str(out)]
    assert run_benchmark.main(args) == 0
    results = json.loads((out / "x-cil-finetune-seed0" / "results.json").read_text())
    (run_dir,) = wandb_dirs(out, "x-cil-finetune-seed0")
    records = wandb_records(run_dir)
    history = [items(r.history.item) for r in records if r.HasField("history")]

    (probing,) = [h for h in history if "matrix/probing/path" in h]
    assert table_rows(run_dir, probing["matrix/probing/path"]) == results["probing_matrix"]
    assert_valid_png(run_dir / "files" / probing["heatmap/probing/path"])
    summary = {}
    for r in records:
        if r.HasField("summary"):
            summary.update(items(r.summary.update))
    for probe in ("linear", "ncm"):
        expected = results["probing_summary"][probe]["final_average_accuracy"]
        assert summary[f"probe_{probe}/final_average_accuracy"] == pytest.approx(expected)
