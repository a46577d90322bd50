"""The generative head (tiny-gpt2 answers with the label name): masking, both eval modes, DER++ and LwF losses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmarks.models.generative import DEFAULT_TEMPLATE, IGNORE, prompt
from benchmarks.models.loading import load_model
from methods.buffer import ReservoirBuffer
from tests.method_harness import make_strategy

NAMES = ("card_arrival", "transfer", "what_is_your_name")
TEXTS = ["where is my new card", "send money to my mom please", "how should i call you"]


def tiny_lm(lm_eval: str = "generate"):
    torch.manual_seed(0)
    model, tokenizer = load_model("tiny-gpt2", "lm", NAMES, lm_eval)
    ids = tokenizer(
        [prompt(DEFAULT_TEMPLATE, t) for t in TEXTS], padding="max_length", max_length=20, truncation=True,
        add_special_tokens=False, return_tensors="pt",
    ).input_ids
    return model, tokenizer, ids


def test_loss_covers_the_answer_tokens_only():
    """Hand check: each example run alone and unpadded; CE averaged over its answer tokens (+ end token)."""
    model, tokenizer, ids = tiny_lm()
    model.eval()  # no dropout: both computations must see the same network
    ids, y = ids[:2], torch.tensor([0, 2])  # prompts of different lengths, answers of 2 and 4 tokens + end
    assert ids[:, 0].eq(tokenizer.pad_token_id).all() and len(set(model.answer_len[y].tolist())) == 2
    log_probs = []
    for row, label in zip(ids, y):
        prompt_ids = row[row != tokenizer.pad_token_id].tolist()
        answer = tokenizer(" " + NAMES[label].replace("_", " "), add_special_tokens=False).input_ids
        answer += [tokenizer.eos_token_id]
        with torch.no_grad():
            logits = model.backbone(torch.tensor([prompt_ids + answer])).logits[0]
        start = len(prompt_ids) - 1  # the position that predicts the first answer token
        lp = torch.log_softmax(logits[start : start + len(answer)].double(), dim=-1)
        log_probs += [lp[j, token] for j, token in enumerate(answer)]
    expected = -torch.stack(log_probs).mean()
    with torch.no_grad():
        logits = model(ids, y)
    assert logits.shape == (2, model.answer_width, tokenizer.vocab_size)
    assert float(model.loss(logits, y)) == pytest.approx(float(expected), rel=1e-5)
    targets = model.answer_targets(y)
    assert (targets != IGNORE).sum(dim=1).tolist() == model.answer_len[y].tolist()


def test_rank_scores_are_answer_log_likelihoods():
    model, tokenizer, ids = tiny_lm("rank")
    model.eval()
    with torch.no_grad():
        scores = model.answer_log_likelihoods(ids, torch.arange(3))
        for c in range(3):
            y = torch.full((3,), c)
            logits = model(ids, y).double()
            targets = model.answer_targets(y)
            lp = torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            torch.testing.assert_close(scores[:, c].double(), (lp * (targets != IGNORE)).sum(1), rtol=1e-5, atol=1e-4)


def test_a_causal_lm_saved_to_a_folder_loads_by_path(tmp_path):
    """The code path of hub names (AutoModelForCausalLM / AutoTokenizer), on local files."""
    model, tokenizer, ids = tiny_lm()
    model.backbone.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_model(str(tmp_path), "lm", NAMES)
    assert type(loaded.backbone).__name__ == "GPT2LMHeadModel" and loaded_tokenizer.padding_side == "left"
    assert torch.equal(loaded.answer_ids, model.answer_ids)
    y = torch.tensor([0, 1, 2])
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(ids, y), model.eval()(ids, y))


def test_a_model_that_overfits_three_examples_answers_them_in_both_eval_modes():
    model, tokenizer, ids = tiny_lm()
    y = torch.arange(3)
    model.add_head(3)
    allowed = torch.ones(3, 3, dtype=torch.bool)
    with torch.inference_mode():
        assert model.predict(ids, allowed).tolist() != [0, 1, 2]  # untrained: random words, no label
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        model.loss(model(ids, y), y).backward()
        optimizer.step()
    model.eval()
    with torch.inference_mode():
        assert model.predict(ids, allowed).tolist() == [0, 1, 2]
        model.lm_eval = "rank"
        assert model.predict(ids, allowed).tolist() == [0, 1, 2]
        # Rank chooses among the allowed candidates only (TIL: the example's task's labels).
        only_two = torch.tensor([[False, True, True]] * 3)
        assert model.predict(ids, only_two)[0] != 0


def test_stored_answer_logits_keep_the_topk_entries_of_each_position():
    buffer = ReservoirBuffer(4, seed=0, store_logits=True, topk=5)
    logits = torch.randn(3, 4, 100)
    buffer.add(torch.ones(3, 7, dtype=torch.long), torch.tensor([0, 1, 2]), torch.zeros(3, dtype=torch.long), logits)
    values, index = logits.topk(5, dim=-1)
    assert torch.equal(buffer.index[:3].long(), index)
    torch.testing.assert_close(buffer.logits[:3].float(), values, rtol=1e-3, atol=1e-3)  # fp16
    drawn = buffer.sample(3)
    assert drawn.width is None and drawn.index.shape == (3, 4, 5)
    assert buffer.nbytes() == 4 * (7 * 4 + 4 + 4 + 4 * 5 * (2 + 4))


def answer_ce(out: np.ndarray, targets: np.ndarray) -> float:
    """Mean -log p(target) over the positions with a target; out [rows, positions, vocabulary]."""
    m = out.max(axis=-1, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(out - m).sum(axis=-1))
    rows, positions = np.nonzero(targets != IGNORE)
    return float(np.mean(lse[rows, positions] - out[rows, positions, targets[rows, positions]]))


@pytest.mark.parametrize("source", ["teacher", "stored"])
def test_derpp_loss_on_answer_positions_matches_hand_computation(source):
    alpha, beta = 0.3, 0.7
    strategy, bench, derpp, probe = make_strategy(
        "derpp", "cil", head="lm", alpha=alpha, beta=beta, buffer_size=100, derpp_logits=source, derpp_topk=8,
    )
    model = strategy.model
    strategy.train(bench.train_stream[0])
    teacher, first = derpp.teacher, len(probe.steps)
    strategy.train(bench.train_stream[1])
    steps = probe.steps[first:]
    assert steps and all(s.drawn is not None for s in steps)
    for step in steps:
        out, n, drawn = step.output.double().numpy(), step.num_new, step.drawn
        targets = model.answer_targets(step.y).numpy()
        positions = targets[n:] != IGNORE
        if source == "teacher":
            with torch.no_grad():
                target_logits = teacher(drawn.ids, drawn.y).double().numpy()
            student = out[n:]
        else:
            target_logits = drawn.logits.double().numpy()
            assert target_logits.shape[-1] == 8
            student = np.take_along_axis(out[n:], drawn.index.numpy(), axis=-1)
        mse = ((student - target_logits) ** 2)[positions].mean()  # every vocabulary (or top-k) entry counts
        expected = answer_ce(out[:n], targets[:n]) + beta * answer_ce(out[n:], targets[n:]) + alpha * mse
        assert step.loss == pytest.approx(expected, rel=1e-5)
        assert step.loss_terms["mse"] > 0


def test_lwf_distils_answer_distributions_of_the_new_examples():
    T, alpha = 2.0, 0.5
    strategy, bench, lwf, probe = make_strategy("lwf", "cil", head="lm", lwf_alpha=alpha, lwf_temperature=T)
    strategy.train(bench.train_stream[0])
    teacher, first = lwf.teacher, len(probe.steps)
    strategy.train(bench.train_stream[1])
    for step in probe.steps[first:]:
        with torch.no_grad():
            old = teacher(step.x, step.y).double().numpy() / T
        new = step.output.double().numpy() / T
        targets = strategy.model.answer_targets(step.y).numpy()
        log_p_old = old - np.log(np.exp(old).sum(-1, keepdims=True))
        log_p_new = new - np.log(np.exp(new).sum(-1, keepdims=True))
        kl = (np.exp(log_p_old) * (log_p_old - log_p_new)).sum(-1)[targets != IGNORE].mean()
        assert step.loss == pytest.approx(answer_ce(step.output.double().numpy(), targets) + alpha * kl, rel=1e-5)
        assert kl > 0


LM_CLI = ["--head", "lm", "--backbone", "tiny-gpt2", "--wandb", "disabled", "--seeds", "0"]


def test_cli_runs_every_method_on_the_lm_head_in_cil_and_til(tmp_path):
    import run_benchmark
    from tests.small_stream import write_small_clinc_csv

    csv_path = write_small_clinc_csv(tmp_path / "intents.csv", num_classes=6, per_class_train=10)
    out = tmp_path / "out"
    args = ["--benchmark", str(csv_path), "--tasks", "3", "--epochs", "1", "--lr", "3e-3", "--max-length", "40", "--output", str(out), *LM_CLI]
    assert run_benchmark.main(["--methods", "derpp", "er", "lwf", "finetune", "--scenario", "cil", "til", *args]) == 0
    assert run_benchmark.main(["--methods", "derpp", "--derpp-logits", "stored", "--lm-eval", "rank", *args]) == 0
    runs = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}
    labels = {"derpp-teacher", "er", "lwf", "finetune"}
    assert set(runs) == {f"intents-{s}-{m}-seed0" for s in ("cil", "til") for m in labels} | {"intents-cil-derpp-seed0"}
    for r in runs.values():
        R = np.array(r["accuracy_matrix"])
        assert r["status"] == "finished" and r["head"] == "lm" and R.shape == (3, 3) and ((R >= 0) & (R <= 1)).all()
        assert r["config"]["prompt_template"] == DEFAULT_TEMPLATE
        assert r["final_average_accuracy"] == pytest.approx(R[-1].mean())
    stored, teacher = runs["intents-cil-derpp-seed0"], runs["intents-cil-derpp-teacher-seed0"]
    assert stored["config"]["lm_eval"] == "rank" and teacher["config"]["lm_eval"] == "generate"
    assert stored["config"]["hp"]["derpp_topk"] == 64 and "derpp_topk" not in teacher["config"]["hp"]
    # Teacher mode buffers prompts (40 int32 ids) + label + task; stored adds top-64 fp16 values and int32 ids per answer position.
    answer_width = (stored["buffer_bytes"] - teacher["buffer_bytes"]) // (500 * 64 * 6)
    assert teacher["buffer_bytes"] == 500 * (40 * 4 + 4 + 4)
    assert stored["buffer_bytes"] == teacher["buffer_bytes"] + 500 * answer_width * 64 * 6 and answer_width >= 2


def test_replay_beats_finetuning_on_the_lm_head(tmp_path):
    import run_benchmark
    from tests.small_stream import write_small_clinc_csv

    csv_path = write_small_clinc_csv(tmp_path / "intents.csv", num_classes=6, per_class_train=30)
    out = tmp_path / "out"
    code = run_benchmark.main(
        ["--methods", "finetune", "er", "derpp", "--derpp-logits", "stored", "--benchmark", str(csv_path), "--tasks", "3",
         "--epochs", "8", "--batch-size", "8", "--lr", "3e-3", "--lm-eval", "rank", "--output", str(out), *LM_CLI]
    )
    assert code == 0
    a_t = {m: json.loads((out / f"intents-cil-{m}-seed0" / "results.json").read_text())["final_average_accuracy"]
           for m in ("finetune", "er", "derpp")}
    assert a_t["er"] > a_t["finetune"] + 0.2
    assert a_t["derpp"] > a_t["finetune"] + 0.2


def test_an_lm_run_stopped_after_a_task_resumes_to_the_uninterrupted_matrix(tmp_path):
    """The checkpoint holds the LM, its seen tasks and the top-k buffer (values and vocabulary ids)."""
    import run_benchmark
    from tests.small_stream import write_small_clinc_csv

    csv_path = write_small_clinc_csv(tmp_path / "intents.csv", num_classes=6, per_class_train=30)

    def grid(output, *extra):
        return run_benchmark.main(
            ["--methods", "derpp", "--derpp-logits", "stored", "--benchmark", str(csv_path), "--tasks", "3", "--epochs",
             "6", "--batch-size", "8", "--lr", "3e-3", "--buffer-size", "30", "--lm-eval", "rank", "--output",
             str(output), *LM_CLI, *extra]
        )

    def matrix(output):
        return json.loads((output / "intents-cil-derpp-seed0" / "results.json").read_text())["accuracy_matrix"]

    assert grid(tmp_path / "whole") == 0
    assert grid(tmp_path / "resumed", "--stop-after-task", "1") == 0
    assert len(matrix(tmp_path / "resumed")) == 1
    assert grid(tmp_path / "resumed", "--resume") == 0
    assert matrix(tmp_path / "resumed") == matrix(tmp_path / "whole")
    assert len({round(a, 6) for row in matrix(tmp_path / "whole") for a in row}) > 3  # a matrix that says something
