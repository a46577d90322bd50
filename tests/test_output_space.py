"""The four output spaces (classifier / generative x CIL / TIL) checked against hand-made logits.

Every expected value is computed independently of the code under test (numpy loops over the
entries that should count), and each case is built so that the wrong answer (counting padding
columns, other tasks' heads, non-answer positions) gives a different number.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.models.task_split import TaskSplit
from benchmarks.models.generative import AnswerGenerator
from benchmarks.models.loading import load_model
from benchmarks.models.output_space import (
    ClassifierCIL,
    ClassifierTIL,
    GenerativeCIL,
    GenerativeTIL,
    output_space,
)

# Classifier split: classes 0-1 are task 0, classes 2-4 task 1.
SPLIT = TaskSplit(class_names=("a", "b", "c", "d", "e"), task_sizes=(2, 3))

# Generative split: answers of different lengths (2, 1 and 4 tokens, + end-of-sequence), so that
# some answer positions are padding: class 0 is task 0, classes 1-2 task 1.
LM_NAMES = ("card arrival", "card", "what is your name")
LM_SPLIT = TaskSplit(class_names=LM_NAMES, task_sizes=(1, 2))
ANSWER_LEN = {0: 3, 1: 2, 2: 5}  # tokens + end-of-sequence, by hand from the MiniLM vocabulary
ANSWER_WIDTH = 5


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    model, tokenizer = load_model("tiny-gpt2", "lm", LM_NAMES)
    model.eval()
    return model, tokenizer


# ---------------------------------------------------------------- hand-made classifier logits

LOGITS = torch.tensor(
    [
        [2.0, -1.0, 0.5, 3.0, -2.0],  # task 0, class 1
        [0.1, 0.7, -0.3, 1.2, 2.5],  # task 1, class 4
        [-1.5, 0.0, 1.0, 0.2, 4.0],  # task 1, class 2
    ],
    dtype=torch.float64,
)
Y = torch.tensor([1, 4, 2])
TASK = torch.tensor([0, 1, 1])


def ce_numpy(logits: np.ndarray, y, allowed_columns) -> float:
    """Mean over rows of logsumexp(allowed columns) - logit of the label."""
    losses = []
    for row, label, cols in zip(logits, y, allowed_columns):
        z = row[list(cols)]
        losses.append(np.log(np.exp(z - z.max()).sum()) + z.max() - row[label])
    return float(np.mean(losses))


def own_columns(task: int, num_classes: int) -> list[int]:
    return [c for c in ([0, 1] if task == 0 else [2, 3, 4]) if c < num_classes]


def test_classifier_cil_loss_is_cross_entropy_over_all_columns():
    expected = ce_numpy(LOGITS.numpy(), Y.tolist(), [range(5)] * 3)
    got = ClassifierCIL(SPLIT, None).loss(LOGITS, Y, TASK)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(got) == pytest.approx(2.6474512, abs=1e-6)  # pinned once, so a changed helper shows too


def test_classifier_til_loss_masks_other_tasks_heads():
    expected = ce_numpy(LOGITS.numpy(), Y.tolist(), [own_columns(t, 5) for t in TASK.tolist()])
    got = ClassifierTIL(SPLIT, None).loss(LOGITS, Y, TASK)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    # Masking matters here: the CIL value differs.
    assert abs(expected - ce_numpy(LOGITS.numpy(), Y.tolist(), [range(5)] * 3)) > 0.1


def test_classifier_til_loss_with_only_task0_head():
    """Two columns only (task 0's head): every example is task 0; TIL = CIL = CE over 2 columns."""
    logits, y, task = LOGITS[:, :2], torch.tensor([1, 0, 1]), torch.zeros(3, dtype=torch.long)
    expected = ce_numpy(logits.numpy(), y.tolist(), [[0, 1]] * 3)
    for space in (ClassifierCIL(SPLIT, None), ClassifierTIL(SPLIT, None)):
        assert float(space.loss(logits, y, task)) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- candidates

@pytest.mark.parametrize("cls", [ClassifierCIL, GenerativeCIL])
@pytest.mark.parametrize("num_classes", [2, 5])
def test_cil_candidates_are_all_classes_so_far(cls, num_classes):
    got = cls(SPLIT, None).candidates(torch.tensor([0, 1, 1]), num_classes)
    assert got.dtype == torch.bool
    assert got.shape == (3, num_classes)
    assert got.all()


@pytest.mark.parametrize("cls", [ClassifierTIL, GenerativeTIL])
def test_til_candidates_are_the_own_task_only(cls):
    space = cls(SPLIT, None)
    got = space.candidates(torch.tensor([0, 1, 1, 0]), 5)
    assert got.dtype == torch.bool
    T, F = True, False
    assert got.tolist() == [[T, T, F, F, F], [F, F, T, T, T], [F, F, T, T, T], [T, T, F, F, F]]
    # Only task 0's head exists yet: [batch, 2]; a task-1 row has no candidate among them.
    got = space.candidates(torch.tensor([0, 0, 1]), 2)
    assert got.shape == (3, 2)
    assert got.tolist() == [[T, T], [T, T], [F, F]]


def test_generative_til_candidates_use_the_lm_split():
    got = GenerativeTIL(LM_SPLIT, None).candidates(torch.tensor([1, 0]), 3)
    assert got.tolist() == [[False, True, True], [True, False, False]]


# ---------------------------------------------------------------- classifier mse

STUDENT = torch.tensor(
    [
        [1.0, 2.0, 3.0, 4.0, 5.0],
        [0.5, -0.5, 1.5, -1.5, 2.0],
        [-1.0, 0.0, 1.0, 2.0, 3.0],
    ],
    dtype=torch.float64,
)
PAD = 100.0  # what a stored target holds past its width: counting it would blow the MSE up
TARGET = torch.tensor(
    [
        [0.0, 1.0, PAD, PAD, PAD],  # stored while only task 0's head existed: width 2
        [1.0, 0.0, 1.0, 0.0, 1.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ],
    dtype=torch.float64,
)
WIDTH = torch.tensor([2, 5, 5])
MSE_TASK = torch.tensor([0, 0, 1])


def mse_numpy(student, target, entries) -> float:
    """Mean of (student - target)^2 over exactly the (row, column) pairs listed."""
    s, t = np.asarray(student), np.asarray(target)
    return float(np.mean([(s[i, j] - t[i, j]) ** 2 for i, j in entries]))


def test_classifier_cil_mse_counts_columns_below_width():
    entries = [(0, 0), (0, 1)] + [(i, j) for i in (1, 2) for j in range(5)]
    expected = mse_numpy(STUDENT, TARGET, entries)
    got = ClassifierCIL(SPLIT, None).mse(STUDENT, TARGET, None, MSE_TASK, width=WIDTH)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx((1 + 1 + 0.25 + 0.25 + 0.25 + 2.25 + 1 + 1 + 0 + 1 + 4 + 9) / 12)
    # Padding columns are not counted: the plain MSE over everything is far larger.
    assert float(((STUDENT - TARGET) ** 2).mean()) > 10 * expected


def test_classifier_til_mse_counts_own_head_below_width():
    # Row 0 (task 0, width 2): columns 0-1; row 1 (task 0, width 5): columns 0-1 only;
    # row 2 (task 1, width 5): columns 2-4.
    entries = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (2, 4)]
    expected = mse_numpy(STUDENT, TARGET, entries)
    got = ClassifierTIL(SPLIT, None).mse(STUDENT, TARGET, None, MSE_TASK, width=WIDTH)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx((1 + 1 + 0.25 + 0.25 + 1 + 4 + 9) / 7)
    cil = ClassifierCIL(SPLIT, None).mse(STUDENT, TARGET, None, MSE_TASK, width=WIDTH)
    assert abs(float(got) - float(cil)) > 0.1


@pytest.mark.parametrize(
    "cls, entries",
    [
        (ClassifierCIL, [(i, j) for i in range(3) for j in range(2)]),
        (ClassifierTIL, [(0, 0), (0, 1), (1, 0), (1, 1)]),  # the task-1 row has no column among 2
    ],
)
def test_classifier_mse_without_width_uses_all_target_columns(cls, entries):
    """A 2-column target (a teacher with task 0's head only); the student's extra columns are ignored."""
    target = TARGET[:, :2].clone()
    expected = mse_numpy(STUDENT, target, entries)
    got = cls(SPLIT, None).mse(STUDENT, target, Y, MSE_TASK)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_classifier_mse_without_width_full_target():
    target = TARGET.clone()
    target[0, 2:] = 0.5  # no padding now: width None means every column counts
    y = torch.tensor([0, 1, 3])
    cil = ClassifierCIL(SPLIT, None).mse(STUDENT, target, y, MSE_TASK)
    assert float(cil) == pytest.approx(mse_numpy(STUDENT, target, [(i, j) for i in range(3) for j in range(5)]))
    til = ClassifierTIL(SPLIT, None).mse(STUDENT, target, y, MSE_TASK)
    til_entries = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (2, 4)]
    assert float(til) == pytest.approx(mse_numpy(STUDENT, target, til_entries))


