"""The trained churn model as one typed object: :class:`ChurnModel` (the calibrated pipeline, the
explainable logistic pipeline behind the drivers, and their metadata) with :meth:`~ChurnModel.
predict` and :meth:`~ChurnModel.explain`; its metadata a :class:`ModelMeta` dataclass.

Persistence (skops beside a metadata JSON, with every refusal) is :mod:`.persistence`; this
module only holds the object and the checks that make metadata read from a file trustworthy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cs_analysis.config.settings import Settings
from cs_analysis.errors import DataError, ModelError
from cs_analysis.model.drivers import contributions, top_driver_codes, top_drivers, transformed_contributions

CANDIDATES = ("logistic", "gradient_boosting")  # the model kinds, in order of preference on a tie

FORMAT = 1  # the metadata/model file format this version writes and reads
SCORE_CHUNK = 100_000  # rows scored at a time: the transformed matrices of one chunk at most in memory
RISK_TIERS = ("high", "medium", "low")


@dataclass(frozen=True)
class ModelMeta:
    """What a trained model says about itself (the metadata JSON beside the model file).

    ``kind``: "accounts" (trained on a dataset's point-in-time rows) or "table" (one CRM table);
    ``model``: the chosen candidate; the input columns; the training rows and churn rate; for
    dataset models the horizon, as-of date, training window, scorecard dimensions of the measures,
    the segment settings and the backtest; for table models the label and id columns and the
    cross-validation; ``notes``: what was switched off or left out, in words.
    """

    kind: str
    model: str
    numeric_features: tuple[str, ...]
    categorical_features: tuple[str, ...]
    rows: int
    churn_rate: float
    seed: int = 0
    data_fingerprint: str = ""
    notes: tuple[str, ...] = ()
    calibration: tuple[dict, ...] = ()
    horizon_months: int | None = None
    as_of: str | None = None
    training_window: tuple[str, ...] | None = None
    measure_dimensions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    backtest_overall: tuple[dict, ...] = ()
    backtest_folds: tuple[dict, ...] = ()
    forecast_backtest: tuple[dict, ...] = ()  # the MRR forecast at past dates vs what followed
    label: str | None = None
    id: str | None = None
    cv: tuple[dict, ...] = ()
    source: str = ""
    versions: dict[str, str] = field(default_factory=dict)  # written by save_model
    model_sha256: str = ""  # written by save_model
    format: int = FORMAT

    @property
    def features(self) -> list[str]:
        """The model's input columns, numeric then categorical."""
        return [*self.numeric_features, *self.categorical_features]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: object, where: str) -> ModelMeta:
        """The metadata read from a file, every field the code uses checked for its type (an edited
        file is refused in words, naming ``where``); unknown keys are ignored."""
        if not isinstance(raw, dict):
            raise ModelError(f"{where}: the metadata must be a JSON object, not {type(raw).__name__}")
        problems = _problems(raw)
        if problems:
            raise ModelError(f"{where}: the model metadata is not usable (edited by hand?): " + "; ".join(problems))
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        return cls(**values)


def _problems(meta: dict[str, Any]) -> list[str]:
    problems = []

    def text_list(value: object) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    def rows(value: object) -> bool:
        return isinstance(value, list) and all(isinstance(r, dict) for r in value)

    kind = meta.get("kind")
    if kind not in ("accounts", "table"):
        problems.append(f"kind must be 'accounts' or 'table', got {kind!r}")
    for key in ("numeric_features", "categorical_features"):
        if not text_list(meta.get(key)):
            problems.append(f"{key} must be a list of column names, got {meta.get(key)!r}")
    if not isinstance(meta.get("model"), str):
        problems.append(f"model must be text, got {meta.get('model')!r}")
    for key in ("rows", "seed"):
        if key in meta and (isinstance(meta[key], bool) or not isinstance(meta[key], int)):
            problems.append(f"{key} must be a whole number, got {meta[key]!r}")
    if "churn_rate" in meta and not isinstance(meta["churn_rate"], int | float):
        problems.append(f"churn_rate must be a number, got {meta['churn_rate']!r}")
    if "notes" in meta and not text_list(meta["notes"]):
        problems.append("notes must be a list of texts")
    for key in ("backtest_overall", "backtest_folds", "calibration", "cv"):
        if key in meta and not rows(meta[key]):
            problems.append(f"{key} must be a list of rows (objects)")
    if not isinstance(meta.get("versions", {}), dict):
        problems.append("versions must be an object of package versions")
    if kind == "accounts":
        h = meta.get("horizon_months")
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            problems.append(f"horizon_months must be a whole number >= 1, got {h!r}")
        dims = meta.get("measure_dimensions", {})
        if not isinstance(dims, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in dims.items()):
            problems.append("measure_dimensions must map measure names to dimension names")
    if kind == "table":
        if not isinstance(meta.get("label"), str):
            problems.append(f"label must be text, got {meta.get('label')!r}")
        if meta.get("id") is not None and not isinstance(meta.get("id"), str):
            problems.append(f"id must be text or null, got {meta.get('id')!r}")
    return problems


