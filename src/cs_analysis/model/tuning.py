"""Scorecard tuning: the DEAR points scorecard learned from outcomes (``cs-analysis tune-scorecard``).

The tuned scorecard keeps the shape people read: the same dimensions and measures, a few bands
per measure with integer points 0–100, weights that add up to 100 (across dimensions, and across
the measures of each dimension) and level cut-offs. What changes is learned from point-in-time
rows whose outcomes are known by the as-of date, in time order:

1. the observation dates are split: the last third are held out; the scorecard is fitted on the
   dates at least ``horizon_months`` before the first held-out one (their churn windows end before
   it, as in :func:`cs_analysis.model.pipelines.time_folds`);
2. each measure's band edges are chosen among candidates (its current bins and the 5 %…95 %
   quantiles of its values, rounded to values a person writes: whole days and counts, ratios to
   0.01) by an L1 logistic regression on "value ≥ edge" indicators of every measure at once,
   which keeps the edges that change the churn odds (at most four per measure); its strength is
   the best of a few on an inner time split of the fit dates;
3. one L2 logistic regression on every measure's band indicators (and a missing-value indicator)
   gives each band's log-odds; a measure whose direction the current scorecard knows (more is
   healthier, or less) is made monotone by isotonic regression over its bands;
4. points are each band's log-odds rescaled to 0–100 within the measure; a measure's weight is
   proportional to its range of log-odds, so the weighted score is the fitted log-odds rescaled
   (integer rounding keeps the ranking up to ties); dimension weights are the sums of their
   measures';
5. level cut-offs are set so that the levels hold the same shares of the fit rows as the current
   scorecard's levels do, so "how many accounts are 要対応" keeps its meaning.

Both scorecards are then back-tested on the held-out dates (ROC AUC, churn by level), beside a
logistic churn model fitted on the same earlier rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from cs_analysis.config.scorecard import MEASURES, Dimension, Measure, Scorecard
from cs_analysis.config.settings import Settings
from cs_analysis.core.ranking import roc_auc
from cs_analysis.data.dataset import Dataset
from cs_analysis.errors import HistoryError
from cs_analysis.health.review import Backtest, backtest
from cs_analysis.health.scorer import HealthScorer
from cs_analysis.model.features import LABEL, feature_columns
from cs_analysis.model.pipelines import make_pipeline
from cs_analysis.model.training import check_labels, training_rows, usable_features

HELD_OUT_SHARE = 1 / 3  # of the observation dates, the latest
MIN_FIT_DATES = 6
MAX_BANDS = 5  # per measure: still a table a person reads
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)  # L1 strengths tried for the band edges
DEFAULT_C = 0.03  # when the fit dates are too few for an inner split


@dataclass(frozen=True)
class Tuned:
    """The tuned scorecard, how it was fitted and how both scorecards did on the held-out dates."""

    scorecard: Scorecard
    horizon_months: int
    fit_dates: tuple[pd.Timestamp, pd.Timestamp]
    held_out_dates: tuple[pd.Timestamp, pd.Timestamp]
    fit_rows: int
    current: Backtest  # the scorecard in effect (settings), on the held-out dates
    tuned: Backtest
    model_auc: float  # a logistic churn model fitted on the same rows, on the held-out rows
    weights: pd.DataFrame  # measure, dimension, current_share, tuned_share, change, lift, lowest_band


def hundred(values: np.ndarray) -> np.ndarray:
    """Non-negative integers proportional to ``values`` that add up to 100 (largest remainder);
    zeros when every value is 0.

    >>> hundred(np.array([1.0, 1.0, 1.0])).tolist()
    [34, 33, 33]
    """
    values = np.asarray(values, float)
    total = values.sum()
    if total <= 0:
        return np.zeros(len(values), int)
    exact = values / total * 100
    out = np.floor(exact).astype(int)
    order = np.argsort(-(exact - out), kind="stable")
    out[order[: 100 - out.sum()]] += 1
    return out


def _candidates(values: np.ndarray, measure: Measure, unit: str) -> np.ndarray:
    """Candidate band edges of a measure: its current bins and the 5 %, 10 %, … 95 % quantiles
    of its values, rounded as a person writes them (whole days, counts and scores; ratios to
    0.01), inside the values' range."""
    if unit == "flag":
        return np.asarray(measure.bins, float)
    v = values[~np.isnan(values)]
    q = np.quantile(v, np.linspace(0.05, 0.95, 19)) if len(v) else np.array([])
    q = np.round(q) if unit in ("days", "count", "score") else np.round(q, 2)
    c = np.unique(np.concatenate([q, measure.bins]))
    return c[(c > v.min()) & (c <= v.max())] if len(v) else c


