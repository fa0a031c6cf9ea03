"""How well a score ranks the outcomes: the one ROC AUC of the health score's backtest, the churn
model's backtest and race, the tuning check and the table mode's leakage check."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC of scores ``s`` by ranks (Mann-Whitney: the share of churned-retained pairs the
    scores order right, ties counting half; what ``sklearn.metrics.roc_auc_score`` gives, without
    its input checks); NaN when ``y`` holds one outcome only.

    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.4, 0.8]))  # 3 pairs right, 1 tied: 3.5/4
    0.875
    """
    y = np.asarray(y, bool)
    m = int(y.sum())
    n = len(y) - m
    if m == 0 or n == 0:
        return float("nan")
    ranks = rankdata(np.asarray(s, float))
    return float((ranks[y].sum() - m * (m + 1) / 2) / (m * n))


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision (PR AUC) of scores ``s``: Σ over the distinct scores, highest first, of
    (recall gained at that threshold) × (precision at it), rows with tied scores entering
    together; what ``sklearn.metrics.average_precision_score`` gives, without its input checks;
    NaN when ``y`` holds no churner.

    >>> average_precision(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.8, 0.3]))  # 1/2 * 1 + 1/2 * 2/3
    0.8333333333333333
    """
    y = np.asarray(y, bool)
    if not y.any():
        return float("nan")
    s = np.asarray(s, float)
    order = np.argsort(-s, kind="stable")
    ends = np.r_[np.flatnonzero(np.diff(s[order])), len(s) - 1]  # the last row of each tied group
    true_pos = np.cumsum(y[order])[ends]
    precision = true_pos / (ends + 1)
    recall_gain = np.diff(true_pos, prepend=0) / true_pos[-1]
    return float(np.sum(recall_gain * precision))
