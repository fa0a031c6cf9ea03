"""Churn-risk models: scikit-learn Pipelines, time-ordered backtests, calibration, metrics.

Two candidates, everything fitted inside a Pipeline: a regularised logistic regression on
imputed, scaled features (explainable) and a HistGradientBoostingClassifier, compared only when
the training folds hold enough churns per feature for it (:func:`eligible`). In the
time-ordered backtest each candidate is fitted once per fold (a :func:`race`: fits run in
parallel, and a candidate clearly behind after a fold is not fitted on the later ones); its
probabilities on the fold are recalibrated by a sigmoid fitted on the earlier folds' predictions
whose outcomes were known by the fold's cutoff (the first fold's stay as they are), so no fit is
spent on calibration. The candidate with the best mean ROC AUC over the folds is fitted once on
every labelled row, its probabilities a sigmoid of its decision values fitted on its backtest
(out-of-time) decision values (:class:`~cs_analysis.model.calibration.SigmoidCalibrated`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import rankdata
from sklearn.calibration import calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from cs_analysis.config.machine import usable_cores
from cs_analysis.core.ranking import average_precision, roc_auc
from cs_analysis.errors import HistoryError, ModelError
from cs_analysis.model.artefact import CANDIDATES
from cs_analysis.model.calibration import SigmoidCalibrated, sigmoid_fit
from cs_analysis.model.drivers import typical_account
from cs_analysis.model.impute import MedianImputer

LOGISTIC_C = 0.3
N_FOLDS = 3  # time-ordered backtest folds
MIN_TRAIN_DATES = 6  # observation dates the first fold trains on
MIN_FOLD_ROWS = 3  # churned and retained rows each backtest fold needs to train on
MIN_CLASS_ROWS = 10  # churned and retained rows needed to train at all
Z_DROP = 1.96  # a candidate this many standard errors behind the leader's ROC AUC leaves the race
MIN_RACE_ROWS = 20  # churned and retained test rows before a candidate may leave it
EXCLUSIVE = {"gradient_boosting"}  # its fit on every row runs alone, on every thread (race)
# Events (rows of the rarer outcome) per feature column a candidate needs in the smallest training
# fold to be compared at all. Flexible learners are data hungry: in van der Ploeg, Austin and
# Steyerberg (2014, BMC Med Res Methodol 14:137) logistic regression reached a stable ROC AUC at
# 20-50 events per variable, while tree ensembles (random forests), SVMs and neural nets were
# still unstable and optimistic beyond 200. Below this, gradient boosting is not fitted (it lost
# every race on such data here: after its first fold on the 1k, 3k and 10k demos and the Telco table).
MIN_EVENTS_PER_FEATURE = {"logistic": 0, "gradient_boosting": 200}


def min_observation_dates(horizon_months: int, n_folds: int = N_FOLDS) -> int:
    """Observation dates (month ends with complete labels) a time-ordered backtest needs."""
    return MIN_TRAIN_DATES + horizon_months + n_folds


def eligible(y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], n_features: int
             ) -> tuple[list[str], dict[str, str]]:
    """The candidates the data can train (:data:`MIN_EVENTS_PER_FEATURE`, counted in the
    training fold with the fewest events: the rarer outcome's rows) and why each other one is
    not compared, in words.

    >>> y = np.array([True] * 30 + [False] * 970)
    >>> eligible(y, [(np.arange(1000), np.arange(0))], 2)[0]
    ['logistic']
    """
    y = np.asarray(y, bool)
    events = min(min(int(y[train].sum()), int((~y[train]).sum())) for train, _ in folds)
    per_feature = events / max(n_features, 1)
    chosen, why = [], {}
    for kind in CANDIDATES:
        need = MIN_EVENTS_PER_FEATURE[kind]
        if per_feature >= need:
            chosen.append(kind)
        else:
            why[kind] = (f"{kind} was not compared: its smallest training fold holds {events:,} rows of the rarer "
                         f"outcome for {n_features} features ({per_feature:.1f} per feature), and it needs about "
                         f"{need} per feature to be stable (flexible learners are data hungry; logistic regression "
                         "needs 20-50)")
    return chosen, why


def make_pipeline(kind: str, numeric: Sequence[str] | Sequence[int], categorical: Sequence[str] | Sequence[int],
                  seed: int = 0) -> Pipeline:
    """An unfitted pipeline of the given kind over these columns (names of a frame's columns, or
    positions in a matrix: the race's fold fits)."""
    if kind == "logistic":
        prep = ColumnTransformer([
            ("num", Pipeline([("impute", MedianImputer(add_indicator=True, keep_empty_features=True)),
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
            learning_rate=0.1, max_iter=100, max_leaf_nodes=15, min_samples_leaf=50,
            l2_regularization=1.0, early_stopping=False, random_state=seed,
            categorical_features=list(range(n_num, n_num + len(categorical))) or None)
        return Pipeline([("prep", prep), ("model", model)])
    raise ModelError(f"unknown model kind {kind!r}; use {', '.join(CANDIDATES)}")


def platt(scores: np.ndarray, past_scores: np.ndarray, past_y: np.ndarray) -> np.ndarray:
    """Probabilities of decision values ``scores`` by a sigmoid (Platt scaling) fitted on earlier
    decision values ``past_scores`` and what followed them ``past_y``; the model's own sigmoid
    (expit) when the past holds fewer than two of either outcome.

    >>> platt(np.array([-1.4]), np.array([-1.4, -1.4, -1.4, -1.4]), np.array([0, 0, 1, 1])).round(2).tolist()
    [0.5]
    """
    fitted = sigmoid_fit(past_scores, past_y)
    slope, intercept = fitted or (1.0, 0.0)
    return expit(slope * np.asarray(scores, float) + intercept)


def auc_difference_z(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """DeLong's z statistic of ROC AUC(a) − ROC AUC(b) for two scores of the same rows: the
    difference over its standard error (0 when the scores rank the rows alike).

    >>> y = np.array([0, 0, 0, 1, 1, 1] * 20)
    >>> good, poor = y + np.tile(np.linspace(0, 0.9, 6), 20), np.tile(np.arange(6.0), 20) % 4
    >>> round(auc_difference_z(y, good, poor), 2) > 1.96, auc_difference_z(y, good, good)
    (True, 0.0)
    """
    y = np.asarray(y, bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        return 0.0
    v10, v01 = [], []
    for s in (np.asarray(a, float), np.asarray(b, float)):
        ranks = rankdata(s)
        v10.append((ranks[y] - rankdata(s[y])) / n)  # per churner: share of the others ranked below it
        v01.append(1 - (ranks[~y] - rankdata(s[~y])) / m)  # per other row: share of churners above it
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    diff = v10[0].mean() - v10[1].mean()
    return float(diff / np.sqrt(var)) if var > 1e-15 else 0.0


def ranked_categories(x: pd.DataFrame, categorical: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``x`` with its categorical columns as Python objects (what the encoders of a pipeline
    that is kept see, as when it scores) and ``x`` with each categorical column replaced by its
    values' ranks among the column's distinct values in sorted order (0.0, 1.0, …; missing stays
    NaN), as floats: both from one factorisation per column (the objects are its few distinct
    values taken per row, equal to ``astype(object)``'s, without converting every cell).

    The encoders sort a column's categories and treat a missing value as the last one, so a
    pipeline fitted on the ranks builds the very same design matrix as one fitted on the text:
    the same one-hot columns in the same order (logistic), the same ordinal codes (gradient
    boosting), unseen values ignored alike; its decision values are identical (tested). Encoding
    numbers costs a fraction of encoding text (a hash of Python strings per cell), so the race's
    fold fits take the ranks; the pipelines that are kept (fitted on every row) take the text
    they will be given when scoring.

    >>> text, ranks = ranked_categories(pd.DataFrame({"tier": ["low", "high", None, "low"]}), ["tier"])
    >>> text["tier"].tolist(), ranks["tier"].tolist()
    (['low', 'high', nan, 'low'], [1.0, 0.0, nan, 1.0])
    """
    objects, ranks = {}, {}
    for column in categorical:
        codes, distinct = pd.factorize(x[column], sort=True)
        lookup = np.empty(len(distinct) + 1, dtype=object)  # the last one for code −1 (missing)
        lookup[:-1] = pd.Series(distinct, dtype=x[column].dtype).astype(object).to_numpy()
        missing = codes < 0
        if missing.any():
            lookup[-1] = x[column].iloc[int(np.argmax(missing))]
        objects[column] = pd.Series(lookup[codes], index=x.index, dtype=object)  # not inferred as text again
        ranks[column] = np.where(missing, np.nan, codes.astype(float))
    return x.assign(**objects), x.assign(**ranks)


@dataclass
class Race:
    """The candidates' out-of-sample decision values on each fold's test rows (None for the
    folds after a candidate left the race), why each that left did, the chosen candidate and
    the pipelines fitted on every row (the chosen one and, always, the logistic one, with its
    :func:`~cs_analysis.model.drivers.transformed_means`)."""

    scores: dict[str, list[np.ndarray | None]]
    left: dict[str, str]
    chosen: str
    full: dict[str, Pipeline]
    explainer_means: np.ndarray  # the logistic pipeline's transformed means over every row


def race(x: pd.DataFrame, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
         numeric: Sequence[str], categorical: Sequence[str], seed: int = 0,
         threads: int | None = None) -> Race:
    """Fit every candidate on each fold's training rows (``folds``: pairs of row indices, train
    and test) and score its test rows, and fit the chosen one on every row, with at most
    ``threads`` fits at once on one BLAS/OpenMP thread each; a gradient-boosting fit on every
    row runs alone, on ``threads`` OpenMP threads (the numbers do not depend on the machine's
    cores).

    A candidate the data cannot train (:func:`eligible`: too few churns per feature) is not
    fitted at all; with one candidate left, the largest fits start first. The fold fits learn
    from the categories' ranks (:func:`ranked_categories`), in one float matrix whose columns
    are taken by position: identical decision values (tested).

    After each fold, a candidate whose ROC AUC on the test rows so far trails the leader's by
    :data:`Z_DROP` standard errors or more (DeLong) leaves the race: it is not fitted on later
    folds. Only the leader's fits on a later fold start before the earlier folds are decided
    (no fit is spent on a candidate that may leave). The chosen candidate has the best mean ROC
    AUC over the folds among those left. The pipeline on every row starts as soon as the choice
    is known; the logistic one (the model, or the explainer behind the drivers) starts after the
    first fold's fits.

    The results depend only on the data and ``seed``: fits are independent and decisions are
    taken fold by fold, in order, whatever order the fits finish in.
    """
    threads = threads or usable_cores()
    # text columns as object arrays once (each fit's encoders would convert Arrow strings again),
    # and as ranks for the fold fits: the same numbers, cheaper; the fold fits take them as one
    # float matrix with the columns by position (a frame costs each of scikit-learn's dozens of
    # input checks per fit a dataframe inspection that holds the GIL: 20-30 % of a small fit)
    x, coded = ranked_categories(x, categorical)
    columns = [*numeric, *categorical]
    values = coded[columns].to_numpy(dtype=float, na_value=np.nan)
    del coded
    at_numeric, at_categorical = list(range(len(numeric))), list(range(len(numeric), len(columns)))
    n = len(folds)
    alive, left = eligible(y, folds, len(numeric) + len(categorical))
    scores: dict[str, list[np.ndarray | None]] = {k: [None] * n for k in CANDIDATES}
    if len(alive) == 1:  # nothing to decide between: the largest fits first, so the threads end together
        queue = deque(sorted([("full", -1, alive[0]), *(("fold", f, alive[0]) for f in range(n))],
                             key=lambda task: -(len(y) if task[0] == "full" else len(folds[task[1]][0]))))
    else:
        queue = deque([("fold", f, kind) for f in range(n) for kind in alive])
        queue.insert(len(alive), ("full", -1, "logistic"))
    done: dict[tuple, object] = {}
    chosen: str | None = None
    leader = CANDIDATES[0]  # the best so far: its fits on later folds may start before a decision

    def fold_task(f: int, kind: str):
        train, test = folds[f]
        xtrain, ytrain, xtest = values[train], y[train], values[test]  # sliced here, not in the threads
        return lambda: make_pipeline(kind, at_numeric, at_categorical, seed).fit(xtrain, ytrain).decision_function(xtest)

    def full_task(kind: str):
        def fit():
            pipe = make_pipeline(kind, numeric, categorical, seed)
            if kind != "logistic":
                return pipe.fit(x, y), None
            # the logistic one explains: its typical account is the mean of the rows it was
            # fitted on, as its preprocessing transformed them (no second transform)
            xt = pipe[:-1].fit_transform(x, y)
            pipe[-1].fit(xt, y)
            return pipe, typical_account(xt)
        return fit

    def choose() -> str:
        mean_auc = {k: np.nanmean([roc_auc(y[folds[f][1]], s) for f, s in enumerate(scores[k]) if s is not None])
                    for k in alive}
        if all(np.isnan(v) for v in mean_auc.values()):
            raise HistoryError("no backtest test window holds both churned and retained accounts, so the "
                               "candidates cannot be compared: a longer history with churn in its later months "
                               "is needed")
        return max(alive, key=lambda k: (np.nan_to_num(mean_auc[k], nan=-1.0), -CANDIDATES.index(k)))

    def decide(f: int) -> None:
        """Fold ``f``'s scores in; a candidate clearly behind on the test rows so far leaves; the
        choice once one candidate is left or every fold is in (its fit on every row queued first)."""
        nonlocal chosen, leader
        for kind in alive:
            scores[kind][f] = done[("fold", f, kind)]
        tested = np.concatenate([folds[g][1] for g in range(f + 1)])
        pooled = {k: np.concatenate([scores[k][g] for g in range(f + 1)]) for k in alive}
        yt = y[tested]
        if len(alive) > 1 and min(yt.sum(), (~yt).sum()) >= MIN_RACE_ROWS:
            leader = max(alive, key=lambda k: (roc_auc(yt, pooled[k]), -CANDIDATES.index(k)))
            for kind in [k for k in alive if k != leader]:
                z = auc_difference_z(yt, pooled[leader], pooled[kind])
                if z >= Z_DROP:
                    alive.remove(kind)
                    left[kind] = (f"{kind} left the comparison after {f + 1} of {n} folds: its ROC AUC on their "
                                  f"{len(tested):,} test rows was {roc_auc(yt, pooled[kind]):.3f} against {leader}'s "
                                  f"{roc_auc(yt, pooled[leader]):.3f}, {z:.1f} standard errors behind (DeLong)")
        if chosen is None and (len(alive) == 1 or f == n - 1):
            chosen = choose()
            if chosen != "logistic":
                queue.appendleft(("full", -1, chosen))

    def limited(work, n_threads: int):  # OpenMP's thread count is each thread's own: set in the worker
        def run():
            with threadpool_limits(n_threads):
                return work()
        return run

    def exclusive(task: tuple) -> bool:
        return task[0] == "full" and task[2] in EXCLUSIVE

    def fill() -> None:
        """Start queued fits while threads are free, in queue order, side by side on one thread
        each (a fold's gradient boosting beside logistic fits: 0.56 s against 0.77 s one after
        the other on the 1k demo, 6.3 against 8.1 s at 10k); a gradient-boosting fit on every row
        alone with every thread (its Python steps between OpenMP loops wait for the GIL when
        another fit runs beside it: 2.5x slower here)."""
        if any(exclusive(task) for task in running.values()):
            return
        for task in list(queue):
            if len(running) >= threads:
                return
            if task[0] == "fold" and task[2] not in alive:
                queue.remove(task)  # left the race: not fitted again
                continue
            if task[0] == "fold" and task[1] > decided and task[2] != leader:
                continue  # it may leave at an earlier fold's decision: not fitted before it
            alone = exclusive(task)
            if alone and running:
                continue  # waits until the running fits are done
            queue.remove(task)
            work = fold_task(task[1], task[2]) if task[0] == "fold" else full_task(task[2])
            running[pool.submit(limited(work, threads if alone else 1))] = task
            if alone:
                return

    decided = 0
    running: dict = {}
    with ThreadPoolExecutor(threads) as pool:
        fill()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                done[running.pop(future)] = future.result()
            while decided < n and all(("fold", decided, k) in done for k in alive):
                decide(decided)
                decided += 1
            fill()
    assert chosen is not None
    full = {k: done[("full", -1, k)] for k in {chosen, "logistic"}}
    return Race(scores, left, chosen, {k: v[0] for k, v in full.items()}, full["logistic"][1])


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
        "roc_auc": roc_auc(y, risk),
        "pr_auc": average_precision(y, risk) if both else float("nan"),
        "top10_capture": capture(y, risk),
        "rows": int(len(y)),
        "churn_rate": float(y.mean()) if len(y) else float("nan"),
    }
    out["lift_top10"] = out["top10_capture"] / 0.10
    if probability:
        out["brier"] = float(np.mean((np.asarray(risk, float) - y) ** 2))
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
    left: tuple[str, ...] = ()  # why candidates left the race early, in words
    final: SigmoidCalibrated | None = None  # the chosen pipeline on every row, calibrated on its backtest scores
    explainer: Pipeline | None = None  # the logistic pipeline on every row (the drivers)
    explainer_means: np.ndarray | None = None  # its transformed means (the typical account)


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
    """Time-ordered backtest of every candidate on labelled rows of ``frame`` (sorted by as_of),
    run as a :func:`race`; the chosen candidate's pipeline on every row is in ``full``.

    ``baseline``: a column where lower means riskier (the health score); ``oracle``: a column of
    true churn probabilities (demo data), both evaluated on the same test rows.
    """
    frame = frame.sort_values("as_of", kind="stable").reset_index(drop=True)
    y = frame[label].to_numpy().astype(bool)
    x = frame[list(numeric) + list(categorical)]
    folds = time_folds(frame["as_of"], horizon_months, n_folds)
    for cutoff, train, _ in folds:
        churned, stayed = int(y[train].sum()), int((~y[train]).sum())
        if min(churned, stayed) < MIN_FOLD_ROWS:
            raise HistoryError(
                f"the backtest fold at {cutoff:%Y-%m-%d} trains on {churned} churned and {stayed} retained "
                f"observations; each needs at least {MIN_FOLD_ROWS}: the history before it has too few "
                "churns to backtest a model")
    tests = [np.flatnonzero(test) for _, _, test in folds]
    result = race(x, y, [(np.flatnonzero(train), test) for (_, train, _), test in zip(folds, tests, strict=True)],
                  numeric, categorical, seed)
    as_of = frame["as_of"].to_numpy()
    carried = {c: frame[c].to_numpy() for c in ("account_id", "mrr") if c in frame}  # for model.forecast
    base = -frame[baseline].fillna(frame[baseline].median()).to_numpy() if baseline else None
    truth = frame[oracle].to_numpy() if oracle else None
    rows, preds = [], []
    for f, (cutoff, test) in enumerate(zip([c for c, _, _ in folds], tests, strict=True)):
        yt = y[test]
        columns: dict[str, object] = {"as_of": as_of[test], "churned": yt, "cutoff": cutoff,
                                      **{c: values[test] for c, values in carried.items()}}
        # the calibration fold k's probabilities may learn from: earlier test rows whose labels
        # were known at its cutoff (dated at least horizon_months before it)
        known_by = np.datetime64(cutoff - pd.DateOffset(months=horizon_months))
        for kind in CANDIDATES:
            score = result.scores[kind][f]
            if score is None:  # left the race before this fold (or never ran)
                columns[f"{kind}_score"] = columns[f"{kind}_raw"] = columns[kind] = np.nan
                continue
            if f:
                ran = [g for g in range(f) if result.scores[kind][g] is not None]
                past = np.concatenate([result.scores[kind][g] for g in ran]) if ran else np.empty(0)
                tested = np.concatenate([tests[g] for g in ran]) if ran else np.empty(0, int)
                known = as_of[tested] <= known_by
                p = platt(score, past[known], y[tested[known]])
            else:
                p = expit(score)
            columns.update({f"{kind}_score": score, f"{kind}_raw": expit(score), kind: p})
            rows.append({"cutoff": cutoff, "model": kind, **metrics(yt, p)})
        if base is not None:
            columns["baseline"] = base[test]
            rows.append({"cutoff": cutoff, "model": f"baseline:{baseline}", **metrics(yt, base[test], False)})
        if truth is not None:
            columns["oracle"] = truth[test]
            rows.append({"cutoff": cutoff, "model": "oracle", **metrics(yt, truth[test])})
        preds.append(pd.DataFrame(columns))
    folds_table = pd.DataFrame(rows)
    predictions = pd.concat(preds, ignore_index=True)
    overall = []
    for model_name in folds_table["model"].unique():
        column = {"baseline:" + str(baseline): "baseline"}.get(model_name, model_name)
        scored = predictions[predictions[column].notna()]  # a candidate that left: the folds it ran
        overall.append({"model": model_name, **metrics(scored["churned"].to_numpy(), scored[column].to_numpy(),
                                                       not model_name.startswith("baseline"))})
    chosen = result.chosen
    score = predictions[f"{chosen}_score"].to_numpy()
    final = SigmoidCalibrated.from_scores(result.full[chosen], score, predictions["churned"].to_numpy())
    return Backtest(folds_table, pd.DataFrame(overall), predictions, chosen, horizon_months,
                    [f[0] for f in folds], left=tuple(result.left.values()), final=final,
                    explainer=result.full["logistic"], explainer_means=result.explainer_means)
