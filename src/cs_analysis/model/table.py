"""Bring your own table: train and score on one account table (a CRM export) with a label column.

Columns are typed automatically (numbers, including "¥1,200"-style money text, or categories);
the id column never enters the model; yes/no, true/false and 1/0 labels are accepted; free text
with too many distinct values and date columns are left out with a note; a column that predicts
the label almost perfectly is reported as likely leakage. Metrics come from stratified 5-fold
cross-validation (no dates to order by), run as a race (:func:`~cs_analysis.model.pipelines.race`:
fits in parallel, a candidate clearly behind after a fold not fitted again); each fold's
probabilities come from a sigmoid fitted on the other folds' out-of-fold scores, and the chosen
pipeline, fitted once on every row, from a sigmoid fitted on all its out-of-fold scores.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from cs_analysis.config.settings import Settings
from cs_analysis.core.ranking import roc_auc
from cs_analysis.data.io import read_csv_any_encoding
from cs_analysis.errors import DataError, HistoryError
from cs_analysis.model.artefact import ChurnModel, ModelMeta
from cs_analysis.model.calibration import SigmoidCalibrated
from cs_analysis.model.pipelines import CANDIDATES, calibration_table, metrics, platt, race

POSITIVE = {"1", "1.0", "yes", "y", "true", "t", "churned", "churn", "はい", "あり", "有", "解約"}
NEGATIVE = {"0", "0.0", "no", "n", "false", "f", "active", "retained", "いいえ", "なし", "無", "継続"}
LEAKAGE_AUC = 0.95
CV_FOLDS = 5  # stratified cross-validation folds
MIN_TABLE_CLASS_ROWS = 10  # rows of each label the 5-fold cross-validation needs
MAX_CATEGORY_SHARE = 0.5  # text columns with more distinct values than this share are free text


@dataclass
class TableModel:
    """A model trained on one table, its cross-validation and the notes on columns left out."""

    model: ChurnModel
    cv: pd.DataFrame
    notes: list[str]


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (UTF-8, BOM or CP932; all cells as text) or Parquet table."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for bad files
            raise DataError(f"{path.name}: cannot read Parquet: {exc}") from None
        frame.attrs["row_offset"] = 1  # messages count Parquet rows from 1
        return frame
    if path.suffix.lower() not in (".csv", ".txt", ".tsv"):
        raise DataError(f"{path}: expected a .csv or .parquet file")
    frame = read_csv_any_encoding(path)
    frame.attrs["row_offset"] = 2  # the header is row 1
    return frame


def _rows(frame: pd.DataFrame | pd.Series, mask: np.ndarray | pd.Series, k: int = 5) -> str:
    """The first ``k`` source row numbers of ``mask`` (CSV rows count the header as row 1)."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    shown = ", ".join(str(i + frame.attrs.get("row_offset", 2)) for i in idx[:k])
    return shown + (", ..." if len(idx) > k else "")


