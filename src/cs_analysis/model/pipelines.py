"""Churn-risk models: scikit-learn Pipelines, time-ordered backtests, calibration, metrics.

Two candidates, everything fitted inside a Pipeline: a regularised logistic regression on
imputed, scaled features (explainable) and a HistGradientBoostingClassifier. In the
time-ordered backtest each candidate is fitted once per fold; its probabilities on the fold are
recalibrated by a sigmoid fitted on the earlier folds' predictions whose outcomes were known by
the fold's cutoff (the first fold's stay as they are), so no fit is spent on calibration there.
The candidate with the best mean ROC AUC over the folds is refitted on every labelled row,
wrapped in sigmoid calibration fitted on out-of-fold predictions within those rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from cs_analysis.errors import HistoryError, ModelError

CANDIDATES = ("logistic", "gradient_boosting")
LOGISTIC_C = 0.3
N_FOLDS = 3  # time-ordered backtest folds
MIN_TRAIN_DATES = 6  # observation dates the first fold trains on
CALIBRATION_FOLDS = 3
MIN_CLASS_ROWS = 10  # churned and retained rows needed to train at all


def min_observation_dates(horizon_months: int, n_folds: int = N_FOLDS) -> int:
    """Observation dates (month ends with complete labels) a time-ordered backtest needs."""
    return MIN_TRAIN_DATES + horizon_months + n_folds


def make_pipeline(kind: str, numeric: Sequence[str], categorical: Sequence[str], seed: int = 0) -> Pipeline:
    """An unfitted pipeline of the given kind over these columns."""
    if kind == "logistic":
        prep = ColumnTransformer([
            ("num", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True,
                                                       keep_empty_features=True)),
                              ("scale", StandardScaler())]), list(numeric)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(categorical)),
        ])
        return Pipeline([("prep", prep), ("model", LogisticRegression(C=LOGISTIC_C, solver="newton-cholesky", max_iter=200))])
    if kind == "gradient_boosting":
        prep = ColumnTransformer([
            ("num", "passthrough", list(numeric)),
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                   encoded_missing_value=np.nan), list(categorical)),
        ])
        n_num = len(numeric)
        model = HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=200, max_leaf_nodes=15, min_samples_leaf=50,
            l2_regularization=1.0, early_stopping=False, random_state=seed,
            categorical_features=list(range(n_num, n_num + len(categorical))) or None)
        return Pipeline([("prep", prep), ("model", model)])
    raise ModelError(f"unknown model kind {kind!r}; use {', '.join(CANDIDATES)}")


def calibrated(kind: str, numeric: Sequence[str], categorical: Sequence[str], seed: int = 0) -> CalibratedClassifierCV:
    """The pipeline with sigmoid calibration: one calibrator fitted on 3-fold out-of-fold
    predictions within the training rows, the pipeline itself refitted on all of them (so the
    ranking — ROC AUC — is the pipeline's own)."""
    cv = StratifiedKFold(n_splits=CALIBRATION_FOLDS, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(make_pipeline(kind, numeric, categorical, seed), method="sigmoid",
                                  cv=cv, ensemble=False)


def platt(p: np.ndarray, past_p: np.ndarray, past_y: np.ndarray) -> np.ndarray:
    """``p`` recalibrated by a sigmoid (Platt scaling on the logit) fitted on earlier
    predictions ``past_p`` and what followed them ``past_y``; ``p`` as it is when the past holds
    fewer than two of either outcome.

    >>> platt(np.array([0.2]), np.array([0.2, 0.2, 0.2, 0.2]), np.array([0, 0, 1, 1])).round(2).tolist()
    [0.5]
    """
    past_y = np.asarray(past_y).astype(bool)
    if past_y.sum() < 2 or (~past_y).sum() < 2:
        return p

    def logit(q: np.ndarray) -> np.ndarray:
        q = np.clip(np.asarray(q, float), 1e-6, 1 - 1e-6)
        return np.log(q / (1 - q))[:, None]

    sigmoid = LogisticRegression(C=1e6, max_iter=1000).fit(logit(past_p), past_y)
    return sigmoid.predict_proba(logit(p))[:, 1]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Σ over equal-count bins of (bin share) × |mean predicted − observed rate|."""
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, bins)
    return float(sum(len(g) / len(p) * abs(p[g].mean() - y[g].mean()) for g in groups if len(g)))


def capture(y: np.ndarray, risk: np.ndarray, top: float = 0.10) -> float:
    """Share of all churners found among the ``top`` share of rows ranked by risk."""
    n = max(1, int(round(len(risk) * top)))
    riskiest = np.argsort(-risk, kind="stable")[:n]
    return float(y[riskiest].sum() / max(1, y.sum()))


def metrics(y: np.ndarray, risk: np.ndarray, probability: bool = True) -> dict[str, float]:
    """ROC AUC, PR AUC, capture of churners in the riskiest 10 %, lift; Brier and expected
    calibration error when ``risk`` is a probability."""
    y = np.asarray(y, bool)
    both = y.any() and not y.all()
    out = {
        "roc_auc": float(roc_auc_score(y, risk)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, risk)) if both else float("nan"),
        "top10_capture": capture(y, risk),
        "rows": int(len(y)),
        "churn_rate": float(y.mean()) if len(y) else float("nan"),
    }
    out["lift_top10"] = out["top10_capture"] / 0.10
    if probability:
        out["brier"] = float(brier_score_loss(y, risk))
        out["ece"] = expected_calibration_error(y.astype(float), np.asarray(risk, float))
    return out


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Observed churn rate against mean predicted probability, in equal-count bins."""
    observed, predicted = calibration_curve(np.asarray(y, int), p, n_bins=bins, strategy="quantile")
    return pd.DataFrame({"predicted": predicted, "observed": observed})


@dataclass
class Backtest:
    """Per-fold and pooled metrics of each candidate, the health-score baseline and (demo data
    only) the oracle; ``predictions`` holds every test row's probabilities."""

    folds: pd.DataFrame
    overall: pd.DataFrame
    predictions: pd.DataFrame
    chosen: str
    horizon_months: int
    cutoffs: list[pd.Timestamp] = field(default_factory=list)


def time_folds(dates: pd.Series, horizon_months: int, n_folds: int = N_FOLDS,
               min_train_dates: int = MIN_TRAIN_DATES) -> list[tuple[pd.Timestamp, np.ndarray, np.ndarray]]:
    """(cutoff, train mask, test mask) for time-ordered folds: train on observation dates at
    least ``horizon_months`` before the cutoff (labels never overlap the test window), test on
    dates from the cutoff up to the next one. Too few dates is a :class:`HistoryError`."""
    unique = np.sort(dates.unique())
    need = min_train_dates + horizon_months + n_folds
    if len(unique) < need:
        span = f" ({pd.Timestamp(unique[0]):%Y-%m-%d}..{pd.Timestamp(unique[-1]):%Y-%m-%d})" if len(unique) else ""
        raise HistoryError(
            f"the time-ordered backtest needs at least {need} month ends with complete labels "
            f"({min_train_dates} to train on, a {horizon_months}-month gap, {n_folds} test folds); "
            f"the history gives {len(unique)}{span}: it needs {need + horizon_months + 1} months of data "
            "before the training date")
    start = len(unique) // 2
    cut_idx = np.linspace(start, len(unique) - 1, n_folds + 1).astype(int)[:-1]
    cutoffs = [pd.Timestamp(unique[i]) for i in cut_idx]
    folds = []
    for k, cutoff in enumerate(cutoffs):
        end = cutoffs[k + 1] if k + 1 < len(cutoffs) else pd.Timestamp.max
        train = (dates <= cutoff - pd.DateOffset(months=horizon_months)).to_numpy()
        test = ((dates >= cutoff) & (dates < end)).to_numpy()
        folds.append((cutoff, train, test))
    return folds


def backtest(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str],
             horizon_months: int, label: str = "churned", baseline: str | None = "health_score",
             oracle: str | None = None, seed: int = 0, n_folds: int = 3) -> Backtest:
    """Time-ordered backtest of every candidate on labelled rows of ``frame`` (sorted by as_of).

    ``baseline``: a column where lower means riskier (the health score); ``oracle``: a column of
    true churn probabilities (demo data), both evaluated on the same test rows.
    """
    frame = frame.sort_values("as_of", kind="stable").reset_index(drop=True)
    y = frame[label].to_numpy().astype(bool)
    x = frame[list(numeric) + list(categorical)]
    rows, preds = [], []
    folds = time_folds(frame["as_of"], horizon_months, n_folds)
    for cutoff, train, test in folds:
        churned, stayed = int(y[train].sum()), int((~y[train]).sum())
        if min(churned, stayed) < CALIBRATION_FOLDS:
            raise HistoryError(
                f"the backtest fold at {cutoff:%Y-%m-%d} trains on {churned} churned and {stayed} retained "
                f"observations; each needs at least {CALIBRATION_FOLDS}: the history before it has too few "
                "churns to backtest a model")
        fold_pred = pd.DataFrame({"as_of": frame["as_of"][test], "churned": y[test], "cutoff": cutoff})
        for column in ("account_id", "mrr"):  # for the forecast's own backtest (model.forecast)
            if column in frame:
                fold_pred[column] = frame[column][test].to_numpy()
        # the calibration fold k's probabilities may learn from: earlier test rows whose labels
        # were known at its cutoff (dated at least horizon_months before it)
        known = (pd.concat(preds, ignore_index=True) if preds else None)
        if known is not None:
            known = known[known["as_of"] <= cutoff - pd.DateOffset(months=horizon_months)]
        for kind in CANDIDATES:
            model = make_pipeline(kind, numeric, categorical, seed).fit(x[train], y[train])
            raw = model.predict_proba(x[test])[:, 1]
            fold_pred[f"{kind}_raw"] = raw
            p = platt(raw, known[f"{kind}_raw"].to_numpy(), known["churned"].to_numpy()) if known is not None else raw
            fold_pred[kind] = p
            rows.append({"cutoff": cutoff, "model": kind, **metrics(y[test], p)})
        if baseline:
            risk = -frame[baseline][test].fillna(frame[baseline].median()).to_numpy()
            fold_pred["baseline"] = risk
            rows.append({"cutoff": cutoff, "model": f"baseline:{baseline}", **metrics(y[test], risk, False)})
        if oracle:
            fold_pred["oracle"] = frame[oracle][test].to_numpy()
            rows.append({"cutoff": cutoff, "model": "oracle", **metrics(y[test], fold_pred["oracle"].to_numpy())})
        preds.append(fold_pred)
    folds_table = pd.DataFrame(rows)
    predictions = pd.concat(preds, ignore_index=True)
    overall = []
    for model_name in folds_table["model"].unique():
        column = {"baseline:" + str(baseline): "baseline"}.get(model_name, model_name)
        overall.append({"model": model_name, **metrics(predictions["churned"].to_numpy(),
                                                       predictions[column].to_numpy(),
                                                       not model_name.startswith("baseline"))})
    overall_table = pd.DataFrame(overall)
    mean_auc = folds_table[folds_table["model"].isin(CANDIDATES)].groupby("model")["roc_auc"].mean()
    if mean_auc.isna().all():
        raise HistoryError("no backtest test window holds both churned and retained accounts, so the "
                           "candidates cannot be compared: a longer history with churn in its later months is needed")
    return Backtest(folds_table, overall_table, predictions, str(mean_auc.idxmax()), horizon_months,
                    [f[0] for f in folds])
