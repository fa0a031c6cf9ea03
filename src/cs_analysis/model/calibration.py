"""Sigmoid (Platt) calibration fitted on out-of-sample scores that were already computed.

The churn model is a pipeline fitted once on every labelled row; its probabilities come from a
sigmoid of its decision function fitted on the out-of-time (or out-of-fold) decision values of
the same candidate in the backtest, so calibration costs no extra fit. This is what
``CalibratedClassifierCV(method="sigmoid", ensemble=False)`` builds, with the out-of-sample
scores taken from the backtest instead of from three more fits.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

PENALTY = 1e-6  # on the slope: scikit-learn's LogisticRegression(C=1e6), all but unpenalised
TOLERANCE = 1e-10  # Newton steps stop when the largest change is below this


def sigmoid_fit(scores: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """(slope, intercept) of P(churn) = expit(slope × score + intercept) fitted by maximum
    likelihood on ``scores`` (decision values) and outcomes ``y``; None when ``y`` holds fewer
    than two of either outcome (nothing to fit).

    The objective is scikit-learn's ``LogisticRegression(C=1e6)`` on the one column of scores
    (log-loss summed over rows, ½ × 10⁻⁶ × slope², the intercept free), minimised by Newton's
    method on its two parameters with step halving (the objective is strictly convex): the same
    optimum (tested against scikit-learn) without an estimator's input checks, which cost ten
    times the arithmetic on a backtest fold's few thousand scores.

    >>> a, b = sigmoid_fit(np.array([-1.0, -1.0, 1.0, 1.0, 1.0, -1.0]), np.array([0, 0, 1, 1, 0, 1]))
    >>> round(float(expit(a + b)), 3), round(float(expit(-a + b)), 3)  # the observed rates at each score
    (0.667, 0.333)
    """
    y = np.asarray(y).astype(bool)
    if y.sum() < 2 or (~y).sum() < 2:
        return None
    x, t = np.asarray(scores, float), y.astype(float)
    design = np.column_stack([x, np.ones_like(x)])
    ridge = np.array([PENALTY, 0.0])

    def objective(w: np.ndarray) -> float:
        z = design @ w
        return float(np.sum(np.logaddexp(0.0, z) - t * z) + 0.5 * PENALTY * w[0] ** 2)

    w = np.array([0.0, np.log(t.mean() / (1 - t.mean()))])  # start: the base rate
    value = objective(w)
    for _ in range(100):
        p = expit(design @ w)
        gradient = design.T @ (p - t) + ridge * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(ridge)
        step = np.linalg.solve(hessian + 1e-12 * np.eye(2), gradient)
        scale = 1.0
        # halve until it descends (near the optimum the objective is flat to rounding: a full
        # step that does not rise above that is taken, and Newton converges quadratically)
        while scale > 1e-8 and objective(w - scale * step) > value + 1e-12 * abs(value):
            scale /= 2
        w = w - scale * step
        value = objective(w)
        if np.max(np.abs(scale * step)) < TOLERANCE:
            break
    return float(w[0]), float(w[1])


class SigmoidCalibrated(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier (``estimator``, with ``decision_function``) whose probability
    of the positive class is expit(``slope`` × decision + ``intercept``).

    Built with :meth:`from_scores`, never fitted itself: the sigmoid was fitted on scores of
    rows the estimator did not learn from.
    """

    def __init__(self, estimator=None, slope: float = 1.0, intercept: float = 0.0):
        self.estimator = estimator
        self.slope = slope
        self.intercept = intercept

    @classmethod
    def from_scores(cls, estimator, scores: np.ndarray, y: np.ndarray) -> SigmoidCalibrated:
        """``estimator`` calibrated by a sigmoid fitted on out-of-sample ``scores`` and ``y``
        (the estimator's own sigmoid, slope 1 and intercept 0, when ``y`` is too one-sided)."""
        slope, intercept = sigmoid_fit(scores, y) or (1.0, 0.0)
        out = cls(estimator, slope, intercept)
        out.classes_ = np.array([False, True])
        for name in ("feature_names_in_", "n_features_in_"):
            if hasattr(estimator, name):
                setattr(out, name, getattr(estimator, name))
        return out

    def probability_from_decision(self, decision: np.ndarray) -> np.ndarray:
        """P(churn) from the estimator's decision values."""
        return expit(self.slope * np.asarray(decision, float) + self.intercept)

    def predict_proba(self, x) -> np.ndarray:
        p = self.probability_from_decision(self.estimator.decision_function(x))
        return np.column_stack([1 - p, p])

    def predict(self, x) -> np.ndarray:
        return self.predict_proba(x)[:, 1] >= 0.5
