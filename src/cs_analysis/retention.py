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
from scipy import optimize, special


LOG_BOUND = 12.0


class RetentionWarning(UserWarning):
    """A statistical caveat about a retention fit (e.g. no churn observed)."""


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

    def fit_counts(self, churned_at: np.ndarray, censored_at: np.ndarray) -> ShiftedBetaGeometric:
        """Fit from counts: ``churned_at[t]`` customers churned in period t (t ≥ 1, index 0
        unused) and ``censored_at[t]`` were still active after t periods when observation ended."""
        churned_at = np.asarray(churned_at, float)
        censored_at = np.asarray(censored_at, float)
        t_churn = np.flatnonzero(churned_at)
        t_cens = np.flatnonzero(censored_at)
        if t_churn.size == 0 or (t_churn == 0).any():
            raise ValueError("need churn counts at periods t >= 1 (index 0 must be 0)")

        total = churned_at.sum() + censored_at.sum()
        c, tc = churned_at[t_churn], t_churn
        s, ts = censored_at[t_cens], t_cens

        def nll(params: np.ndarray) -> tuple[float, np.ndarray]:
            a, b = np.exp(params)
            ll = ((c * special.betaln(a + 1, b + tc - 1)).sum() + (s * special.betaln(a, b + ts)).sum()
                  - total * special.betaln(a, b))
            psi_c, psi_s = special.digamma(a + b + tc), special.digamma(a + b + ts)
            d_a = ((c * (special.digamma(a + 1) - psi_c)).sum() + (s * (special.digamma(a) - psi_s)).sum()
                   - total * (special.digamma(a) - special.digamma(a + b)))
            d_b = ((c * (special.digamma(b + tc - 1) - psi_c)).sum()
                   + (s * (special.digamma(b + ts) - psi_s)).sum()
                   - total * (special.digamma(b) - special.digamma(a + b)))
            return -ll, -np.array([d_a * a, d_b * b])

        # log α, log β bounded: at the upper bound the model is practically geometric (no
        # heterogeneity), at the lower one a split into immediate churners and stayers
        bounds = (-LOG_BOUND, LOG_BOUND)
        best = optimize.minimize(nll, x0=np.zeros(2), jac=True, method="L-BFGS-B",
                                 bounds=[bounds] * 2, options={"ftol": 1e-12, "gtol": 1e-8})
        grad = nll(best.x)[1]
        grad[(best.x <= bounds[0]) & (grad > 0)] = 0.0  # pushing against a bound is optimal
        grad[(best.x >= bounds[1]) & (grad < 0)] = 0.0
        if np.abs(grad).max() > 1e-3 * max(total, 1.0):  # LL per account flat to 1e-3
            warnings.warn(f"sBG fit did not converge ({best.message}); gradient {grad}",
                          RetentionWarning, stacklevel=2)
        self.alpha_, self.beta_ = (float(x) for x in np.exp(best.x))
        self.log_likelihood_ = float(-best.fun)
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
        return float(special.hyp2f1(1, self.beta_, self.alpha_ + self.beta_, 1 / (1 + discount)))

    def discounted_expected_residual_lifetime(self, discount: float, n: int) -> float:
        """DERL: expected discounted future payments of a customer active for ``n`` periods."""
        a, b = self.alpha_, self.beta_
        return float((b + n - 1) / (a + b + n - 1) * special.hyp2f1(1, b + n, a + b + n, 1 / (1 + discount)))


def monthly_discount(annual_rate: float) -> float:
    """Monthly rate equivalent to an annual discount rate."""
    return (1 + annual_rate) ** (1 / 12) - 1
