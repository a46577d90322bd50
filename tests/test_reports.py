"""`python -m reports` on hand-made results files: means and stds by hand, valid HTML and PNGs, the W&B Report.

The fixture grid: finetune and er, 2 tasks, seeds 0-2, numbers chosen so the means and
sample stds are easy by hand; joint with one seed (n = 1, A-bar/forgetting/BWT undefined).
Paired comparisons, results.csv, provenance and validation sections have fixtures of their own.
"""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import wandb
import wandb_workspaces.reports.v2 as wr
from PIL import Image
from wandb_workspaces import expr

from benchmarks.metrics import summary
from reports.__main__ import main
from reports.collect import collect
from reports.plots import accuracy_curves
from reports.wandb_report import build_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# seed -> (accuracy matrix, train seconds)
FINETUNE = {
    0: ([[0.80, 0.0], [0.40, 0.60]], 10.0),  # A_T 0.50, A-bar (0.80 + 0.50) / 2 = 0.65, forgetting 0.40, BWT -0.40
    1: ([[0.90, 0.0], [0.50, 0.70]], 20.0),  # A_T 0.60, A-bar 0.75
    2: ([[1.00, 0.0], [0.60, 0.80]], 30.0),  # A_T 0.70, A-bar 0.85
}
ER = {
    0: ([[0.80, 0.0], [0.70, 0.70]], 12.0),  # A_T 0.70, A-bar 0.75, forgetting 0.10, BWT -0.10
    1: ([[0.90, 0.0], [0.80, 0.80]], 14.0),  # A_T 0.80, A-bar 0.85
    2: ([[1.00, 0.0], [0.90, 0.90]], 16.0),  # A_T 0.90, A-bar 0.95
}
JOINT = {0: ([[0.95, 0.85]], 5.0)}  # A_T 0.90


def record(method: str, seed: int, R, seconds: float, benchmark: str = "clinc150", num_tasks: int = 2, **hp) -> dict:
    config = {"benchmark": benchmark, "scenario": "cil", "method": method, "seed": seed, "num_tasks": num_tasks,
              "device": "cpu", "hp": hp}
    return {
        "method": method, "benchmark": benchmark, "scenario": "cil", "seed": seed, "backbone": "tiny-bert",
        "head": "linear", "num_tasks": num_tasks, "accuracy_matrix": R, **summary(R, joint=method == "joint"),
        "train_seconds": seconds, "eval_seconds": 1.0, "train_examples_per_second": 100.0, "config": config,
    }


def write(folder: Path, r: dict) -> None:
    path = folder / f"{r['benchmark']}-{r['scenario']}-{r['method']}-seed{r['seed']}" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r))


@pytest.fixture
def grid(tmp_path) -> Path:
    folder = tmp_path / "grid"
    for method, runs in (("joint", JOINT), ("er", ER), ("finetune", FINETUNE)):  # not in report order
        for seed, (R, seconds) in runs.items():
            write(folder / "nested" if method == "er" else folder, record(method, seed, R, seconds))
    return folder


