"""The per-account quantities every KPI formula is built from, as one typed structure.

For a chunk of periods the engine computes one :class:`Quantities` whose arrays are periods ×
accounts (or, for the fields with a leading axis, rows × periods × accounts: one row per month
of the period, or per health level). Summed per segment, the same structure holds periods ×
segments; the KPI formulas of the registry (:mod:`.registry`) read it through :class:`Inputs`.

A per-account field that is a sum over sparse rows (the MRR movements, CS events) may be held
as :class:`~cs_analysis.core.ledger.PeriodRows` instead of a periods × accounts array: it is then
summed per segment from its rows (:meth:`Quantities.sparse`).

A field is None when its table is absent (e.g. no ``nps_responses``): a formula that reads it
is then undefined and its KPI empty, without any check of its own. Adding a KPI over these
quantities is one registry line; a new quantity is one field here and its computation in
``KpiEngine._quantities``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from cs_analysis.core.ledger import PeriodRows

if TYPE_CHECKING:
    from cs_analysis.config.settings import Settings

LEVELS_DESC = (4, 3, 2, 1)  # the row order of ``Quantities.level_end``
MEDIAN = {"reduce": "median"}  # a field reduced per segment by its median, not summed


@dataclass
class Quantities:
    """Per-account (or, after :func:`group`, per-segment summed) quantities of periods."""

    # MRR ledger: accounts active at the period's start / end (MRR > 0) and those churned
    in_start: np.ndarray
    in_end: np.ndarray
    churned: np.ndarray
    mrr_start: np.ndarray
    mrr_end: np.ndarray
    mrr_end_of_start: np.ndarray  # end MRR of the accounts active at the start (NRR)
    min_mrr_of_start: np.ndarray  # min(start, end) MRR of those accounts (GRR)
    new_mrr: np.ndarray | PeriodRows  # the MRR movements summed over the period's months (core.ledger)
    expansion_mrr: np.ndarray | PeriodRows
    contraction_mrr: np.ndarray | PeriodRows
    churned_mrr: np.ndarray | PeriodRows
    reactivation_mrr: np.ndarray | PeriodRows
    is_new: np.ndarray | PeriodRows
    lost_revenue: np.ndarray | PeriodRows  # churned MRR × months left to the fiscal year end
    licenses_start: np.ndarray
    licenses_lost: np.ndarray
    upsell: np.ndarray | PeriodRows  # MRR gained on products held at the start
    cross_sell: np.ndarray | PeriodRows  # MRR of products new to an account active at the start
    upsold: np.ndarray
    cross_sold: np.ndarray
    month_base: np.ndarray  # months × …: active at the start of each month of the period
    month_churned: np.ndarray  # months × …: of those, churned in that month
    # CS activity (None without its table)
    nps_responses: np.ndarray | PeriodRows | None = None
    promoters: np.ndarray | PeriodRows | None = None
    detractors: np.ndarray | PeriodRows | None = None
    tickets_opened: np.ndarray | PeriodRows | None = None
    referral_touchpoints: np.ndarray | PeriodRows | None = None
    objectives_due: np.ndarray | PeriodRows | None = None
    objectives_on_time: np.ndarray | PeriodRows | None = None
    objectives_overdue: np.ndarray | None = None
    referral_candidate: np.ndarray | None = None  # active at the end with a latest NPS of 9–10
    # health at the period's start / end (None without health, or without the rule's data)
    level_end: np.ndarray | None = None  # levels 4, 3, 2, 1 × …
    scored_end: np.ndarray | None = None
    caution_or_action_start: np.ndarray | None = None
    caution_or_action_end: np.ndarray | None = None
    meets_target_end: np.ndarray | None = None
    onboarded_end: np.ndarray | None = None
    onboarding_stuck_end: np.ndarray | None = None
    no_contact_end: np.ndarray | None = None
    days_to_onboard: np.ndarray | None = field(default=None, metadata=MEDIAN)  # onboarded in the period
    # renewals of contracts ending in the period (None without contracts; kpis.renewals)
    renewals_due_contracts: np.ndarray | None = None
    renewals_due_accounts: np.ndarray | None = None
    renewals_due_arr: np.ndarray | None = None
    renewals_known_arr: np.ndarray | None = None  # ARR due whose outcome (the month after) is in the data
    renewed_arr: np.ndarray | None = None
    renewed_arr_capped: np.ndarray | None = None
    early_cancellations: np.ndarray | None = None

    def summed(self) -> list[tuple[str, np.ndarray]]:
        """The present summed fields as (name, rows × periods × n) arrays, in field order."""
        out = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and f.metadata != MEDIAN and not isinstance(value, PeriodRows):
                out.append((f.name, value if value.ndim == 3 else value[None]))
        return out

    def sparse(self) -> list[tuple[str, PeriodRows]]:
        """The present fields held as rows, summed per segment from them, in field order."""
        return [(f.name, v) for f in fields(self) if isinstance(v := getattr(self, f.name), PeriodRows)]

    def medians(self) -> list[tuple[str, np.ndarray]]:
        """The present fields reduced by their median per segment (periods × n)."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)
                if f.metadata == MEDIAN and getattr(self, f.name) is not None]


