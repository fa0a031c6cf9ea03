"""Every CS KPI of SPEC §2.3–2.4 for a period and optional segmentations, as a tidy frame.

Output columns: ``period, segment_by, segment, kpi, value``; totals use segment_by = segment =
"all". Rates are percent, money is in the data's currency, counts are integers, and an
undefined value (a rate over an empty set) is empty (None), never 0 or inf. Definitions and
decisions: docs/kpis.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from cs_analysis.config import Settings
from cs_analysis.dataset import Dataset
from cs_analysis.errors import DataError
from cs_analysis.ledger import MOVEMENTS, MrrCube, build_cube
from cs_analysis.periods import Period, months_to_fiscal_year_end, parse_period
from cs_analysis.retention import ShiftedBetaGeometric, monthly_discount
from cs_analysis.segments import Segmenter, reference_month

# name: (unit, English label, Japanese label); order = output order
KPIS: dict[str, tuple[str, str, str]] = {
    "mrr_start": ("money", "MRR at start", "期首MRR"),
    "mrr_end": ("money", "MRR at end", "期末MRR"),
    "new_mrr": ("money", "New MRR", "新規MRR"),
    "expansion_mrr": ("money", "Expansion MRR", "拡大MRR"),
    "contraction_mrr": ("money", "Contraction MRR", "縮小MRR"),
    "churned_mrr": ("money", "Churned MRR", "解約MRR"),
    "reactivation_mrr": ("money", "Reactivation MRR", "再開MRR"),
    "net_new_mrr": ("money", "Net new MRR", "純増MRR"),
    "active_accounts_start": ("count", "Active accounts at start", "期首顧客数"),
    "active_accounts_end": ("count", "Active accounts at end", "期末顧客数"),
    "churned_accounts": ("count", "Churned accounts", "解約顧客数"),
    "new_accounts": ("count", "New accounts", "新規顧客数"),
    "customer_churn_rate": ("percent", "Customer churn rate", "顧客チャーンレート"),
    "avg_monthly_churn_rate": ("percent", "Average monthly churn rate", "平均月次チャーンレート"),
    "license_churn_rate": ("percent", "License churn rate", "ライセンスチャーンレート"),
    "revenue_churn_rate": ("percent", "Revenue churn rate", "レベニューチャーンレート"),
    "net_revenue_churn_rate": ("percent", "Net revenue churn rate", "ネットレベニューチャーンレート"),
    "customer_retention_rate": ("percent", "Customer retention rate", "顧客維持率"),
    "nrr": ("percent", "Net revenue retention (NRR)", "売上維持率 (NRR)"),
    "grr": ("percent", "Gross revenue retention (GRR)", "総収益維持率 (GRR)"),
    "upsell_rate": ("percent", "Upsell rate", "アップセル率"),
    "cross_sell_rate": ("percent", "Cross-sell rate", "クロスセル率"),
    "upsell_mrr": ("money", "Upsell MRR", "アップセル額"),
    "cross_sell_mrr": ("money", "Cross-sell MRR", "クロスセル額"),
    "arpa": ("money", "ARPA (MRR per account)", "顧客平均単価 (ARPA)"),
    "ltv": ("money", "LTV (guide formula)", "LTV (ガイド式)"),
    "ltv_survival": ("money", "LTV (sBG survival model)", "LTV (生存モデル)"),
    "lost_revenue": ("money", "Lost revenue to fiscal year end", "逸失金額"),
    "nps": ("score", "NPS", "NPS"),
    "nps_responses": ("count", "NPS responses", "NPS回答数"),
    "promoters": ("count", "Promoters (9-10)", "推奨者 (9-10)"),
    "detractors": ("count", "Detractors (0-6)", "批判者 (0-6)"),
    "referral_candidates": ("count", "Referral candidates", "紹介候補"),
    "referral_touchpoints": ("count", "Referral touchpoints", "紹介接点"),
    "tickets_opened": ("count", "Support tickets opened", "問い合わせ件数"),
    "objectives_due": ("count", "Success-plan objectives due", "期限到来の目標数"),
    "objectives_on_time_rate": ("percent", "Objectives completed on time", "期限内達成率"),
    "objectives_overdue": ("count", "Objectives overdue at end", "期末の期限超過目標"),
}
COLUMNS = ["period", "segment_by", "segment", "kpi", "value"]
ACTIVITY = ["mrr_start", "mrr_end", "churned_mrr", "new_mrr", "reactivation_mrr", "nps_responses",
            "referral_touchpoints", "tickets_opened", "objectives_due", "objectives_overdue"]


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num ÷ den × 100, NaN where den is 0."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num * 100.0, den, out=np.full(den.shape, np.nan), where=den != 0)


@dataclass
class KpiEngine:
    """Computes KPIs for any period from one dataset; build once, query many periods.

    >>> engine = KpiEngine(load_dataset("data/demo"), load_settings())   # doctest: +SKIP
    >>> engine.kpis("FY2025Q1", by=["size"])                              # doctest: +SKIP
    """

    dataset: Dataset
    settings: Settings

    @cached_property
    def cube(self) -> MrrCube:
        return build_cube(self.dataset.subscriptions, self.dataset.accounts["account_id"])

    @cached_property
    def segmenter(self) -> Segmenter:
        return Segmenter(self.dataset.accounts, self.cube, self.settings)

    @cached_property
    def _cum(self) -> dict[str, np.ndarray]:
        """Cumulative sums over months of each movement, lost revenue and new-account flags."""
        moves = self.cube.movements
        weight = months_to_fiscal_year_end(self.cube.months, self.settings.fiscal_year_start_month)
        out = {k: np.cumsum(v, axis=1) for k, v in moves.items()}
        out["lost_revenue"] = np.cumsum(moves["churn"] * weight.to_numpy()[None, :], axis=1)
        out["new_count"] = np.cumsum(moves["new"] > 0, axis=1)
        return out

    @cached_property
    def _nps(self) -> pd.DataFrame | None:
        nps = self.dataset.nps_responses
        if nps is None:
            return None
        return pd.DataFrame({
            "account": self.cube.accounts.get_indexer(nps["account_id"]),
            "month": self._month_col(nps["date"]),
            "date": nps["date"].to_numpy(),
            "score": nps["score"].to_numpy(),
        }).sort_values(["date"], kind="stable")

    def _month_col(self, dates: pd.Series) -> np.ndarray:
        first = self.cube.months[0]
        return ((dates.dt.year - first.year) * 12 + dates.dt.month - first.month).to_numpy()

    def period(self, period: str | Period) -> Period:
        """Parse ``period`` with the fiscal year start from settings and check it fits the data."""
        p = period if isinstance(period, Period) else parse_period(period, self.settings.fiscal_year_start_month)
        first, last = self.cube.months[0], self.cube.months[-1]
        if p.start < first or p.end > last:
            raise DataError(
                f"period {p.label} ({p.first}..{p.last}) needs data from {p.start} (the month before "
                f"it starts) to {p.end}, but the subscriptions cover {first}..{last}"
            )
        return p

    def account_stats(self, period: Period) -> pd.DataFrame:
        """Per-account quantities for ``period`` (one row per account of the cube)."""
        cube, cum = self.cube, self._cum
        i1, i2 = cube.month_index(period.first), cube.month_index(period.end)
        s = i1 - 1

        def over(key: str) -> np.ndarray:
            return cum[key][:, i2] - cum[key][:, s]

        mrr_s, mrr_e = cube.mrr[:, s], cube.mrr[:, i2]
        in_s, in_e = mrr_s > 0, mrr_e > 0
        ps, pe = cube.pair_mrr[:, s], cube.pair_mrr[:, i2]
        n = len(cube.accounts)
        upsell = np.bincount(cube.pair_account, np.where(ps > 0, np.maximum(0, pe - ps), 0), n)
        cross = np.bincount(cube.pair_account, np.where(ps == 0, pe, 0), n)
        lic_s, lic_e = cube.licenses[:, s], cube.licenses[:, i2]
        stats = {
            "in_start": in_s,
            "in_end": in_e,
            "churned": in_s & ~in_e,
            "mrr_start": mrr_s,
            "mrr_end": mrr_e,
            "mrr_end_of_start": np.where(in_s, mrr_e, 0.0),
            "min_mrr_of_start": np.where(in_s, np.minimum(mrr_s, mrr_e), 0.0),
            **{f"{k}_amount": over(k) for k in MOVEMENTS},
            "is_new": over("new_count") > 0,
            "lost_revenue": over("lost_revenue"),
            "licenses_start": np.where(in_s, lic_s, 0.0),
            "licenses_lost": np.where(in_s, np.maximum(0.0, lic_s - lic_e), 0.0),
            "upsell": np.where(in_s, upsell, 0.0),
            "cross_sell": np.where(in_s, cross, 0.0),
        }
        return pd.DataFrame(stats, index=cube.accounts)

    def kpis(self, period: str | Period, by: Sequence[str] = ()) -> pd.DataFrame:
        """Every KPI for ``period``, in total and for each segmentation in ``by``."""
        p = self.period(period)
        stats = self.account_stats(p)
        i1, i2 = self.cube.month_index(p.first), self.cube.month_index(p.end)
        ref = reference_month(self.cube, i1, i2)
        frames = []
        for seg_by in ["all", *[b for b in by if b != "all"]]:
            codes, names = self.segmenter.codes(seg_by, ref)
            # cohorts are segmented as they were when they started (no survivorship bias)
            cohort_codes, _ = self.segmenter.codes(seg_by, self._cohorts[0])
            values = self._aggregate(stats, codes, len(names), i1, i2, cohort_codes)
            frame = pd.DataFrame(values, index=list(names)).reindex(columns=list(KPIS))
            if seg_by != "all":  # omit segments with no activity at all in the period
                frame = frame[frame[ACTIVITY].fillna(0).ne(0).any(axis=1)]
            long = frame.stack(future_stack=True).rename("value").reset_index()
            long.columns = ["segment", "kpi", "value"]
            long.insert(0, "segment_by", seg_by)
            frames.append(long)
        out = pd.concat(frames, ignore_index=True)
        out.insert(0, "period", p.label)
        return _tidy(out)

    def _aggregate(self, stats: pd.DataFrame, codes: np.ndarray, k: int,
                   i1: int, i2: int, cohort_codes: np.ndarray) -> dict[str, np.ndarray]:
        def total(col: str) -> np.ndarray:
            return np.bincount(codes, stats[col].to_numpy(dtype=float), k)

        v: dict[str, np.ndarray] = {}
        v["mrr_start"], v["mrr_end"] = total("mrr_start"), total("mrr_end")
        for move, name in (("new", "new_mrr"), ("expansion", "expansion_mrr"),
                           ("contraction", "contraction_mrr"), ("churn", "churned_mrr"),
                           ("reactivation", "reactivation_mrr")):
            v[name] = total(f"{move}_amount")
        v["net_new_mrr"] = (v["new_mrr"] + v["expansion_mrr"] + v["reactivation_mrr"]
                            - v["contraction_mrr"] - v["churned_mrr"])
        n_s, n_e = total("in_start"), total("in_end")
        v["active_accounts_start"], v["active_accounts_end"] = n_s, n_e
        v["churned_accounts"], v["new_accounts"] = total("churned"), total("is_new")
        v["customer_churn_rate"] = _rate(v["churned_accounts"], n_s)
        active = self.cube.active
        monthly = np.vstack([
            _rate(np.bincount(codes, active[:, t - 1] & ~active[:, t], k),
                  np.bincount(codes, active[:, t - 1], k))
            for t in range(i1, i2 + 1)
        ])
        months_defined = (~np.isnan(monthly)).sum(axis=0)
        v["avg_monthly_churn_rate"] = np.divide(np.nansum(monthly, axis=0), months_defined,
                                                out=np.full(k, np.nan), where=months_defined > 0)
        v["license_churn_rate"] = _rate(total("licenses_lost"), total("licenses_start"))
        v["revenue_churn_rate"] = _rate(v["churned_mrr"] + v["contraction_mrr"], v["mrr_start"])
        v["net_revenue_churn_rate"] = _rate(
            v["churned_mrr"] + v["contraction_mrr"] - v["expansion_mrr"] - v["reactivation_mrr"],
            v["mrr_start"])
        v["customer_retention_rate"] = _rate(n_e - v["new_accounts"], n_s)
        v["nrr"] = _rate(total("mrr_end_of_start"), v["mrr_start"])
        v["grr"] = _rate(total("min_mrr_of_start"), v["mrr_start"])
        v["upsell_mrr"], v["cross_sell_mrr"] = total("upsell"), total("cross_sell")
        v["upsell_rate"] = _rate(np.bincount(codes, stats["upsell"].to_numpy() > 0, k), n_s)
        v["cross_sell_rate"] = _rate(np.bincount(codes, stats["cross_sell"].to_numpy() > 0, k), n_s)
        v["arpa"] = np.divide(v["mrr_end"], n_e, out=np.full(k, np.nan), where=n_e > 0)
        churn = v["avg_monthly_churn_rate"] / 100.0
        v["ltv"] = np.divide(v["arpa"] * self.settings.gross_margin, churn,
                             out=np.full(k, np.nan), where=churn > 0)
        v["ltv_survival"] = v["arpa"] * self.settings.gross_margin * self._lifetimes(cohort_codes, k, i2)
        v["lost_revenue"] = total("lost_revenue")
        v.update(self._nps_kpis(codes, k, i1, i2, stats["in_end"].to_numpy()))
        v.update(self._referral_touchpoints(codes, k, i1, i2))
        v.update(self._tickets(codes, k, i1, i2))
        v.update(self._roadmap(codes, k, i1, i2, stats["in_end"].to_numpy()))
        return v

    @cached_property
    def _cohorts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per account: month column of its first MRR (−1 if active in the opening month or never,
        i.e. left-truncated or absent) and of its first churn after that (−1 if none)."""
        moves = self.cube.movements
        started = moves["new"] > 0
        start = np.where(started.any(axis=1), np.argmax(started, axis=1), -1)
        churn = moves["churn"] > 0
        first_churn = np.where(churn.any(axis=1), np.argmax(churn, axis=1), -1)
        return start, first_churn

    def _lifetimes(self, codes: np.ndarray, k: int, end: int) -> np.ndarray:
        """Per segment (``codes``: each account's segment when it started), the sBG
        discounted expected lifetime (months) of a new account, fitted by maximum likelihood to
        every cohort that started after the opening month, as known at month ``end``; NaN with
        fewer than ``min_cohort_accounts`` accounts or no churn."""
        start, first_churn = self._cohorts
        seen = (start >= 0) & (start <= end)
        churned = seen & (first_churn >= 0) & (first_churn <= end)
        periods = np.where(churned, first_churn - start, end - start)  # T, or renewals survived
        span = end + 2
        out = np.full(k, np.nan)
        churn_counts = np.zeros((k, span))
        cens_counts = np.zeros((k, span))
        np.add.at(churn_counts, (codes[churned], periods[churned]), 1)
        np.add.at(cens_counts, (codes[seen & ~churned], periods[seen & ~churned]), 1)
        discount = monthly_discount(self.settings.annual_discount_rate)
        for seg in range(k):  # one small maximum-likelihood fit per segment
            n = churn_counts[seg].sum() + cens_counts[seg].sum()
            if n >= self.settings.min_cohort_accounts and churn_counts[seg].sum() > 0:
                model = ShiftedBetaGeometric().fit_counts(churn_counts[seg], cens_counts[seg])
                out[seg] = model.discounted_expected_lifetime(discount)
        return out

    def _nps_kpis(self, codes: np.ndarray, k: int, i1: int, i2: int,
                  in_end: np.ndarray) -> dict[str, np.ndarray]:
        nps = self._nps
        if nps is None:
            return {}
        inside = nps[(nps["month"] >= i1) & (nps["month"] <= i2)]
        seg = codes[inside["account"].to_numpy()]
        score = inside["score"].to_numpy()
        responses = np.bincount(seg, minlength=k)
        promoters = np.bincount(seg, score >= 9, k)
        detractors = np.bincount(seg, score <= 6, k)
        latest = nps[nps["month"] <= i2].groupby("account")["score"].last()
        acc = latest.index.to_numpy()
        candidate = (latest.to_numpy() >= 9) & in_end[acc]
        return {
            "nps": _rate(promoters - detractors, responses),
            "nps_responses": responses.astype(float),
            "promoters": promoters,
            "detractors": detractors,
            "referral_candidates": np.bincount(codes[acc], candidate, k),
        }

    @cached_property
    def _referrals(self) -> pd.DataFrame | None:
        tp = self.dataset.touchpoints
        if tp is None or "kind" not in tp.columns:
            return None
        sel = tp[tp["kind"].eq("referral").fillna(False).astype(bool)]
        return pd.DataFrame({"account": self.cube.accounts.get_indexer(sel["account_id"]),
                             "month": self._month_col(sel["date"])})

    def _referral_touchpoints(self, codes: np.ndarray, k: int, i1: int, i2: int) -> dict[str, np.ndarray]:
        ref = self._referrals
        if ref is None:
            return {}
        inside = ref[(ref["month"] >= i1) & (ref["month"] <= i2)]
        return {"referral_touchpoints": np.bincount(codes[inside["account"].to_numpy()], minlength=k).astype(float)}

    @cached_property
    def _ticket_months(self) -> pd.DataFrame | None:
        t = self.dataset.tickets
        if t is None:
            return None
        return pd.DataFrame({"account": self.cube.accounts.get_indexer(t["account_id"]),
                             "month": self._month_col(t["opened_at"])})

    def _tickets(self, codes: np.ndarray, k: int, i1: int, i2: int) -> dict[str, np.ndarray]:
        t = self._ticket_months
        if t is None:
            return {}
        inside = t[(t["month"] >= i1) & (t["month"] <= i2)]
        return {"tickets_opened": np.bincount(codes[inside["account"].to_numpy()], minlength=k).astype(float)}

    def _roadmap(self, codes: np.ndarray, k: int, i1: int, i2: int,
                 in_end: np.ndarray) -> dict[str, np.ndarray]:
        """Success roadmap: objectives due in the period, share done by their due date, and
        objectives of accounts active at the end that are past due and not done by then."""
        plans = self.dataset.success_plans
        if plans is None:
            return {}
        rows = self.cube.accounts.get_indexer(plans["account_id"])
        acc = codes[rows]
        due_month = self._month_col(plans["due_date"])
        end_day = self.cube.months[i2].to_timestamp(how="end").normalize()
        done = plans["completed_date"]
        due_in = (due_month >= i1) & (due_month <= i2)
        on_time = due_in & (done.notna() & (done <= plans["due_date"])).to_numpy()
        overdue = ((plans["due_date"] <= end_day) & (done.isna() | (done > end_day))).to_numpy() & in_end[rows]
        due_count = np.bincount(acc[due_in], minlength=k)
        return {
            "objectives_due": due_count.astype(float),
            "objectives_on_time_rate": _rate(np.bincount(acc[on_time], minlength=k), due_count),
            "objectives_overdue": np.bincount(acc[overdue], minlength=k).astype(float),
        }


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts as Python ints, undefined values as None, in an object column."""
    is_count = frame["kpi"].map(lambda name: KPIS[name][0] == "count")
    frame = frame.copy()
    frame["value"] = pd.Series([
        None if not np.isfinite(x) else int(round(x)) if count else float(x)
        for x, count in zip(frame["value"].to_numpy(dtype=float), is_count, strict=True)
    ], index=frame.index, dtype=object)
    return frame[COLUMNS]


def compute_kpis(dataset: Dataset, period: str | Period, settings: Settings,
                 by: Sequence[str] = ()) -> pd.DataFrame:
    """Every KPI of SPEC §2.3–2.4 for ``period``, in total and per segmentation in ``by``."""
    return KpiEngine(dataset, settings).kpis(period, by)


def _shifted_kpis(engine: KpiEngine, period: Period, by: Sequence[str]) -> pd.DataFrame | None:
    try:
        return engine.kpis(engine.period(period), by)
    except DataError:  # the comparison period lies outside the data: its columns stay empty
        return None


def kpi_changes(engine: KpiEngine, period: str | Period, by: Sequence[str] = ()) -> pd.DataFrame:
    """KPIs of ``period`` beside the previous period's and the same period a year earlier.

    Adds ``previous``, ``change_pop`` (value − previous), ``year_ago``, ``change_yoy`` and
    ``change_yoy_pct`` ((value ÷ year_ago − 1) × 100); empty where a side is undefined or the
    comparison period is outside the data. Rate changes are in percentage points.
    """
    p = engine.period(period)
    current = engine.kpis(p, by)
    keys = ["segment_by", "segment", "kpi"]
    for label, shifted in (("previous", p.previous()), ("year_ago", p.year_ago())):
        other = _shifted_kpis(engine, shifted, by)
        side = other[keys + ["value"]].rename(columns={"value": label}) if other is not None else None
        current = current.merge(side, on=keys, how="left") if side is not None else current.assign(**{label: None})
    value = pd.to_numeric(current["value"], errors="coerce")
    prev = pd.to_numeric(current["previous"], errors="coerce")
    ago = pd.to_numeric(current["year_ago"], errors="coerce")
    current["change_pop"] = (value - prev).astype(object).where((value - prev).notna(), None)
    current["change_yoy"] = (value - ago).astype(object).where((value - ago).notna(), None)
    pct = (value / ago.where(ago != 0) - 1) * 100
    current["change_yoy_pct"] = pct.astype(object).where(pct.notna(), None)
    return current


def monthly_trend(engine: KpiEngine, by: Sequence[str] = (),
                  kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Tidy KPIs for every single month of the data (after the opening month), for charts.

    Adds a ``month`` column (first day, datetime) beside ``period`` ("YYYY-MM").
    """
    frames = [engine.kpis(Period(str(m), m, m), by) for m in engine.cube.months[1:]]
    out = pd.concat(frames, ignore_index=True)
    if kpis is not None:
        unknown = sorted(set(kpis) - set(KPIS))
        if unknown:
            raise DataError(f"unknown KPI(s) {', '.join(unknown)}")
        out = out[out["kpi"].isin(list(kpis))].reset_index(drop=True)
    out.insert(1, "month", pd.PeriodIndex(out["period"], freq="M").to_timestamp())
    return out
