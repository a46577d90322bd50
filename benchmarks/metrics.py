"""Continual-learning metrics of an accuracy matrix R (row i: after task i; column j: task j).

Definitions follow the Learn-or-Recall codebase (Test_Aver_ACC, Test_Aver_Inc_ACC,
Test_Fgt_ACC, Test_Bwt_ACC). A one-row matrix (a joint run, or a 1-task stream) has no
forgetting and no backward transfer: those are None.
"""

from __future__ import annotations

import numpy as np


def final_average_accuracy(R) -> float:
    return float(np.mean(np.asarray(R)[-1]))


def average_incremental_accuracy(R) -> float:
    R = np.asarray(R)
    return float(np.mean([R[i, : i + 1].mean() for i in range(R.shape[0])]))


def forgetting(R) -> float | None:
    R = np.asarray(R)
    T = R.shape[0]
    if T < 2:
        return None
    return float(np.mean([R[: T - 1, j].max() - R[T - 1, j] for j in range(T - 1)]))


def backward_transfer(R) -> float | None:
    R = np.asarray(R)
    T = R.shape[0]
    if T < 2:
        return None
    return float(np.mean([R[T - 1, j] - R[j, j] for j in range(T - 1)]))


def forgetting_matrix(R) -> list[list[float | None]]:
    """F[i][j] = max_{k<i} R[k][j] - R[i][j] for j < i; None elsewhere."""
    R = np.asarray(R)
    return [[float(R[:i, j].max() - R[i, j]) if j < i else None for j in range(R.shape[1])] for i in range(R.shape[0])]


SUMMARY_KEYS = ("final_average_accuracy", "average_incremental_accuracy", "forgetting", "backward_transfer")


def summary(R, joint: bool = False) -> dict:
    """The four numbers of the results contract."""
    return {
        "final_average_accuracy": final_average_accuracy(R),
        "average_incremental_accuracy": None if joint else average_incremental_accuracy(R),
        "forgetting": None if joint else forgetting(R),
        "backward_transfer": None if joint else backward_transfer(R),
    }
