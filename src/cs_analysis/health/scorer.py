"""Health score on the DEAR frame (docs/health.md): scorecard points per dimension, a 0–100 score, four
levels (4 良好 Good … 1 要対応 Action required), Karakuri's rules and targets, at any date.

>>> scorer = HealthScorer(load_dataset("data/demo"), load_settings())   # doctest: +SKIP
>>> scorer.at("2026-09-30")                                             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from cs_analysis import i18n
from cs_analysis.config.scorecard import MEASURES
from cs_analysis.config.settings import Settings
from cs_analysis.core.ledger import MrrCube
from cs_analysis.data.dataset import Dataset
from cs_analysis.health.signals import SignalBuilder

LEVEL_NAMES_EN = np.array(["", *(i18n.LEVELS[k][0] for k in (1, 2, 3, 4))], dtype=object)  # index = level
LEVEL_NAMES_JA = np.array(["", *(i18n.LEVELS[k][1] for k in (1, 2, 3, 4))], dtype=object)
# the table each flag needs ("onboarding rule": the onboarding rule's own data)
FLAG_TABLES = {"no_contact": "touchpoints", "onboarding_stuck": "onboarding rule", "champion_change": "champion_changes",
               "low_utilisation": "usage", "detractor": "nps_responses", "severe_ticket": "tickets",
               "seats_down": "subscriptions"}
# the DEAR dimension a flag belongs to (its words: i18n.FLAGS, i18n.FLAG_DRIVERS)
FLAG_DIMENSIONS = {"no_contact": "engagement", "onboarding_stuck": "adoption", "champion_change": "engagement",
                   "low_utilisation": "deployment", "detractor": "other", "severe_ticket": "other",
                   "seats_down": "deployment"}
FLAGS = tuple(FLAG_TABLES)  # every flag, in output order
# signals of some rows: a SignalBuilder.at frame's rows, or a mapping of each signal to its values
Signals = pd.DataFrame | Mapping[str, np.ndarray]


def _format(values: np.ndarray, unit: str, lang: str) -> np.ndarray:
    """Vectorised display of measure values ("" where missing)."""
    v = np.asarray(values, float)
    ok = ~np.isnan(v)
    scaled = np.round(np.nan_to_num(v) * (100 if unit in ("ratio", "change") else 1)).astype(np.int64)
    digits = pd.Series(scaled).astype(str).to_numpy(dtype=object)
    if unit == "flag":
        words = i18n.FLAG_VALUE[lang == "ja"]
        text = np.where(scaled > 0, words[1], words[0]).astype(object)
    elif unit == "ratio":
        text = digits + "%"
    elif unit == "change":
        text = np.where(scaled >= 0, "+", "") + digits + "%"
    elif unit == "days":
        text = digits + i18n.pick(i18n.DAYS_UNIT, lang)
    else:
        text = digits
    if unit != "flag":
        text = pd.Series(text, dtype=object).str.replace("-", i18n.MINUS, regex=False).to_numpy(dtype=object)
    return np.where(ok, text, "").astype(object)


@dataclass
class HealthScorer:
    """Scores every active account at any date from data dated on or before it.
    ``cube``: the dataset's MRR cube when already built (else it is built here)."""

    dataset: Dataset
    settings: Settings
    cube: MrrCube | None = None

    @cached_property
    def signals(self) -> SignalBuilder:
        return SignalBuilder(self.dataset, self.settings, self.cube)

    @cached_property
    def _measures(self) -> list[tuple[str, str, object]]:
        """(dimension, measure name, Measure) of every measure whose table is present."""
        available = self.signals.available()
        return [(d.name, m.name, m) for d, m in self.settings.health.measures() if available[m.name]]

    @property
    def dimensions_on(self) -> list[str]:
        """Dimensions with at least one measure whose table is present."""
        return [d.name for d in self.settings.health.dimensions if any(m[0] == d.name for m in self._measures)]

    @property
    def notes(self) -> list[str]:
        """What is switched off because its table (or column) is absent: measures (the rest are
        re-weighted), flags and Karakuri's rules; one line each."""
        available = self.signals.available()
        off = [m.name for _, m in self.settings.health.measures() if not available[m.name]]
        notes = []
        if off:
            notes.append(f"measures switched off (table or column absent): {', '.join(off)}; "
                         "the remaining measures are re-weighted")
        rules = ("onboarding_stuck", "champion_change")  # said below, with their rules
        flags_off = [f for f in FLAGS if not self.flag_available(f) and f not in rules]
        if flags_off:
            notes.append("flags switched off (table absent): " + ", ".join(
                f"{f} (needs {FLAG_TABLES[f]})" for f in flags_off))
        if not self.signals.onboarding_rule_on:
            need = "usage" if self.settings.health.onboarding.rule == "steady_usage" else "onboarding"
            notes.append(f"onboarding rule switched off (no {need} table): no account is capped as "
                         "onboarding or flagged stuck, and the onboarding KPIs are empty")
        if self.dataset.champion_changes is None:
            notes.append("champion-change rule switched off (no champion_changes table): no level cap, "
                         "no champion_change flag")
        return notes

    def flag_available(self, flag: str) -> bool:
        """Whether the data behind a flag is present (see ``FLAG_TABLES``)."""
        table = FLAG_TABLES[flag]
        if table == "onboarding rule":
            return self.signals.onboarding_rule_on
        return getattr(self.dataset, table) is not None

    @cached_property
    def _targets(self) -> np.ndarray:
        acc = self.dataset.accounts.set_index("account_id").reindex(self.signals.cube.accounts)
        default = self.settings.health.default_target_level
        if "target_health_level" not in acc.columns:
            return np.full(len(acc), default)
        return acc["target_health_level"].fillna(default).to_numpy(dtype=int)

    def _points(self, sig: Signals) -> tuple[list, dict[str, np.ndarray]]:
        """The dimensions that have a measure with data, and each such measure's points for the
        rows of ``sig`` (NaN where a value is missing and the measure has no ``missing`` points)."""
        dims = [d for d in self.settings.health.dimensions if any(m[0] == d.name for m in self._measures)]
        return dims, {name: m.score(np.asarray(sig[name])) for _, name, m in self._measures}

    def at(self, as_of: str | pd.Timestamp, reasons: bool = True, signals: pd.DataFrame | None = None) -> pd.DataFrame:
        """One row per account active on ``as_of`` (billed that month): dimension points, score,
        level and labels, caps, target, flags and (optionally) the top three reasons in words.
        ``signals``: ``self.signals.at(as_of)`` when the caller has it already.
        A date outside the data's months is a :class:`~cs_analysis.errors.HistoryError`."""
        self.signals.cube.require_day(pd.Timestamp(as_of))
        sig = self.signals.at(as_of) if signals is None else signals
        active = sig["active"].to_numpy()
        sig = sig[active]
        values, points, dims = self._values(sig, np.flatnonzero(active))
        card = self.settings.health
        level = values["level"]
        out = pd.DataFrame({"account_id": sig.index, "as_of": sig["as_of"].to_numpy()})
        for name, column in values.items():
            out[name] = column
            if name == "level":
                out["level_en"] = LEVEL_NAMES_EN[level]
                out["level_ja"] = LEVEL_NAMES_JA[level]
        flags = [name[len("flag_"):] for name in values if name.startswith("flag_")]
        days = card.no_contact_days
        pct = f"{card.low_utilisation * 100:g}"
        labels = np.array([i18n.FLAGS[f][0].format(days=days, pct=pct) for f in flags], dtype=object)
        out["flags"] = _join(np.column_stack([values[f"flag_{f}"] for f in flags]), labels) if flags else ""
        if reasons:
            out["reasons"], out["reasons_ja"] = self._reasons(sig, points, dims)
        return out

    def values(self, signals: pd.DataFrame) -> dict[str, np.ndarray]:
        """The numbers of :meth:`at` (no words) for the active rows of ``signals`` (a
        ``self.signals.at(day)`` frame), in its column order: every dimension's points (NaN when
        switched off), ``score``, ``level``, the caps, ``target_level``, ``meets_target`` and a
        ``flag_*`` per flag whose data is present. The model's features read these."""
        active = signals["active"].to_numpy()
        return self._values(signals[active], np.flatnonzero(active))[0]

    def values_of(self, signals: Signals, accounts: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`values` of any rows: ``signals`` maps each signal to its values on those rows
        (rows of one date or of many, e.g. :meth:`SignalBuilder.arrays` of several days, stacked)
        and ``accounts`` gives each row's account as its position in the cube's accounts."""
        return self._values(signals, np.asarray(accounts))[0]

    def _values(self, sig: Signals, accounts: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list]:
        """:meth:`values` of the rows ``sig`` (``accounts``: each row's position in the cube's
        accounts), with the measures' points and the dimensions on."""
        card = self.settings.health
        dims, points = self._points(sig)
        n = len(accounts)
        nan = np.full(n, np.nan)
        out: dict[str, np.ndarray] = {dim.name: nan for dim in card.dimensions}  # a switched-off one stays empty
        dim_scores, dim_weights = [], []
        for dim in dims:
            names = [(name, m) for d, name, m in self._measures if d == dim.name]
            score = _weighted([points[n] for n, _ in names], [m.weight for _, m in names])
            out[dim.name] = score
            dim_scores.append(score)
            dim_weights.append(dim.weight)
        score = _weighted(dim_scores, dim_weights)
        out["score"] = score
        raw_level = card.levels(score)
        champ = np.asarray(sig["days_since_champion_change"]) if "days_since_champion_change" in sig else nan
        recent_champion = champ <= card.champion_cap_days
        rule_on = self.signals.onboarding_rule_on  # off: nobody counts as onboarding or stuck
        onboarded = np.asarray(sig["onboarded"]) if rule_on else np.ones(n, bool)
        stuck = np.asarray(sig["onboarding_stuck"]) if rule_on else np.zeros(n, bool)
        level = np.where(recent_champion, np.minimum(raw_level, card.champion_cap_level), raw_level)
        level = np.where(~onboarded, np.minimum(level, card.onboarding_cap_level), level)
        level = np.where(stuck, np.minimum(level, card.stuck_cap_level), level)
        out["level"] = level
        out["capped_by_champion_change"] = recent_champion & (raw_level > card.champion_cap_level)
        out["capped_by_onboarding"] = (level < raw_level) & ~out["capped_by_champion_change"]
        targets = self._targets[accounts]
        out["target_level"] = targets
        out["meets_target"] = level >= targets
        for name, values in self._flags(sig, recent_champion, stuck).items():
            out[f"flag_{name}"] = values
        return out, points, dims

    def _flags(self, sig: Signals, recent_champion: np.ndarray, stuck: np.ndarray) -> dict[str, np.ndarray]:
        def col(name: str) -> np.ndarray:
            return np.asarray(sig[name], dtype=float) if name in sig else np.full(len(stuck), np.nan)

        flags = {
            "no_contact": col("days_since_contact") > self.settings.health.no_contact_days,
            "onboarding_stuck": stuck,
            "champion_change": recent_champion,
            "low_utilisation": col("utilisation") < self.settings.health.low_utilisation,
            "detractor": col("nps_latest") <= 6,
            "severe_ticket": col("severe_tickets_90d") > 0,
            "seats_down": col("seat_trend") < 0,
        }
        return {name: values for name, values in flags.items() if self.flag_available(name)}

    def _reasons(self, sig: pd.DataFrame, points: dict[str, np.ndarray],
                 dims: list) -> tuple[np.ndarray, np.ndarray]:
        """The three measures that cost the most points, in words (English, Japanese)."""
        dim_w = {d.name: d.weight / sum(x.weight for x in dims) for d in dims}
        losses, texts_en, texts_ja = [], [], []
        for dim, name, m in self._measures:
            in_dim = sum(x.weight for d, _, x in self._measures if d == dim)
            losses.append(np.nan_to_num(100 - points[name]) * m.weight / in_dim * dim_w[dim])
            en, ja = i18n.MEASURES[name]
            unit = MEASURES[name][1]
            values = sig[name].to_numpy(dtype=float)
            d_en, d_ja = i18n.DIMENSIONS[dim]
            texts_en.append(f"{d_en}: {en} " + _format(values, unit, "en"))
            texts_ja.append(f"{d_ja}: {ja} " + _format(values, unit, "ja"))
        loss = np.column_stack(losses)
        order = np.argsort(-loss, axis=1, kind="stable")[:, :3]
        top = np.take_along_axis(loss, order, axis=1) > 0
        out = []
        for texts in (texts_en, texts_ja):
            picked = np.take_along_axis(np.column_stack(texts), order, axis=1)
            out.append(_join(top, picked))
        return out[0], out[1]

    def contributions(self, as_of: str | pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Each active account's points of the score per measure on ``as_of`` (account_id index;
        a measure's points × its share of the weights present for that account, so that a row
        adds up to the score) and the measures' values."""
        self.signals.cube.require_day(pd.Timestamp(as_of))
        sig = self.signals.at(as_of)
        sig = sig[sig["active"].to_numpy()]
        dims, points = self._points(sig)
        present_dims = np.zeros((len(sig), len(dims)))
        inner: dict[str, np.ndarray] = {}
        for j, dim in enumerate(dims):
            names = [(name, m) for d, name, m in self._measures if d == dim.name]
            w = np.column_stack([np.where(np.isnan(points[n]), 0.0, m.weight) for n, m in names])
            total = w.sum(axis=1)
            for k, (n, _) in enumerate(names):
                inner[n] = np.divide(w[:, k], total, out=np.zeros(len(sig)), where=total > 0)
            present_dims[:, j] = np.where(total > 0, dim.weight, 0.0)
        dim_total = present_dims.sum(axis=1)
        contrib = {}
        for j, dim in enumerate(dims):
            share = np.divide(present_dims[:, j], dim_total, out=np.zeros(len(sig)), where=dim_total > 0)
            for d, name, _ in self._measures:
                if d == dim.name:
                    contrib[name] = np.nan_to_num(points[name]) * inner[name] * share
        names = [name for _, name, _ in self._measures]
        return (pd.DataFrame(contrib, index=sig.index)[names],
                pd.DataFrame({n: sig[n].to_numpy(dtype=float) for n in names}, index=sig.index))

    def moved_by(self, since: str | pd.Timestamp, as_of: str | pd.Timestamp, top: int = 3) -> pd.DataFrame:
        """Why each account's score moved between ``since`` and ``as_of``: its score and level
        then, and the ``top`` measures whose points of the score changed most, in words
        (``moved_by``, ``moved_by_ja``: "利用率 72%→41% (−12点)"); the changes add up to the
        score's change. Accounts not active at ``since`` have no score then and no reasons."""
        self.signals.cube.require_day(pd.Timestamp(since), "--since date")
        now_c, now_v = self.contributions(as_of)
        then_c, then_v = self.contributions(since)
        then = self.at(since, reasons=False).set_index("account_id")
        ids = now_c.index
        delta = now_c - then_c.reindex(ids)
        known = ids.isin(then_c.index)
        out = pd.DataFrame({"account_id": ids, "score_since": then["score"].reindex(ids).to_numpy(),
                            "level_since": pd.array(then["level"].reindex(ids), dtype="Int64")})
        # a measure is a reason only where its own points changed (a band crossed, a value
        # appearing or going missing), not where it only took up the weight of another
        scorecard = {name: m for _, name, m in self._measures}
        own = np.column_stack([_changed(scorecard[n].score(then_v[n].reindex(ids).to_numpy()),
                                        scorecard[n].score(now_v[n].to_numpy())) for n in now_c.columns])
        d = np.where(own, delta.to_numpy(), 0.0)
        order = np.argsort(-np.abs(np.nan_to_num(d)), axis=1, kind="stable")[:, :top]
        picked = np.take_along_axis(np.nan_to_num(d), order, axis=1)
        show = (np.abs(picked) >= 0.5) & known[:, None]
        texts = {"en": [], "ja": []}
        for j, name in enumerate(now_c.columns):
            unit = MEASURES[name][1]
            for lang, words in (("en", " pts"), ("ja", "点")):
                label = i18n.pick(i18n.MEASURES[name], lang)
                before = _format(then_v[name].reindex(ids).to_numpy(), unit, lang)
                after = _format(now_v[name].to_numpy(), unit, lang)
                change = pd.Series(np.round(d[:, j])).map(lambda x: f"{x:+.0f}".replace("-", i18n.MINUS)).to_numpy(dtype=object)
                texts[lang].append(label + " " + np.where(before == "", "—", before) + "→"
                                   + np.where(after == "", "—", after) + " (" + change + words + ")")
        for lang, column in (("en", "moved_by"), ("ja", "moved_by_ja")):
            table = np.column_stack(texts[lang]) if texts[lang] else np.empty((len(ids), 0), object)
            out[column] = _join(show, np.take_along_axis(table, order, axis=1)) if len(now_c.columns) else ""
        return out

    def history(self, as_of_dates: Sequence[str | pd.Timestamp]) -> pd.DataFrame:
        """:meth:`at` for each date (without reasons), stacked: snapshots over history."""
        return pd.concat([self.at(d, reasons=False) for d in as_of_dates], ignore_index=True)


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Points that differ, a missing value on one side counting as a change."""
    return np.isnan(before) != np.isnan(after) | (np.nan_to_num(before) != np.nan_to_num(after))


def _weighted(parts: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Weighted mean of the parts that are present (weights re-normalised per row)."""
    values = np.column_stack(parts)
    w = np.where(np.isnan(values), 0.0, np.asarray(weights, float))
    total = w.sum(axis=1)
    return np.divide((np.nan_to_num(values) * w).sum(axis=1), total,
                     out=np.full(len(values), np.nan), where=total > 0)


def _join(mask: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Row-wise "; "-joined texts where mask is true (a loop over columns, not rows)."""
    texts = np.broadcast_to(texts, mask.shape).astype(object)
    out = np.full(mask.shape[0], "", dtype=object)
    for j in range(mask.shape[1]):
        add = mask[:, j] & (texts[:, j] != "")
        out = np.where(add & (out != ""), out + "; " + texts[:, j], np.where(add, texts[:, j], out))
    return out


def month_ends(first: pd.Period, last: pd.Period) -> list[pd.Timestamp]:
    """Last day of each month from ``first`` to ``last``: monthly snapshot dates."""
    return [p.end_time.normalize() for p in pd.period_range(first, last, freq="M")]