class TagChecker(HTMLParser):
    """Every non-void tag closed in order; collects the <img> sources."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.tables = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag == "table":
            self.tables += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def table_row(markdown: str, method: str) -> list[str]:
    (line,) = [line for line in markdown.splitlines() if line.startswith(f"| {method} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    assert matplotlib.image.imread(path).shape[0] > 100


def test_means_and_sample_stds_by_hand(grid):
    (section,) = collect(grid)
    assert (section.benchmark, section.scenario, section.num_tasks) == ("clinc150", "cil", 2)
    assert [m.label for m in section.methods] == ["finetune", "er", "joint"]
    finetune, er, joint = section.methods
    # A_T 0.5, 0.6, 0.7: mean 0.6, sample std sqrt((0.01 + 0 + 0.01) / 2) = 0.1
    assert finetune.stats["final_average_accuracy"].mean == pytest.approx(0.6)
    assert finetune.stats["final_average_accuracy"].std == pytest.approx(0.1)
    assert finetune.stats["forgetting"].mean == pytest.approx(0.4)
    assert finetune.stats["forgetting"].std == pytest.approx(0.0)
    assert finetune.stats["train_seconds"].std == pytest.approx(10.0)
    assert er.stats["train_seconds"].mean == pytest.approx(14.0) and er.stats["train_seconds"].std == pytest.approx(2.0)
    assert np.allclose(finetune.mean_matrix, [[0.9, 0.0], [0.5, 0.7]])
    assert finetune.curve == pytest.approx([0.9, 0.6])  # mean of R[i][:i+1]
    # its mean is A-bar's mean, (0.65 + 0.75 + 0.85) / 3 = 0.75
    assert sum(finetune.curve) / 2 == pytest.approx(finetune.stats["average_incremental_accuracy"].mean)
    assert er.seeds == [0, 1, 2] and er.curve == pytest.approx([0.9, 0.8])
    assert joint.joint and joint.seeds == [0] and joint.curve == pytest.approx([0.9])
    assert joint.stats["final_average_accuracy"].std is None and joint.stats["forgetting"].mean is None


def test_report_tables_figures_and_html(grid, tmp_path, capsys):
    out = tmp_path / "report"
    assert main([str(grid), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"report: {out / 'report.md'} and {out / 'report.html'}\n"

    md = (out / "report.md").read_text()
    assert "## clinc150 · CIL · 2 tasks" in md
    # columns: method, n, A_T, A-bar, forgetting, BWT, train seconds
    assert table_row(md, "finetune") == [
        "finetune", "3", "60.0 ± 10.0", "75.0 ± 10.0", "40.0 ± 0.0", "-40.0 ± 0.0", "20.0 ± 10.0"
    ]
    assert table_row(md, "er") == ["er", "3", "80.0 ± 10.0", "85.0 ± 10.0", "10.0 ± 0.0", "-10.0 ± 0.0", "14.0 ± 2.0"]
    assert table_row(md, "joint") == ["joint", "1", "90.0", "–", "–", "–", "5.0"]  # n = 1: no std
    assert md.index("| finetune |") < md.index("| er |") < md.index("| joint |")

    page = (out / "report.html").read_text()
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [] and checker.tables == 1
    for method in ("finetune", "er", "joint"):
        assert f"<td>{method}</td>" in page
    assert "<td>90.0</td><td>–</td><td>–</td><td>–</td>" in page
    # The images of both files: one curve plot and a heatmap per method, all valid PNGs.
    md_images = [line[line.index("](") + 2 : -1] for line in md.splitlines() if line.startswith("![")]
    assert md_images == checker.images and len(md_images) == 4
    assert md_images[0].endswith("curves.png") and "joint" in md_images[3]
    for src in md_images:
        assert not Path(src).is_absolute()
        assert_valid_png(out / src)


def test_settings_and_task_counts_are_never_averaged_together(tmp_path, capsys):
    """Two DER++ buffer sizes are two rows; a 3-task run is another section."""
    R = [[0.8, 0.0], [0.4, 0.6]]
    write(tmp_path / "b200", record("derpp", 0, R, 1.0, buffer_size=200))
    write(tmp_path / "b500", record("derpp", 0, [[0.9, 0.0], [0.7, 0.8]], 1.0, buffer_size=500))
    write(tmp_path, record("finetune", 0, [[0.9, 0, 0], [0.5, 0.8, 0], [0.3, 0.4, 0.7]], 1.0, num_tasks=3))
    write(tmp_path, record("my-method", 0, R, 1.0))

    two, three = collect(tmp_path)
    assert [m.label for m in two.methods] == ["derpp (hp.buffer_size=200)", "derpp (hp.buffer_size=500)", "my-method"]
    assert [m.stats["final_average_accuracy"].mean for m in two.methods] == pytest.approx([0.5, 0.75, 0.5])
    assert three.num_tasks == 3 and [m.label for m in three.methods] == ["finetune"]

    assert main([str(tmp_path)]) == 0
    assert "## clinc150 · CIL · 3 tasks" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "figures" / "clinc150-cil-2tasks-derpp-hp.buffer_size-500-heatmap.png").is_file()


def test_derpp_teacher_keeps_its_name_and_older_runs_join_newer_ones(tmp_path):
    """The config of `derpp-teacher` says method `derpp`; a run from before `precision` existed ran in fp32."""
    for seed, R in ((0, [[0.8, 0.0], [0.4, 0.6]]), (1, [[0.9, 0.0], [0.6, 0.8]])):
        r = record("derpp", seed, R, 1.0, derpp_logits="teacher")
        r["method"] = "derpp-teacher"
        if seed == 1:
            r["config"]["precision"] = "fp32"
        write(tmp_path, r)
    [section] = collect(tmp_path)
    [teacher] = section.methods
    assert teacher.label == "derpp-teacher" and teacher.seeds == [0, 1]
    assert teacher.stats["final_average_accuracy"].mean == pytest.approx(0.6)


def results_file(folder: Path, text: str) -> Path:
    (folder / "r").mkdir()
    (folder / "r" / "results.json").write_text(text)
    return folder


BAD_INPUT = {
    "missing folder": (lambda d: d / "missing", "no such directory {d}/missing"),
    "no results": (lambda d: d, "no results.json under {d}"),
    "not JSON": (lambda d: results_file(d, "{"), "{d}/r/results.json is not a results file: not readable JSON"),
    "not a results file": (
        lambda d: results_file(d, '{"method": "er"}'), "{d}/r/results.json is not a results file: no 'benchmark'"
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_error_line_and_exit_code_2(tmp_path, capsys, case):
    make, message = BAD_INPUT[case]
    assert main([str(make(tmp_path))]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: " + message.format(d=tmp_path)), err
    assert not (tmp_path / "report.md").exists()


def test_wandb_report_compares_the_group_without_saving(grid):
    sections = collect(grid)
    report = build_report(sections, project="clbench-text", entity="lab", group="20261201-g")

    assert isinstance(report, wr.Report) and report.project == "clbench-text" and report.entity == "lab"
    assert "20261201-g" in report.title
    heading, grid_block = report.blocks
    assert isinstance(heading, wr.H2) and isinstance(grid_block, wr.PanelGrid)
    (runset,) = grid_block.runsets
    assert (runset.entity, runset.project) == ("lab", "clbench-text")
    # The run filter, as the W&B frontend receives it: the group, then the section.
    filters = expr.filters_tree_to_v2(expr.expr_to_filters(runset.filters))["filters"]
    assert [(f["key"]["section"], f["key"]["name"], f["op"], f["value"]) for f in filters] == [
        ("run", "group", "=", "20261201-g"),
        ("config", "benchmark", "=", "clinc150"),
        ("config", "scenario", "=", "cil"),
        ("config", "num_tasks", "=", 2),
    ]
    bar, line, budget, accuracy, forgetting = grid_block.panels
    assert isinstance(bar, wr.BarPlot) and bar.metrics == ["final_average_accuracy"]
    assert isinstance(line, wr.LinePlot) and (line.x, line.y) == ("task", ["acc/average_seen"])
    for panel in (bar, line):  # one bar / line per method label (config "label"), mean and std over seeds
        config = panel._to_model().config
        assert (config.group_by, config.group_agg, config.group_area) == ("label.value", "mean", "stddev")
    assert isinstance(budget, wr.ScatterPlot) and budget.log_x
    assert (budget.x, budget.y) == (wr.Config("epochs"), wr.SummaryMetric("final_average_accuracy"))
    assert isinstance(accuracy, wr.WeavePanelSummaryTable) and accuracy.table_name == "matrix/accuracy"
    assert isinstance(forgetting, wr.WeavePanelSummaryTable) and forgetting.table_name == "matrix/forgetting"


def test_wandb_report_without_a_login_is_one_error_line(grid, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    wandb.teardown()  # wandb reads the environment once per session: start a new one
    try:
        code = main([str(grid), "--wandb-report", "--wandb-entity", "lab", "--wandb-group", "g"])
    finally:
        wandb.teardown()

    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the W&B report was not saved ("), err
    assert (grid / "report.md").is_file()  # the local report does not need W&B


def test_curves_have_std_bands_where_there_are_seeds(grid):
    finetune, er, joint = collect(grid)[0].methods
    # A_T curves [0.8, 0.5], [0.9, 0.6], [1.0, 0.7]: sample std 0.1 after each task
    assert finetune.curve_std == pytest.approx([0.1, 0.1]) and joint.curve_std is None
    curves = {m.label: m.curve for m in (finetune, er, joint)}
    fig = accuracy_curves(curves, 2, "t", {m.label: m.curve_std for m in (finetune, er, joint)})
    assert len(fig.axes[0].collections) == 2  # finetune and er; joint's one seed has no band
    assert len(accuracy_curves(curves, 2, "t").axes[0].collections) == 0


def flat(a: float) -> list[list[float]]:
    """A 2-task matrix whose A_T and A-bar are both `a`."""
    return [[a, 0.0], [a, a]]


ER_A = [0.60, 0.70, 0.65, 0.75, 0.68]  # seeds 0-4: a spread far wider than the differences below


@pytest.fixture
def paired_grid(tmp_path) -> Path:
    """derpp ahead of er by 3 +- 0.3 points on every seed; lwf within +-2 points, symmetric; finetune on seed 0
    only; joint far ahead (an upper bound); a 3-task section without er."""
    folder = tmp_path / "paired"
    ahead = [0.027, 0.030, 0.033, 0.028, 0.032]
    around = [-0.01, 0.01, -0.02, 0.02, 0.0]
    for seed, a in enumerate(ER_A):
        write(folder, record("er", seed, flat(a), 1.0))
        write(folder, record("derpp", seed, flat(a + ahead[seed]), 1.0))
        write(folder, record("lwf", seed, flat(a + around[seed]), 1.0))
    write(folder, record("finetune", 0, flat(0.5), 1.0))
    write(folder, record("joint", 0, [[0.95, 0.95]], 1.0))
    write(folder / "3tasks", record("finetune", 0, [[0.9, 0, 0], [0.5, 0.8, 0], [0.3, 0.4, 0.7]], 1.0, num_tasks=3))
    return folder


def test_report_pairs_each_method_with_the_reference(paired_grid, tmp_path):
    out = tmp_path / "out"
    assert main([str(paired_grid), "--out", str(out), "--reference", "er"]) == 0
    md = (out / "report.md").read_text()
    two, three = md.split("## clinc150 · CIL · 3 tasks")
    # columns: method, n, then (mean difference, 95% interval, p) for A_T and for A-bar
    derpp = table_row(two, "derpp − er")
    assert derpp[:3] == ["derpp − er", "5", "+3.0"] and derpp[4] == "< 0.001" and derpp[5] == "+3.0"
    assert "n.s." not in derpp[3] and derpp[3].startswith("[+2.")
    lwf = table_row(two, "lwf − er")
    assert lwf[:3] == ["lwf − er", "5", "+0.0"] and lwf[3].endswith(" n.s.") and float(lwf[4]) > 0.9
    assert table_row(two, "finetune − er") == [
        "finetune − er", "1", "-10.0", "1 shared seed: no interval", "–", "-10.0", "1 shared seed: no interval", "–"
    ]
    assert "joint −" not in md and "n.s.: the interval contains 0" in two
    assert "No er runs in this section: no paired comparison." in three and "−" not in three.split("Code:")[0]
    page = (out / "report.html").read_text()
    assert "<td>derpp − er</td>" in page and "No er runs in this section" in page


def test_the_default_reference_may_be_absent_a_named_one_may_not(paired_grid, tmp_path, capsys):
    assert main([str(paired_grid), "--out", str(tmp_path / "a"), "--reference", "derpp"]) == 0
    assert "| er − derpp |" in (tmp_path / "a" / "report.md").read_text()

    assert main([str(paired_grid), "--out", str(tmp_path / "b"), "--reference", "ewc"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("error: --reference ewc: no such method under "), err
    assert not (tmp_path / "b" / "report.md").exists()


def provenance(sha: str, dirty: bool = False, transformers: str = "4.46.0") -> dict:
    return {
        "git_commit": sha, "git_dirty": dirty, "version": "0.1.0", "python": "3.11.2", "torch_threads": 1,
        "packages": {"torch": "2.14.1", "transformers": transformers, "avalanche-lib": "0.6.0"},
    }


def test_results_csv_has_a_row_per_finished_run(tmp_path):
    r = record("derpp", 0, flat(0.7), 1.0, beta=0.5, buffer_size=200)
    r["provenance"] = provenance("0123456789abcdef")
    write(tmp_path / "a", r)
    write(tmp_path / "b", record("er", 0, flat(0.6), 1.0))  # an older run: no provenance, no eval_split
    running = record("er", 1, flat(0.6), 1.0)
    running["status"] = "running"
    write(tmp_path / "c", running)

    assert main([str(tmp_path)]) == 0
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(row["method"], row["seed"]) for row in rows] == [("derpp", "0"), ("er", "0")]
    derpp, er = rows
    assert derpp["config.hp.beta"] == "0.5" and derpp["config.hp.buffer_size"] == "200" and er["config.hp.beta"] == ""
    assert derpp["provenance.packages.torch"] == "2.14.1" and derpp["provenance.git_commit"] == "0123456789abcdef"
    assert er["provenance.packages.torch"] == "" and er["eval_split"] == derpp["eval_split"] == "test"
    assert json.loads(derpp["accuracy_matrix"]) == flat(0.7)
    assert float(derpp["final_average_accuracy"]) == pytest.approx(0.7) and derpp["config.device"] == "cpu"


def test_validation_runs_have_their_own_section_and_mixed_code_is_flagged(tmp_path):
    for seed, sha, dirty in ((0, "aaaaaaaaaaaaaaaa", False), (1, "bbbbbbbbbbbbbbbb", True)):
        r = record("er", seed, flat(0.6 + seed / 10), 1.0)
        r["provenance"] = provenance(sha, dirty, transformers=f"4.4{seed}.0")
        if seed == 1:  # a newer run, with the config fields added since seed 0 ran: still one setting
            r["config"].update(eval_split="test", val_fraction=None, variant="")
        write(tmp_path / "test", r)
    write(tmp_path / "test", record("finetune", 0, flat(0.5), 1.0))  # no provenance: an unknown commit
    trial = record("er", 0, flat(0.9), 1.0)
    trial["eval_split"] = trial["config"]["eval_split"] = "val"
    trial["provenance"] = provenance("aaaaaaaaaaaaaaaa")
    write(tmp_path / "val", trial)

    test, val = collect(tmp_path)
    assert (test.eval_split, val.eval_split) == ("test", "val")
    assert [m.label for m in test.methods] == ["finetune", "er"] and [m.label for m in val.methods] == ["er"]
    assert test.methods[1].seeds == [0, 1] and val.methods[0].stats["final_average_accuracy"].mean == pytest.approx(0.9)

    assert main([str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    test_md, val_md = md.split("## clinc150 · CIL · 2 tasks · validation")
    assert "## clinc150 · CIL · 2 tasks\n" in test_md
    assert "Code: commits aaaaaaaaaa, bbbbbbbbbb+dirty, unknown · torch 2.14.1, unknown" in test_md
    assert "**warning: this table mixes 3 commits**" in test_md
    assert "**warning: this table mixes several versions of transformers**" in test_md
    assert "Code: commit aaaaaaaaaa · torch 2.14.1 · transformers 4.46.0 · avalanche-lib 0.6.0" in val_md
    assert "warning" not in val_md
    assert "warning: this table mixes 3 commits" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "figures" / "clinc150-cil-2tasks-val-er-heatmap.png").is_file()


def test_tuned_methods_show_the_setting_chosen_on_val(tmp_path):
    """The chosen setting, its val score (the best complete trial's) and how many trials trained every task
    (not one stopped by ASHA, nor one that failed)."""
    trials = [
        {"setting": {"lr": 1e-5}, "tasks": 2, "score": 0.61, "scores": [0.7, 0.61], "error": None},
        {"setting": {"lr": 5e-5}, "tasks": 1, "score": 0.9, "scores": [0.9], "error": None},  # stopped by ASHA
        {"setting": {"lr": 2e-5}, "tasks": 2, "score": 0.72, "scores": [0.8, 0.72], "error": None},
        {"setting": {"lr": 1e-4}, "tasks": 2, "score": 0.8, "scores": [0.9, 0.8], "error": "RunFailed: NaN loss"},
    ]
    selection = {"criterion": "average_incremental_accuracy", "split": "val", "budget": 4, "space": {"lr": [1e-5, 2e-5, 5e-5, 1e-4]},
                 "trials": trials, "chosen": {"lr": 2e-5}}
    folder = tmp_path / "tuned"
    for seed in (0, 1):
        write(folder, {**record("er", seed, flat(0.7), 1.0), "selection": selection})
        write(folder, record("finetune", seed, flat(0.5), 1.0))
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "### Chosen on validation" in md
    assert table_row(md.split("### Chosen on validation")[1], "er") == [
        "er", "4", "2 of 4", "lr=2e-05", "72.0 (average_incremental_accuracy)"]
    assert "| finetune |" not in md.split("### Chosen on validation")[1]  # untuned: no row
    assert "Chosen on validation" in (out / "report.html").read_text()
