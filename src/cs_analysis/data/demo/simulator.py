"""The simulated demo company: a license-based B2B SaaS (a cloud IP-phone service like MiiTel).

A core per-seat product plus flat-fee add-ons, Enterprise (>= 2000 employees) and SMB customers,
CSM owners, monthly seat changes, cross-sell, churn and a few reactivations, CS touchpoints, NPS,
tickets, champion changes, onboarding, ROI, success plans and target health levels.

Churn comes from a latent monthly hazard driven by DEAR-like signals observed at the end of each
month (utilisation, adoption breadth, days since contact, champion change, detractor NPS, severe
tickets, stuck onboarding, company size) plus unobserved account quality and frailty, so scores
and models have real but imperfect signal. The hazard is written to ``_truth/hazard.csv``; only
evaluation code may read it. The simulation is vectorised over accounts (a loop over months only)
and deterministic: same arguments and seed give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_analysis.config.settings import Settings

PRODUCT_CORE = "core"
ADDONS = ("analytics", "ivr", "crm_link")  # flat monthly fee, licenses 0
ADDON_FEES = np.array([30_000, 20_000, 15_000])
CORE_PRICE_SMB, CORE_PRICE_ENT = 5_000, 4_500
N_FEATURES = 12
BURN_IN_MONTHS = 12
INDUSTRIES = np.array(["製造", "小売", "IT・通信", "金融", "不動産", "人材", "医療・福祉", "物流"])
INDUSTRY_P = np.array([0.18, 0.14, 0.2, 0.1, 0.1, 0.12, 0.08, 0.08])
SURNAMES = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
            "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水")
NAME_STEMS = np.array(["さくら", "みらい", "あおば", "ひかり", "やまと", "つばさ", "はやぶさ", "こだま",
                       "アルファ", "ネクスト", "グローバル", "テクノ", "サン", "ブルー", "グリーン",
                       "フューチャー", "東京", "大阪", "名古屋", "福岡", "札幌", "横浜", "神戸", "京都"])
NAME_TAILS = np.array(["商事", "工業", "システムズ", "物産", "ソリューションズ", "ホールディングス",
                       "コンサルティング", "サービス", "製作所", "ラボ"])
# cancellation reasons (voluntary, except closures and mergers), SMB and Enterprise shares
CANCEL_REASONS = np.array(["価格", "機能不足", "利用低迷", "予算削減", "競合への乗り換え", "倒産・統合"])
CANCEL_P_SMB = np.array([0.28, 0.14, 0.26, 0.14, 0.12, 0.06])
CANCEL_P_ENT = np.array([0.14, 0.24, 0.16, 0.22, 0.20, 0.04])
TICKET_REASONS = np.array(["how_to", "bug", "billing", "feature_request", "integration",
                           "account_admin", "cancellation_inquiry"])
OBJECTIVES = np.array(["通話録音の全社展開", "CRM連携の稼働", "応対品質スコアの改善", "架電数20%増",
                       "新人研修期間の短縮", "解約防止トークの標準化", "IVR導入による一次対応削減"])
TOUCH_CHANNELS = {  # channel mix by touch tier: high / low / tech
    "high": (np.array(["meeting", "call", "email"]), np.array([0.5, 0.3, 0.2])),
    "low": (np.array(["call", "webinar", "email"]), np.array([0.4, 0.3, 0.3])),
    "tech": (np.array(["email", "webinar"]), np.array([0.6, 0.4])),
}


@dataclass(frozen=True)
class DemoSpec:
    """Size and time span of the simulated company."""

    accounts: int = 1000
    months: int = 36
    end: str | None = None  # "YYYY-MM"; default: the last full month before today
    seed: int = 42

    def end_month(self) -> np.datetime64:
        if self.end is not None:
            return np.datetime64(self.end, "M")
        today = np.datetime64(dt.date.today(), "M")
        return today - 1


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _contact_term(days_since_contact: np.ndarray) -> np.ndarray:
    """The hazard logit's term for the days since the last CS contact (more than 90: +0.4, more
    than 180: +1.0); the one rule both the simulation and its true contact effect use."""
    days = days_since_contact
    return 1.0 * (days > 180) + 0.4 * ((days > 90) & (days <= 180))


def _iso(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D")


def _day_strings(days: np.ndarray) -> pd.Categorical:
    """ISO dates (empty for NaT), each distinct day formatted once."""
    days = days.astype("datetime64[D]")
    valid = ~np.isnat(days)
    distinct, codes = np.unique(days[valid], return_inverse=True)
    all_codes = np.full(days.size, -1)
    all_codes[valid] = codes
    return pd.Categorical.from_codes(all_codes, _iso(distinct), ordered=True)


class _Simulation:
    """State of every account, advanced one month at a time with array operations."""

    def __init__(self, spec: DemoSpec):
        self.spec = spec
        self.touch = Settings()  # the default touch-tier thresholds of the product
        self.rng = np.random.default_rng(spec.seed)
        end = spec.end_month()
        # a burn-in year before the window lets account states settle; its billing is not written
        self.burn = BURN_IN_MONTHS
        self.months = np.arange(end - spec.months - self.burn + 1, end + 1, dtype="datetime64[M]")
        self.rows: dict[str, list[dict[str, np.ndarray]]] = {
            k: [] for k in ("subscriptions", "usage", "touchpoints", "nps_responses", "tickets",
                            "champion_changes", "roi", "hazard")
        }
        self._make_accounts()

    # ---- accounts and their fixed traits -------------------------------------------------
    def _make_accounts(self) -> None:
        n, rng = self.spec.accounts, self.rng
        self.ids = np.char.add("A", np.char.zfill(np.arange(1, n + 1).astype(str), 6))
        enterprise = rng.random(n) < 0.15
        employees = np.where(
            enterprise,
            np.maximum(2000, rng.lognormal(np.log(5000), 0.6, n)),
            np.clip(rng.lognormal(np.log(150), 1.1, n), 5, 1999),
        ).astype(np.int64)
        self.enterprise = enterprise
        # 55 % are customers before the burn-in; the rest sign up during the window
        existing = rng.random(n) < 0.55
        start_idx = np.where(existing, 0, self.burn + rng.integers(0, self.spec.months, n))
        first_bill = self.months[start_idx]
        signup_back = np.where(existing, rng.integers(30, 4 * 365, n), rng.integers(3, 28, n))
        self.signup = first_bill.astype("datetime64[D]") - signup_back
        self.start_idx = start_idx
        self.existing = existing
        self.quality = rng.normal(0, 1, n)  # unobserved fit with the product
        self.frailty = rng.normal(0, 0.1, n)  # unobserved churn propensity
        self.neglected = rng.random(n) < 0.12  # CS rarely contacts these accounts
        seats = np.where(enterprise, rng.lognormal(np.log(40), 0.8, n), rng.lognormal(np.log(6), 0.7, n))
        self.seats0 = np.clip(np.round(seats), 1, np.maximum(employees, 1)).astype(np.int64)
        self.price = np.where(enterprise, CORE_PRICE_ENT, CORE_PRICE_SMB)
        self.roi_tracked = rng.random(n) < np.where(enterprise, 0.6, 0.25)
        n_owners = max(4, round(n / 125))
        owners = np.array([SURNAMES[i % len(SURNAMES)] + ("" if i < len(SURNAMES) else str(i // len(SURNAMES) + 1))
                           for i in range(n_owners)])
        ent_team = max(1, n_owners // 4)
        owner_idx = np.where(enterprise, rng.integers(0, ent_team, n), rng.integers(ent_team, n_owners, n))
        owner = owners[owner_idx].astype(object)
        owner[rng.random(n) < 0.01] = None  # a few unassigned accounts
        names = np.char.add(NAME_STEMS[rng.integers(0, len(NAME_STEMS), n)],
                            NAME_TAILS[rng.integers(0, len(NAME_TAILS), n)])
        names = np.where(rng.random(n) < 0.6, np.char.add("株式会社", names), np.char.add(names, "株式会社"))
        target = np.where(enterprise, np.where(rng.random(n) < 0.5, 4, 3),
                          np.where(rng.random(n) < 0.7, 3, 2))
        self.accounts = pd.DataFrame({
            "account_id": self.ids,
            "name": names,
            "employees": employees,
            "industry": INDUSTRIES[rng.choice(len(INDUSTRIES), n, p=INDUSTRY_P)],
            "signup_date": _iso(self.signup),
            "csm_owner": owner,
            "target_health_level": target,
        })
        self._make_onboarding()

    def _make_onboarding(self) -> None:
        """Milestone dates per account (NaT = never reached: stuck); filtered to the window later."""
        n, rng = self.spec.accounts, self.rng
        day = np.timedelta64(1, "D")
        kickoff = self.signup + rng.integers(0, 10, n) * day
        training = kickoff + rng.integers(7, 40, n) * day
        learned = training + rng.integers(20, 90, n) * day
        # existing customers are mostly past onboarding; new ones get stuck more often
        no_training = rng.random(n) < np.where(self.existing, 0.03, 0.07)
        no_learning = no_training | (rng.random(n) < np.where(self.existing, 0.08, 0.18 - 0.05 * self.quality))
        self.onboarding_dates = {
            "kickoff": kickoff,
            "training_started": np.where(no_training, np.datetime64("NaT"), training),
            "operations_learned": np.where(no_learning, np.datetime64("NaT"), learned),
        }

    # ---- the monthly loop -----------------------------------------------------------------
    def run(self) -> None:
        n, rng = self.spec.accounts, self.rng
        day = np.timedelta64(1, "D")
        active = np.zeros(n, bool)
        ever = np.zeros(n, bool)
        churn_month = np.full(n, -1)
        seats = self.seats0.copy()
        addons = (rng.random((n, len(ADDONS))) < np.where(self.enterprise, 0.3, 0.1)[:, None])
        ar = rng.normal(0, 0.3, n)
        never = np.datetime64("1900-01-01")
        last_contact = np.where(
            self.neglected,
            self.months[0].astype("datetime64[D]") - rng.integers(60, 400, n) * day,
            self.months[0].astype("datetime64[D]") - rng.integers(0, 60, n) * day,
        )
        last_champion = np.where(rng.random(n) < 0.05,
                                 self.months[0].astype("datetime64[D]") - rng.integers(1, 180, n) * day, never)
        last_severe = np.full(n, never)
        last_nps = np.full(n, np.nan)
        tenure = np.where(self.existing, (self.months[0] - self.signup.astype("datetime64[M]")).astype(int), 0)
        churn_next = np.zeros(n, bool)
        self.contact: list[dict[str, np.ndarray]] = []
        for t, month in enumerate(self.months):
            m_start = month.astype("datetime64[D]")
            m_end = (month + 1).astype("datetime64[D]") - day
            days_in = (m_end - m_start).astype(int) + 1
            # churn decided last month, then new customers and reactivations
            churning = active & churn_next
            active &= ~churn_next
            churn_month = np.where(churning & (churn_month < 0), t, churn_month)
            starting = (self.start_idx == t) & ~ever
            gap_ok = ever & ~active & (churn_month >= 0) & (churn_month <= t - 2)
            reactivating = gap_ok & (rng.random(n) < 0.006)
            active |= starting | reactivating
            ever |= starting
            tenure = np.where(starting, 0, tenure + 1)
            idx = np.flatnonzero(active)
            k = idx.size
            if k == 0:
                churn_next = np.zeros(n, bool)
                continue
            onboarded = self.onboarding_dates["operations_learned"][idx] <= m_end
            # utilisation: latent quality + onboarding + persistent noise
            ar = 0.8 * ar + rng.normal(0, 0.35, n)
            p_util = _sigmoid(0.6 + 0.9 * self.quality[idx] - 1.0 * ~onboarded + ar[idx])
            # seat changes (upsell / contraction) driven by utilisation, before usage is measured
            up = rng.random(k) < 0.03 + 0.07 * (p_util > 0.85)
            down = ~up & (rng.random(k) < 0.015 + 0.05 * (p_util < 0.4))
            s = seats[idx]
            delta_up = np.maximum(1, np.round(s * rng.uniform(0.05, 0.3, k))).astype(np.int64)
            delta_dn = np.maximum(1, np.round(s * rng.uniform(0.05, 0.25, k))).astype(np.int64)
            s = np.where(up, s + delta_up, np.where(down, np.maximum(1, s - delta_dn), s))
            seats[idx] = s
            # cross-sell and add-on drops
            owned = addons[idx]
            buy = ~owned & (rng.random(owned.shape) < (0.002 + 0.006 * (p_util > 0.7))[:, None])
            drop = owned & (rng.random(owned.shape) < (0.004 + 0.01 * (p_util < 0.4))[:, None])
            owned = (owned | buy) & ~drop
            addons[idx] = owned
            self._bill(t, idx, s, owned)
            # usage
            active_users = rng.binomial(s, p_util)
            util = active_users / s
            features = rng.binomial(N_FEATURES, _sigmoid(-0.3 + 0.8 * self.quality[idx] + 0.6 * onboarded
                                                         + rng.normal(0, 0.4, k)))
            logins = rng.poisson(active_users * 18.0)
            calls = rng.poisson(active_users * 110.0 * (0.5 + util))
            self.rows["usage"].append({
                "account_id": idx, "month": np.full(k, month),
                "active_users": active_users, "logins": logins, "features_used": features, "calls": calls,
            })
            tier = self.touch.touch_tier(s)  # the product's rule at its default thresholds
            last_contact[idx], proactive, before_proactive = self._touchpoints(idx, tier, m_start, days_in,
                                                                              last_contact[idx])
            # champion changes, NPS, tickets, ROI
            champ = rng.random(k) < 0.012
            champ_day = m_start + rng.integers(0, days_in, k) * day
            self.rows["champion_changes"].append({"account_id": idx[champ], "date": champ_day[champ]})
            last_champion[idx[champ]] = champ_day[champ]
            last_nps[idx] = self._nps(idx, util, m_start, days_in, last_nps[idx])
            last_severe[idx] = self._tickets(idx, s, util, m_start, days_in, m_end, last_severe[idx])
            roi_now = self.roi_tracked[idx] & ((t + idx) % 3 == 0) & onboarded
            self.rows["roi"].append({
                "account_id": idx[roi_now],
                "date": (m_start + rng.integers(0, days_in, k) * day)[roi_now],
                "value": np.round(active_users * rng.normal(5, 2, k) * (0.5 + util), 1)[roi_now],
                "metric": np.full(int(roi_now.sum()), "hours_saved"),
            })
            # the true hazard of churning next month, from the state at the end of this month
            since_contact = (m_end - last_contact[idx]).astype(int)
            nps = last_nps[idx]
            logit = (
                -7.0
                + 1.6 * (util < 0.3) + 0.8 * ((util >= 0.3) & (util < 0.5))
                + 0.7 * (features <= 3)
                + _contact_term(since_contact)
                + 0.9 * ((m_end - last_champion[idx]).astype(int) <= 180)
                + 0.9 * (nps <= 6) - 0.4 * (nps >= 9)
                + 0.7 * ((m_end - last_severe[idx]).astype(int) <= 90)
                + 0.8 * (~onboarded & (tenure[idx] >= 3))
                + 1.5 * ~self.enterprise[idx]
                - 0.3 * self.roi_tracked[idx]
                - 0.1 * self.quality[idx] + self.frailty[idx]
            )
            hazard = _sigmoid(logit)
            self.rows["hazard"].append({"account_id": idx, "month": np.full(k, month),
                                        "hazard": np.round(hazard, 6)})
            # for the true effect of proactive contact (contact_effect): the state without this
            # month's proactive touches differs only in the days since the last contact
            self.contact.append({"i": idx, "t": np.full(k, t), "logit": logit, "since": since_contact,
                                 "m_end": np.full(k, m_end), "proactive": proactive, "before": before_proactive})
            churn_next = np.zeros(n, bool)
            churn_next[idx] = rng.random(k) < hazard
        self.churn_month = churn_month
        self.ever = ever

    def _bill(self, t: int, idx: np.ndarray, seats: np.ndarray, owned: np.ndarray) -> None:
        month = self.months[t]
        rows_a, rows_p, rows_l, rows_m = [idx], [np.full(idx.size, PRODUCT_CORE)], [seats], [
            seats * self.price[idx]]
        for j, name in enumerate(ADDONS):
            sel = owned[:, j]
            rows_a.append(idx[sel])
            rows_p.append(np.full(int(sel.sum()), name))
            rows_l.append(np.zeros(int(sel.sum()), np.int64))
            rows_m.append(np.full(int(sel.sum()), ADDON_FEES[j]))
        acc = np.concatenate(rows_a)
        self.rows["subscriptions"].append({
            "account_id": acc, "month": np.full(acc.size, month), "product": np.concatenate(rows_p),
            "licenses": np.concatenate(rows_l), "mrr": np.concatenate(rows_m),
        })

    def _touchpoints(self, idx, tier, m_start, days_in, last_contact):
        """This month's touchpoints of the active accounts ``idx``; returns each one's last contact
        after them, whether it had a proactive one, and its last contact without the proactive ones."""
        rng, day = self.rng, np.timedelta64(1, "D")
        p = np.select([tier == "high", tier == "low"], [0.65, 0.35], 0.12) * np.where(self.neglected[idx], 0.1, 1.0)
        count = np.where(rng.random(idx.size) < p, 1 + rng.poisson(np.where(tier == "high", 0.6, 0.2)), 0)
        rep = np.repeat(np.arange(idx.size), count)
        dates = m_start + rng.integers(0, days_in, rep.size) * day
        channel = np.empty(rep.size, dtype=object)
        for name, (choices, probs) in TOUCH_CHANNELS.items():
            sel = tier[rep] == name
            channel[sel] = choices[rng.choice(len(choices), int(sel.sum()), p=probs)]
        kind = np.array(["proactive", "reactive", "referral"])[rng.choice(3, rep.size, p=[0.75, 0.21, 0.04])]
        self.rows["touchpoints"].append({"account_id": idx[rep], "date": dates,
                                         "channel": channel, "kind": kind})
        latest = pd.Series(dates).groupby(rep).max()
        out = last_contact.copy()
        out[latest.index.to_numpy()] = latest.to_numpy()
        pro = kind == "proactive"
        proactive = np.zeros(idx.size, bool)
        proactive[rep[pro]] = True
        before = last_contact.copy()
        other = pd.Series(dates[~pro]).groupby(rep[~pro]).max()
        at = other.index.to_numpy()
        before[at] = np.maximum(before[at], other.to_numpy().astype(before.dtype))
        return out, proactive, before

    def _nps(self, idx, util, m_start, days_in, last_nps):
        rng, day = self.rng, np.timedelta64(1, "D")
        count = np.where(rng.random(idx.size) < 0.1, rng.integers(1, 4, idx.size), 0)
        rep = np.repeat(np.arange(idx.size), count)
        mean = 7.3 + 1.3 * self.quality[idx] + 2.0 * (util - 0.6)
        score = np.clip(np.round(rng.normal(mean[rep], 1.7)), 0, 10).astype(np.int64)
        dates = m_start + rng.integers(0, days_in, rep.size) * day
        contact = np.char.add(np.char.add(self.ids[idx[rep]], "-C"), rng.integers(1, 6, rep.size).astype(str))
        self.rows["nps_responses"].append({"account_id": idx[rep], "contact_id": contact,
                                           "date": dates, "score": score})
        order = np.lexsort((dates, rep))
        latest = pd.Series(score[order]).groupby(rep[order]).last()
        out = last_nps.copy()
        out[latest.index.to_numpy()] = latest.to_numpy()
        return out

    def _tickets(self, idx, seats, util, m_start, days_in, m_end, last_severe):
        rng, day = self.rng, np.timedelta64(1, "D")
        q = self.quality[idx]
        count = rng.poisson(0.04 + 0.03 * np.sqrt(seats) + 0.1 * (q < -1))
        rep = np.repeat(np.arange(idx.size), count)
        opened = m_start + rng.integers(0, days_in, rep.size) * day
        bad = q[rep] < -0.5
        severity = np.where(
            bad,
            np.array(["low", "medium", "high", "critical"])[rng.choice(4, rep.size, p=[0.25, 0.35, 0.28, 0.12])],
            np.array(["low", "medium", "high", "critical"])[rng.choice(4, rep.size, p=[0.45, 0.4, 0.12, 0.03])],
        )
        low_use = util[rep] < 0.4
        reason_p = np.where(low_use[:, None], [0.35, 0.15, 0.1, 0.05, 0.1, 0.1, 0.15],
                            [0.3, 0.2, 0.12, 0.15, 0.12, 0.09, 0.02])
        reason = TICKET_REASONS[(rng.random(rep.size)[:, None] > np.cumsum(reason_p, axis=1)).sum(axis=1)]
        mean_days = np.select([severity == "critical", severity == "high"], [2.0, 5.0], 10.0)
        resolved = opened + np.ceil(rng.exponential(mean_days)).astype(np.int64) * day
        resolved = np.where(resolved > m_end + 20 * day, np.datetime64("NaT"), resolved)  # still open
        self.rows["tickets"].append({
            "account_id": idx[rep], "opened_at": opened,
            "reason": reason, "severity": severity, "resolved_at": resolved,
        })
        severe = np.isin(severity, ["high", "critical"])
        latest = pd.Series(opened[severe]).groupby(rep[severe]).max()
        out = last_severe.copy()
        out[latest.index.to_numpy()] = latest.to_numpy()
        return out

    # ---- assembling the tables ------------------------------------------------------------
    def contact_effect(self, horizon_months: int = 3) -> dict[str, object]:
        """The true effect of a proactive touchpoint on churn in the following ``horizon_months``:
        for every account × month of the data window with one (and the whole horizon simulated),
        the churn probability over the next months from the simulator's own hazards, minus the
        same without that month's proactive touches (the days since the last contact are then
        counted from the contact before them, until the next contact; nothing else in the state
        changes), averaged over those account-months; also per month (YYYY-MM)."""
        c = {key: np.concatenate([r[key] for r in self.contact]) for key in self.contact[0]}
        n_months = len(self.months)
        state = pd.DataFrame({"i": c["i"], "t": c["t"], "logit": c["logit"], "since": c["since"],
                              "m_end": c["m_end"]}).set_index(["i", "t"])
        touched = (c["proactive"] & (c["t"] >= self.burn) & (c["t"] + horizon_months <= n_months))
        base = pd.DataFrame({"i": c["i"][touched], "t": c["t"][touched], "m_end_0": c["m_end"][touched],
                             "before": c["before"][touched]})

        survive_with = np.ones(len(base))
        survive_without = np.ones(len(base))
        for k in range(horizon_months):
            key = pd.MultiIndex.from_arrays([base["i"], base["t"] + k])
            s = state.reindex(key)
            here = s["logit"].notna().to_numpy()  # not billed that month (churned): no further hazard
            since = s["since"].to_numpy(dtype=float)
            m_end = s["m_end"].to_numpy()
            last = m_end - np.nan_to_num(since).astype(np.int64).astype("timedelta64[D]")
            contacted_later = here & (last > base["m_end_0"].to_numpy())
            since_without = np.where(contacted_later, since,
                                     (m_end - base["before"].to_numpy()).astype("timedelta64[D]").astype(float))
            logit = s["logit"].to_numpy(dtype=float)
            without = logit - _contact_term(since) + _contact_term(since_without)
            survive_with *= np.where(here, 1 - _sigmoid(np.nan_to_num(logit)), 1.0)
            survive_without *= np.where(here, 1 - _sigmoid(np.nan_to_num(without)), 1.0)
        effect = (1 - survive_with) - (1 - survive_without)
        month = np.datetime_as_string(self.months[base["t"].to_numpy()], unit="M")
        by_month = pd.Series(effect).groupby(month).agg(["mean", "size"])
        return {"effect": float(effect.mean()) if len(effect) else float("nan"),
                "horizon_months": horizon_months, "touched_account_months": int(len(effect)),
                "by_month": {m: {"effect": float(r["mean"]), "touched": int(r["size"])} for m, r in by_month.iterrows()},
                "definition": "average over account-months with a proactive touchpoint of P(churn within the "
                              "horizon | the touch) - P(churn within the horizon | without the month's proactive "
                              "touches), from the simulator's hazards"}

    def tables(self) -> dict[str, pd.DataFrame]:
        end_day = (self.months[-1] + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
        window = self.months[self.burn:]
        frames = {}
        for name, rows in self.rows.items():
            cols = {c: np.concatenate([r[c] for r in rows]) for c in rows[0]}
            if "month" in cols:  # monthly tables cover the window only (not the burn-in)
                keep = cols["month"] >= window[0]
                cols = {c: v[keep] for c, v in cols.items()}
                cols["month"] = pd.Categorical.from_codes((cols["month"] - window[0]).astype(int), _iso(window),
                                                          ordered=True)
            cols["account_id"] = self._ids(cols["account_id"])
            for c in ("date", "opened_at"):
                if c in cols:
                    cols[c] = _day_strings(cols[c])
            frames[name] = pd.DataFrame(cols)
        res = frames["tickets"]["resolved_at"].to_numpy().astype("datetime64[D]")
        frames["tickets"]["resolved_at"] = _day_strings(np.where(res > end_day, np.datetime64("NaT"), res))
        frames["tickets"].insert(0, "ticket_id", np.char.add("T", np.arange(1, len(res) + 1).astype(str)))
        frames["onboarding"] = self._onboarding_rows(end_day)
        frames["success_plans"] = self._success_plans(end_day)
        frames["accounts"] = self.accounts
        frames["cancellations"] = self._cancellations(frames["subscriptions"])
        for name in ("touchpoints", "nps_responses", "champion_changes", "roi"):
            frames[name] = frames[name].sort_values(["account_id", "date"], kind="stable", ignore_index=True)
        return frames

    def _cancellations(self, subs: pd.DataFrame) -> pd.DataFrame:
        """One cancellation per churn (the last month of service of an account before a month
        without MRR), dated in that month, for 90 % of churns (the rest were never recorded);
        drawn from its own random stream, so the other tables do not change with it."""
        rng = np.random.default_rng([self.spec.seed, 20261201])
        month = subs["month"].cat.codes.to_numpy().astype(np.int64)
        acc = subs["account_id"].cat.codes.to_numpy().astype(np.int64)
        paid = subs["mrr"].to_numpy() > 0
        key = np.unique(acc[paid] * (len(self.months) + 1) + month[paid])  # active account-months, sorted
        a, m = key // (len(self.months) + 1), key % (len(self.months) + 1)
        n_window = len(self.months) - self.burn
        last = np.r_[(a[1:] != a[:-1]) | (m[1:] != m[:-1] + 1), True] & (m < n_window - 1)
        a, m = a[last], m[last]
        recorded = rng.random(len(a)) < 0.9
        a, m = a[recorded], m[recorded]
        enterprise = self.enterprise[a]
        u = rng.random(len(a))
        reason = np.where(enterprise, np.searchsorted(np.cumsum(CANCEL_P_ENT), u * CANCEL_P_ENT.sum()),
                          np.searchsorted(np.cumsum(CANCEL_P_SMB), u * CANCEL_P_SMB.sum()))
        window = self.months[self.burn:]
        first_day = window[m].astype("datetime64[D]")
        days = ((window[m] + 1).astype("datetime64[D]") - first_day).astype(np.int64)
        date = first_day + (rng.random(len(a)) * days).astype(np.int64)
        frame = pd.DataFrame({"account_id": self._ids(a), "date": _day_strings(date),
                              "reason": CANCEL_REASONS[np.minimum(reason, len(CANCEL_REASONS) - 1)],
                              "voluntary": np.where(reason == len(CANCEL_REASONS) - 1, "false", "true")})
        return frame.sort_values(["account_id", "date"], kind="stable", ignore_index=True)

    def _ids(self, rows: np.ndarray) -> pd.Categorical:
        """Account ids of account rows, without building millions of strings."""
        return pd.Categorical.from_codes(rows, self.ids)

    def _onboarding_rows(self, end_day: np.datetime64) -> pd.DataFrame:
        # a milestone is recorded only while the account is a customer and before the data ends
        first_churn = np.where(self.churn_month >= 0, self.months[np.maximum(self.churn_month, 0)],
                               self.months[-1] + 1).astype("datetime64[D]")
        frames = []
        for milestone, dates in self.onboarding_dates.items():
            ok = ~np.isnat(dates) & (dates <= end_day) & (dates < first_churn) & self.ever
            frames.append(pd.DataFrame({"account_id": self._ids(np.flatnonzero(ok)), "milestone": milestone,
                                        "date": _day_strings(dates[ok])}))
        return pd.concat(frames, ignore_index=True).sort_values(["account_id", "date"], kind="stable",
                                                                ignore_index=True)

    def _success_plans(self, end_day: np.datetime64) -> pd.DataFrame:
        rng, n, day = self.rng, self.spec.accounts, np.timedelta64(1, "D")
        count = np.where(self.ever, rng.integers(0, 4, n), 0)
        rep = np.repeat(np.arange(n), count)
        pick = np.argsort(rng.random((n, len(OBJECTIVES))), axis=1)
        nth = np.arange(rep.size) - np.repeat(np.cumsum(count) - count, count)
        objective = OBJECTIVES[pick[rep, nth]]
        first = self.months[self.start_idx[rep]].astype("datetime64[D]")
        span = (end_day - first).astype(int) + 120
        due = first + (30 + (rng.random(rep.size) * span).astype(np.int64)) * day
        done = rng.random(rep.size) < _sigmoid(0.6 + self.quality[rep])
        completed = due + rng.normal(-10, 25, rep.size).round().astype(np.int64) * day
        completed = np.where(done & (completed <= end_day), completed, np.datetime64("NaT"))
        completed = np.maximum(completed, first)
        return pd.DataFrame({
            "account_id": self._ids(rep), "objective": objective, "due_date": _day_strings(due),
            "completed_date": _day_strings(completed),
        })


def generate_demo(spec: DemoSpec) -> dict[str, pd.DataFrame]:
    """Simulate the company; returns the contract tables plus ``_truth/hazard``."""
    return simulate(spec).tables()


def simulate(spec: DemoSpec) -> _Simulation:
    """The simulated company after its run: ``tables()`` and ``contact_effect(h)``."""
    sim = _Simulation(spec)
    sim.run()
    return sim
