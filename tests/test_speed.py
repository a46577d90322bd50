"""The speed benchmark in its reduced mode: it runs both orders, and its last line is JSON with every field."""

import json
import math

from benchmarks import speed

FIELDS = {"harness_vs_plain_train", "derpp_stored_vs_er", "derpp_teacher_vs_er", "eval_vs_plain", "buffer_bytes_per_example",
          "frozen_cached_vs_uncached", "probe_vs_train_cached", "probe_vs_train_uncached"}
FAST = {"fast_vs_default_train", "fast_vs_default_eval"}
AVALANCHE = {"suite_vs_avalanche_naive", "suite_vs_avalanche_replay", "suite_vs_avalanche_der"}


def test_quick_mode_prints_every_field(capsys, data_dir):
    speed.main(["--quick", "--data-dir", str(data_dir)])
    lines = capsys.readouterr().out.strip().splitlines()
    # Round 2 runs the plain loop first, on round 1's batches, and checks the harness drew them again.
    assert [line.split(":")[0] for line in lines if line.startswith("round")] == ["round 1", "round 2"]
    result = json.loads(lines[-1])
    assert FIELDS <= set(result)
    assert all(result[k] > 0 for k in FIELDS)
    if result["cpu_bf16"]:
        assert all(result[k] > 0 for k in FAST) and abs(result["fast_minus_default_accuracy"]) <= 1
    else:  # emulated bf16: the fast path is not measured, and the output says so
        assert all(result[k] is None for k in FAST) and any(line.startswith("fast_vs_default_train, ") for line in lines)
    # int32 ids (50), label and task = 208 bytes; stored logits add 20 fp16 columns (both tasks) + an int32 width
    by_method = result["buffer_bytes_per_example_by_method"]
    assert by_method["er"] == by_method["teacher"] == 50 * 4 + 4 + 4
    assert result["buffer_bytes_per_example"] == by_method["er"] + 20 * 2 + 4
    assert all(math.isfinite(result[k]) and result[k] > 0 for k in AVALANCHE)
    # Each side of each pair took the same 6 steps over the 160 training examples (2 tasks of 10 classes x 8) and
    # evaluated both tasks; the replay methods forwarded buffer rows besides, and every buffer (200) ended holding all
    # 160: an Avalanche strategy that did not train or replay fails here.
    runs = result["suite_vs_avalanche_runs"]
    assert set(runs) == {"naive", "replay", "der"}
    for name, sides in runs.items():
        for run in sides.values():
            assert run["steps"] == 6 and len(run["accuracy"]) == 2 and all(0 <= a <= 1 for a in run["accuracy"])
            if name == "naive":
                assert (run["rows"], run["buffer"]) == (160, None)
            else:
                assert run["rows"] > 160 and run["buffer"] == 160


def test_quick_lm_mode_prints_step_ratios_bytes_and_eval_modes(capsys, data_dir):
    speed.main(["--quick", "--head", "lm", "--data-dir", str(data_dir)])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["head"] == "lm" and result["backbone"] == "tiny-gpt2"
    assert all(result[k] > 0 for k in ("derpp_stored_vs_er", "derpp_teacher_vs_er", "rank_vs_generate_eval"))
    # Prompts of 50 int32 ids + label + task; stored adds the top 64 (fp16 value + int32 id) per answer position.
    by_method = result["buffer_bytes_per_example_by_method"]
    assert by_method["er"] == by_method["teacher"] == 50 * 4 + 4 + 4
    answer_positions = (by_method["stored"] - by_method["er"]) / (64 * 6)
    assert answer_positions == int(answer_positions) >= 2


def test_the_fast_path_round_compares_bf16_with_fp32_on_the_same_task(data_dir):
    """Run on any CPU here (emulated bf16 on one without native bf16): throughputs and task 1's accuracy of each."""
    task_split, data = speed.two_task_stream("tiny-bert", 8, data_dir)
    out = speed.fast_round("tiny-bert", task_split, data)
    assert set(out) == {"bf16", "fp32"}
    assert all(train > 0 and evaluation > 0 and 0 <= accuracy <= 1 for train, evaluation, accuracy in out.values())
