"""Shifted-beta-geometric (sBG) retention model and survival-based LTV.

Fader & Hardie (2007), "How to project customer retention", J. Interactive Marketing 21(1):
each customer churns at the end of a period with probability θ, θ ~ Beta(α, β) across customers.

    P(T = t) = B(α + 1, β + t − 1) / B(α, β),  S(t) = B(α, β + t) / B(α, β)

Discounted expected (residual) lifetime from Fader & Hardie (2010), "Customer-base valuation in
a contractual setting": DEL(d) = ₂F₁(1, β; α + β; 1/(1 + d)) for a new customer (paying at the
start of each period) and DERL(d | n) = (β + n − 1)/(α + β + n − 1) · ₂F₁(1, β + n; α + β + n;
1/(1 + d)) for a customer who has been active for n periods.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import special

LOG_BOUND = 12.0


class RetentionWarning(UserWarning):
    """A statistical caveat about a retention fit (e.g. no churn observed)."""


def _sbg_terms(x: np.ndarray, churned: np.ndarray, censored: np.ndarray) -> tuple[np.ndarray, ...]:
    """Log-likelihood, gradient and Hessian in (log α, log β) of every row's sBG model."""
    a, b = np.exp(x[:, :1]), np.exp(x[:, 1:])
    t = np.arange(churned.shape[1])[None, :]
    c, tc = churned[:, 1:], t[:, 1:]
    s = censored
    total = c.sum(1, keepdims=True) + s.sum(1, keepdims=True)

    def sums(fn, shift_c, shift_s):  # Σ_t c_t fn(…) + Σ_t s_t fn(…)
        return (c * fn(shift_c)).sum(1, keepdims=True) + (s * fn(shift_s)).sum(1, keepdims=True)

    ll = ((c * special.betaln(a + 1, b + tc - 1)).sum(1, keepdims=True)
          + (s * special.betaln(a, b + t)).sum(1, keepdims=True) - total * special.betaln(a, b))
    psi = special.digamma

    def tri(z: np.ndarray) -> np.ndarray:  # trigamma: polygamma(1, z) is 1.0 · 1.0 · ζ(2, z), without its digamma
        return special.zeta(2, z)

    # ψ and ψ' at α + β + t serve the churned (t ≥ 1) and the censored terms of both gradients
    ab_t = a + b + t

    def sums_at(values: np.ndarray) -> np.ndarray:  # Σ_t c_t values_t (t ≥ 1) + Σ_t s_t values_t
        return (c * values[:, 1:]).sum(1, keepdims=True) + (s * values).sum(1, keepdims=True)

    psi_ab = sums_at(psi(ab_t))
    g_a = (c * psi(a + 1)).sum(1, keepdims=True) + (s * psi(a)).sum(1, keepdims=True) \
        - psi_ab - total * (psi(a) - psi(a + b))
    g_b = sums(psi, b + tc - 1, b + t) - psi_ab - total * (psi(b) - psi(a + b))
    t_ab = sums_at(tri(ab_t))
    h_aa = (c * tri(a + 1)).sum(1, keepdims=True) + (s * tri(a)).sum(1, keepdims=True) \
        - t_ab - total * (tri(a) - tri(a + b))
    h_bb = sums(tri, b + tc - 1, b + t) - t_ab - total * (tri(b) - tri(a + b))
    h_ab = -t_ab + total * tri(a + b)
    grad = np.hstack([a * g_a, b * g_b])
    hess = np.stack([np.hstack([a * a * h_aa + a * g_a, a * b * h_ab]),
                     np.hstack([a * b * h_ab, b * b * h_bb + b * g_b])], axis=1)
    return ll[:, 0], grad, hess, total[:, 0]