def risk_tiers(probability: np.ndarray, settings: Settings) -> np.ndarray:
    """high (the riskiest ``risk_high_share``, default 10 %), medium (up to ``risk_medium_share``,
    30 %), low, by rank among the rows scored together.

    >>> risk_tiers(np.array([0.9, 0.1, 0.5, 0.2]), Settings(risk_high_share=0.25, risk_medium_share=0.5)).tolist()
    ['high', 'low', 'medium', 'low']
    """
    rank = pd.Series(probability).rank(method="first", ascending=False).to_numpy() / max(1, len(probability))
    return np.select([rank <= settings.risk_high_share, rank <= settings.risk_medium_share],
                     list(RISK_TIERS[:2]), RISK_TIERS[2])


@dataclass
class ChurnModel:
    """A trained churn model: ``estimator`` (the calibrated pipeline that gives probabilities),
    ``explainer`` (the logistic pipeline whose per-feature pushes are the drivers) with
    ``explainer_means`` (its transformed training means: the "typical account"), and ``meta``."""

    estimator: Any
    explainer: Any
    explainer_means: np.ndarray
    meta: ModelMeta

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.meta.features if c not in frame.columns]
        if missing:
            raise DataError(f"the model needs column(s) the data does not have: {', '.join(missing)}")
        return frame[self.meta.features]

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        """The calibrated probability of churn of each row."""
        return self.estimator.predict_proba(self._inputs(frame))[:, 1]

    def explain(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row, the top drivers of churn risk in words, (English, Japanese) "; "-joined, and
        the playbook driver of the first one (model.drivers.driver_code)."""
        contrib = contributions(self.explainer, self.explainer_means, self._inputs(frame), self.meta.features)
        en, ja = top_drivers(contrib, self.meta.features, measure_dimensions=self.meta.measure_dimensions or None)
        return en, ja, top_driver_codes(contrib, self.meta.features)

    def _calibration(self) -> Any | None:
        """The map from the explainer's decision values to the probability when the estimator is
        the explainer itself, calibrated (the chosen model is the logistic one): then one
        transform of the rows gives both the probability and the drivers. None otherwise."""
        est = self.estimator
        if getattr(est, "estimator", None) is self.explainer and hasattr(est, "probability_from_decision"):
            return est.probability_from_decision  # model.calibration.SigmoidCalibrated
        calibrated = getattr(est, "calibrated_classifiers_", None)  # format-1 files: CalibratedClassifierCV
        if not calibrated or len(calibrated) != 1 or calibrated[0].estimator is not self.explainer:
            return None
        pair = calibrated[0]
        if getattr(pair, "method", None) != "sigmoid" or len(pair.calibrators) != 1 or len(pair.classes) != 2:
            return None
        return pair.calibrators[0].predict

    def _predict_chunk(self, x: pd.DataFrame, calibration: Any | None) -> tuple[np.ndarray, ...]:
        xt = np.asarray(self.explainer[:-1].transform(x), dtype=float)
        if calibration is not None:  # what the estimator's predict_proba computes, on the same matrix
            probability = calibration(self.explainer[-1].decision_function(xt))
        else:
            probability = self.estimator.predict_proba(x)[:, 1]
        contrib = transformed_contributions(self.explainer, self.explainer_means, xt, self.meta.features)
        en, ja = top_drivers(contrib, self.meta.features, measure_dimensions=self.meta.measure_dimensions or None)
        return probability, en, ja, top_driver_codes(contrib, self.meta.features)

    def predict(self, frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
        """Probability, risk tier, top drivers (en, ja) and the top driver's playbook code of each
        row of ``frame``: :data:`SCORE_CHUNK` rows at a time, each chunk transformed once when
        the explainer is the estimator (the same probabilities as :meth:`probability`)."""
        x = self._inputs(frame)
        calibration = self._calibration()
        chunks = [self._predict_chunk(x.iloc[i:i + SCORE_CHUNK], calibration) for i in range(0, len(x), SCORE_CHUNK)]
        if chunks:
            probability, en, ja, code = (np.concatenate([c[j] for c in chunks]) for j in range(4))
        else:  # no rows: nothing to transform
            probability, en, ja, code = np.empty(0), *(np.empty(0, dtype=object) for _ in range(3))
        return pd.DataFrame({"churn_probability": probability, "risk_tier": risk_tiers(probability, settings),
                             "top_drivers": en, "top_drivers_ja": ja, "top_driver": code}, index=frame.index)

    def parts(self) -> dict[str, Any]:
        """What the model file holds (skops): the fitted objects, without the metadata."""
        return {"model": self.estimator, "explainer": self.explainer, "explainer_means": self.explainer_means}

    def check_parts(self, where: str) -> None:
        """The metadata's feature list is the one the pipeline was fitted on (refused otherwise)."""
        fitted = getattr(self.estimator, "feature_names_in_", None)
        if fitted is not None and sorted(map(str, fitted)) != sorted(self.meta.features):
            raise ModelError(f"{where}: its feature list does not match the model file (the model was fitted on "
                             f"{len(fitted)} columns, the metadata names {len(self.meta.features)}): was the "
                             "metadata edited? Retrain, or restore the metadata written with the model")
