"""The KPI registry: the one place a KPI is declared (name, unit, English and Japanese label).

The engine (:mod:`.engine`) computes every KPI listed here, in this order; formatting, reports
and docs read units and labels from here. Definitions: docs/kpis.md.
"""

from __future__ import annotations

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
    "health_level_4_accounts": ("count", "Accounts in level 4 Good at end", "良好の顧客数 (期末)"),
    "health_level_3_accounts": ("count", "Accounts in level 3 Healthy at end", "健全の顧客数 (期末)"),
    "health_level_2_accounts": ("count", "Accounts in level 2 Caution at end", "注意の顧客数 (期末)"),
    "health_level_1_accounts": ("count", "Accounts in level 1 Action required at end", "要対応の顧客数 (期末)"),
    "health_level_4_share": ("percent", "Share in level 4 Good at end", "良好の割合 (期末)"),
    "health_level_3_share": ("percent", "Share in level 3 Healthy at end", "健全の割合 (期末)"),
    "health_level_2_share": ("percent", "Share in level 2 Caution at end", "注意の割合 (期末)"),
    "health_level_1_share": ("percent", "Share in level 1 Action required at end", "要対応の割合 (期末)"),
    "caution_or_action_accounts_start": ("count", "Caution + Action required at start", "注意・要対応 (期首)"),
    "caution_or_action_accounts_end": ("count", "Caution + Action required at end", "注意・要対応 (期末)"),
    "target_achievement_rate": ("percent", "Accounts at or above target health", "目標ヘルス達成率"),
    "onboarding_completion_rate": ("percent", "Onboarding completed (active at end)", "オンボーディング完了率"),
    "median_days_to_onboard": ("days", "Median days to onboard (completed in period)", "オンボーディング日数 (中央値)"),
    "onboarding_stuck_accounts": ("count", "Accounts stuck in onboarding at end", "オンボーディング停滞顧客"),
    "no_contact_accounts": ("count", "Accounts without CS contact (no-contact days) at end", "長期未接触の顧客"),
}
COLUMNS = ["period", "segment_by", "segment", "kpi", "value"]
ACTIVITY = ["mrr_start", "mrr_end", "churned_mrr", "new_mrr", "reactivation_mrr", "nps_responses",
            "referral_touchpoints", "tickets_opened", "objectives_due", "objectives_overdue"]
HEALTH_KPIS = [k for k in KPIS if k.startswith(("health_", "caution_", "target_", "onboarding_", "median_days",
                                                "no_contact"))]