def fit_sbg(churned_at: np.ndarray, censored_at: np.ndarray,
            max_iter: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood sBG fits of independent data sets at once.

    Row ``i`` of ``churned_at`` counts customers churned in period t (t ≥ 1; column 0 must be 0)
    and of ``censored_at`` customers still active after t periods when observation ended.
    Levenberg–Marquardt steps with the analytic gradient and Hessian in (log α, log β), all rows
    together; log α, log β are bounded at ±12 (at the upper bound the model is practically
    geometric, at the lower one a split into immediate churners and stayers). Returns α, β and
    the log-likelihood per row; warns (:class:`RetentionWarning`) where a fit did not converge.
    """
    churned = np.atleast_2d(np.asarray(churned_at, float))
    censored = np.atleast_2d(np.asarray(censored_at, float))
    if (churned[:, 0] != 0).any() or (churned.sum(axis=1) == 0).any():
        raise ValueError("each row needs churn counts at periods t >= 1 (column 0 must be 0)")
    n = churned.shape[0]
    x = np.zeros((n, 2))
    damping = np.full(n, 1e-3)
    ll, grad, hess, total = _sbg_terms(x, churned, censored)
    tol = 1e-7 * np.maximum(total, 1.0)  # log-likelihood per customer flat to 1e-7

    def free_gradient(x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        at_bound = ((x <= -LOG_BOUND) & (grad < 0)) | ((x >= LOG_BOUND) & (grad > 0))
        return np.abs(np.where(at_bound, 0.0, grad)).max(axis=1)

    done = free_gradient(x, grad) <= tol
    for _ in range(max_iter):
        rows = np.flatnonzero(~done)
        if rows.size == 0:
            break
        # ascend: solve (−H + λI) δ = g on the rows still moving
        system = -hess[rows] + damping[rows, None, None] * np.eye(2)
        step = np.linalg.solve(system, grad[rows][..., None])[..., 0]
        trial = np.clip(x[rows] + step, -LOG_BOUND, LOG_BOUND)
        t_ll, t_grad, t_hess, _ = _sbg_terms(trial, churned[rows], censored[rows])
        better = np.isfinite(t_ll) & (t_ll >= ll[rows])
        up = rows[better]
        x[up], ll[up], grad[up], hess[up] = trial[better], t_ll[better], t_grad[better], t_hess[better]
        damping[up] = np.maximum(damping[up] / 10, 1e-12)
        damping[rows[~better]] *= 10
        done[rows] = (free_gradient(x[rows], grad[rows]) <= tol[rows]) | (damping[rows] > 1e12)
    worst = free_gradient(x, grad) / np.maximum(total, 1.0)
    if (worst > 1e-4).any():
        warnings.warn(f"sBG fit did not converge for {(worst > 1e-4).sum()} of {n} data sets",
                      RetentionWarning, stacklevel=2)
    return np.exp(x[:, 0]), np.exp(x[:, 1]), ll


@dataclass
class ShiftedBetaGeometric:
    """Maximum-likelihood sBG fitter. ``fit*`` return self; results in ``alpha_``, ``beta_``.

    >>> m = ShiftedBetaGeometric().fit_survivors([1000, 869, 743, 653, 593, 551, 517, 491])
    >>> round(m.alpha_, 3), round(m.beta_, 3)  # the paper's "high end" cohort
    (0.668, 3.806)
    """

    alpha_: float = field(default=np.nan, init=False)
    beta_: float = field(default=np.nan, init=False)
    log_likelihood_: float = field(default=np.nan, init=False)

    @classmethod
    def from_params(cls, alpha: float, beta: float) -> ShiftedBetaGeometric:
        model = cls()
        model.alpha_, model.beta_ = float(alpha), float(beta)
        return model

    def fit_counts(self, churned_at: np.ndarray, censored_at: np.ndarray) -> ShiftedBetaGeometric:
        """Fit from counts: ``churned_at[t]`` customers churned in period t (t ≥ 1, index 0
        unused) and ``censored_at[t]`` were still active after t periods when observation ended."""
        alpha, beta, ll = fit_sbg(churned_at, censored_at)
        self.alpha_, self.beta_, self.log_likelihood_ = float(alpha[0]), float(beta[0]), float(ll[0])
        return self

    def fit_survivors(self, survivors: list[float] | np.ndarray) -> ShiftedBetaGeometric:
        """Fit to one cohort's survivor counts n_0, n_1, …, n_T (all still active after T)."""
        n = np.asarray(survivors, float)
        churned = np.r_[0.0, n[:-1] - n[1:]]
        censored = np.zeros_like(n)
        censored[-1] = n[-1]
        return self.fit_counts(churned, censored)

    def survival(self, t: np.ndarray | int) -> np.ndarray:
        """S(t): share of a new cohort still active after t periods."""
        t = np.asarray(t, float)
        return np.exp(special.betaln(self.alpha_, self.beta_ + t) - special.betaln(self.alpha_, self.beta_))

    def retention_rate(self, t: np.ndarray | int) -> np.ndarray:
        """r(t) = S(t) / S(t − 1) = (β + t − 1) / (α + β + t − 1), t ≥ 1 (rises with t)."""
        t = np.asarray(t, float)
        return (self.beta_ + t - 1) / (self.alpha_ + self.beta_ + t - 1)

    def discounted_expected_lifetime(self, discount: float) -> float:
        """DEL: expected number of (discounted) payments of a new customer, first one now."""
        return float(discounted_expected_lifetime(self.alpha_, self.beta_, discount))

    def discounted_expected_residual_lifetime(self, discount: float, n: int) -> float:
        """DERL: expected discounted future payments of a customer active for ``n`` periods."""
        a, b = self.alpha_, self.beta_
        return float((b + n - 1) / (a + b + n - 1) * special.hyp2f1(1, b + n, a + b + n, 1 / (1 + discount)))


def discounted_expected_lifetime(alpha: np.ndarray | float, beta: np.ndarray | float,
                                 discount: float) -> np.ndarray:
    """DEL(d) = ₂F₁(1, β; α + β; 1/(1 + d)) for (arrays of) fitted parameters."""
    return special.hyp2f1(1, beta, np.add(alpha, beta), 1 / (1 + discount))


def monthly_discount(annual_rate: float) -> float:
    """Monthly rate equivalent to an annual discount rate."""
    return (1 + annual_rate) ** (1 / 12) - 1
