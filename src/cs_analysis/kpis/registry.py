"""The KPI registry: the one place a KPI is declared (name, unit, English and Japanese label).

The engine (:mod:`.engine`) computes every KPI listed here, in this order; formatting, reports
and docs read units and labels from here. Definitions: docs/kpis.md.
"""

from __future__ import annotations

from typing import NamedTuple


class Kpi(NamedTuple):
    """One KPI's declaration: ``unit`` (money, count, percent, score, days), its English and
    Japanese labels, and ``direction``: "up" when a rise is good news, "down" when a fall is,
    None when neither (a count such as tickets opened)."""

    unit: str
    en: str
    ja: str
    direction: str | None


# order = output order; the formulas are the engine's (kpis.engine.KpiEngine._aggregate), the
# definitions docs/kpis.md
KPIS: dict[str, Kpi] = {
    "mrr_start": Kpi("money", "MRR at start", "期首MRR", "up"),
    "mrr_end": Kpi("money", "MRR at end", "期末MRR", "up"),
    "new_mrr": Kpi("money", "New MRR", "新規MRR", "up"),
    "expansion_mrr": Kpi("money", "Expansion MRR", "拡大MRR", "up"),
    "contraction_mrr": Kpi("money", "Contraction MRR", "縮小MRR", "down"),
    "churned_mrr": Kpi("money", "Churned MRR", "解約MRR", "down"),
    "reactivation_mrr": Kpi("money", "Reactivation MRR", "再開MRR", "up"),
    "net_new_mrr": Kpi("money", "Net new MRR", "純増MRR", "up"),
    "active_accounts_start": Kpi("count", "Active accounts at start", "期首顧客数", "up"),
    "active_accounts_end": Kpi("count", "Active accounts at end", "期末顧客数", "up"),
    "churned_accounts": Kpi("count", "Churned accounts", "解約顧客数", "down"),
    "new_accounts": Kpi("count", "New accounts", "新規顧客数", "up"),
    "customer_churn_rate": Kpi("percent", "Customer churn rate", "顧客チャーンレート", "down"),
    "avg_monthly_churn_rate": Kpi("percent", "Average monthly churn rate", "平均月次チャーンレート", "down"),
    "license_churn_rate": Kpi("percent", "License churn rate", "ライセンスチャーンレート", "down"),
    "revenue_churn_rate": Kpi("percent", "Revenue churn rate", "レベニューチャーンレート", "down"),
    "net_revenue_churn_rate": Kpi("percent", "Net revenue churn rate", "ネットレベニューチャーンレート", "down"),
    "customer_retention_rate": Kpi("percent", "Customer retention rate", "顧客維持率", "up"),
    "nrr": Kpi("percent", "Net revenue retention (NRR)", "売上維持率 (NRR)", "up"),
    "grr": Kpi("percent", "Gross revenue retention (GRR)", "総収益維持率 (GRR)", "up"),
    "upsell_rate": Kpi("percent", "Upsell rate", "アップセル率", "up"),
    "cross_sell_rate": Kpi("percent", "Cross-sell rate", "クロスセル率", "up"),
    "upsell_mrr": Kpi("money", "Upsell MRR", "アップセル額", "up"),
    "cross_sell_mrr": Kpi("money", "Cross-sell MRR", "クロスセル額", "up"),
    "arpa": Kpi("money", "ARPA (MRR per account)", "顧客平均単価 (ARPA)", "up"),
    "ltv": Kpi("money", "LTV (guide formula)", "LTV (ガイド式)", "up"),
    "ltv_survival": Kpi("money", "LTV (sBG survival model)", "LTV (生存モデル)", "up"),
    "lost_revenue": Kpi("money", "Lost revenue to fiscal year end", "逸失金額", "down"),
    "nps": Kpi("score", "NPS", "NPS", "up"),
    "nps_responses": Kpi("count", "NPS responses", "NPS回答数", "up"),
    "promoters": Kpi("count", "Promoters (9-10)", "推奨者 (9-10)", "up"),
    "detractors": Kpi("count", "Detractors (0-6)", "批判者 (0-6)", "down"),
    "referral_candidates": Kpi("count", "Referral candidates", "紹介候補", "up"),
    "referral_touchpoints": Kpi("count", "Referral touchpoints", "紹介接点", "up"),
    "tickets_opened": Kpi("count", "Support tickets opened", "問い合わせ件数", None),
    "objectives_due": Kpi("count", "Success-plan objectives due", "期限到来の目標数", None),
    "objectives_on_time_rate": Kpi("percent", "Objectives completed on time", "期限内達成率", "up"),
    "objectives_overdue": Kpi("count", "Objectives overdue at end", "期末の期限超過目標", "down"),
    "health_level_4_accounts": Kpi("count", "Accounts in level 4 Good at end", "良好の顧客数 (期末)", "up"),
    "health_level_3_accounts": Kpi("count", "Accounts in level 3 Healthy at end", "健全の顧客数 (期末)", "up"),
    "health_level_2_accounts": Kpi("count", "Accounts in level 2 Caution at end", "注意の顧客数 (期末)", "down"),
    "health_level_1_accounts": Kpi("count", "Accounts in level 1 Action required at end", "要対応の顧客数 (期末)", "down"),
    "health_level_4_share": Kpi("percent", "Share in level 4 Good at end", "良好の割合 (期末)", "up"),
    "health_level_3_share": Kpi("percent", "Share in level 3 Healthy at end", "健全の割合 (期末)", "up"),
    "health_level_2_share": Kpi("percent", "Share in level 2 Caution at end", "注意の割合 (期末)", "down"),
    "health_level_1_share": Kpi("percent", "Share in level 1 Action required at end", "要対応の割合 (期末)", "down"),
    "caution_or_action_accounts_start": Kpi("count", "Caution + Action required at start", "注意・要対応 (期首)", "down"),
    "caution_or_action_accounts_end": Kpi("count", "Caution + Action required at end", "注意・要対応 (期末)", "down"),
    "target_achievement_rate": Kpi("percent", "Accounts at or above target health", "目標ヘルス達成率", "up"),
    "onboarding_completion_rate": Kpi("percent", "Onboarding completed (active at end)", "オンボーディング完了率", "up"),
    "median_days_to_onboard": Kpi("days", "Median days to onboard (completed in period)", "オンボーディング日数 (中央値)", "down"),
    "onboarding_stuck_accounts": Kpi("count", "Accounts stuck in onboarding at end", "オンボーディング停滞顧客", "down"),
    "no_contact_accounts": Kpi("count", "Accounts without CS contact (no-contact days) at end", "長期未接触の顧客", "down"),
}
COLUMNS = ["period", "segment_by", "segment", "kpi", "value"]
ACTIVITY = ["mrr_start", "mrr_end", "churned_mrr", "new_mrr", "reactivation_mrr", "nps_responses",
            "referral_touchpoints", "tickets_opened", "objectives_due", "objectives_overdue"]
HEALTH_KPIS = [k for k in KPIS if k.startswith(("health_", "caution_", "target_", "onboarding_", "median_days",
                                                "no_contact"))]


def registry_markdown() -> str:
    """The registry as the Markdown table docs/kpis.md carries between its registry markers
    (a test keeps the two equal; refresh with ``python -c "from cs_analysis.kpis.registry import
    registry_markdown; print(registry_markdown())"``)."""
    arrow = {"up": "↑ up is good", "down": "↓ down is good", None: "—"}
    rows = ["| kpi | unit | direction | English | 日本語 |", "|---|---|---|---|---|"]
    rows += [f"| `{name}` | {k.unit} | {arrow[k.direction]} | {k.en} | {k.ja} |" for name, k in KPIS.items()]
    return "\n".join(rows)
