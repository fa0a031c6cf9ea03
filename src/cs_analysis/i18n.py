"""Every English/Japanese label of the product, in one place (the KPI labels live with each
KPI's declaration in :mod:`cs_analysis.kpis.registry`). Values are ``(English, Japanese)``;
:func:`pick` chooses one by language. What a label belongs to — a measure's table and unit, a
feature's DEAR dimension, a flag's rule — stays with its owner; only the words are here.
"""

from __future__ import annotations

LANGS = ("en", "ja")


def pick(pair: tuple[str, str], lang: str) -> str:
    """The English (``en``) or Japanese (``ja``) side of a label pair.

    >>> pick(LEVELS[1], "ja")
    '要対応'
    """
    return pair[1] if lang == "ja" else pair[0]


# health levels 4 … 1 (docs/health.md: 良好/健全/注意/要対応)
LEVELS: dict[int, tuple[str, str]] = {4: ("Good", "良好"), 3: ("Healthy", "健全"), 2: ("Caution", "注意"),
                                     1: ("Action required", "要対応")}
DIMENSIONS: dict[str, tuple[str, str]] = {
    "deployment": ("Deployment", "導入"), "engagement": ("Engagement", "関与"),
    "adoption": ("Adoption", "活用"), "roi": ("ROI", "ROI"), "other": ("Other", "その他")}
