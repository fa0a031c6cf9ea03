"""What CS contact does: the effect of a proactive touchpoint on churn (``cs-analysis contact-impact``).

The unit is an account × month: *touched* when the account had a proactive touchpoint in the
month, *untouched* otherwise. Both are described by their point-in-time signals at the end of
the month before (so nothing the touch itself changed, such as the days since the last contact,
enters the comparison) and followed by churn in the ``horizon_months`` after the month's end.

1. A propensity model (the churn model's logistic pipeline, scikit-learn) gives each
   account-month's probability of a proactive touch from those signals.
2. Each touched account-month is matched to the untouched account-month of the **same month**
   (and segment, with ``by``) nearest in the logit of that probability, with replacement, within
   a caliper of 0.2 standard deviations of the logit; touched ones without a match within the
   caliper are left out (and counted).
3. The effect is the mean, over the pairs, of the touched account's churn minus its match's:
   the average effect on churn probability among the touched (ATT), in probability points
   (−0.005 = half a percentage point less churn). Its 95 % interval comes from a bootstrap that
   draws accounts with replacement (all their account-months together, touched or not) and
   matches again on the drawn rows (300 draws, seeded).
4. Balance: each signal's standardised mean difference between touched and untouched before
   matching and between touched and their matches after it (|SMD| < 0.1 is the usual bar).

Only outcomes known by the as-of date are used: a month counts when its churn window ends by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cs_analysis.config.settings import Settings
from cs_analysis.data.dataset import Dataset
from cs_analysis.errors import DataError, HistoryError
from cs_analysis.health.scorer import month_ends
from cs_analysis.model.features import LABEL, FeatureBuilder, feature_columns
from cs_analysis.model.pipelines import make_pipeline
from cs_analysis.model.training import usable_features

CALIPER_SD = 0.2
BOOTSTRAP = 300
MIN_PAIRS = 20
BALANCE_NOT_USED = ("days_since_signup",)  # the same information as tenure, in days


@dataclass(frozen=True)
class Estimate:
    """One effect estimate (all accounts, or one segment)."""

    effect: float  # touched churn − matched untouched churn, in probability (ATT)
    ci_low: float
    ci_high: float
    pairs: int
    touched: int  # touched account-months considered
    unmatched: int  # touched account-months without an untouched one within the caliper
    churn_touched: float
    churn_matched: float

    def as_dict(self) -> dict[str, float | int | None]:
        """The fields, an undefined number (too few pairs) as None (JSON null)."""
        return {k: _plain(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Impact:
    """The estimate, its balance diagnostics and (with ``by``) one estimate per segment."""

    overall: Estimate
    horizon_months: int
    months: tuple[str, str]  # first and last month of the account-months compared
    balance: pd.DataFrame  # covariate, smd_before, smd_after
    by: str | None = None
    segments: dict[str, Estimate] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict) -> Impact:
        """An :class:`Impact` back from :meth:`as_dict` (a report run's cache)."""
        fields = [f for f in Estimate.__dataclass_fields__]

        def estimate(d: dict) -> Estimate:
            return Estimate(**{f: float("nan") if d[f] is None else d[f] for f in fields})

        balance = pd.DataFrame(raw["balance"], columns=["covariate", "smd_before", "smd_after"])
        segments = {s["segment"]: estimate(s) for s in raw.get("segments", [])}
        return cls(estimate(raw), raw["horizon_months"], tuple(raw["months"]), balance, raw.get("by"), segments)

    def as_dict(self) -> dict[str, object]:
        """The JSON form: ``effect``, ``ci_low``, ``ci_high``, ``pairs`` and the rest, with the
        balance table and the segments where asked."""
        out: dict[str, object] = {**self.overall.as_dict(), "horizon_months": self.horizon_months,
                                  "months": list(self.months),
                                  "balance": [{k: _plain(v) for k, v in r.items()}
                                              for r in self.balance.to_dict(orient="records")]}
        if self.by is not None:
            out["by"] = self.by
            out["segments"] = [{"segment": s, **e.as_dict()} for s, e in self.segments.items()]
        return out


def _plain(value: object) -> object:
    """A number for JSON: NaN as None, numpy scalars as Python ones."""
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _account_months(dataset: Dataset, settings: Settings, as_of: pd.Timestamp, horizon_months: int) -> pd.DataFrame:
    """Signals at the end of month m−1 (features), touched in month m, churn within H months
    after month m's end (``churned``), for every account billed in both months whose outcome is
    known by ``as_of``."""
    if dataset.touchpoints is None or "kind" not in dataset.touchpoints:
        raise DataError("contact-impact needs the touchpoints table with its kind column (proactive, reactive, "
                        "referral): a proactive touchpoint is the treatment whose effect it estimates")
    builder = FeatureBuilder(dataset, settings, horizon_months)
    months = builder.scorer.signals.cube.months
    last = min(pd.Period(as_of, "M"), months[-1]) - horizon_months  # month m: its window ends by as_of
    if last < months[1] + 1:
        raise HistoryError(
            f"contact-impact needs months whose {horizon_months}-month churn window ends by --as-of "
            f"{as_of:%Y-%m-%d}, each with the month before it; the data covers {months[0]}..{months[-1]}")
    ends = month_ends(months[1], last)  # m−1 from months[1], m up to last
    rows = builder.build(ends)
    before = rows.drop(columns=[LABEL]).assign(month=rows["as_of"].dt.to_period("M") + 1)
    after = rows[["account_id", "as_of", LABEL]].assign(month=rows["as_of"].dt.to_period("M"))
    frame = before.merge(after.drop(columns="as_of"), on=["account_id", "month"], how="inner")
    frame = frame[frame[LABEL].notna()]
    touch = dataset.touchpoints
    pro = touch[touch["kind"] == "proactive"]
    touched = pd.DataFrame({"account_id": pro["account_id"], "month": pro["date"].dt.to_period("M")}).drop_duplicates()
    frame = frame.merge(touched.assign(touched=True), on=["account_id", "month"], how="left")
    frame["touched"] = frame["touched"].fillna(False).astype(bool)
    return frame.reset_index(drop=True)


def _match(logit: np.ndarray, treated: np.ndarray, strata: np.ndarray, caliper: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (treated, control) of nearest-neighbour matches on ``logit`` within each stratum
    (integer codes), with replacement, within ``caliper``; controls equally near (ties, common
    when signals are coarse) are chosen among at random, so that one control does not stand in
    for all. One sorted search over keys that order the controls by stratum, then logit."""
    controls, cases = np.flatnonzero(~treated), np.flatnonzero(treated)
    if not len(controls) or not len(cases):
        return np.array([], int), np.array([], int)
    low = float(logit.min())
    span = float(logit.max()) - low + 1.0
    key = strata * span + (logit - low)
    cs = controls[np.argsort(key[controls], kind="stable")]
    ck = key[cs]
    pos = np.searchsorted(ck, key[cases])
    best = np.full(len(cases), np.inf)
    for side in (np.clip(pos - 1, 0, len(cs) - 1), np.clip(pos, 0, len(cs) - 1)):
        gap = np.where(strata[cs[side]] == strata[cases], np.abs(ck[side] - key[cases]), np.inf)
        best = np.minimum(best, gap)
    ok = best <= caliper
    tie = 1e-9 * span
    lo = np.searchsorted(ck, key[cases][ok] - best[ok] - tie, side="left")
    hi = np.searchsorted(ck, key[cases][ok] + best[ok] + tie, side="right")
    pick = lo + (rng.random(len(lo)) * (hi - lo)).astype(int)
    # the window [lo, hi) spans the nearest distance on both sides: keep a pick in the stratum
    same = strata[cs[np.minimum(pick, len(cs) - 1)]] == strata[cases][ok]
    return cases[ok][same], cs[pick[same]]


def _effects(y: np.ndarray, t_idx: np.ndarray, c_idx: np.ndarray, labels: np.ndarray,
             n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per label (of the treated row): mean churn difference over the pairs, and the pairs."""
    lab = labels[t_idx]
    pairs = np.bincount(lab, minlength=n_labels)
    sums = np.bincount(lab, weights=y[t_idx] - y[c_idx], minlength=n_labels)
    return np.divide(sums, pairs, out=np.full(n_labels, np.nan), where=pairs > 0), pairs


def _estimates(y: np.ndarray, logit: np.ndarray, treated: np.ndarray, strata: np.ndarray, labels: np.ndarray,
               accounts: np.ndarray, caliper: float, seed: int) -> list[Estimate]:
    """One estimate per label (0 … max): the matched effect, and its 95 % interval from a
    bootstrap that draws accounts with replacement (all their account-months together, touched
    or not) and matches again on the drawn rows."""
    n_labels = int(labels.max()) + 1
    rng = np.random.default_rng(seed)
    t_idx, c_idx = _match(logit, treated, strata, caliper, rng)
    effect, pairs = _effects(y, t_idx, c_idx, labels, n_labels)
    n_acc = int(accounts.max()) + 1
    boot = np.empty((BOOTSTRAP, n_labels))
    for b in range(BOOTSTRAP):  # a loop over draws; each draw is vectorised
        rows = np.repeat(np.arange(len(y)), rng.multinomial(n_acc, np.full(n_acc, 1 / n_acc))[accounts])
        bt, bc = _match(logit[rows], treated[rows], strata[rows], caliper, rng)
        boot[b] = _effects(y[rows], bt, bc, labels[rows], n_labels)[0]
    out = []
    for k in range(n_labels):
        here = treated & (labels == k)
        if pairs[k] < MIN_PAIRS:
            nan = float("nan")
            out.append(Estimate(nan, nan, nan, int(pairs[k]), int(here.sum()), int(here.sum() - pairs[k]), nan, nan))
            continue
        low, high = np.nanquantile(boot[:, k], [0.025, 0.975])
        mine = labels[t_idx] == k
        out.append(Estimate(float(effect[k]), float(low), float(high), int(pairs[k]), int(here.sum()),
                            int(here.sum() - pairs[k]), float(y[t_idx[mine]].mean()), float(y[c_idx[mine]].mean())))
    return out


def _smd(x: pd.DataFrame, a: np.ndarray, b: np.ndarray) -> pd.Series:
    """Standardised mean differences of ``x``'s columns between rows ``a`` and rows ``b``."""
    xa, xb = x.iloc[a], x.iloc[b]
    pooled = np.sqrt((xa.var() + xb.var()) / 2)
    return ((xa.mean() - xb.mean()) / pooled.where(pooled > 0)).astype(float)


def contact_impact(dataset: Dataset, settings: Settings, as_of: str | pd.Timestamp, horizon_months: int = 3,
                   by: str | None = None, seed: int = 0) -> Impact:
    """Estimate the effect of a proactive touchpoint on churn within ``horizon_months`` (module
    docs), overall and per ``by`` segment (a column of the point-in-time rows, e.g. size or
    touch_tier, or of the accounts table)."""
    as_of = pd.Timestamp(as_of).normalize()
    frame = _account_months(dataset, settings, as_of, horizon_months)
    treated = frame["touched"].to_numpy()
    if treated.sum() < MIN_PAIRS or (~treated).sum() < MIN_PAIRS:
        raise HistoryError(f"contact-impact needs at least {MIN_PAIRS} account-months with a proactive touchpoint "
                           f"and {MIN_PAIRS} without one up to --as-of {as_of:%Y-%m-%d}; the data has "
                           f"{int(treated.sum())} and {int((~treated).sum())}")
    numeric, categorical = feature_columns(frame.drop(columns=["month", "touched"]))
    numeric = [c for c in numeric if c not in BALANCE_NOT_USED]
    numeric, categorical, _ = usable_features(frame, numeric, categorical)
    x = frame[numeric + categorical]
    model = make_pipeline("logistic", numeric, categorical, seed).fit(x, treated)
    p = np.clip(model.predict_proba(x)[:, 1], 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p))
    caliper = CALIPER_SD * float(logit.std())
    y = frame[LABEL].to_numpy(dtype=float)
    accounts = np.unique(frame["account_id"].to_numpy(), return_inverse=True)[1]
    month = np.unique(frame["month"].astype(str).to_numpy(), return_inverse=True)[1]
    (overall,) = _estimates(y, logit, treated, month, np.zeros(len(y), int), accounts, caliper, seed)
    pairs_t, pairs_c = _match(logit, treated, month, caliper, np.random.default_rng(seed))
    numbers = frame[numeric].astype(float)
    balance = pd.DataFrame({"smd_before": _smd(numbers, np.flatnonzero(treated), np.flatnonzero(~treated)),
                            "smd_after": _smd(numbers, pairs_t, pairs_c)})
    balance = balance.rename_axis("covariate").reset_index()
    balance = balance.reindex(balance["smd_before"].abs().sort_values(ascending=False, kind="stable").index)
    segments: dict[str, Estimate] = {}
    if by is not None:
        if by in frame:
            seg = frame[by]
        else:
            acc = dataset.accounts.set_index("account_id")
            if by not in acc:
                raise DataError(f"contact-impact --by {by}: no such column (size, touch_tier or a column of accounts: "
                                f"{', '.join(c for c in acc.columns if c != 'name')})")
            seg = frame["account_id"].map(acc[by])
        names, codes = np.unique(seg.astype("string").fillna("(none)").to_numpy(dtype=str), return_inverse=True)
        strata = month * len(names) + codes  # matched within the month and the segment
        found = _estimates(y, logit, treated, strata, codes, accounts, caliper, seed)
        segments = {str(n): e for n, e in zip(names, found, strict=True)}
    months = frame["month"]
    return Impact(overall, horizon_months, (str(months.min()), str(months.max())), balance.reset_index(drop=True),
                  by, segments)