# ---------------------------------------------------------------- classifier kd_pairs

def assert_pairs(got, expected):
    assert len(got) == len(expected)
    for (s, t), (es, et) in zip(got, expected):
        assert torch.equal(s, es) and torch.equal(t, et)


def test_classifier_cil_kd_pairs():
    new, old = STUDENT, TARGET
    assert_pairs(ClassifierCIL(SPLIT, None).kd_pairs(new, old[:, :2], Y), [(new[:, :2], old[:, :2])])
    assert_pairs(ClassifierCIL(SPLIT, None).kd_pairs(new, old, Y), [(new, old)])


def test_classifier_til_kd_pairs_one_per_old_head():
    new, old = STUDENT, TARGET
    space = ClassifierTIL(SPLIT, None)
    assert_pairs(space.kd_pairs(new, old[:, :2], Y), [(new[:, 0:2], old[:, 0:2])])
    got = space.kd_pairs(new, old, Y)
    assert_pairs(got, [(new[:, 0:2], old[:, 0:2]), (new[:, 2:5], old[:, 2:5])])
    assert [tuple(s.shape) for s, _ in got] == [(3, 2), (3, 3)]


# ---------------------------------------------------------------- logits: what the model is fed

class Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = []
        self.out = torch.full((1,), 7.0)

    def forward(self, *args):
        self.calls.append(args)
        return self.out


