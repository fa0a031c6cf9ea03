"""Why an account is at risk: per-feature contributions of the explainable logistic pipeline,
turned into the top drivers in words, grouped by DEAR dimension."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from cs_analysis.scorecard import DIMENSION_LABELS, MEASURES

# feature → (DEAR dimension, English, Japanese); band_<measure> and health_<dimension> derive below
FEATURES: dict[str, tuple[str, str, str]] = {
    "utilisation": ("deployment", "license utilisation", "ライセンス利用率"),
    "utilisation_change_3m": ("deployment", "utilisation change", "利用率の変化"),
    "seat_trend": ("deployment", "seat change", "ライセンス数の変化"),
    "licenses": ("deployment", "licenses", "ライセンス数"),
    "days_since_contact": ("engagement", "time since CS contact", "最終接点からの日数"),
    "meetings_90d": ("engagement", "meetings in 90 days", "90日間の面談数"),
    "touchpoints_90d": ("engagement", "CS contacts in 90 days", "90日間の接点数"),
    "champion_change_180d": ("engagement", "recent champion change", "担当者交代"),
    "feature_breadth": ("adoption", "features used", "利用機能数"),
    "usage_trend": ("adoption", "active-user trend", "アクティブユーザー推移"),
    "onboarded": ("adoption", "onboarding", "オンボーディング"),
    "milestones_done": ("adoption", "onboarding milestones", "オンボーディング進捗"),
    "onboarding_overdue": ("adoption", "onboarding overdue", "オンボーディング遅延"),
    "onboarding_stuck": ("adoption", "onboarding stuck", "オンボーディング停滞"),
    "roi_measured_365d": ("roi", "ROI not measured", "ROI未測定"),
    "nps_latest": ("other", "latest NPS", "直近のNPS"),
    "tickets_90d": ("other", "support tickets", "問い合わせ件数"),
    "severe_tickets_90d": ("other", "severe tickets", "重大チケット"),
    "severe_open_tickets": ("other", "open severe tickets", "未解決の重大チケット"),
    "mrr": ("other", "MRR", "MRR"),
    "mrr_change_3m": ("other", "MRR change", "MRRの変化"),
    "tenure_months": ("other", "tenure", "契約期間"),
    "days_since_signup": ("other", "time since signup", "契約からの日数"),
    "size": ("other", "company size", "企業規模"),
    "touch_tier": ("other", "touch tier", "タッチ区分"),
    "health_score": ("other", "health score", "ヘルススコア"),
    "health_level": ("other", "health level", "ヘルスレベル"),
}
FLAGS = {  # health flag → (DEAR dimension, English, Japanese)
    "no_contact": ("engagement", "no recent CS contact", "長期未接触"),
    "onboarding_stuck": ("adoption", "onboarding stuck", "オンボーディング停滞"),
    "champion_change": ("engagement", "champion changed", "担当者交代"),
    "low_utilisation": ("deployment", "low utilisation", "低い利用率"),
    "detractor": ("other", "detractor in NPS", "NPS批判者"),
    "severe_ticket": ("other", "severe ticket", "重大チケット"),
    "seats_down": ("deployment", "seats reduced", "ライセンス減少"),
}
# composite scores are model inputs but not reasons a CSM can act on
COMPOSITES = {"health_score", "health_level", *(f"health_{d}" for d in DIMENSION_LABELS)}


def describe(feature: str, measure_dimensions: dict[str, str]) -> tuple[str, str]:
    """(English, Japanese) phrase for a feature, prefixed by its DEAR dimension when known
    (``measure_dimensions``: the scorecard's dimension of each measure)."""
    if feature.startswith("band_") and feature[5:] in MEASURES:
        _, en, ja, _ = MEASURES[feature[5:]]
        dim = measure_dimensions.get(feature[5:], "other")
    elif feature.startswith("health_flag_") and feature[12:] in FLAGS:
        dim, en, ja = FLAGS[feature[12:]]
    elif feature in FEATURES:
        dim, en, ja = FEATURES[feature]
    else:
        return feature, feature
    d_en, d_ja = DIMENSION_LABELS[dim]
    return f"{d_en}: {en}", f"{d_ja}: {ja}"


def transformed_means(explainer: Pipeline, frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Means of the explainer's transformed columns over (training) rows: the "typical account"."""
    return np.asarray(explainer[:-1].transform(frame[list(features)]), dtype=float).mean(axis=0)


def contributions(explainer: Pipeline, means: np.ndarray, frame: pd.DataFrame,
                  features: Sequence[str]) -> np.ndarray:
    """Rows × input features: each feature's additive push on the log-odds of churn relative to
    the typical training account (``means``), summed over the columns made from it."""
    prep, model = explainer[:-1], explainer[-1]
    xt = np.asarray(prep.transform(frame[list(features)]), dtype=float)
    names = prep.get_feature_names_out()
    groups = np.zeros((len(names), len(features)))
    groups[np.arange(len(names)), [_source(n, features) for n in names]] = 1.0
    return ((xt - means) * model.coef_[0]) @ groups


def _source(name: str, features: Sequence[str]) -> int:
    """Index of the input feature a transformed column came from."""
    base = name.split("__", 1)[-1]
    base = base.removeprefix("missingindicator_")
    candidates = [i for i, f in enumerate(features) if base == f or base.startswith(f + "_")]
    return max(candidates, key=lambda i: len(features[i]))


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
    out = []
    for lang in (0, 1):
        words = np.array([p[lang] for p in phrases] + [""], dtype=object)
        picked = np.where(vals > 0, top, len(features))  # index of "" where not a risk driver
        cols = [words[picked[:, j]] for j in range(k)]
        text = cols[0]
        for col in cols[1:]:
            text = np.where(col != "", text + "; " + col, text)
        out.append(text)
    return out[0], out[1]
