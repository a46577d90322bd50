"""Continual-learning metrics against matrices computed by hand."""

import pytest

from benchmarks.metrics import (
    average_incremental_accuracy,
    backward_transfer,
    final_average_accuracy,
    forgetting,
    forgetting_matrix,
    summary,
)

# Row i: accuracies after training task i; column j: task j. The upper triangle (tasks not
# yet seen) is non-zero on purpose: only A_T may look at it. Task 0 improves after task 1
# (0.9 -> 0.95), so forgetting (max over earlier rows) and BWT (vs. the diagonal) differ.
R = [
    [0.90, 0.10, 0.00],
    [0.95, 0.80, 0.20],
    [0.50, 0.50, 0.70],
]
# A_T    = (0.50 + 0.50 + 0.70) / 3                       = 1.7 / 3      = 0.566667
# A-bar  = (0.90 + (0.95 + 0.80) / 2 + 1.7 / 3) / 3       = 2.341667 / 3 = 0.780556
# forget = ((max(0.90, 0.95) - 0.50) + (max(0.10, 0.80) - 0.50)) / 2 = (0.45 + 0.30) / 2 = 0.375
# BWT    = ((0.50 - 0.90) + (0.50 - 0.80)) / 2            = (-0.40 - 0.30) / 2 = -0.35
A_T = 1.7 / 3
A_BAR = (0.90 + 0.875 + 1.7 / 3) / 3
FORGETTING = 0.375
BWT = -0.35


def test_three_task_matrix_by_hand():
    assert final_average_accuracy(R) == pytest.approx(A_T)
    assert average_incremental_accuracy(R) == pytest.approx(A_BAR)
    assert average_incremental_accuracy(R) == pytest.approx(0.780556, abs=1e-6)
    assert forgetting(R) == pytest.approx(FORGETTING)
    assert backward_transfer(R) == pytest.approx(BWT)


def test_summary_of_a_continual_run_has_all_four_numbers():
    assert summary(R) == {
        "final_average_accuracy": pytest.approx(A_T),
        "average_incremental_accuracy": pytest.approx(A_BAR),
        "forgetting": pytest.approx(FORGETTING),
        "backward_transfer": pytest.approx(BWT),
    }


def test_no_forgetting_when_accuracy_never_drops():
    """A learner that keeps every task at its best: forgetting 0, BWT 0."""
    perfect = [[1.0, 0.0], [1.0, 1.0]]
    assert forgetting(perfect) == 0.0
    assert backward_transfer(perfect) == 0.0
    assert average_incremental_accuracy(perfect) == 1.0


def test_one_task_matrix_has_no_forgetting_or_bwt():
    """With one row there is no earlier accuracy to forget from."""
    one = [[0.8]]
    assert final_average_accuracy(one) == pytest.approx(0.8)
    assert average_incremental_accuracy(one) == pytest.approx(0.8)
    assert forgetting(one) is None
    assert backward_transfer(one) is None
    assert forgetting_matrix(one) == [[None]]
    assert summary(one) == {
        "final_average_accuracy": pytest.approx(0.8),
        "average_incremental_accuracy": pytest.approx(0.8),
        "forgetting": None,
        "backward_transfer": None,
    }


def test_joint_summary_keeps_only_final_accuracy():
    """A joint run is evaluated once on every task: A_T = (0.7 + 0.8 + 0.9) / 3 = 0.8, the rest None."""
    assert summary([[0.7, 0.8, 0.9]], joint=True) == {
        "final_average_accuracy": pytest.approx(0.8),
        "average_incremental_accuracy": None,
        "forgetting": None,
        "backward_transfer": None,
    }
    # joint=True blanks the sequential metrics even for a multi-row matrix
    assert summary(R, joint=True)["forgetting"] is None


def test_forgetting_matrix_by_hand():
    """F[i][j] = max_{k<i} R[k][j] - R[i][j] below the diagonal, None on and above it."""
    F = forgetting_matrix(R)
    # row 0: nothing seen before -> all None
    # row 1: F[1][0] = 0.90 - 0.95 = -0.05 (negative: task 0 improved)
    # row 2: F[2][0] = max(0.90, 0.95) - 0.50 = 0.45; F[2][1] = max(0.10, 0.80) - 0.50 = 0.30
    expected = [
        [None, None, None],
        [-0.05, None, None],
        [0.45, 0.30, None],
    ]
    assert [[v is None for v in row] for row in F] == [[v is None for v in row] for row in expected]
    for row, expected_row in zip(F, expected):
        for value, want in zip(row, expected_row):
            if want is not None:
                assert value == pytest.approx(want)
    # its last row averages to the scalar forgetting
    assert (F[2][0] + F[2][1]) / 2 == pytest.approx(forgetting(R))
