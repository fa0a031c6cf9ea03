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