def _direction(points: tuple[float, ...]) -> bool | None:
    """True when more of the measure scores more points in ``points``, False when less does,
    None when the bands are not monotone."""
    steps = np.diff(points)
    if (steps >= 0).all() and (steps > 0).any():
        return True
    if (steps <= 0).all() and (steps < 0).any():
        return False
    return None


def band_text(bins: tuple[float, ...], band: int) -> str:
    """The values of band ``band`` of ``bins`` in words (``< 0.3``, ``0.3–0.5``, ``≥ 181``)."""
    def num(x: float) -> str:
        return f"{x:g}"
    if not bins:
        return "all"
    if band == 0:
        return f"< {num(bins[0])}"
    if band == len(bins):
        return f"≥ {num(bins[-1])}"
    return f"{num(bins[band - 1])}–{num(bins[band])}"


def _bands(values: np.ndarray, bins: tuple[float, ...]) -> np.ndarray:
    """Band index of each value, as :meth:`Measure.score` bands it (missing: −1)."""
    return np.where(np.isnan(values), -1, np.digitize(np.nan_to_num(values), bins))


def _effective_shares(card: Scorecard, present: set[str]) -> dict[str, float]:
    """Each present measure's share of the score in % (dimension share × share within it)."""
    dims = [(d, [m for m in d.measures if m.name in present]) for d in card.dimensions]
    dims = [(d, ms) for d, ms in dims if ms and sum(m.weight for m in ms) > 0]
    total = sum(d.weight for d, _ in dims)
    out = {}
    for d, ms in dims:
        inner = sum(m.weight for m in ms)
        for m in ms:
            out[m.name] = 100 * (d.weight / total if total else 0) * m.weight / inner
    return out


def _select_bins(frame: pd.DataFrame, y: np.ndarray, present: list, cands: dict[str, np.ndarray], c: float,
                 max_bands: int, seed: int) -> dict[str, tuple[float, ...]]:
    """Band edges per measure: an L1 logistic regression (strength ``c``) on "value ≥ edge"
    indicators of every candidate edge (and a missing indicator) keeps the edges that change the
    churn odds; at most ``max_bands`` − 1 per measure (the largest steps), the current bins when
    it keeps none."""
    columns, owners = [], []
    for _, m in present:
        v = frame[m.name].to_numpy(dtype=float)
        filled = np.where(np.isnan(v), -np.inf, v)
        for edge in cands[m.name]:
            columns.append(filled >= edge)
            owners.append((m.name, float(edge)))
        columns.append(np.isnan(v))
        owners.append((m.name, None))
    x = np.column_stack(columns).astype(float)
    # liblinear shuffles with random_state: seeded, so the same data gives the same bands
    coef = LogisticRegression(solver="liblinear", l1_ratio=1.0, C=c, max_iter=5000, random_state=seed).fit(x, y).coef_[0]
    bins = {}
    for _, m in present:
        steps = [(abs(w), edge) for (name, edge), w in zip(owners, coef, strict=True)
                 if name == m.name and edge is not None and abs(w) > 1e-6]
        kept = sorted(edge for _, edge in sorted(steps, reverse=True)[: max_bands - 1])
        bins[m.name] = tuple(kept) or m.bins
    return bins


def _band_goodness(frame: pd.DataFrame, y: np.ndarray, present: list,
                   bins: dict[str, tuple[float, ...]]) -> dict[str, tuple[np.ndarray, float | None]]:
    """Per measure, each band's "health" (minus its churn log-odds) and that of a missing value
    (None when no fit row misses it), from one L2 logistic regression on every measure's band
    and missing indicators; the bands monotone (isotonic regression, weighted by band sizes)
    where the current scorecard's points have a direction."""
    columns, owners = [], []
    for _, m in present:
        band = _bands(frame[m.name].to_numpy(dtype=float), bins[m.name])
        for k in [*range(len(bins[m.name]) + 1), -1]:
            columns.append(band == k)
            owners.append((m.name, k))
    x = np.column_stack(columns).astype(float)
    coef = LogisticRegression(C=1.0, max_iter=5000).fit(x, y).coef_[0]
    goodness = {}
    for _, m in present:
        idx = [i for i, (name, k) in enumerate(owners) if name == m.name and k >= 0]
        miss = next(i for i, (name, k) in enumerate(owners) if name == m.name and k < 0)
        g = -coef[idx]
        direction = _direction(m.points)
        if direction is not None and len(g) > 1:
            g = IsotonicRegression(increasing=direction).fit_transform(np.arange(len(g)), g,
                                                                       sample_weight=x[:, idx].sum(axis=0) + 1e-9)
        goodness[m.name] = (g, float(-coef[miss]) if x[:, miss].any() else None)
    return goodness


