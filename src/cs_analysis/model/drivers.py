"""Why an account is at risk: per-feature contributions of the explainable logistic pipeline,
turned into the top drivers in words, grouped by DEAR dimension."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cs_analysis import i18n
from cs_analysis.config.scorecard import DIMENSIONS
from cs_analysis.health.scorer import FLAG_DIMENSIONS

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# feature → DEAR dimension (its words: i18n.FEATURES); band_<measure> and health_<dimension> derive below
FEATURE_DIMENSIONS: dict[str, str] = {
    "utilisation": "deployment",
    "utilisation_change_3m": "deployment",
    "seat_trend": "deployment",
    "licenses": "deployment",
    "days_since_contact": "engagement",
    "meetings_90d": "engagement",
    "touchpoints_90d": "engagement",
    "champion_change_180d": "engagement",
    "feature_breadth": "adoption",
    "usage_trend": "adoption",
    "onboarded": "adoption",
    "milestones_done": "adoption",
    "onboarding_overdue": "adoption",
    "onboarding_stuck": "adoption",
    "roi_measured_365d": "roi",
    "nps_latest": "other",
    "tickets_90d": "other",
    "severe_tickets_90d": "other",
    "severe_open_tickets": "other",
    "mrr": "other",
    "mrr_change_3m": "other",
    "tenure_months": "other",
    "days_since_signup": "other",
    "size": "other",
    "touch_tier": "other",
    "health_score": "other",
    "health_level": "other",
}
# composite scores are model inputs but not reasons a CSM can act on
COMPOSITES = {"health_score", "health_level", *(f"health_{d}" for d in DIMENSIONS)}


def describe(feature: str, measure_dimensions: dict[str, str]) -> tuple[str, str]:
    """(English, Japanese) phrase for a feature, prefixed by its DEAR dimension when it has one
    (``measure_dimensions``: the scorecard's dimension of each measure)."""
    if feature.startswith("band_") and feature[5:] in i18n.MEASURES:
        en, ja = i18n.MEASURES[feature[5:]]
        dim = measure_dimensions.get(feature[5:], "other")
    elif feature.startswith("health_flag_") and feature[12:] in i18n.FLAG_DRIVERS:
        en, ja = i18n.FLAG_DRIVERS[feature[12:]]
        dim = FLAG_DIMENSIONS[feature[12:]]
    elif feature in FEATURE_DIMENSIONS:
        en, ja = i18n.FEATURES[feature]
        dim = FEATURE_DIMENSIONS[feature]
    else:
        return feature, feature
    if dim == "other":  # "Other: latest NPS" says no more than "latest NPS"
        return en, ja
    d_en, d_ja = i18n.DIMENSIONS[dim]
    return f"{d_en}: {en}", f"{d_ja}: {ja}"


def transformed_means(explainer: Pipeline, frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Means of the explainer's transformed columns over (training) rows: the "typical account"."""
    return typical_account(explainer[:-1].transform(frame[list(features)]))


def typical_account(xt: np.ndarray) -> np.ndarray:
    """:func:`transformed_means` of rows already transformed by the explainer's preprocessing."""
    return np.asarray(xt, dtype=float).mean(axis=0)


def contributions(explainer: Pipeline, means: np.ndarray, frame: pd.DataFrame,
                  features: Sequence[str]) -> np.ndarray:
    """Rows × input features: each feature's additive push on the log-odds of churn relative to
    the typical training account (``means``), summed over the columns made from it."""
    xt = np.asarray(explainer[:-1].transform(frame[list(features)]), dtype=float)
    return transformed_contributions(explainer, means, xt, features)


def transformed_contributions(explainer: Pipeline, means: np.ndarray, xt: np.ndarray,
                              features: Sequence[str]) -> np.ndarray:
    """:func:`contributions` from rows already transformed by the explainer's preprocessing."""
    prep, model = explainer[:-1], explainer[-1]
    names = prep.get_feature_names_out()
    groups = np.zeros((len(names), len(features)))
    groups[np.arange(len(names)), [_source(n, features) for n in names]] = 1.0
    weights = model.coef_[0][:, None] * groups  # transformed column -> its input feature, times its coefficient
    return xt @ weights - means @ weights  # = ((xt - means) * coef) @ groups, as one matrix product


def _source(name: str, features: Sequence[str]) -> int:
    """Index of the input feature a transformed column came from."""
    base = name.split("__", 1)[-1]
    base = base.removeprefix("missingindicator_")
    candidates = [i for i, f in enumerate(features) if base == f or base.startswith(f + "_")]
    return max(candidates, key=lambda i: len(features[i]))


# the playbook's driver code of each feature (config.playbook; unknown features use its default)
DRIVER_CODES: dict[str, str] = {
    "utilisation": "low_utilisation", "utilisation_change_3m": "low_utilisation",
    "seat_trend": "seats_down", "licenses": "seats_down",
    "days_since_contact": "no_contact", "meetings_90d": "no_contact", "touchpoints_90d": "no_contact",
    "champion_change_180d": "champion_change",
    "feature_breadth": "low_adoption", "usage_trend": "low_adoption",
    "onboarded": "onboarding_stuck", "milestones_done": "onboarding_stuck", "onboarding_overdue": "onboarding_stuck",
    "onboarding_stuck": "onboarding_stuck",
    "roi_measured_365d": "roi_not_measured",
    "nps_latest": "detractor",
    "tickets_90d": "severe_ticket", "severe_tickets_90d": "severe_ticket", "severe_open_tickets": "severe_ticket",
    "health_flag_low_utilisation": "low_utilisation", "health_flag_no_contact": "no_contact",
    "health_flag_champion_change": "champion_change", "health_flag_detractor": "detractor",
    "health_flag_severe_ticket": "severe_ticket", "health_flag_onboarding_stuck": "onboarding_stuck",
    "health_flag_seats_down": "seats_down",
}


def driver_code(feature: str) -> str:
    """The playbook driver of a model feature (scorecard bands count as their measure).

    >>> driver_code("band_utilisation"), driver_code("mrr")
    ('low_utilisation', 'default')
    """
    return DRIVER_CODES.get(feature.removeprefix("band_"), "default")


def top_driver_codes(contrib: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """Per row, the playbook driver of the feature pushing churn risk up the most ("default"
    when none pushes it up)."""
    contrib = np.where([f in COMPOSITES for f in features], -np.inf, contrib)
    top = np.argmax(contrib, axis=1)
    codes = np.array([driver_code(f) for f in features] + ["default"], dtype=object)
    return codes[np.where(np.take_along_axis(contrib, top[:, None], axis=1)[:, 0] > 0, top, len(features))]


def top_drivers(contrib: np.ndarray, features: Sequence[str], k: int = 3,
                measure_dimensions: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` features pushing churn risk up the most, as "; "-joined phrases
    (English, Japanese; grouped by DEAR dimension when the scorecard's ``measure_dimensions``
    are given, else the column names);
    features pushing it down are never listed."""
    k = min(k, contrib.shape[1])
    contrib = np.where([f in COMPOSITES for f in features], -np.inf, contrib)
    top = np.argpartition(-contrib, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(contrib, top, axis=1)
    order = np.argsort(-vals, axis=1)
    top, vals = np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)
    phrases = [describe(f, measure_dimensions) if measure_dimensions is not None else (f, f) for f in features]
    picked = np.where(vals > 0, top, len(features))  # index of "" where not a risk driver
    # the texts are built once per distinct combination of drivers (a few thousand at most), not per row
    radix = np.int64(len(features) + 1)  # each row's k picks as one integer (base F + 1)
    codes, rows = np.unique(picked.astype(np.int64) @ radix ** np.arange(k - 1, -1, -1, dtype=np.int64),
                            return_inverse=True)
    combos = np.stack([codes // radix ** (k - 1 - j) % radix for j in range(k)], axis=1)
    out = []
    for lang in (0, 1):
        words = [p[lang] for p in phrases] + [""]
        texts = np.array(["; ".join(words[i] for i in combo if words[i]) for combo in combos.tolist()], dtype=object)
        out.append(texts[rows.reshape(-1)])
    return out[0], out[1]
