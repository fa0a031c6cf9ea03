"""The health scorecard (DEAR frame) as configuration: dimensions, measures, thresholds, levels.

Declared in the ``health:`` section of the settings YAML (shipped default in settings.yaml).
Each measure maps a point-in-time signal (see :mod:`cs_analysis.health.signals`) to 0–100 points by
thresholds: with ``bins: [b1, b2, …]`` and ``points: [p0, p1, …]`` a value below b1 scores p0,
from b1 up to b2 scores p1, and so on. A missing value (e.g. an account that never answered the
NPS survey) scores the measure's ``missing`` points when it has them; without them the measure
is left out for that account and the others are re-weighted. Weights are relative (normalised
within a dimension and across dimensions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cs_analysis.errors import ConfigError

DIMENSIONS = ("deployment", "engagement", "adoption", "roi", "other")
ONBOARDING_RULES = ("milestones", "steady_usage", "milestones_or_usage")
# measure: (table it needs, unit); its words: i18n.MEASURES
MEASURES: dict[str, tuple[str, str]] = {
    "utilisation": ("usage", "ratio"),
    "seat_trend": ("subscriptions", "change"),
    "days_since_contact": ("touchpoints", "days"),
    "meetings_90d": ("touchpoints", "count"),
    "feature_breadth": ("usage", "count"),
    "usage_trend": ("usage", "change"),
    "roi_measured_365d": ("roi", "flag"),
    "nps_latest": ("nps_responses", "score"),
    "severe_open_tickets": ("tickets", "count"),
    "severe_tickets_90d": ("tickets", "count"),
}


@dataclass(frozen=True)
class Measure:
    name: str
    weight: float
    bins: tuple[float, ...]
    points: tuple[float, ...]
    missing: float | None = None  # points of a missing value; None: the measure is left out

    def score(self, values: np.ndarray) -> np.ndarray:
        """Points of each value (a missing value scores ``missing``, else NaN)."""
        values = np.asarray(values, float)
        points = np.asarray(self.points, float)[np.digitize(np.nan_to_num(values), self.bins)]
        return np.where(np.isnan(values), np.nan if self.missing is None else self.missing, points)


@dataclass(frozen=True)
class Dimension:
    name: str
    weight: float
    measures: tuple[Measure, ...]


@dataclass(frozen=True)
class OnboardingRule:
    """Onboarding is complete when the milestones are reached, or usage is steady (utilisation ≥
    ``steady_usage_min_utilisation`` for ``steady_usage_months`` months in a row), or either."""

    rule: str = "milestones_or_usage"
    milestones: tuple[str, ...] = ("training_started", "operations_learned")
    steady_usage_months: int = 3
    steady_usage_min_utilisation: float = 0.5
    stuck_after_days: int = 120


@dataclass(frozen=True)
class Scorecard:
    """Dimensions with measures, level cut-offs and Karakuri's rules."""

    dimensions: tuple[Dimension, ...]
    level_minimums: tuple[float, float, float]  # minimum score of levels 2, 3, 4
    champion_cap_level: int
    champion_cap_days: int
    onboarding_cap_level: int  # maturity: not yet onboarded → at most this level
    stuck_cap_level: int  # onboarding stuck → at most this level
    no_contact_days: int
    default_target_level: int
    onboarding: OnboardingRule
    low_utilisation: float = 0.3  # the low_utilisation flag: utilisation below this

    def measures(self) -> list[tuple[Dimension, Measure]]:
        return [(d, m) for d in self.dimensions for m in d.measures]

    def levels(self, scores: np.ndarray) -> np.ndarray:
        """Level 1–4 of each score (0 where the score is missing)."""
        level = 1 + np.digitize(np.nan_to_num(scores, nan=-1.0), self.level_minimums)
        return np.where(np.isnan(scores), 0, level)


def _number(raw: Any, where: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigError(f"{where} must be a number, got {raw!r}")
    if not math.isfinite(raw):
        raise ConfigError(f"{where} must be a finite number, got {raw!r}")
    if (low is not None and raw < low) or (high is not None and raw > high):
        raise ConfigError(f"{where} must be in [{low}, {high}], got {raw!r}")
    return float(raw)


def _level(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 4:
        raise ConfigError(f"{where} must be a level 1-4, got {raw!r}")
    return raw


def _mapping(raw: Any, where: str, keys: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping")
    if keys is not None and set(raw) - keys:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(set(raw) - keys))}; known: "
                          f"{', '.join(sorted(keys))}")
    return raw


def _measure(name: str, raw: Any, where: str, known: tuple[str, ...]) -> Measure:
    if name not in known:
        raise ConfigError(f"{where}: unknown measure {name!r}; known: {', '.join(known)}")
    spec = _mapping(raw, where, {"weight", "bins", "points", "missing"})
    bins = spec.get("bins")
    points = spec.get("points")
    if not isinstance(bins, list) or not isinstance(points, list):
        raise ConfigError(f"{where}: needs lists 'bins' and 'points'")
    b = tuple(_number(x, f"{where}.bins") for x in bins)
    p = tuple(_number(x, f"{where}.points", 0, 100) for x in points)
    if len(p) != len(b) + 1:
        raise ConfigError(f"{where}: needs one more point than bins ({len(b)} bins, {len(p)} points)")
    if any(x >= y for x, y in zip(b, b[1:], strict=False)):
        raise ConfigError(f"{where}: bins must increase")
    missing = spec.get("missing")
    return Measure(name, _number(spec.get("weight", 1), f"{where}.weight", 0), b, p,
                   None if missing is None else _number(missing, f"{where}.missing", 0, 100))


