"""What an invocation asks for, typed: the CLI (run_benchmark.py) builds it from its arguments, the
protocol fills in its defaults, and the engine runs it; no module below the CLI reads an argparse Namespace."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from methods.declare import Method


@dataclass(frozen=True)
class ChosenMethod:
    """A method of `--methods`, with what the protocol sets for it."""

    method: Method
    source: str | None = None  # the file declaring a researcher's own method
    protocol_values: dict = field(default_factory=dict)  # its training and method values under the protocol
    deviations: tuple = ()  # where the flags differ from the protocol (results.json's protocol.deviations)

    @property
    def name(self) -> str:
        return self.method.name


@dataclass(frozen=True)
class Stream:
    """The data and its tokenization (`benchmarks.data.prepare.prepare_stream`)."""

    benchmark: str = "clinc150"
    text_column: str | None = None
    label_column: str | None = None
    data_dir: str | None = None
    backbone: str = "minilm"
    head: str = "linear"
    tasks: int | None = None
    max_length: int | None = None
    classes: int | None = None
    limit_per_class: int | None = None
    class_order_seed: int | None = None
    data_seed: int = 0
    val_fraction: float = 0.1
    eval_split: str = "test"
    revision: str | None = None
    trust_remote_code: bool = False
    prompt_template: str | None = None  # --head lm: the prompt around {text} (None: the default)


@dataclass(frozen=True)
class GridRequest:
    """A grid (scenarios x methods x settings x seeds) on one stream, and how to run and record it."""

    stream: Stream
    methods: tuple[ChosenMethod, ...]
    given: dict  # training and method values given as flags: name -> [values] (names not given are absent)
    grid_file: dict = field(default_factory=dict)  # method -> {name: [values]} from --grid FILE.yaml
    protocol: dict = field(default_factory=dict)  # name and sha256 of the protocol file (set when it is applied)
    scenarios: tuple[str, ...] = ("cil",)
    seeds: tuple[int, ...] = (0,)
    pooling: str = "mean"
    lm_eval: str = "generate"
    eval_batch_size: int = 128
    probe_per_class: int | None = None  # None: no probing
    device: str = "auto"
    precision: str = "fp32"
    output: str = "results"
    resume: bool = False
    overwrite: bool = False
    stop_after_task: int | None = None
    select_on: str | None = None
    budget: int = 8
    select_by: str = "average_incremental_accuracy"
    search_limit_per_class: int | None = None
    workers: int = 1
    ray_address: str | None = None
    wandb: str = "offline"
    wandb_project: str = "clbench-text"
    wandb_entity: str | None = None
    wandb_group: str | None = None
    command: str = ""  # the invocation, for provenance

    def setting(self, name: str):
        """A run setting by its flag's name (`benchmarks.protocol.RUN_SETTINGS`), as the flag gives it."""
        if name in ("scenario", "seeds"):
            return list(self.scenarios if name == "scenario" else self.seeds)
        return getattr(self.stream, name) if hasattr(self.stream, name) else getattr(self, name)

    def with_setting(self, name: str, value) -> GridRequest:
        """This request with run setting `name` (a flag's name) set to `value`, as the flag would read it."""
        if name in ("scenario", "seeds"):
            return replace(self, **{"scenarios" if name == "scenario" else "seeds": tuple(dict.fromkeys(value))})
        if hasattr(self.stream, name):
            return replace(self, stream=replace(self.stream, **{name: value}))
        return replace(self, **{name: value})