# scorecard measures, as a health reason reads them
MEASURES: dict[str, tuple[str, str]] = {
    "utilisation": ("license utilisation", "ライセンス利用率"),
    "seat_trend": ("seat change over 3 months", "3か月のライセンス数変化"),
    "days_since_contact": ("days since last CS contact", "最終接点からの日数"),
    "meetings_90d": ("meetings in 90 days", "90日間の面談数"),
    "feature_breadth": ("features used", "利用機能数"),
    "usage_trend": ("active-user trend", "アクティブユーザー推移"),
    "roi_measured_365d": ("ROI measured in the last year", "1年以内のROI測定"),
    "nps_latest": ("latest NPS answer", "直近のNPS回答"),
    "severe_open_tickets": ("open severe tickets", "未解決の重大チケット"),
    "severe_tickets_90d": ("severe tickets in 90 days", "90日間の重大チケット"),
}
# measure values in words: (no, yes) of a flag measure, the unit of days
FLAG_VALUE: tuple[tuple[str, str], tuple[str, str]] = (("no", "yes"), ("なし", "あり"))
DAYS_UNIT: tuple[str, str] = (" days", "日")
# health flags, as the health table lists them ({days}, {pct}: the no-contact and utilisation settings)
FLAGS: dict[str, tuple[str, str]] = {
    "no_contact": ("no CS contact for {days}+ days", "{days}日以上CS接点なし"),
    "onboarding_stuck": ("onboarding stuck", "オンボーディング停滞"),
    "champion_change": ("champion changed recently", "担当者交代"),
    "low_utilisation": ("utilisation under {pct}%", "利用率{pct}%未満"),
    "detractor": ("detractor in latest NPS", "直近NPSが批判者"),
    "severe_ticket": ("severe ticket in 90 days", "90日以内に重大チケット"),
    "seats_down": ("seats reduced", "ライセンス減少"),
}
# the same flags as a churn driver names them (short, without the threshold)
FLAG_DRIVERS: dict[str, tuple[str, str]] = {
    "no_contact": ("no recent CS contact", "長期未接触"),
    "onboarding_stuck": ("onboarding stuck", "オンボーディング停滞"),
    "champion_change": ("champion changed", "担当者交代"),
    "low_utilisation": ("low utilisation", "低い利用率"),
    "detractor": ("detractor in NPS", "NPS批判者"),
    "severe_ticket": ("severe ticket", "重大チケット"),
    "seats_down": ("seats reduced", "ライセンス減少"),
}
# model features, as a churn driver names them
FEATURES: dict[str, tuple[str, str]] = {
    "utilisation": ("license utilisation", "ライセンス利用率"),
    "utilisation_change_3m": ("utilisation change", "利用率の変化"),
    "seat_trend": ("seat change", "ライセンス数の変化"),
    "licenses": ("licenses", "ライセンス数"),
    "days_since_contact": ("time since CS contact", "最終接点からの日数"),
    "meetings_90d": ("meetings in 90 days", "90日間の面談数"),
    "touchpoints_90d": ("CS contacts in 90 days", "90日間の接点数"),
    "champion_change_180d": ("recent champion change", "担当者交代"),
    "feature_breadth": ("features used", "利用機能数"),
    "usage_trend": ("active-user trend", "アクティブユーザー推移"),
    "onboarded": ("onboarding", "オンボーディング"),
    "milestones_done": ("onboarding milestones", "オンボーディング進捗"),
    "onboarding_overdue": ("onboarding overdue", "オンボーディング遅延"),
    "onboarding_stuck": ("onboarding stuck", "オンボーディング停滞"),
    "roi_measured_365d": ("ROI not measured", "ROI未測定"),
    "nps_latest": ("latest NPS", "直近のNPS"),
    "tickets_90d": ("support tickets", "問い合わせ件数"),
    "severe_tickets_90d": ("severe tickets", "重大チケット"),
    "severe_open_tickets": ("open severe tickets", "未解決の重大チケット"),
    "mrr": ("MRR", "MRR"),
    "mrr_change_3m": ("MRR change", "MRRの変化"),
    "tenure_months": ("tenure", "契約期間"),
    "days_since_signup": ("time since signup", "契約からの日数"),
    "size": ("company size", "企業規模"),
    "touch_tier": ("touch tier", "タッチ区分"),
    "health_score": ("health score", "ヘルススコア"),
    "health_level": ("health level", "ヘルスレベル"),
}
# next actions by touch tier
NEXT_ACTIONS: dict[str, tuple[str, str]] = {
    "high": ("owner call or meeting", "担当CSMから電話・面談"),
    "low": ("webinar or seminar invitation", "ウェビナー・セミナーへの招待"),
    "tech": ("targeted content or email", "個別コンテンツ・メール配信"),
}
# report headings and table labels
REPORT: dict[str, tuple[str, str]] = {
    "kpi_overview": ("KPI overview", "KPI概要"),
    "segment_analysis": ("Segment analysis", "セグメント分析"),
    "health_review": ("Health review", "ヘルススコアレビュー"),
    "model_review": ("Churn model review", "解約予測モデルレビュー"),
    "at_risk": ("At-risk accounts", "解約リスク顧客"),
    "quarterly_report": ("Quarterly report", "四半期レポート"),
    "waterfall": ("MRR movements", "MRRの増減"),
    "start": ("Start", "期首"), "end": ("End", "期末"),
    "new": ("New", "新規"), "expansion": ("Expansion", "拡大"), "reactivation": ("Reactivation", "再開"),
    "contraction": ("Contraction", "縮小"), "churn": ("Churn", "解約"),
    "churn_trend": ("Churn and revenue churn by month", "月次の顧客・レベニューチャーン"),
    "retention_trend": ("NRR and GRR by month", "月次のNRR・GRR"),
    "level_mix": ("Accounts by health level", "ヘルスレベル別の顧客数"),
    "backtest": ("Churn in the next {h} months by health level", "ヘルスレベル別の{h}か月以内解約率"),
    "calibration": ("Calibration of the churn model", "解約予測の較正"),
    "arr_at_risk_owner": ("ARR at risk by owner", "担当者別のリスクARR"),
    "kpi": ("KPI", "KPI"), "value": ("Value", "値"), "previous": ("Previous period", "前期"),
    "year_ago": ("A year ago", "前年同期"), "change_pop": ("vs previous", "前期比"),
    "change_yoy": ("vs year ago", "前年比"),
    "data_notes": ("Notes on the data", "データに関する注記"),
    "churn_reasons": ("Churn by cancellation reason", "解約理由別の解約"),
    "no_cancellations": ("No cancellations table: churn by reason is not available.",
                         "解約理由のデータ (cancellations) がないため、理由別の解約は表示できません。"),
    "reason": ("Reason", "解約理由"),
    "churned_accounts": ("Churned accounts", "解約顧客数"),
    "churned_mrr": ("Churned MRR", "解約MRR"),
    "share": ("Share of churned MRR", "解約MRRに占める割合"),
}


# the quarterly report's opening paragraph; every {field} is a formatted value (report.context)
SUMMARY: tuple[str, str] = (
    "In {period}, MRR ended at {mrr_end} (net new {net_new_mrr}). Customer churn was "
    "{customer_churn_rate}, NRR {nrr}, GRR {grr}. {churned_accounts} accounts churned (a year ago: "
    "{churned_accounts_year_ago}), lost revenue {lost_revenue}. Caution + action-required accounts went "
    "from {caution_start} to {caution_end}; target achievement {target_achievement_rate}. The ten riskiest "
    "accounts carry {top_risk_arr} of ARR at risk.",
    "{period}の期末MRRは{mrr_end}（純増{net_new_mrr}）。顧客チャーンレートは{customer_churn_rate}、"
    "NRRは{nrr}、GRRは{grr}。解約は{churned_accounts}社（前年同期{churned_accounts_year_ago}社）、"
    "逸失金額は{lost_revenue}。注意・要対応の顧客は期首{caution_start}社→期末{caution_end}社、"
    "目標ヘルス達成率は{target_achievement_rate}。リスク上位10社のリスクARRは合計{top_risk_arr}です。",
)