def parse_scorecard(raw: Any, source: str = "health") -> Scorecard:
    """Build a :class:`Scorecard` from its YAML mapping; any mistake is a :class:`ConfigError`."""
    top = _mapping(raw, source, {"levels", "champion_change", "maturity", "no_contact_days", "low_utilisation",
                                 "default_target_level", "onboarding", "dimensions"})
    dims_raw = _mapping(top.get("dimensions"), f"{source}.dimensions")
    dimensions = []
    for name, spec in dims_raw.items():
        where = f"{source}.dimensions.{name}"
        if name not in DIMENSIONS:
            raise ConfigError(f"{where}: unknown dimension; use {', '.join(DIMENSIONS)}")
        spec = _mapping(spec, where, {"weight", "measures"})
        measures = tuple(_measure(m, s, f"{where}.measures.{m}", tuple(MEASURES))
                         for m, s in _mapping(spec.get("measures"), f"{where}.measures").items())
        if not measures:
            raise ConfigError(f"{where}: needs at least one measure")
        if not any(m.weight > 0 for m in measures):
            raise ConfigError(f"{where}.measures: every measure weight is 0; give at least one a weight > 0")
        dimensions.append(Dimension(name, _number(spec.get("weight", 1), f"{where}.weight", 0), measures))
    if not dimensions:
        raise ConfigError(f"{source}.dimensions: needs at least one dimension")
    if not any(d.weight > 0 for d in dimensions):
        raise ConfigError(f"{source}.dimensions: every dimension weight is 0; give at least one a weight > 0")
    levels = _mapping(top.get("levels"), f"{source}.levels", {"good", "healthy", "caution"})
    minimums = tuple(_number(levels.get(k), f"{source}.levels.{k}", 0, 100) for k in ("caution", "healthy", "good"))
    if not minimums[0] < minimums[1] < minimums[2]:
        raise ConfigError(f"{source}.levels: need caution < healthy < good")
    champion = _mapping(top.get("champion_change", {}), f"{source}.champion_change", {"cap_level", "days"})
    maturity = _mapping(top.get("maturity", {}), f"{source}.maturity", {"onboarding_cap_level", "stuck_cap_level"})
    ob = _mapping(top.get("onboarding", {}), f"{source}.onboarding",
                  {"rule", "milestones", "steady_usage_months", "steady_usage_min_utilisation", "stuck_after_days"})
    rule = ob.get("rule", "milestones_or_usage")
    if rule not in ONBOARDING_RULES:
        raise ConfigError(f"{source}.onboarding.rule must be one of {', '.join(ONBOARDING_RULES)}")
    milestones = ob.get("milestones", ["training_started", "operations_learned"])
    if not isinstance(milestones, list) or not all(isinstance(m, str) for m in milestones):
        raise ConfigError(f"{source}.onboarding.milestones must be a list of milestone names")
    return Scorecard(
        dimensions=tuple(dimensions),
        level_minimums=minimums,  # type: ignore[arg-type]
        champion_cap_level=_level(champion.get("cap_level", 2), f"{source}.champion_change.cap_level"),
        champion_cap_days=int(_number(champion.get("days", 180), f"{source}.champion_change.days", 0)),
        onboarding_cap_level=_level(maturity.get("onboarding_cap_level", 3), f"{source}.maturity.onboarding_cap_level"),
        stuck_cap_level=_level(maturity.get("stuck_cap_level", 2), f"{source}.maturity.stuck_cap_level"),
        no_contact_days=int(_number(top.get("no_contact_days", 180), f"{source}.no_contact_days", 1)),
        low_utilisation=_number(top.get("low_utilisation", 0.3), f"{source}.low_utilisation", 0, 10),
        default_target_level=_level(top.get("default_target_level", 3), f"{source}.default_target_level"),
        onboarding=OnboardingRule(
            rule=rule,
            milestones=tuple(milestones),
            steady_usage_months=int(_number(ob.get("steady_usage_months", 3), f"{source}.onboarding.steady_usage_months", 1)),
            steady_usage_min_utilisation=_number(ob.get("steady_usage_min_utilisation", 0.5),
                                                 f"{source}.onboarding.steady_usage_min_utilisation", 0, 10),
            stuck_after_days=int(_number(ob.get("stuck_after_days", 120), f"{source}.onboarding.stuck_after_days", 1)),
        ),
    )


def _plain(x: float) -> int | float:
    """A number as a person writes it in YAML: 30, not 30.0."""
    return int(x) if float(x).is_integer() else float(x)


def scorecard_mapping(card: Scorecard) -> dict[str, Any]:
    """The ``health:`` YAML mapping of ``card`` (what :func:`parse_scorecard` reads back to an
    equal scorecard): every key written, numbers as a person would write them."""
    caution, healthy, good = card.level_minimums
    ob = card.onboarding
    return {
        "levels": {"good": _plain(good), "healthy": _plain(healthy), "caution": _plain(caution)},
        "champion_change": {"cap_level": card.champion_cap_level, "days": card.champion_cap_days},
        "maturity": {"onboarding_cap_level": card.onboarding_cap_level, "stuck_cap_level": card.stuck_cap_level},
        "no_contact_days": card.no_contact_days,
        "low_utilisation": _plain(card.low_utilisation),
        "default_target_level": card.default_target_level,
        "onboarding": {"rule": ob.rule, "milestones": list(ob.milestones), "steady_usage_months": ob.steady_usage_months,
                       "steady_usage_min_utilisation": _plain(ob.steady_usage_min_utilisation),
                       "stuck_after_days": ob.stuck_after_days},
        "dimensions": {d.name: {"weight": _plain(d.weight), "measures": {
            m.name: {"weight": _plain(m.weight), "bins": [_plain(b) for b in m.bins],
                     "points": [_plain(p) for p in m.points],
                     **({} if m.missing is None else {"missing": _plain(m.missing)})}
            for m in d.measures}} for d in card.dimensions},
    }