@pytest.mark.parametrize(
    "cls, fed_answer", [(ClassifierCIL, False), (ClassifierTIL, False), (GenerativeCIL, True), (GenerativeTIL, True)]
)
def test_logits_feeds_the_answer_to_generative_only(cls, fed_answer):
    model, ids, y = Recorder(), torch.tensor([[5, 6, 7]]), torch.tensor([1])
    out = cls(SPLIT, None).logits(model, ids, y)
    assert out is model.out
    assert len(model.calls) == 1
    args = model.calls[0]
    assert len(args) == (2 if fed_answer else 1)
    assert args[0] is ids
    if fed_answer:
        assert args[1] is y


@pytest.mark.parametrize("cls, keeps", [(ClassifierCIL, True), (ClassifierTIL, True), (GenerativeCIL, False), (GenerativeTIL, False)])
def test_keeps_teacher_logits(cls, keeps):
    assert cls.keeps_teacher_logits is keeps


# ---------------------------------------------------------------- generative spaces

LM_Y = torch.tensor([0, 1, 2])  # answers of 3, 2 and 5 positions (of 5)


def test_lm_answers_have_the_hand_counted_lengths(lm):
    model, _ = lm
    assert model.answer_width == ANSWER_WIDTH
    assert model.answer_len.tolist() == [ANSWER_LEN[c] for c in range(3)]
    assert model.answer_mask(LM_Y).tolist() == [
        [True, True, True, False, False],
        [True, True, False, False, False],
        [True] * 5,
    ]


