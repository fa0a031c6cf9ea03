"""The KPI registry: the one place a KPI is declared — name, unit, English and Japanese label,
direction and formula.

The engine (:mod:`.engine`) computes every KPI listed here, in this order, by applying its
formula to the per-segment sums of the account quantities (:class:`.quantities.Quantities`);
formatting, reports and docs read units, labels and directions from here. Definitions:
docs/kpis.md. Adding a KPI over the existing quantities is one line here and its test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from cs_analysis.kpis.quantities import Inputs, mean_monthly_rate, rate, ratio


class Kpi(NamedTuple):
    """One KPI's declaration: ``unit`` (money, count, percent, score, days), its English and
    Japanese labels, ``direction`` ("up" when a rise is good news, "down" when a fall is, None
    when neither, e.g. tickets opened) and ``formula``: its periods × segments values from the
    :class:`~.quantities.Inputs` (undefined, hence empty, where it reads an absent quantity)."""

    unit: str
    en: str
    ja: str
    direction: str | None
    formula: Callable[[Inputs], np.ndarray]


# order = output order (a formula may read the KPIs above it through q.kpi(name))
KPIS: dict[str, Kpi] = {
    "mrr_start": Kpi("money", "MRR at start", "期首MRR", "up",
        lambda q: q.mrr_start),
    "mrr_end": Kpi("money", "MRR at end", "期末MRR", "up",
        lambda q: q.mrr_end),
    "new_mrr": Kpi("money", "New MRR", "新規MRR", "up",
        lambda q: q.new_mrr),
    "expansion_mrr": Kpi("money", "Expansion MRR", "拡大MRR", "up",
        lambda q: q.expansion_mrr),
    "contraction_mrr": Kpi("money", "Contraction MRR", "縮小MRR", "down",
        lambda q: q.contraction_mrr),
    "churned_mrr": Kpi("money", "Churned MRR", "解約MRR", "down",
        lambda q: q.churned_mrr),
    "reactivation_mrr": Kpi("money", "Reactivation MRR", "再開MRR", "up",
        lambda q: q.reactivation_mrr),
    "net_new_mrr": Kpi("money", "Net new MRR", "純増MRR", "up",
        lambda q: q.new_mrr + q.expansion_mrr + q.reactivation_mrr - q.contraction_mrr - q.churned_mrr),
    "active_accounts_start": Kpi("count", "Active accounts at start", "期首顧客数", "up",
        lambda q: q.in_start),
    "active_accounts_end": Kpi("count", "Active accounts at end", "期末顧客数", "up",
        lambda q: q.in_end),
    "churned_accounts": Kpi("count", "Churned accounts", "解約顧客数", "down",
        lambda q: q.churned),
    "new_accounts": Kpi("count", "New accounts", "新規顧客数", "up",
        lambda q: q.is_new),
    "customer_churn_rate": Kpi("percent", "Customer churn rate", "顧客チャーンレート", "down",
        lambda q: rate(q.churned, q.in_start)),
    "avg_monthly_churn_rate": Kpi("percent", "Average monthly churn rate", "平均月次チャーンレート", "down",
        lambda q: mean_monthly_rate(q.month_churned, q.month_base)),
    "license_churn_rate": Kpi("percent", "License churn rate", "ライセンスチャーンレート", "down",
        lambda q: rate(q.licenses_lost, q.licenses_start)),
    "revenue_churn_rate": Kpi("percent", "Revenue churn rate", "レベニューチャーンレート", "down",
        lambda q: rate(q.churned_mrr + q.contraction_mrr, q.mrr_start)),
    "net_revenue_churn_rate": Kpi("percent", "Net revenue churn rate", "ネットレベニューチャーンレート", "down",
        lambda q: rate(q.churned_mrr + q.contraction_mrr - q.expansion_mrr - q.reactivation_mrr, q.mrr_start)),
    "customer_retention_rate": Kpi("percent", "Customer retention rate", "顧客維持率", "up",
        lambda q: rate(q.in_end - q.is_new, q.in_start)),
    "nrr": Kpi("percent", "Net revenue retention (NRR)", "売上維持率 (NRR)", "up",
        lambda q: rate(q.mrr_end_of_start, q.mrr_start)),
    "grr": Kpi("percent", "Gross revenue retention (GRR)", "総収益維持率 (GRR)", "up",
        lambda q: rate(q.min_mrr_of_start, q.mrr_start)),
    "upsell_rate": Kpi("percent", "Upsell rate", "アップセル率", "up",
        lambda q: rate(q.upsold, q.in_start)),
    "cross_sell_rate": Kpi("percent", "Cross-sell rate", "クロスセル率", "up",
        lambda q: rate(q.cross_sold, q.in_start)),
    "upsell_mrr": Kpi("money", "Upsell MRR", "アップセル額", "up",
        lambda q: q.upsell),
    "cross_sell_mrr": Kpi("money", "Cross-sell MRR", "クロスセル額", "up",
        lambda q: q.cross_sell),
    "arpa": Kpi("money", "ARPA (MRR per account)", "顧客平均単価 (ARPA)", "up",
        lambda q: ratio(q.mrr_end, q.in_end)),
    "ltv": Kpi("money", "LTV (guide formula)", "LTV (ガイド式)", "up",
        lambda q: ratio(q.kpi("arpa") * q.settings.gross_margin, q.kpi("avg_monthly_churn_rate") / 100.0)),
    "ltv_survival": Kpi("money", "LTV (sBG survival model)", "LTV (生存モデル)", "up",
        lambda q: q.kpi("arpa") * q.settings.gross_margin * q.lifetimes),
    "lost_revenue": Kpi("money", "Lost revenue to fiscal year end", "逸失金額", "down",
        lambda q: q.lost_revenue),
    "nps": Kpi("score", "NPS", "NPS", "up",
        lambda q: rate(q.promoters - q.detractors, q.nps_responses)),
    "nps_responses": Kpi("count", "NPS responses", "NPS回答数", "up",
        lambda q: q.nps_responses),
    "promoters": Kpi("count", "Promoters (9-10)", "推奨者 (9-10)", "up",
        lambda q: q.promoters),
    "detractors": Kpi("count", "Detractors (0-6)", "批判者 (0-6)", "down",
        lambda q: q.detractors),
    "referral_candidates": Kpi("count", "Referral candidates", "紹介候補", "up",
        lambda q: q.referral_candidate),
    "referral_touchpoints": Kpi("count", "Referral touchpoints", "紹介接点", "up",
        lambda q: q.referral_touchpoints),
    "tickets_opened": Kpi("count", "Support tickets opened", "問い合わせ件数", None,
        lambda q: q.tickets_opened),
    "objectives_due": Kpi("count", "Success-plan objectives due", "期限到来の目標数", None,
        lambda q: q.objectives_due),
    "objectives_on_time_rate": Kpi("percent", "Objectives completed on time", "期限内達成率", "up",
        lambda q: rate(q.objectives_on_time, q.objectives_due)),
    "objectives_overdue": Kpi("count", "Objectives overdue at end", "期末の期限超過目標", "down",
        lambda q: q.objectives_overdue),
    "health_level_4_accounts": Kpi("count", "Accounts in level 4 Good at end", "良好の顧客数 (期末)", "up",
        lambda q: q.level_end[0]),
    "health_level_3_accounts": Kpi("count", "Accounts in level 3 Healthy at end", "健全の顧客数 (期末)", "up",
        lambda q: q.level_end[1]),
    "health_level_2_accounts": Kpi("count", "Accounts in level 2 Caution at end", "注意の顧客数 (期末)", "down",
        lambda q: q.level_end[2]),
    "health_level_1_accounts": Kpi("count", "Accounts in level 1 Action required at end", "要対応の顧客数 (期末)", "down",
        lambda q: q.level_end[3]),
    "health_level_4_share": Kpi("percent", "Share in level 4 Good at end", "良好の割合 (期末)", "up",
        lambda q: rate(q.level_end[0], q.scored_end)),
    "health_level_3_share": Kpi("percent", "Share in level 3 Healthy at end", "健全の割合 (期末)", "up",
        lambda q: rate(q.level_end[1], q.scored_end)),
    "health_level_2_share": Kpi("percent", "Share in level 2 Caution at end", "注意の割合 (期末)", "down",
        lambda q: rate(q.level_end[2], q.scored_end)),
    "health_level_1_share": Kpi("percent", "Share in level 1 Action required at end", "要対応の割合 (期末)", "down",
        lambda q: rate(q.level_end[3], q.scored_end)),
    "caution_or_action_accounts_start": Kpi("count", "Caution + Action required at start", "注意・要対応 (期首)", "down",
        lambda q: q.caution_or_action_start),
    "caution_or_action_accounts_end": Kpi("count", "Caution + Action required at end", "注意・要対応 (期末)", "down",
        lambda q: q.caution_or_action_end),
    "target_achievement_rate": Kpi("percent", "Accounts at or above target health", "目標ヘルス達成率", "up",
        lambda q: rate(q.meets_target_end, q.scored_end)),
    "onboarding_completion_rate": Kpi("percent", "Onboarding completed (active at end)", "オンボーディング完了率", "up",
        lambda q: rate(q.onboarded_end, q.in_end)),
    "median_days_to_onboard": Kpi("days", "Median days to onboard (completed in period)", "オンボーディング日数 (中央値・期中完了)", "down",
        lambda q: q.days_to_onboard),
    "onboarding_stuck_accounts": Kpi("count", "Accounts stuck in onboarding at end", "オンボーディング停滞顧客", "down",
        lambda q: q.onboarding_stuck_end),
    "no_contact_accounts": Kpi("count", "Accounts without CS contact (no-contact days) at end", "長期未接触の顧客", "down",
        lambda q: q.no_contact_end),
    "renewals_due_contracts": Kpi("count", "Contracts up for renewal", "更新対象の契約数", None,
        lambda q: q.renewals_due_contracts),
    "renewals_due_accounts": Kpi("count", "Accounts up for renewal", "更新対象の顧客数", None,
        lambda q: q.renewals_due_accounts),
    "renewals_due_arr": Kpi("money", "ARR up for renewal", "更新対象ARR", None,
        lambda q: q.renewals_due_arr),
    "renewed_arr": Kpi("money", "Renewed ARR", "更新されたARR", "up",
        lambda q: q.renewed_arr),
    "gross_renewal_rate": Kpi("percent", "Gross renewal rate", "グロス更新率", "up",
        lambda q: rate(q.renewed_arr_capped, q.renewals_known_arr)),
    "net_renewal_rate": Kpi("percent", "Net renewal rate", "ネット更新率", "up",
        lambda q: rate(q.renewed_arr, q.renewals_known_arr)),
    "early_cancellations": Kpi("count", "Contracts due with notice given early", "期限前の解約通知", "down",
        lambda q: q.early_cancellations),
}
COLUMNS = ["period", "segment_by", "segment", "kpi", "value"]
# KPI families: one KPI per member (kpi = "<family>:<member>", e.g. churned MRR per cancellation
# reason, kpis.cancellations), computed outside the formulas above; labels take the member
FAMILIES: dict[str, Kpi] = {
    "churned_mrr_by_reason": Kpi("money", "Churned MRR: {member}", "解約MRR（{member}）", "down",
                                 lambda q: q.churned_mrr),
    "churned_accounts_by_reason": Kpi("count", "Churned accounts: {member}", "解約顧客数（{member}）", "down",
                                      lambda q: q.churned),
}


def lookup(name: str) -> Kpi:
    """The declaration of KPI ``name``: a registry KPI, or a family member ("family:member")
    with its labels filled in; a KeyError for an unknown name.

    >>> lookup("churned_mrr_by_reason:価格").ja
    '解約MRR（価格）'
    """
    if name in KPIS:
        return KPIS[name]
    family, sep, member = name.partition(":")
    if not sep or family not in FAMILIES:
        raise KeyError(name)
    kpi = FAMILIES[family]
    return kpi._replace(en=kpi.en.format(member=member), ja=kpi.ja.format(member=member))
ACTIVITY = ["mrr_start", "mrr_end", "churned_mrr", "new_mrr", "reactivation_mrr", "nps_responses",
            "referral_touchpoints", "tickets_opened", "objectives_due", "objectives_overdue"]
# the accounts (or answers, contracts) a rate is computed on: a rate over fewer than the setting
# small_base_accounts is marked as small-base in reports
_START = ("customer_churn_rate", "avg_monthly_churn_rate", "license_churn_rate", "revenue_churn_rate",
          "net_revenue_churn_rate", "customer_retention_rate", "nrr", "grr", "upsell_rate", "cross_sell_rate")
BASE_OF: dict[str, str] = {
    **dict.fromkeys(_START, "active_accounts_start"),
    "nps": "nps_responses",
    "objectives_on_time_rate": "objectives_due",
    "onboarding_completion_rate": "active_accounts_end",
    "gross_renewal_rate": "renewals_due_accounts",
    "net_renewal_rate": "renewals_due_accounts",
    "arpa": "active_accounts_end",
    "ltv": "active_accounts_end",
}


def small_base(tidy: pd.DataFrame, threshold: int) -> np.ndarray:
    """Per row of a tidy KPI frame, whether its KPI is a rate computed on fewer than
    ``threshold`` accounts (its base KPI, :data:`BASE_OF`, of the same period and segment)."""
    keys = ["period", "segment_by", "segment"]
    base = tidy[tidy["kpi"].isin(set(BASE_OF.values()))]
    base = pd.to_numeric(base.set_index([*keys, "kpi"])["value"], errors="coerce")
    wanted = pd.MultiIndex.from_arrays([tidy["period"], tidy["segment_by"], tidy["segment"],
                                        tidy["kpi"].map(BASE_OF)])
    n = base.reindex(wanted).to_numpy(dtype=float)
    return tidy["kpi"].isin(BASE_OF).to_numpy() & (n < threshold)


RENEWAL_KPIS = [k for k in KPIS if k.startswith(("renewals_", "renewed_")) or k.endswith("_renewal_rate")
                or k == "early_cancellations"]  # only with contracts (kpis.renewals)
HEALTH_KPIS = [k for k in KPIS if k.startswith(("health_", "caution_", "target_", "onboarding_", "median_days",
                                                "no_contact"))]


def registry_markdown() -> str:
    """The registry as the Markdown table docs/kpis.md carries between its registry markers
    (a test keeps the two equal; refresh with ``python -c "from cs_analysis.kpis.registry import
    registry_markdown; print(registry_markdown())"``)."""
    arrow = {"up": "↑ up is good", "down": "↓ down is good", None: "—"}
    rows = ["| kpi | unit | direction | English | 日本語 |", "|---|---|---|---|---|"]
    rows += [f"| `{name}` | {k.unit} | {arrow[k.direction]} | {k.en} | {k.ja} |" for name, k in KPIS.items()]
    rows += [f"| `{name}:<reason>` | {k.unit} | {arrow[k.direction]} | {k.en.format(member='<reason>')} | "
             f"{k.ja.format(member='<理由>')} |" for name, k in FAMILIES.items()]
    return "\n".join(rows)