def _as_number(series: pd.Series) -> pd.Series | None:
    """The column as numbers if every non-empty cell is one (¥ and thousands separators allowed).
    A cell's number depends on its text alone, so each distinct text is parsed once."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    codes, distinct = pd.factorize(series.astype("str"))  # missing cells: code −1
    text = pd.Series(distinct, dtype="str").str.strip()
    text = text.where(text.ne(""))
    cleaned = text.str.replace(r"^[¥￥\\]|,", "", regex=True)
    numbers = pd.to_numeric(cleaned, errors="coerce")
    if numbers[text.notna()].isna().any():
        return None
    values = np.append(numbers.to_numpy(dtype=float, na_value=np.nan), np.nan)  # code −1: the last, NaN
    return pd.Series(values[codes], index=series.index, name=series.name)


def parse_label(series: pd.Series, column: str) -> np.ndarray:
    """1/0 from yes/no, true/false, 1/0 (and Japanese) labels; anything else is an error."""
    text = series.astype("str").str.strip().str.lower()
    empty = series.isna() | text.eq("")
    positive, negative = text.isin(POSITIVE), text.isin(NEGATIVE)
    bad = ~empty & ~positive & ~negative
    if empty.any() or bad.any():
        problems = []
        if empty.any():
            problems.append(f"{int(empty.sum())} empty cell(s) (rows {_rows(series, empty)})")
        if bad.any():
            values = ", ".join(repr(v) for v in pd.unique(series[bad])[:5])
            problems.append(f"{int(bad.sum())} value(s) that are not yes/no, true/false or 1/0: {values}")
        raise DataError(f"label column {column!r}: " + "; ".join(problems))
    if positive.all() or negative.all():
        raise DataError(f"label column {column!r}: every row has the same label; nothing to learn")
    return positive.to_numpy()


def prepare(frame: pd.DataFrame, label: str | None, id_col: str | None) -> tuple[pd.DataFrame, list[str], list[str], list[str]]:
    """Typed feature columns (numeric, categorical) and notes about columns left out."""
    for col in (label, id_col):
        if col is not None and col not in frame.columns:
            raise DataError(f"no column {col!r}; the table has: {', '.join(map(str, frame.columns))}")
    notes, numeric, categorical = [], [], []
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        if col in (label, id_col):
            continue
        series = frame[col]
        numbers = _as_number(series)
        if numbers is not None:
            infinite = numbers.notna() & ~np.isfinite(numbers)
            if infinite.any():
                raise DataError(f"column {col!r}: {int(infinite.sum())} value(s) are not finite numbers "
                                f"(inf, or too large such as 1e400) in rows {_rows(frame, infinite)}; "
                                "fix or empty those cells")
            if numbers.nunique(dropna=True) <= 1:
                notes.append(f"left out {col!r}: constant")
                continue
            out[col] = numbers
            numeric.append(col)
            continue
        text = series.astype("str").where(series.notna())
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
        if text.notna().any() and parsed[text.notna()].notna().all():
            notes.append(f"left out {col!r}: a date (derive a number such as days since it to use it)")
            continue
        distinct = text.nunique(dropna=True)
        if distinct > 50 and distinct > MAX_CATEGORY_SHARE * len(text):
            notes.append(f"left out {col!r}: free text ({distinct} distinct values)")
            continue
        out[col] = text.fillna("(missing)")
        categorical.append(col)
    if not numeric and not categorical:
        raise DataError("no usable feature columns left")
    return out, numeric, categorical, notes


def leakage_warnings(x: pd.DataFrame, y: np.ndarray, numeric: list[str], categorical: list[str]) -> list[str]:
    """Columns that on their own separate the label almost perfectly (ROC AUC ≥ 0.95)."""
    warnings = []
    for col in numeric + categorical:
        if col in categorical:  # each category as its churn rate (the column's filled: no code −1)
            codes, distinct = pd.factorize(x[col])
            values = pd.Series((np.bincount(codes, weights=y, minlength=len(distinct))
                                / np.bincount(codes, minlength=len(distinct)))[codes])
        else:
            values = x[col]
        values = values.fillna(values.median())
        auc = roc_auc(y, values.to_numpy(dtype=float))
        if max(auc, 1 - auc) >= LEAKAGE_AUC:
            warnings.append(f"warning: {col!r} predicts the label almost perfectly (AUC {max(auc, 1 - auc):.3f}): "
                            "likely leakage (a value recorded after the outcome); consider leaving it out")
    return warnings


def train_table(frame: pd.DataFrame, label: str, id_col: str | None = None, seed: int = 0,
                source: str = "") -> TableModel:
    """Cross-validate the candidates, refit the best on every row; return model, metadata, notes."""
    if label not in frame.columns:
        raise DataError(f"no label column {label!r}; the table has: {', '.join(map(str, frame.columns))}")
    y = parse_label(frame[label], label)
    churned, retained = int(y.sum()), int((~y).sum())
    if min(churned, retained) < MIN_TABLE_CLASS_ROWS:
        raise HistoryError(f"train --table needs at least {MIN_TABLE_CLASS_ROWS} rows of each label (churned and "
                           f"not) for its cross-validation; the table has {churned} churned and {retained} "
                           f"other rows")
    x, numeric, categorical, notes = prepare(frame, label, id_col)
    notes += leakage_warnings(x, y, numeric, categorical)
    folds = list(StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed).split(x, y))
    result = race(x, y, folds, numeric, categorical, seed)
    rows, oof = [], {}
    for kind in CANDIDATES:
        ran = [f for f, s in enumerate(result.scores[kind]) if s is not None]
        if not ran:  # not compared (too few rows for it: model.pipelines.eligible)
            continue
        tested = np.concatenate([folds[f][1] for f in ran])
        # each fold's probabilities from a sigmoid fitted on the other folds' out-of-fold scores
        p = np.concatenate([
            platt(result.scores[kind][f],
                  np.concatenate([result.scores[kind][g] for g in ran if g != f] or [np.empty(0)]),
                  np.concatenate([y[folds[g][1]] for g in ran if g != f] or [np.empty(0, bool)]))
            for f in ran])
        oof[kind] = (tested, p)
        rows.append({"model": kind, "folds": len(ran), **metrics(y[tested], p)})
    cv = pd.DataFrame(rows)
    chosen = result.chosen  # it ran every fold: its scores are all the out-of-fold scores
    model = SigmoidCalibrated.from_scores(result.full[chosen], np.concatenate(result.scores[chosen]),
                                          y[oof[chosen][0]])
    explainer = result.full["logistic"]
    notes += list(result.left.values())
    meta = ModelMeta(
        kind="table", model=chosen, label=label, id=id_col, rows=int(len(x)), churn_rate=float(y.mean()),
        numeric_features=tuple(numeric), categorical_features=tuple(categorical),
        cv=tuple(cv.to_dict(orient="records")), notes=tuple(notes),
        calibration=tuple(calibration_table(y[oof[chosen][0]], oof[chosen][1]).to_dict(orient="records")),
        data_fingerprint=hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest(),
        source=source, seed=seed,
    )
    return TableModel(ChurnModel(model, explainer, result.explainer_means, meta), cv, notes)


def score_table(model: ChurnModel, frame: pd.DataFrame, settings: Settings | None = None) -> pd.DataFrame:
    """id, churn_probability, risk_tier, top_drivers (and Japanese) for every row, the columns
    typed as they were in training."""
    meta = model.meta
    if meta.kind != "table":
        raise DataError("this model was trained on a company dataset; score it with a dataset folder")
    missing = [c for c in meta.features if c not in frame.columns]
    if missing:
        raise DataError(f"the table lacks column(s) the model uses: {', '.join(missing)}")
    x = pd.DataFrame(index=frame.index)
    for col in meta.numeric_features:
        numbers = _as_number(frame[col])
        if numbers is None:
            raise DataError(f"column {col!r} was numeric in training but holds text here")
        x[col] = numbers
    for col in meta.categorical_features:
        x[col] = frame[col].astype("str").where(frame[col].notna()).fillna("(missing)")
    scored = model.predict(x, settings or Settings())
    id_col = meta.id
    ids = frame[id_col].to_numpy() if id_col in frame.columns else np.arange(1, len(frame) + 1)
    out = pd.DataFrame({id_col or "row": ids})
    for col in ("churn_probability", "risk_tier", "top_drivers", "top_drivers_ja"):
        out[col] = scored[col].to_numpy()
    return out