def _scorecard(card: Scorecard, present: list, bins: dict[str, tuple[float, ...]],
               goodness: dict[str, tuple[np.ndarray, float | None]]) -> Scorecard:
    """``card`` with the learned bands, integer points (each band's health, and a missing
    value's, rescaled to 0–100 within its measure) and integer weights adding up to 100 (a
    measure's proportional to its range of health, a dimension's to its measures' sum), so the
    score is the fitted log-odds rescaled. A measure without data keeps its bands at weight 0
    (its dimension keeps its weights when none of its measures has data)."""
    spans = {}
    for name, (g, miss) in goodness.items():
        values = np.append(g, miss) if miss is not None else g
        spans[name] = (float(values.min()), float(values.max() - values.min()))
    dims = []
    for d in card.dimensions:
        in_dim = [m for m in d.measures if m.name in goodness]
        weights = hundred(np.array([spans[m.name][1] for m in in_dim])) if in_dim else np.array([], int)
        share = dict(zip([m.name for m in in_dim], weights, strict=True))
        measures = []
        for m in d.measures:
            if m.name not in goodness:
                measures.append(dataclasses.replace(m, weight=0.0 if weights.sum() else m.weight))
                continue
            (g, miss), (low, span) = goodness[m.name], spans[m.name]
            if span > 0:
                points = tuple(float(p) for p in np.round(100 * (g - low) / span))
                missing = None if miss is None else float(np.round(100 * (miss - low) / span))
            elif bins[m.name] == m.bins:  # no signal: the bands as they were (at weight 0)
                points, missing = m.points, m.missing
            else:  # no signal on new bands: evenly spaced, in the measure's direction
                even = np.round(np.linspace(0, 100, len(g)))
                points, missing = tuple(float(p) for p in (even[::-1] if _direction(m.points) is False else even)), None
            measures.append(Measure(m.name, float(share[m.name]), bins[m.name], points, missing))
        if not any(mm.weight > 0 for mm in measures):
            measures = [dataclasses.replace(mm, weight=1.0) for mm in measures]
        dims.append((d, tuple(measures), sum(spans[m.name][1] for m in in_dim)))
    dim_weights = hundred(np.array([r for *_, r in dims]))
    return dataclasses.replace(card, dimensions=tuple(
        Dimension(d.name, float(w), ms) for (d, ms, _), w in zip(dims, dim_weights, strict=True)))


