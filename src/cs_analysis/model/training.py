"""Train the churn-risk model on a company dataset and list the accounts at risk.

``train_model`` builds point-in-time rows for every month end whose label window ends by
``as_of``, backtests the candidates in time order, refits the chosen one on all those rows and
returns it with metadata. ``at_risk_accounts`` scores the accounts active on a date.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cs_analysis.config.settings import Settings
from cs_analysis.core.ledger import MrrCube
from cs_analysis.data.dataset import Dataset
from cs_analysis.errors import HistoryError, ModelError
from cs_analysis.health.scorer import LEVEL_NAMES_JA, month_ends
from cs_analysis.model.artefact import ChurnModel, ModelMeta
from cs_analysis.model.features import LABEL, FeatureBuilder, feature_columns, features_off
from cs_analysis.model.forecast import forecast_backtest
from cs_analysis.model.pipelines import (
    MIN_CLASS_ROWS,
    Backtest,
    backtest,
    calibration_table,
    min_observation_dates,
)


@dataclass
class Trained:
    """A trained model and the time-ordered backtest that chose it."""

    model: ChurnModel
    backtest: Backtest


def read_truth(folder: str | Path, horizon_months: int) -> pd.DataFrame | None:
    """The simulator's true monthly hazard (``_truth/hazard.csv``) as the probability of churning
    within ``horizon_months``, 1 − (1 − h)^H, per account and month end. Evaluation only."""
    path = Path(folder) / "_truth" / "hazard.csv"
    if not path.is_file():
        return None
    truth = pd.read_csv(path, parse_dates=["month"], dtype={"account_id": str})
    return pd.DataFrame({
        "account_id": truth["account_id"],
        "as_of": truth["month"] + pd.offsets.MonthEnd(0),
        "oracle": 1 - (1 - truth["hazard"]) ** horizon_months,
    })


def training_rows(dataset: Dataset, settings: Settings, as_of: pd.Timestamp, horizon_months: int,
                  command: str = "train", builder: FeatureBuilder | None = None) -> pd.DataFrame:
    """Point-in-time rows of every month end whose label window is complete by ``as_of``
    (``command`` names what needs them in the error when the history is too short; ``builder``:
    the dataset's feature builder when the caller keeps it, e.g. for its MRR cube)."""
    builder = builder or FeatureBuilder(dataset, settings, horizon_months)
    months = builder.scorer.signals.cube.months
    # a churn in month m is known on m's first day (no bill), so labels need months ≤ as_of's
    last = min(pd.Period(as_of, "M"), months[-1]) - horizon_months
    dates = (last - months[1]).n + 1 if last >= months[1] else 0
    if dates < min_observation_dates(horizon_months):
        need = min_observation_dates(horizon_months) + horizon_months + 1
        raise HistoryError(
            f"{command} needs at least {need} months of subscriptions up to --as-of {as_of:%Y-%m-%d} "
            f"(the opening month, {min_observation_dates(horizon_months)} month ends for the time-ordered "
            f"backtest and {horizon_months} months for their labels); the data covers "
            f"{months[0]}..{months[-1]}, which gives {max(dates, 0)} such month ends")
    rows = builder.build(month_ends(months[1], last))
    return rows[rows[LABEL].notna()].reset_index(drop=True)


def usable_features(rows: pd.DataFrame, numeric: list[str], categorical: list[str]
                     ) -> tuple[list[str], list[str], list[str]]:
    """The feature columns with a value in at least one training row, and the notes on the rest
    (a column missing in every row carries nothing to learn, and breaks some estimators)."""
    empty = [c for c in numeric if rows[c].isna().all()]
    notes = []
    off = features_off(rows.columns)
    if off:
        notes.append(f"features off (their table is absent): {', '.join(off)}")
    if empty:
        notes.append(f"features left out (no value in any training row): {', '.join(empty)}")
    return [c for c in numeric if c not in empty], categorical, notes


def check_labels(rows: pd.DataFrame, as_of: pd.Timestamp, horizon_months: int, command: str = "train") -> None:
    y = rows[LABEL].astype(bool)
    churned, stayed = int(y.sum()), int((~y).sum())
    window = (f"{rows['as_of'].min():%Y-%m-%d}..{rows['as_of'].max():%Y-%m-%d}" if len(rows)
              else "no observation date")
    if churned < MIN_CLASS_ROWS or stayed < MIN_CLASS_ROWS:
        what = "no account churned" if churned == 0 else ("every account churned" if stayed == 0 else
                                                          f"{churned} churned and {stayed} retained observations")
        raise HistoryError(
            f"{command} needs at least {MIN_CLASS_ROWS} churned and {MIN_CLASS_ROWS} retained observations "
            f"(account × month end, churn within {horizon_months} months) before --as-of {as_of:%Y-%m-%d}; "
            f"the history ({window}) has {what}: nothing to learn from")


def train_model(dataset: Dataset, settings: Settings, as_of: str | pd.Timestamp, horizon_months: int = 3,
                truth: pd.DataFrame | None = None, seed: int = 0) -> Trained:
    """Backtest the candidates and fit the chosen one on every row labelled by ``as_of``."""
    as_of = pd.Timestamp(as_of).normalize()
    builder = FeatureBuilder(dataset, settings, horizon_months)
    rows = training_rows(dataset, settings, as_of, horizon_months, builder=builder)
    check_labels(rows, as_of, horizon_months)
    if truth is not None:
        rows = rows.merge(truth, on=["account_id", "as_of"], how="left")
    numeric, categorical = feature_columns(rows.drop(columns=["oracle"], errors="ignore"))
    numeric, categorical, notes = usable_features(rows, numeric, categorical)
    bt = backtest(rows, numeric, categorical, horizon_months,
                  oracle="oracle" if truth is not None else None, seed=seed)
    y = rows[LABEL].astype(bool).to_numpy()
    model, explainer = bt.final, bt.explainer
    notes = [*notes, *bt.left]
    pooled = bt.predictions
    forecast_bt = _forecast_backtest(builder.scorer.signals.cube, bt, horizon_months)
    meta = ModelMeta(
        kind="accounts",
        model=bt.chosen,
        horizon_months=horizon_months,
        as_of=as_of.date().isoformat(),
        training_window=(rows["as_of"].min().date().isoformat(), rows["as_of"].max().date().isoformat()),
        rows=int(len(rows)),
        churn_rate=float(y.mean()),
        numeric_features=tuple(numeric),
        categorical_features=tuple(categorical),
        measure_dimensions={m.name: d.name for d, m in settings.health.measures()},
        settings={"fiscal_year_start_month": settings.fiscal_year_start_month,
                  "enterprise_employees": settings.enterprise_employees,
                  "high_touch_licenses": settings.high_touch_licenses,
                  "low_touch_licenses": settings.low_touch_licenses},
        backtest_overall=tuple(bt.overall.to_dict(orient="records")),
        backtest_folds=tuple(bt.folds.assign(cutoff=bt.folds["cutoff"].astype(str)).to_dict(orient="records")),
        calibration=tuple(calibration_table(pooled["churned"], pooled[bt.chosen]).to_dict(orient="records")),
        forecast_backtest=tuple(forecast_bt.to_dict(orient="records")),
        data_fingerprint=dataset.fingerprint(),
        seed=seed,
        notes=tuple(notes),
    )
    return Trained(ChurnModel(model, explainer, bt.explainer_means, meta), bt)


def _forecast_backtest(cube: MrrCube, bt: Backtest, horizon_months: int) -> pd.DataFrame:
    """The MRR forecast made at every backtest test date with that fold's out-of-time
    probabilities, against the MRR that followed (model.forecast.forecast_backtest); ``cube``:
    the dataset's MRR cube (the features' own)."""
    mrr = pd.DataFrame(cube.mrr.T, index=pd.Index(cube.accounts, name="account_id"), columns=cube.months)
    predictions = bt.predictions.rename(columns={bt.chosen: "p"})[["account_id", "as_of", "mrr", "p"]]
    return forecast_backtest(predictions, mrr, horizon_months)


def next_actions(drivers: np.ndarray, tiers: np.ndarray, settings: Settings) -> dict[str, np.ndarray]:
    """The playbook's next action and owner role (en, ja) of each account, from its top
    driver and touch tier (settings ``playbook``): the at-risk list's columns top_driver,
    next_action(_ja), action_owner(_ja)."""
    book = settings.playbook
    lookup = pd.DataFrame([(d, t, *p.action, *p.owner.get(t, p.owner["high"]))
                           for d in {*pd.unique(drivers), "default"} for p in [book.play(d)]
                           for t in pd.unique(tiers)],
                          columns=["driver", "tier", "next_action", "next_action_ja", "action_owner", "action_owner_ja"])
    rows = pd.DataFrame({"driver": drivers, "tier": tiers}).merge(lookup, on=["driver", "tier"], how="left")
    return {"top_driver": drivers, **{c: rows[c].to_numpy() for c in lookup.columns[2:]}}


def at_risk_accounts(model: ChurnModel, dataset: Dataset, settings: Settings,
                     as_of: str | pd.Timestamp, capacity: int | None = None) -> pd.DataFrame:
    """Accounts active on ``as_of`` ranked by ARR at risk (probability × 12 × MRR), with health
    level, touch tier, owner and a next action by touch tier; with ``capacity``, each owner's
    first ``capacity`` accounts are marked ``assigned``."""
    if model.meta.kind != "accounts":
        raise ModelError("this model was trained on a single table; score it with --table FILE")
    rows = FeatureBuilder(dataset, settings, model.meta.horizon_months).at(as_of)
    if rows.empty:
        raise HistoryError(f"no account is active on {pd.Timestamp(as_of):%Y-%m-%d}: nothing to score")
    scored = model.predict(rows, settings)
    acc = dataset.accounts.set_index("account_id")
    arr = rows["mrr"].to_numpy() * 12
    level = rows["health_level"].to_numpy()
    out = pd.DataFrame({
        "account_id": rows["account_id"],
        "name": acc["name"].reindex(rows["account_id"]).to_numpy(),
        "churn_probability": scored["churn_probability"].to_numpy(),
        "risk_tier": scored["risk_tier"].to_numpy(),
        "arr": arr,
        "arr_at_risk": arr * scored["churn_probability"].to_numpy(),
        "health_level": level.astype(int),
        "health_level_ja": LEVEL_NAMES_JA[level.astype(int)],
        "touch_tier": rows["touch_tier"].to_numpy(),
        "csm_owner": acc["csm_owner"].reindex(rows["account_id"]).to_numpy(),
        "top_drivers": scored["top_drivers"].to_numpy(),
        "top_drivers_ja": scored["top_drivers_ja"].to_numpy(),
        **next_actions(scored["top_driver"].to_numpy(), rows["touch_tier"].to_numpy(), settings),
    })
    out = out.sort_values(["arr_at_risk", "account_id"], ascending=[False, True], ignore_index=True)
    if capacity is not None:
        position = out.groupby(out["csm_owner"].fillna("(unassigned)"), sort=False).cumcount()
        out["assigned"] = position < capacity
    out.insert(2, "as_of", pd.Timestamp(as_of).normalize())
    return out
