"""One run's settings: the record a results file carries as `config`, and the CLI's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from benchmarks.errors import UsageError

from benchmarks.method_registry import method as declared_method


@dataclass(frozen=True)
class RunConfig:
    benchmark: str
    scenario: str
    method: str
    seed: int
    method_source: str | None = None  # the file declaring a researcher's own method (--methods my_method.py)
    backbone: str = "minilm"
    head: str = "linear"
    pooling: str = "mean"  # classifier heads: mean over the non-padding tokens | cls (the first token)
    revision: str | None = None  # the backbone's hub revision (branch, tag or commit); None: the default branch
    trust_remote_code: bool = False  # let transformers run the backbone repository's own code
    num_tasks: int = 0
    max_length: int = 128
    epochs: int = 1
    batch_size: int = 32
    eval_batch_size: int = 128
    lr: float = 2e-5
    head_lr: float = 1e-3
    device: str = "cpu"
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    lm_eval: str | None = None  # generative head: generate | rank (None for classifier heads)
    prompt_template: str | None = None  # generative head: the prompt around {text}
    limit_per_class: int | None = None
    classes: int | None = None  # only the first N classes by name (smoke runs); None: all
    class_order_seed: int | None = None
    data_seed: int = 0
    eval_split: str = "test"  # the split of the accuracy matrix: test | val (model selection)
    val_fraction: float | None = None  # train held out for validation; None: the source's own val split
    variant: str = ""  # in a grid of settings, the values that tell this run from its method's others
    probe_per_class: int | None = None  # --probe: training examples per class of the probes; None: no probing
    hp: dict = field(default_factory=dict)

    @property
    def declared(self):
        """The run's `methods.declare.Method`."""
        return declared_method(self.method, self.method_source)

    @property
    def label(self) -> str:
        return self.declared.run_label(self.hp, self.head)

    @property
    def run_name(self) -> str:
        variant = f"-{self.variant}" if self.variant else ""
        return f"{self.benchmark}-{self.scenario}-{self.label}{variant}-seed{self.seed}"


# Fields added after results were first written, with the value every older run had.
ADDED_FIELDS = {"precision": "fp32", "lm_eval": None, "prompt_template": None, "eval_split": "test",
                "val_fraction": None, "variant": "",
                "probe_per_class": None, "pooling": "mean", "revision": None, "trust_remote_code": False,
                "classes": None, "method_source": None}


# Method hyper-parameters added since, with the value every older run of a method that uses them had.
ADDED_HP = {"buffer_policy": "reservoir"}


def completed(config: dict) -> dict:
    """A saved config, completed with the values older runs had for the fields and hyper-parameters added since."""
    out = {**ADDED_FIELDS, **config}
    try:
        uses = declared_method(out.get("method"), out.get("method_source")).options()
    except UsageError:  # a method this installation does not know: its settings stay as recorded
        uses = ()
    out["hp"] = {**{k: v for k, v in ADDED_HP.items() if k in uses}, **out.get("hp", {})}
    return out


def recorded_config(record: dict) -> dict:
    """A results file's config, completed as `completed` does."""
    return completed(record.get("config", {}))


def default(name: str):
    """A RunConfig field's default: the CLI shows and uses these, so they are written once."""
    return next(f.default for f in fields(RunConfig) if f.name == name)
