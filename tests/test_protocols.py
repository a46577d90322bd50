"""Protocols (benchmarks/protocols/*.yaml): their settings reach the runs, flags that differ are deviations,
the shipped files validate, the class-balanced buffer, and the published-vs-ours table."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import pytest
import torch

import run_benchmark
from benchmarks.data.stream import split_classes
from benchmarks.results import default
from benchmarks.engine.plan import run_configs
from benchmarks.protocol import PROTOCOLS, known, load
from methods.buffer import ClassBalancedBuffer
from benchmarks.method_registry import option_defaults
from reports.__main__ import main as report_main
from tests.small_stream import write_small_clinc_csv
from tests.test_reports import record, write

TRAINING = {"epochs", "batch_size", "lr", "head_lr"}


def configs(*argv: str, benchmark: str = "clinc150"):
    request = run_benchmark.parse_args(["--benchmark", benchmark, *argv])
    stream = SimpleNamespace(spec=SimpleNamespace(name=benchmark), task_split=split_classes(list("abcd"), 2),
                             max_length=24, val_fraction=None)
    return request, run_configs(request, stream, "cpu", None)


def deviations(request) -> dict:
    return {chosen.name: list(chosen.deviations) for chosen in request.methods}


@pytest.mark.parametrize("name", ["plm4cl", "lor", "der", "suite"])
def test_every_shipped_protocol_validates_and_every_published_number_has_a_source(name):
    protocol = load(name)
    assert name in known() and protocol.name == name
    for row in protocol.published:
        assert row["source"] and isinstance(row["value"], (int, float)) and 0 <= row["value"] <= 100
    # its run settings are values the CLI accepts, for every method it names
    request = run_benchmark.parse_args(["--protocol", name, "--methods", *(protocol.methods or ["finetune"])])
    assert request.protocol["name"] == name


def test_the_shipped_numbers_are_the_ones_found():
    published = {(r["method"], r["scenario"], r.get("backbone"), r.get("buffer_size")): r["value"]
                 for r in load("plm4cl").published}
    assert len(published) == 60  # 5 backbones x (finetune, joint, er 200/500, derpp 200/500) x CIL/TIL
    assert published[("derpp", "cil", "bert-base-uncased", 200)] == 86.29
    assert published[("er", "cil", "bert-base-uncased", 200)] == 82.13
    assert published[("er", "cil", "bert-base-uncased", 500)] == 88.84
    lor = {(r["method"], r["benchmark"], r["metric"]): r["value"] for r in load("lor").published}
    assert lor[("seq-star", "clinc150", "final_average_accuracy")] == 84.51
    assert lor[("seq-star", "banking77", "final_average_accuracy")] == 67.12


def test_suite_is_todays_defaults_so_runs_without_a_protocol_keep_their_numbers():
    suite = load("suite")
    for name, value in suite.settings.items():
        assert value == (default(name) if name in TRAINING or name in ("backbone", "head", "pooling") else None)
    for method, values in suite.methods.items():
        for name, value in values.items():
            assert value == option_defaults()[name], (method, name)
    _, with_suite = configs("--methods", "er", "derpp", "--protocol", "suite")
    _, without = configs("--methods", "er", "derpp")
    assert with_suite == without


@pytest.mark.parametrize("name", ["plm4cl", "lor"])
def test_each_setting_of_a_protocol_reaches_the_runs_config(name):
    protocol = load(name)
    methods = list(protocol.methods)
    request, runs = configs("--protocol", name, "--methods", *methods)
    for key, value in protocol.run_settings("clinc150").items():
        expected = protocol.substitutes.get(key, value)
        assert request.setting(key) == expected, key
    assert {c.backbone for c in runs} == {"minilm"}  # the substitute
    assert {c.pooling for c in runs} == {protocol.settings["pooling"]}
    for config in runs:
        for key, value in protocol.values(config.declared, "clinc150").items():
            got = getattr(config, key) if key in TRAINING else config.hp[key]
            assert got == value, (config.method, key)
    assert all(d == [{"setting": "backbone", "protocol": protocol.settings["backbone"], "used": "minilm",
                      "reason": "substitution"}] for d in deviations(request).values())


def test_a_flag_overrides_a_setting_and_is_recorded_as_a_deviation():
    request, runs = configs("--protocol", "lor", "--methods", "derpp", "--epochs", "1", "--alpha", "0.1",
                         "--backbone", "tiny-bert", "--pooling", "cls")
    (config, *_) = runs
    assert config.epochs == 1 and config.hp["alpha"] == 0.1 and config.batch_size == 4 and config.hp["beta"] == 0.5
    assert deviations(request)["derpp"] == [
        {"setting": "backbone", "protocol": "bert-base-cased", "used": "tiny-bert", "reason": "flag"},
        {"setting": "epochs", "protocol": 5, "used": 1, "reason": "flag"},
        {"setting": "alpha", "protocol": 0.5, "used": 0.1, "reason": "flag"},
    ]  # --pooling cls is the protocol's own: no deviation


def test_a_protocol_run_records_name_hash_and_deviations(tmp_path):
    csv = write_small_clinc_csv(tmp_path / "small.csv", num_classes=4, per_class_train=12)
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "name: tiny\nsettings: {backbone: bert-base-cased, pooling: cls, epochs: 2, batch_size: 8, lr: 1.0e-3,"
        " head_lr: 1.0e-2, tasks: 2}\nsubstitutes: {backbone: tiny-bert}\n"
        "methods: {er: {buffer_size: 12, buffer_policy: class-balanced}}\n"
    )
    out = tmp_path / "out"
    assert run_benchmark.main(["--protocol", str(path), "--methods", "er", "--benchmark", str(csv), "--epochs", "1",
                               "--wandb", "disabled", "--output", str(out)]) == 0
    result = json.loads((out / "small-cil-er-seed0" / "results.json").read_text())
    c = result["config"]
    assert (c["backbone"], c["pooling"], c["epochs"], c["batch_size"], c["lr"], c["num_tasks"]) == (
        "tiny-bert", "cls", 1, 8, 1e-3, 2)
    assert c["hp"] == {"buffer_size": 12, "buffer_policy": "class-balanced", "replay_batch_size": None}
    assert result["protocol"] == {
        "name": "tiny", "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "deviations": [{"setting": "backbone", "protocol": "bert-base-cased", "used": "tiny-bert",
                        "reason": "substitution"},
                       {"setting": "epochs", "protocol": 2, "used": 1, "reason": "flag"}],
    }


BAD_FILES = {
    "not yaml": ("settings: [epochs: 1\n", "is not YAML"),
    "unknown setting": ("name: x\nsettings: {epoch: 3}\n", "unknown setting 'epoch'"),
    "unknown method": ("name: x\nmethods: {icarl: {epochs: 2}}\n", "unknown method 'icarl'"),
    "method setting": ("name: x\nmethods: {er: {alpha: 2}}\n", "er has no setting 'alpha'"),
    "bad value": ("name: x\nsettings: {epochs: many}\n", "--epochs must be an integer"),
    "bad run value": ("name: x\nsettings: {pooling: max}\n", "pooling"),
    "no source": ("name: x\npublished: [{benchmark: clinc150, scenario: cil, method: er, "
                  "metric: final_average_accuracy, value: 88.8}]\n", "has no source"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_protocol_file_is_one_error_line_and_nothing_is_written(case, tmp_path, capsys):
    content, message = BAD_FILES[case]
    path = tmp_path / "p.yaml"
    path.write_text(content)
    out = tmp_path / "out"
    assert run_benchmark.main(["--protocol", str(path), "--methods", "er", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--protocol", "reproduce"], "unknown protocol 'reproduce': use one of der, lor, plm4cl, suite"),
    (["--methods", "er", "--buffer-policy", "fifo"], "--buffer-policy must be one of reservoir, class-balanced"),
    (["--protocol", "lor", "--select-on", "val"], "--protocol lor fixes its hyper-parameters"),
    (["--protocol", "plm4cl", "--select-on", "val"], "--protocol plm4cl fixes its hyper-parameters"),
])
def test_bad_protocol_input_is_one_error_line_and_nothing_is_written(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    try:
        code = run_benchmark.main([*argv, "--output", str(out)])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_der_is_selection_on_validation():
    request = run_benchmark.parse_args(["--protocol", "der", "--methods", "derpp"])
    assert request.select_on == "val" and request.stream.val_fraction == 0.1
    assert run_benchmark.parse_args(["--protocol", "der", "--select-on", "val"]).select_on == "val"


def task(classes: dict[int, int], task_id: int, start: int = 0):
    """ids, y, task for `count` examples of each class (ids: a running number, to tell examples apart)."""
    y = torch.cat([torch.full((n,), c) for c, n in classes.items()])
    ids = torch.arange(start, start + len(y)).unsqueeze(1).repeat(1, 3)
    return ids, y, torch.full((len(y),), task_id)


def per_class(buffer) -> dict[int, int]:
    return {c: int((buffer.y == c).sum()) for c in buffer.y.unique().tolist()}


def test_class_balanced_buffer_holds_size_over_seen_classes_of_each_chosen_with_the_seed():
    buffer = ClassBalancedBuffer(12, seed=0)
    buffer.fill(*task({0: 10, 1: 10, 2: 10}, 0))
    assert per_class(buffer) == {0: 4, 1: 4, 2: 4}  # 12 // 3
    first = buffer.ids[:, 0].clone()
    buffer.fill(*task({3: 10, 4: 1, 5: 10}, 1, start=100))
    assert per_class(buffer) == {0: 2, 1: 2, 2: 2, 3: 2, 4: 1, 5: 2}  # 12 // 6, class 4 has 1 example
    kept = buffer.ids[buffer.y < 3, 0]
    assert all(i in first.tolist() for i in kept.tolist())  # earlier classes keep some of theirs
    same, other = ClassBalancedBuffer(12, seed=0), ClassBalancedBuffer(12, seed=1)
    for b in (same, other):
        b.fill(*task({0: 10, 1: 10, 2: 10}, 0))
    assert torch.equal(same.ids, first.unsqueeze(1).repeat(1, 3))
    assert not torch.equal(other.ids, same.ids)  # another seed, other examples (10 choose 4, three times)


def test_class_balanced_logits_are_those_given_for_the_chosen_rows_padded_as_heads_grow():
    buffer = ClassBalancedBuffer(4, seed=0, store_logits=True)
    buffer.fill(*task({0: 3, 1: 3}, 0), logits_of=lambda ids, y: torch.stack([ids[:, 0].float(), -y.float()], 1))
    buffer.fill(*task({2: 3, 3: 3}, 1, 10), logits_of=lambda ids, y: ids[:, :1].float().repeat(1, 4))
    assert buffer.logits.shape == (4, 4) and buffer.width.tolist() == [2, 2, 4, 4]
    assert torch.equal(buffer.logits[:, 0], buffer.ids[:, 0].to(buffer.logits.dtype))
    assert buffer.logits[:2, 2:].abs().sum() == 0  # old rows: zero in the columns that did not exist


def test_class_balanced_buffer_survives_a_checkpoint():
    a = ClassBalancedBuffer(12, seed=0)
    a.fill(*task({0: 10, 1: 10, 2: 10}, 0))
    b = ClassBalancedBuffer(12, seed=0)
    b.load_state_dict(a.state_dict())
    for buffer in (a, b):
        buffer.fill(*task({3: 10, 4: 10}, 1, start=100))
    assert torch.equal(a.ids, b.ids) and torch.equal(a.sample(5).y, b.sample(5).y)


@pytest.mark.parametrize("method", ["er", "derpp"])
def test_a_resumed_run_has_the_same_class_balanced_buffer(method, tmp_path):
    csv = write_small_clinc_csv(tmp_path / "small.csv", num_classes=6, per_class_train=8)
    common = ["--methods", method, "--benchmark", str(csv), "--tasks", "3", "--backbone", "tiny-bert",
              "--buffer-policy", "class-balanced", "--buffer-size", "12", "--batch-size", "8", "--wandb", "disabled"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_benchmark.main([*common, "--output", str(straight), "--stop-after-task", "2"]) == 0
    assert run_benchmark.main([*common, "--output", str(resumed), "--stop-after-task", "1"]) == 0
    assert run_benchmark.main([*common, "--output", str(resumed), "--stop-after-task", "2", "--resume"]) == 0
    states = [torch.load(d / f"small-cil-{method}-seed0" / "checkpoint.pt", weights_only=False)["method"]
              for d in (straight, resumed)]
    assert len(states[0]["y"]) == 12 and sorted(states[0]["y"].tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    for key in ("ids", "y", "task", "logits", "width"):
        assert (states[0][key] is None and states[1][key] is None) or torch.equal(states[0][key], states[1][key])


def test_published_vs_ours_on_a_hand_made_results_folder(tmp_path):
    lor = load("lor")
    deviations = [{"setting": "epochs", "protocol": 5, "used": 1, "reason": "flag"},
                  {"setting": "backbone", "protocol": "bert-base-cased", "used": "minilm", "reason": "substitution"}]
    for seed, a_t in enumerate([0.80, 0.82]):
        R = [[a_t if j <= i else 0.0 for j in range(15)] for i in range(15)]
        r = record("seq-star", seed, R, 10.0, num_tasks=15)
        r["protocol"] = {"name": "lor", "sha256": lor.sha256, "deviations": deviations}
        write(tmp_path, r)
    write(tmp_path, record("er", 0, [[0.5, 0.0], [0.4, 0.6]], 5.0))  # no protocol: written before protocols
    assert report_main([str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    assert md.count("### Published vs ours") == 1
    caption = next(line for line in md.splitlines() if line.startswith("Published vs ours."))
    assert caption.index("backbone bert-base-cased → minilm (substitution)") < caption.index("epochs 5 → 1 (flag)")
    rows = [line for line in md.splitlines() if line.startswith("| seq-star | lor |")]
    assert len(rows) == 2  # A_T and Ā on CLINC150; Banking77's rows match no run
    a_t = rows[0].split(" | ")
    assert a_t[4:9] == ["A_T", "84.51", "81.0 ± 1.4", "2", "-3.5"]
    assert "Published vs ours" in (tmp_path / "report.html").read_text()