def test_generative_loss_is_the_answer_ce_in_both_scenarios(lm):
    model, tokenizer = lm
    ids = tokenizer(
        ["Text: where is my card\nLabel:", "Text: hi\nLabel:", "Text: who are you\nLabel:"],
        padding="max_length", max_length=16, add_special_tokens=False, return_tensors="pt",
    ).input_ids
    cil, til = GenerativeCIL(LM_SPLIT, model), GenerativeTIL(LM_SPLIT, model)
    with torch.no_grad():
        logits = cil.logits(model, ids, LM_Y)
        assert torch.equal(logits, model(ids, LM_Y))
        assert logits.shape == (3, ANSWER_WIDTH, tokenizer.vocab_size)
        task = torch.tensor([0, 1, 1])
        got_cil, got_til = cil.loss(logits, LM_Y, task), til.loss(logits, LM_Y, task)
    assert float(got_cil) == float(model.loss(logits, LM_Y))
    assert float(got_til) == float(got_cil)
    # Independently: mean CE over the answer tokens (+ end-of-sequence) of each example.
    lp = torch.log_softmax(logits.double(), dim=-1).numpy()
    nll = []
    for i, label in enumerate(LM_Y.tolist()):
        answer = tokenizer(" " + LM_NAMES[label], add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
        assert len(answer) == ANSWER_LEN[label]
        nll += [-lp[i, j, tok] for j, tok in enumerate(answer)]
    assert len(nll) == 10
    assert float(got_cil) == pytest.approx(float(np.mean(nll)), rel=1e-5)


def test_generative_loss_on_hand_made_logits(lm):
    model, tokenizer = lm
    vocab = tokenizer.vocab_size
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, ANSWER_WIDTH, vocab, generator=gen, dtype=torch.float64)
    lp = torch.log_softmax(logits, dim=-1)
    nll = []
    for i, label in enumerate(LM_Y.tolist()):
        answer = tokenizer(" " + LM_NAMES[label], add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
        nll += [-float(lp[i, j, tok]) for j, tok in enumerate(answer)]
    expected = float(np.mean(nll))
    for cls in (GenerativeCIL, GenerativeTIL):
        assert float(cls(LM_SPLIT, model).loss(logits, LM_Y, torch.tensor([0, 1, 1]))) == pytest.approx(
            expected, rel=1e-10
        )


def answer_entries():
    return [(i, j) for i, label in enumerate(LM_Y.tolist()) for j in range(ANSWER_LEN[label])]


@pytest.mark.parametrize("cls", [GenerativeCIL, GenerativeTIL])
def test_generative_mse_counts_answer_positions_only(lm, cls):
    model, _ = lm
    gen = torch.Generator().manual_seed(2)
    vocab = 11
    student = torch.randn(3, ANSWER_WIDTH, vocab, generator=gen, dtype=torch.float64)
    target = torch.randn(3, ANSWER_WIDTH, vocab, generator=gen, dtype=torch.float64)
    mask = model.answer_mask(LM_Y)
    target[~mask] = PAD  # the positions past each answer: must not count
    s, t = student.numpy(), target.numpy()
    expected = float(np.mean([(s[i, j, v] - t[i, j, v]) ** 2 for i, j in answer_entries() for v in range(vocab)]))
    got = cls(LM_SPLIT, model).mse(student, target, LM_Y, torch.tensor([0, 1, 1]))
    assert float(got) == pytest.approx(expected, rel=1e-12)
    assert float(((student - target) ** 2).mean()) > 100 * expected


@pytest.mark.parametrize("cls", [GenerativeCIL, GenerativeTIL])
def test_generative_mse_with_stored_top_k_index(lm, cls):
    model, _ = lm
    gen = torch.Generator().manual_seed(3)
    vocab, k = 13, 3
    student = torch.randn(3, ANSWER_WIDTH, vocab, generator=gen, dtype=torch.float64)
    index = torch.stack([torch.randperm(vocab, generator=gen)[:k] for _ in range(3 * ANSWER_WIDTH)]).view(
        3, ANSWER_WIDTH, k
    )
    target = torch.randn(3, ANSWER_WIDTH, k, generator=gen, dtype=torch.float64)
    target[~model.answer_mask(LM_Y)] = PAD
    s, t, ix = student.numpy(), target.numpy(), index.numpy()
    expected = float(np.mean([(s[i, j, ix[i, j, m]] - t[i, j, m]) ** 2 for i, j in answer_entries() for m in range(k)]))
    got = cls(LM_SPLIT, model).mse(student, target, LM_Y, torch.tensor([0, 1, 1]), index=index)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    # Comparing the first k vocabulary entries instead of the indexed ones gives another number.
    wrong = float(np.mean([(s[i, j, m] - t[i, j, m]) ** 2 for i, j in answer_entries() for m in range(k)]))
    assert abs(wrong - expected) > 1e-3


@pytest.mark.parametrize("cls", [GenerativeCIL, GenerativeTIL])
def test_generative_kd_pairs_is_one_pair_of_answer_rows(lm, cls):
    model, _ = lm
    gen = torch.Generator().manual_seed(4)
    new = torch.randn(3, ANSWER_WIDTH, 7, generator=gen)
    old = torch.randn(3, ANSWER_WIDTH, 7, generator=gen)
    got = cls(LM_SPLIT, model).kd_pairs(new, old, LM_Y)
    rows = answer_entries()
    expected_new = torch.stack([new[i, j] for i, j in rows])
    expected_old = torch.stack([old[i, j] for i, j in rows])
    assert len(got) == 1
    assert got[0][0].shape == (10, 7)
    assert torch.equal(got[0][0], expected_new) and torch.equal(got[0][1], expected_old)


# ---------------------------------------------------------------- the factory

@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    model, _ = load_model("tiny-bert", "linear")
    return model


@pytest.mark.parametrize(
    "kind, scenario, expected",
    [
        ("classifier", "cil", ClassifierCIL), ("classifier", "til", ClassifierTIL),
        ("generative", "cil", GenerativeCIL), ("generative", "til", GenerativeTIL),
    ],
)
def test_output_space_factory(kind, scenario, expected, classifier, lm):
    model = classifier if kind == "classifier" else lm[0]
    assert isinstance(model, AnswerGenerator) is (kind == "generative")
    split = SPLIT if kind == "classifier" else LM_SPLIT
    space = output_space(model, scenario, split)
    assert type(space) is expected
    assert space.model is model and space.task_split is split
