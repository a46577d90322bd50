"""A W&B Report comparing the methods of one W&B group, built with `wandb-workspaces`.

One panel grid per section of the results folder (benchmark, scenario, number of tasks),
each over the group's runs of that section: final average accuracy per method (bar, mean
and std over seeds), average accuracy over seen tasks vs task (line), A_T against the run's epochs
per task (scatter: the training budget), and each run's
final accuracy and forgetting matrices (tables). The panels read what
`benchmarks.engine.wandb_logging` logs. Building needs no network; `save()` does.
"""

from __future__ import annotations

import wandb_workspaces.reports.v2 as wr
from wandb_workspaces import expr

from reports.collect import Section


def panels() -> list:
    # By method label (derpp-teacher apart from derpp): job_type is the stage, "train" for every run.
    by_method = {"groupby": wr.Config("label"), "groupby_aggfunc": "mean", "groupby_rangefunc": "stddev"}
    return [
        wr.BarPlot(title="Final average accuracy (A_T)", metrics=["final_average_accuracy"], **by_method),
        wr.LinePlot(
            title="Average accuracy over seen tasks", x="task", y=["acc/average_seen"],
            title_x="tasks trained", title_y="accuracy", **by_method,
        ),
        # The training budget: each run's A_T at its epochs per task (the report's budget figure, run by run).
        wr.ScatterPlot(title="A_T against epochs per task", x=wr.Config("epochs"),
                       y=wr.SummaryMetric("final_average_accuracy"), log_x=True),
        wr.WeavePanelSummaryTable(table_name="matrix/accuracy", layout=wr.Layout(w=24, h=10)),
        wr.WeavePanelSummaryTable(table_name="matrix/forgetting", layout=wr.Layout(w=24, h=10)),
    ]


def build_report(sections: list[Section], project: str, entity: str, group: str | None) -> wr.Report:
    """Without a group, the grids show every run of the project for their benchmark and scenario."""
    blocks = []
    for s in sections:
        filters = [
            expr.Config("benchmark") == s.benchmark,
            expr.Config("scenario") == s.scenario,
            expr.Config("num_tasks") == s.num_tasks,
        ]
        if group:
            filters.insert(0, expr.Metric("Group") == group)
        runset = wr.Runset(entity=entity, project=project, name=s.title, filters=expr.And(*filters))
        blocks += [wr.H2(s.title), wr.PanelGrid(runsets=[runset], panels=panels())]
    where = f"group {group}" if group else f"project {project}"
    return wr.Report(
        project=project, entity=entity, title=f"Continual learning: {where}",
        description="Methods compared over seeds: final accuracy, accuracy after each task, "
        "accuracy and forgetting matrices.",
        blocks=blocks,
    )
