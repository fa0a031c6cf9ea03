"""Every CS KPI (docs/kpis.md) for a period and optional segmentations, as a tidy frame.

Output columns: ``period, segment_by, segment, kpi, value``; totals use segment_by = segment =
"all". Rates are percent, money is in the data's currency, counts are integers, and an
undefined value (a rate over an empty set) is empty (None), never 0 or inf. Definitions and
decisions: docs/kpis.md.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cs_analysis.config.settings import Settings
from cs_analysis.core.activity import ActivityCube, build_activity
from cs_analysis.core.ledger import MOVEMENTS, MonthRows, MrrCube, PeriodRows, accumulate, build_cube, texts_at
from cs_analysis.core.periods import Period, latest_fiscal_quarter, months_to_fiscal_year_end, parse_period
from cs_analysis.core.segments import Segmenter, reference_month
from cs_analysis.data.dataset import Dataset
from cs_analysis.errors import DataError, HistoryError
from cs_analysis.health.scorer import HealthScorer
from cs_analysis.kpis.cancellations import ChurnMovements, Part, churn_movements, reason_frame, reason_parts
from cs_analysis.kpis.quantities import LEVELS_DESC, Inputs, Quantities, Unavailable, regroup, stack, unstack
from cs_analysis.kpis.registry import ACTIVITY, COLUMNS, KPIS, lookup
from cs_analysis.kpis.renewals import Renewals, build_renewals
from cs_analysis.kpis.retention import discounted_expected_lifetime, fit_sbg, monthly_discount

CHUNK_CELLS = 300_000  # periods × accounts computed at once (bounds memory)
ONE_HOT_MAX = 64  # up to this many segments, group sums are matrix products (BLAS)


def _group_sums(xs: Sequence[np.ndarray], segmentations: Sequence[tuple[np.ndarray, int]]) -> list[list[np.ndarray]]:
    """Sums of each ``x`` of ``xs`` (periods × quantities × accounts) per segment of each
    segmentation: ``out[x][segmentation]`` is periods × quantities × k.

    A segmentation is (segment code of each account, or of each period and account; k).
    Segmentations of at most ``ONE_HOT_MAX`` segments share one indicator matrix, so a single
    matrix product (BLAS) reads an ``x`` once for all of them; larger ones use a bincount."""
    n_p, n = xs[0].shape[0], xs[0].shape[2]
    out = [[np.empty(0)] * len(segmentations) for _ in xs]
    small = [i for i, (_, k) in enumerate(segmentations) if k <= ONE_HOT_MAX]
    if small:
        offsets = np.cumsum([0, *(segmentations[i][1] for i in small)])
        per_period = any(segmentations[i][0].ndim == 2 for i in small)
        onehot = np.zeros((*((n_p,) if per_period else ()), n, offsets[-1]), dtype=np.float32)
        cell_start = np.arange(onehot.size // offsets[-1]) * offsets[-1]  # each account row's first column
        for i, offset in zip(small, offsets, strict=False):  # one flat write (put_along_axis is slower)
            onehot.ravel()[cell_start + (np.broadcast_to(segmentations[i][0], onehot.shape[:-1]).ravel() + offset)] = 1
        for x, sums_x in zip(xs, out, strict=True):
            sums = x @ onehot.astype(x.dtype, copy=False)
            for i, lo, hi in zip(small, offsets[:-1], offsets[1:], strict=True):
                sums_x[i] = sums[..., lo:hi]
    for i, (codes, k) in enumerate(segmentations):
        if k > ONE_HOT_MAX:
            codes = np.broadcast_to(codes, (n_p, n))
            for x, sums_x in zip(xs, out, strict=True):
                n_q = x.shape[1]
                flat = codes[:, None, :] + k * (np.arange(n_p)[:, None, None] * n_q + np.arange(n_q)[None, :, None])
                sums_x[i] = np.bincount(flat.ravel(), x.ravel(), n_p * n_q * k).reshape(n_p, n_q, k)
    return out


@dataclass
class KpiEngine:
    """Computes KPIs for any periods from one dataset; build once, query many periods.

    All periods asked for in one call are computed together as account × period arrays.

    >>> engine = KpiEngine(load_dataset("data/demo"), load_settings())   # doctest: +SKIP
    >>> engine.kpis("FY2025Q1", by=["size"])                              # doctest: +SKIP
    """

    dataset: Dataset
    settings: Settings
    with_health: bool = True  # health KPIs need a health snapshot per month end involved
    workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))  # chunks at once

    @cached_property
    def cube(self) -> MrrCube:
        return build_cube(self.dataset.subscriptions, self.dataset.accounts["account_id"],
                          self.dataset.through, self.dataset.since)

    @cached_property
    def activity(self) -> ActivityCube:
        return build_activity(self.dataset, self.cube)

    @cached_property
    def scorer(self) -> HealthScorer:
        return HealthScorer(self.dataset, self.settings, self.cube)

    @cached_property
    def _health_cache(self) -> dict[int, dict[str, np.ndarray]]:
        return {}

    def _health_at(self, row: int) -> dict[str, np.ndarray]:
        """Per-account health quantities at the end of month ``row`` (cached)."""
        if row not in self._health_cache:
            day = self.cube.months[row].end_time.normalize()
            frame = self.scorer.at(day, reasons=False)
            sig = self.scorer.signals.at(day)
            cols = self.cube.account_columns(frame["account_id"])
            n = len(self.cube.accounts)
            level = np.zeros(n, int)
            level[cols] = frame["level"].to_numpy()
            meets = np.zeros(n, bool)
            meets[cols] = frame["meets_target"].to_numpy()
            active = sig["active"].to_numpy()
            quantities = {"level": level, "meets_target": meets}
            if "flag_no_contact" in frame:  # off without touchpoints: the KPI stays empty
                no_contact = np.zeros(n, bool)
                no_contact[cols] = frame["flag_no_contact"].to_numpy()
                quantities["no_contact"] = no_contact
            if self.scorer.signals.onboarding_rule_on:  # off without its data: KPIs empty
                quantities["onboarded"] = active & sig["onboarded"].to_numpy()
                quantities["onboarding_stuck"] = active & sig["onboarding_stuck"].to_numpy()
            self._health_cache[row] = quantities
        return self._health_cache[row]

    @cached_property
    def _renewals(self) -> Renewals | None:
        """The contracts coming up for renewal in the data's months (None without contracts)."""
        contracts = self.dataset.contracts
        if contracts is None:
            return None
        return build_renewals(contracts, self.cube, self.dataset.fx_rates, self.settings.currency)

    @cached_property
    def _churns(self) -> ChurnMovements | None:
        """The churn movements with their cancellation reasons (None without cancellations)."""
        cancellations = self.dataset.cancellations
        return None if cancellations is None else churn_movements(self.cube, cancellations)

    @cached_property
    def segmenter(self) -> Segmenter:
        return Segmenter(self.dataset.accounts, self.cube, self.settings)

    @cached_property
    def _movement_rows(self) -> tuple[MonthRows, dict[str, np.ndarray]]:
        """The account-months with a movement (most have none) as ``MonthRows``, and per row
        each movement's amount, the lost revenue to the fiscal year end and the new-account flag."""
        moved = self.cube.movement_rows
        rows, order = MonthRows.sorted(moved.cols, moved.months, len(self.cube.months))
        months = moved.months[order]
        values = {k: moved.amounts(k)[order] for k in MOVEMENTS}
        weight = months_to_fiscal_year_end(self.cube.months, self.settings.fiscal_year_start_month).to_numpy()
        values["lost_revenue"] = values["churn"] * weight[months]
        values["new_count"] = (values["new"] > 0).astype(float)
        return rows, values

    @cached_property
    def _cohorts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per account: month row of its first MRR (−1 if active in the opening month or never,
        i.e. left-truncated or absent) and of its first churn after that (−1 if none)."""
        moved = self.cube.movement_rows  # by month, so an account's first row is its earliest
        start, first_churn = np.full((2, len(self.cube.accounts)), -1)
        for out, movement in ((start, "new"), (first_churn, "churn")):
            at = moved.code == MOVEMENTS.index(movement)
            cols, first = np.unique(moved.cols[at], return_index=True)
            out[cols] = moved.months[at][first]
        return start, first_churn

    def period(self, period: str | Period) -> Period:
        """Parse ``period`` with the fiscal year start from settings and check it fits the data."""
        p = period if isinstance(period, Period) else parse_period(period, self.settings.fiscal_year_start_month)
        first, last = self.cube.months[0], self.cube.months[-1]
        if p.start < first or p.end > last:
            raise HistoryError(
                f"period {p.label} ({p.first}..{p.last}) needs data from {p.start} (the month before "
                f"it starts) to {p.end}, but the subscriptions cover {first}..{last}"
            )
        return p

    def default_period(self) -> Period:
        """The last complete fiscal quarter of the data (the default period of reports and the
        ``kpis`` command); a :class:`HistoryError` when the data holds none."""
        months = self.cube.months
        quarter = latest_fiscal_quarter(months[-1], self.settings.fiscal_year_start_month)
        if len(months) < 2:
            raise HistoryError(f"the data holds one month only ({months[0]}): KPIs need a period and the month "
                               "before it (the opening balance), so at least two months of subscriptions")
        if quarter.start < months[0]:
            raise HistoryError(
                f"the data ({months[0]}..{months[-1]}) holds no complete fiscal quarter after its opening "
                f"month (the default period); give --period, e.g. {months[-1]}"
                + (f" or {months[1]}..{months[-1]}" if len(months) > 2 else ""))
        return quarter

    def _columns(self, periods: Sequence[Period]) -> tuple[np.ndarray, np.ndarray]:
        first = self.cube.months[0]
        i1 = np.array([(p.first - first).n for p in periods])
        i2 = np.array([(p.end - first).n for p in periods])
        return i1, i2

    def _quantities(self, i1: np.ndarray, i2: np.ndarray) -> Quantities:
        """The per-account quantities of the periods i1..i2 (month rows), periods × accounts."""
        cube = self.cube
        s = i1 - 1
        moved, amounts = self._movement_rows
        n = len(cube.accounts)
        moves = moved.in_periods(i1, i2)  # summed per segment from the rows (most accounts have none)
        sums = {k: moves.weighted(v) for k, v in amounts.items()}

        mrr_s, mrr_e = cube.mrr[s], cube.mrr[i2]
        in_s, in_e = mrr_s > 0, mrr_e > 0
        upsell, cross = self._pair_gains(s, i2, in_s)
        lic_s, lic_e = cube.licenses[s], cube.licenses[i2]
        active = cube.active
        months = np.arange(int((i2 - i1).max()) + 1)[:, None]  # each month of the periods, for the mean
        t = np.minimum(i1[None] + months, i2[None])
        inside = (i1[None] + months <= i2[None])[:, :, None]
        q = Quantities(
            in_start=in_s, in_end=in_e, churned=in_s & ~in_e,
            mrr_start=mrr_s, mrr_end=mrr_e,
            mrr_end_of_start=np.where(in_s, mrr_e, 0.0),
            min_mrr_of_start=np.where(in_s, np.minimum(mrr_s, mrr_e), 0.0),
            new_mrr=sums["new"], expansion_mrr=sums["expansion"], contraction_mrr=sums["contraction"],
            churned_mrr=sums["churn"], reactivation_mrr=sums["reactivation"],
            is_new=sums["new_count"], lost_revenue=sums["lost_revenue"],  # "new" happens once per account
            licenses_start=np.where(in_s, lic_s, 0.0),
            licenses_lost=np.where(in_s, np.maximum(0.0, lic_s - lic_e), 0.0),
            upsell=upsell, cross_sell=cross, upsold=upsell.per_account(n) > 0, cross_sold=cross.per_account(n) > 0,
            month_base=active[t - 1] & inside, month_churned=active[t - 1] & ~active[t] & inside,
        )
        act = self.activity.events
        for key in ("nps_responses", "promoters", "detractors", "tickets_opened", "referral_touchpoints",
                    "objectives_due", "objectives_on_time"):
            if key in act:
                setattr(q, key, act[key].in_periods(i1, i2))
        if "objectives_due" in act:  # open at the period's end (rows from the start: kept per account)
            since_start = np.zeros_like(i2)
            open_at_end = act["objectives_due"].totals(since_start, i2, n) - act["objectives_closed"].totals(since_start, i2, n)
            q.objectives_overdue = np.where(in_e, open_at_end, 0)
        if self.activity.latest_nps is not None:
            q.referral_candidate = in_e & (self.activity.latest_nps[i2] >= 9)
        if self._renewals is not None:
            for key, value in self._renewals.totals(i1, i2, n).items():
                setattr(q, key, value)
        if self.with_health:
            self._add_health(q, i1, i2)
        return q

    def _pair_gains(self, start: np.ndarray, end: np.ndarray, in_start: np.ndarray) -> tuple[PeriodRows, PeriodRows]:
        """Rows of the (account, product) pairs whose MRR changed from each period's start month
        to its end month, of accounts active at the start: weighted by the upsell (the gain on a
        product held at the start) and by the cross-sell (the MRR of a product new to it)."""
        cube = self.cube
        before, after = cube.pair_mrr[start], cube.pair_mrr[end]
        period, pair = np.nonzero(before != after)  # most pairs keep their MRR
        cols = cube.pair_account[pair]
        keep = in_start[period, cols]
        period, pair, cols = period[keep], pair[keep], cols[keep]
        before, after = before[period, pair], after[period, pair]
        rows = PeriodRows(period, cols, pair, len(start))
        return (replace(rows, weights=np.where(before > 0, np.maximum(0, after - before), 0.0)),
                replace(rows, weights=np.where(before == 0, after, 0.0)))

    def _add_health(self, q: Quantities, i1: np.ndarray, i2: np.ndarray) -> None:
        """Health quantities at each period's start and end, periods × accounts."""
        end = [self._health_at(int(t)) for t in i2]
        start = [self._health_at(int(t) - 1) for t in i1]
        level = np.vstack([h["level"] for h in end])
        level_start = np.vstack([h["level"] for h in start])
        q.level_end = np.stack([level == k for k in LEVELS_DESC])
        q.scored_end = level > 0
        q.caution_or_action_start = (level_start == 1) | (level_start == 2)
        q.caution_or_action_end = (level == 1) | (level == 2)
        for key in ("meets_target", "onboarded", "onboarding_stuck", "no_contact"):
            if key in end[0]:
                setattr(q, f"{key}_end", np.vstack([h[key] for h in end]))
        if not self.scorer.signals.onboarding_rule_on:
            return
        first_day = self.cube.months[i1].start_time.to_numpy().astype("datetime64[D]").astype(np.int64)
        last_day = self.cube.months[i2].end_time.to_numpy().astype("datetime64[D]").astype(np.int64)
        done = self.scorer.signals.onboarded_day
        in_period = (done >= first_day[:, None]) & (done <= last_day[:, None])
        days = done - self.scorer.signals.signup_day
        q.days_to_onboard = np.where(in_period, days, np.nan)

    def kpis(self, period: str | Period, by: Sequence[str] = ()) -> pd.DataFrame:
        """Every KPI for ``period``, in total and for each segmentation in ``by``."""
        return self.kpis_for([period], by)

    def kpis_for(self, periods: Sequence[str | Period], by: Sequence[str] = ()) -> pd.DataFrame:
        """Every KPI for each of ``periods`` (computed together), in total and per segmentation."""
        ps = [self.period(p) for p in periods]
        segmentations = ["all", *[b for b in by if b != "all"]]
        i1, i2 = self._columns(ps)
        size = max(1, CHUNK_CELLS // max(1, len(self.cube.accounts)))
        starts = iter(range(0, len(ps), size))
        workers = min(self.workers, -(-len(ps) // size))
        taken = threading.Lock()
        _ = self.cube.active, self.cube.movement_rows, self.segmenter  # shared by the threads below: built first
        with ThreadPoolExecutor(max(2, workers)) as pool:  # NumPy releases the GIL
            prepared = [pool.submit(lambda: self.activity), pool.submit(self._prepare, i1, i2)]
            # survival lifetimes: cohorts are segmented as they were when they started (no
            # survivorship bias), so one batch of fits covers every segmentation and period
            lifetimes = self._lifetimes(segmentations, i2)
            for task in prepared:
                task.result()

            # each worker takes the next chunk of periods until none is left, reusing its buffers;
            # BLAS then gets one thread per worker
            def work() -> list[tuple[int, tuple[pd.DataFrame, list[Part]]]]:
                buffers: dict[type, np.ndarray] = {}
                done = []
                while True:
                    with taken:
                        i = next(starts, None)
                    if i is None:
                        return done
                    done.append((i, self._kpis_chunk(ps[i:i + size], segmentations,
                                                     {b: v[i:i + size] for b, v in lifetimes.items()}, buffers)))

            with threadpool_limits(1 if workers > 1 else None, user_api="blas"):
                chunks = [pool.submit(work) for _ in range(workers)]
                done = sorted((c for chunk in chunks for c in chunk.result()), key=lambda c: c[0])
        frames = [frame for _, (frame, _) in done]  # back in period order
        if self._churns is not None:  # churn by cancellation reason (kpis.cancellations), after the rest
            frames.append(reason_frame([part for _, (_, parts) in done for part in parts]))
        return _tidy(pd.concat(frames, ignore_index=True))

    def _prepare(self, i1: np.ndarray, i2: np.ndarray) -> None:
        """Compute the shared arrays (and health snapshots) the chunks read, other than the
        activity (computed beside it), before the chunks run side by side."""
        cube = self.cube
        _ = cube.mrr, cube.next_active, self._movement_rows, self._renewals, self._churns
        if self.with_health:
            for row in sorted({*(i1 - 1).tolist(), *i2.tolist()}):
                self._health_at(row)

    def _kpis_chunk(self, ps: list[Period], segmentations: list[str], lifetimes: dict[str, np.ndarray],
                    buffers: dict[type, np.ndarray]) -> tuple[pd.DataFrame, list[Part]]:
        """KPIs of ``ps`` (one chunk of periods), and the parts of its churn by reason (none
        without cancellations); ``buffers`` hold the stacked quantities from one chunk to the
        next of the same worker."""
        i1, i2 = self._columns(ps)
        q = self._quantities(i1, i2)
        parts = q.summed()
        # money in float64; flags and counts in float32, exact for sums below 2**24
        groups = [[(k, v) for k, v in parts if v.dtype.kind == "f"], [(k, v) for k, v in parts if v.dtype.kind != "f"]]
        stacks = [stack(group, dtype, buffers) for group, dtype in zip(groups, (np.float64, np.float32), strict=True)]
        ref = reference_month(self.cube, i1, i2)
        segs = [(seg_by, *self.segmenter.codes(seg_by, ref)) for seg_by in segmentations]
        segments = [(codes, len(names)) for _, codes, names in segs]
        sums = _group_sums(stacks, segments)
        if any(x.dtype == np.float32 and np.abs(g).max(initial=0) >= 2**24 for x, gs in zip(stacks, sums, strict=True) for g in gs):
            sums = _group_sums([x.astype(np.float64) for x in stacks], segments)  # beyond float32's exact range
        by_segmentation = []
        for i, (_, codes, names) in enumerate(segs):
            totals: dict[str, np.ndarray] = {}
            for group, sums_x in zip(groups, sums, strict=True):
                totals.update(unstack(group, sums_x[i], q))
            totals.update(_sparse_sums(q.sparse(), codes, len(names)))
            for name, values in q.medians():
                totals[name] = _group_medians(values, codes, len(names))
            by_segmentation.append(totals)
        # the formulas are cell by cell: evaluated once over the segments of every segmentation
        # side by side (the last axis), not once per segmentation
        totals = {name: np.concatenate([t[name] for t in by_segmentation], axis=-1) for name in by_segmentation[0]}
        inputs = Inputs(regroup(q, totals), np.concatenate([lifetimes[b] for b, _, _ in segs], axis=-1), self.settings, {})
        labels = [p.label for p in ps]
        reasons = [] if self._churns is None else reason_parts(self._churns, self.cube, i1, i2, segs, labels)
        return _long(_evaluate(inputs), labels, [(seg_by, names) for seg_by, _, names in segs]), reasons

    def _lifetimes(self, segmentations: Sequence[str], ends: np.ndarray) -> dict[str, np.ndarray]:
        """Per segmentation, periods × segments (each account in its segment when it started):
        the sBG discounted expected lifetime (months) of a new account, fitted by maximum
        likelihood to every cohort that started after the opening month, as known at each
        period's end month; NaN with fewer than ``min_cohort_accounts`` accounts or no churn.
        The fits of every segmentation and period are independent rows of one batch."""
        counts = [self._survival_counts(*self.segmenter.codes(b, self._cohorts[0]), ends) for b in segmentations]
        churned = np.concatenate([c.reshape(-1, c.shape[-1]) for c, _ in counts])
        censored = np.concatenate([c.reshape(-1, c.shape[-1]) for _, c in counts])
        n = churned.sum(axis=1) + censored.sum(axis=1)
        fit = (n >= self.settings.min_cohort_accounts) & (churned.sum(axis=1) > 0)
        out = np.full(len(n), np.nan)
        if fit.any():
            alpha, beta, _ = fit_sbg(churned[fit], censored[fit])
            discount = monthly_discount(self.settings.annual_discount_rate)
            out[fit] = discounted_expected_lifetime(alpha, beta, discount)
        shapes = [c.shape[:2] for c, _ in counts]
        bounds = np.cumsum([0, *(r * k for r, k in shapes)])
        return {b: out[lo:hi].reshape(shape)
                for b, lo, hi, shape in zip(segmentations, bounds[:-1], bounds[1:], shapes, strict=True)}

    def _survival_counts(self, codes: np.ndarray, names: list[str], ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sBG data of each period (``ends``: its end month row) and segment (``codes``: each
        account's segment when it started): periods × segments × lifetime counts of the accounts
        churned after t months and of those still active after t months, as known at that end."""
        start, first_churn = self._cohorts
        k, last = len(names), int(ends.max())
        span = last + 2  # months 0..last, and renewal counts 0..last
        seen = (start >= 0) & (start <= last)
        s, f, c = start[seen], first_churn[seen], codes[seen]
        gone = (f >= 0) & (f <= last)
        s_g, f_g, c_g = s[gone], f[gone], c[gone]
        started = np.bincount(c * span + s, minlength=k * span).reshape(k, span)  # [segment, start]
        # churns by the month they happened in: [month, segment, start] and [month, segment, T]
        by_start = np.bincount((f_g * k + c_g) * span + s_g, minlength=span * k * span).reshape(span, k, span)
        by_life = np.bincount((f_g * k + c_g) * span + f_g - s_g, minlength=span * k * span).reshape(span, k, span)
        # as known at each period's end: churned so far by lifetime; still alive by renewals survived
        churn_counts = accumulate(np.add, by_life)[ends].astype(float)
        alive = (started[None] - accumulate(np.add, by_start))[ends]  # [row, segment, start]
        start_of = ends[:, None] - np.arange(span)  # the start month of a survivor of p renewals
        valid = start_of >= 0
        survivors = np.take_along_axis(alive, np.where(valid, start_of, 0)[:, None, :], axis=2)
        cens_counts = np.where(valid[:, None, :], survivors, 0).astype(float)
        return churn_counts, cens_counts

def _sparse_sums(fields: list[tuple[str, PeriodRows]], codes: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Periods × ``k`` segment sums of each field held as rows; fields on the same rows (the
    MRR movements) share one lookup of their rows' segments."""
    keys: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id of a rows' cols → (cols, period·k + segment)
    out = {}
    for name, rows in fields:
        if id(rows.cols) not in keys:
            seg = codes[rows.period, rows.cols] if codes.ndim == 2 else codes[rows.cols]
            keys[id(rows.cols)] = (rows.cols, rows.period * k + seg)
        sums = np.bincount(keys[id(rows.cols)][1], rows.weights, rows.n_periods * k)
        out[name] = sums.astype(np.float64, copy=False).reshape(rows.n_periods, k)
    return out


def _group_medians(values: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """Median of the non-missing ``values`` (periods × accounts) per period and segment."""
    n_p, n = values.shape
    codes = np.broadcast_to(codes, (n_p, n))
    ok = ~np.isnan(values)
    frame = pd.DataFrame({"p": np.nonzero(ok)[0], "seg": codes[ok], "v": values[ok]})
    medians = frame.groupby(["p", "seg"])["v"].median()
    out = np.full((n_p, k), np.nan)
    out[medians.index.get_level_values(0), medians.index.get_level_values(1)] = medians.to_numpy()
    return out


def _evaluate(inputs: Inputs) -> dict[str, np.ndarray]:
    """Every registry KPI (periods × segments) from its formula, in registry order; a formula
    that reads an absent quantity gives an empty KPI."""
    shape = inputs.sums.mrr_start.shape
    for name, kpi in KPIS.items():
        try:
            value = kpi.formula(inputs)
        except Unavailable:
            value = np.full(shape, np.nan)
        inputs.values[name] = np.broadcast_to(np.asarray(value, dtype=float), shape)
    return inputs.values


def _long(values: dict[str, np.ndarray], labels: list[str], segmentations: list[tuple[str, list[str]]]) -> pd.DataFrame:
    """Periods × segments arrays of every KPI (the segments of ``segmentations``, each
    (segment_by, segment names), side by side) → long rows by segmentation, period, segment and
    KPI order; segments with no activity in a period (other than the total) are left out."""
    cube = np.stack([values[kpi] for kpi in KPIS], axis=2)  # periods × segments × kpis
    active = np.stack([np.nan_to_num(values[a]) != 0 for a in ACTIVITY], axis=2).any(axis=2)
    p_parts, s_parts, lo = [], [], 0
    for seg_by, names in segmentations:
        block = active[:, lo:lo + len(names)] if seg_by != "all" else np.ones((len(labels), len(names)), bool)
        p_idx, s_idx = np.nonzero(block)
        p_parts.append(p_idx)
        s_parts.append(s_idx + lo)
        lo += len(names)
    p_idx, s_idx = np.concatenate(p_parts), np.concatenate(s_parts)
    of_segment = np.repeat(np.arange(len(segmentations)), [len(names) for _, names in segmentations])
    row_cell = np.repeat(np.arange(len(p_idx)), len(KPIS))  # each output row's (period, segment) cell
    return pd.DataFrame({
        "period": texts_at(labels, p_idx[row_cell]),
        "segment_by": texts_at([seg_by for seg_by, _ in segmentations], of_segment[s_idx][row_cell]),
        "segment": texts_at([name for _, names in segmentations for name in names], s_idx[row_cell]),
        "kpi": texts_at(list(KPIS), np.tile(np.arange(len(KPIS)), len(p_idx))),
        "value": cube[p_idx, s_idx, :].ravel(),
    })


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts as Python ints, undefined values as None, in an object column."""
    units = {name: lookup(name).unit for name in frame["kpi"].unique()}
    is_count = frame["kpi"].map(units).eq("count").to_numpy()
    frame = frame.copy()
    x = frame["value"].to_numpy(dtype=float)
    finite = np.isfinite(x)
    value = x.astype(object)  # Python floats
    counts = finite & is_count
    value[counts] = np.rint(x[counts]).astype(np.int64).astype(object)  # Python ints (round half to even, as round)
    value[~finite] = None
    frame["value"] = pd.Series(value, index=frame.index, dtype=object)
    return frame[COLUMNS]


def compute_kpis(dataset: Dataset, period: str | Period, settings: Settings,
                 by: Sequence[str] = ()) -> pd.DataFrame:
    """Every KPI (docs/kpis.md) for ``period``, in total and per segmentation in ``by``."""
    return KpiEngine(dataset, settings).kpis(period, by)


def _shifted_kpis(engine: KpiEngine, period: Period, by: Sequence[str]) -> pd.DataFrame | None:
    try:
        return engine.kpis(engine.period(period), by)
    except HistoryError:  # the comparison period lies outside the data: its columns stay empty
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
    out = engine.kpis_for([Period(str(m), m, m) for m in engine.cube.months[1:]], by)
    if kpis is not None:
        unknown = sorted(set(kpis) - set(KPIS))
        if unknown:
            raise DataError(f"unknown KPI(s) {', '.join(unknown)}")
        out = out[out["kpi"].isin(list(kpis))].reset_index(drop=True)
    codes, labels = pd.factorize(out["period"])  # each month's label parsed once, not per row
    out.insert(1, "month", pd.PeriodIndex(labels, freq="M").to_timestamp()[codes])
    return out