def tune_scorecard(dataset: Dataset, settings: Settings, as_of: str | pd.Timestamp, horizon_months: int = 3,
                   seed: int = 0, max_bands: int = MAX_BANDS) -> Tuned:
    """Learn the scorecard's bands, points, weights and level cut-offs from outcomes known by
    ``as_of`` (module docs); a history too short to hold dates out is a :class:`HistoryError`."""
    as_of = pd.Timestamp(as_of).normalize()
    rows = training_rows(dataset, settings, as_of, horizon_months, "tune-scorecard")
    check_labels(rows, as_of, horizon_months, "tune-scorecard")
    dates = np.sort(rows["as_of"].unique())
    n_held = max(3, int(round(len(dates) * HELD_OUT_SHARE)))
    first_held = pd.Timestamp(dates[len(dates) - n_held])
    fit_mask = (rows["as_of"] <= first_held - pd.DateOffset(months=horizon_months)).to_numpy()
    held_mask = (rows["as_of"] >= first_held).to_numpy()
    fit_dates = np.sort(rows.loc[fit_mask, "as_of"].unique())
    if len(fit_dates) < MIN_FIT_DATES:
        raise HistoryError(
            f"tune-scorecard needs at least {MIN_FIT_DATES} month ends to fit on before the held-out dates "
            f"(from {first_held:%Y-%m-%d}, less a {horizon_months}-month gap); the history up to --as-of "
            f"{as_of:%Y-%m-%d} gives {len(fit_dates)}: give a later --as-of or more history")
    fit = rows[fit_mask]
    check_labels(fit, first_held, horizon_months, "tune-scorecard")
    y = fit[LABEL].astype(bool).to_numpy()

    card = settings.health
    present = [(d, m) for d, m in card.measures() if m.name in fit and fit[m.name].notna().any()]
    if not present:
        raise HistoryError("tune-scorecard found no scorecard measure with values in the data")
    cands = {m.name: _candidates(fit[m.name].to_numpy(dtype=float), m, MEASURES[m.name][1]) for _, m in present}

    def build(frame: pd.DataFrame, labels: np.ndarray, c: float) -> Scorecard:
        bins = _select_bins(frame, labels, present, cands, c, max_bands, seed)
        goodness = _band_goodness(frame, labels, present, bins)
        return _scorecard(card, present, bins, goodness)

    # the L1 strength that chooses the band edges: the best of a few on an inner time split of
    # the fit dates (the earlier ones fit, the later ones check; nothing held out is used)
    inner_first = pd.Timestamp(fit_dates[len(fit_dates) - max(2, len(fit_dates) // 3)])
    inner_fit = (fit["as_of"] <= inner_first - pd.DateOffset(months=horizon_months)).to_numpy()
    inner_dates = [pd.Timestamp(d) for d in fit_dates if d >= inner_first]
    strength = DEFAULT_C
    if inner_fit.sum() and 0 < y[inner_fit].sum() < inner_fit.sum():
        scores = {}
        for c in C_GRID:
            trial = build(fit[inner_fit], y[inner_fit], c)
            bt = backtest(HealthScorer(dataset, dataclasses.replace(settings, health=trial)), horizon_months,
                          inner_dates)
            scores[c] = bt.auc if bt.auc == bt.auc else 0.0
        strength = max(C_GRID, key=lambda c: (scores[c], -C_GRID.index(c)))
    tuned_card = build(fit, y, strength)

    # level cut-offs: the current levels' shares of the fit rows, on the tuned score
    current_scores = fit["health_score"].to_numpy(dtype=float)
    shares = [float(np.mean(current_scores[~np.isnan(current_scores)] < c)) for c in card.level_minimums]
    fit_days = [pd.Timestamp(d) for d in fit_dates]
    tuned_scores = HealthScorer(dataset, dataclasses.replace(settings, health=tuned_card)).history(fit_days)["score"]
    tuned_scores = tuned_scores.dropna().to_numpy()
    minimums = []
    for s in shares:
        cut = float(np.ceil(np.quantile(tuned_scores, s))) if len(tuned_scores) else 50.0
        minimums.append(min(98.0, max(cut, (minimums[-1] + 1) if minimums else 1.0)))
    minimums = [min(v, 98.0 + i) for i, v in enumerate(minimums)]
    tuned_card = dataclasses.replace(tuned_card, level_minimums=tuple(minimums))
    tuned_settings = dataclasses.replace(settings, health=tuned_card)

    held_days = [pd.Timestamp(d) for d in np.sort(rows.loc[held_mask, "as_of"].unique())]
    current_bt = backtest(HealthScorer(dataset, settings), horizon_months, held_days)
    tuned_bt = backtest(HealthScorer(dataset, tuned_settings), horizon_months, held_days)

    numeric, categorical = feature_columns(rows)
    numeric, categorical, _ = usable_features(fit, numeric, categorical)
    model = make_pipeline("logistic", numeric, categorical, seed).fit(fit[numeric + categorical], y)
    held = rows[held_mask]
    held_y = held[LABEL].astype(bool).to_numpy()
    model_auc = roc_auc(held_y, model.predict_proba(held[numeric + categorical])[:, 1])

    names = {m.name for _, m in present}
    before, after = _effective_shares(card, names), _effective_shares(tuned_card, names)
    rate = y.mean()
    lifts, lowest = [], []
    for _, m in present:
        tm = next(mm for _, mm in tuned_card.measures() if mm.name == m.name)
        band = _bands(fit[m.name].to_numpy(dtype=float), tm.bins)
        worst = int(np.argmin(tm.points))
        in_worst = band == worst
        lifts.append(float(y[in_worst].mean() / rate) if in_worst.any() and rate > 0 else float("nan"))
        lowest.append(band_text(tm.bins, worst))
    weights = pd.DataFrame({
        "measure": [m.name for _, m in present],
        "dimension": [d.name for d, _ in present],
        "current_share": [before.get(m.name, 0.0) for _, m in present],
        "tuned_share": [after.get(m.name, 0.0) for _, m in present],
        "lift": lifts,
        "lowest_band": lowest,
    })
    weights["change"] = weights["tuned_share"] - weights["current_share"]
    weights = weights.reindex(weights["change"].abs().sort_values(ascending=False, kind="stable").index)
    return Tuned(tuned_card, horizon_months, (pd.Timestamp(fit_dates[0]), pd.Timestamp(fit_dates[-1])),
                 (held_days[0], held_days[-1]), int(len(fit)), current_bt, tuned_bt, model_auc,
                 weights.reset_index(drop=True))