def stack(parts: list[tuple[str, np.ndarray]], dtype: type, buffers: dict[type, np.ndarray]) -> np.ndarray:
    """``parts`` (see :meth:`Quantities.summed`) as one periods × rows × n array of ``dtype``
    (converted while copied), in the memory of ``buffers[dtype]``, which grows when too small
    (one buffer per dtype, reused from one chunk of periods to the next)."""
    rows = sum(v.shape[0] for _, v in parts)
    n_p, n = parts[0][1].shape[1:]
    size = n_p * rows * n
    if buffers.get(dtype, np.empty(0)).size < size:
        buffers[dtype] = np.empty(size, dtype=dtype)
    x = buffers[dtype][:size].reshape(n_p, rows, n)
    r = 0
    for _, v in parts:
        x[:, r:r + v.shape[0], :] = v.transpose(1, 0, 2)
        r += v.shape[0]
    return x


def unstack(parts: list[tuple[str, np.ndarray]], sums: np.ndarray, template: Quantities) -> dict[str, np.ndarray]:
    """The fields of ``parts`` from their stacked per-segment ``sums`` (periods × rows × k),
    each shaped as in ``template`` (a leading axis only where the field has one)."""
    out, r = {}, 0
    for name, v in parts:
        m = v.shape[0]
        g = sums[:, r:r + m, :].astype(np.float64).transpose(1, 0, 2)
        out[name] = g if getattr(template, name).ndim == 3 else g[0]
        r += m
    return out


def regroup(template: Quantities, values: dict[str, np.ndarray]) -> Quantities:
    """``template`` with every field replaced by ``values`` (absent fields stay None)."""
    return replace(template, **{f.name: values.get(f.name) for f in fields(template)})


class Unavailable(LookupError):
    """A formula read a quantity whose table is absent: its KPI is empty."""


@dataclass
class Inputs:
    """What a KPI formula reads: the per-segment sums (``q``), the KPIs computed before it in
    registry order (``kpi(name)``), the segments' survival lifetimes and the settings."""

    sums: Quantities
    lifetimes: np.ndarray
    settings: Settings
    values: dict[str, np.ndarray]

    def __getattr__(self, name: str) -> np.ndarray:
        value = getattr(self.sums, name)
        if value is None:
            raise Unavailable(name)
        return value

    def kpi(self, name: str) -> np.ndarray:
        return self.values[name]


def rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num ÷ den × 100, NaN where den is 0.

    >>> rate(np.array([1, 0]), np.array([4, 0])).tolist()
    [25.0, nan]
    """
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num * 100.0, den, out=np.full(den.shape, np.nan), where=den != 0)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num ÷ den, NaN where den is not positive."""
    return np.divide(num, den, out=np.full(np.shape(den), np.nan), where=den > 0)


def mean_monthly_rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Mean over the rows (months) of num ÷ den × 100, leaving out the months where den is 0.

    >>> mean_monthly_rate(np.array([[1.0], [0.0], [0.0]]), np.array([[10.0], [10.0], [0.0]])).tolist()
    [5.0]
    """
    sums, months = 0.0, 0.0
    for n, d in zip(num, den, strict=True):
        r = rate(n, d)
        sums = sums + np.nan_to_num(r)
        months = months + ~np.isnan(r)
    return ratio(sums, months)
