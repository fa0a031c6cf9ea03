"""Every English/Japanese label of the product, in one place (the KPI labels live with each
KPI's declaration in :mod:`cs_analysis.kpis.registry`). Values are ``(English, Japanese)``;
:func:`pick` chooses one by language. What a label belongs to — a measure's table and unit, a
feature's DEAR dimension, a flag's rule — stays with its owner; only the words are here.
"""

from __future__ import annotations

LANGS = ("en", "ja")
MINUS = "\u2212"  # the one minus sign of every number shown to a person (−, not the hyphen -)


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
    "renewals_forecast": ("Renewals and the revenue ahead", "契約更新と今後の売上"),
    "cohort_logo": ("Logo retention by cohort", "コホート別の顧客維持率"),
    "cohort_mrr": ("Net MRR retention by cohort", "コホート別の売上維持率 (NRR)"),
    "cohort_seats": ("Seat retention by cohort", "コホート別のライセンス維持率"),
    "grain_month": ("monthly cohorts", "月次コホート"),
    "grain_quarter": ("fiscal-quarter cohorts", "四半期コホート"),
    "grain_year": ("fiscal-year cohorts", "年度コホート"),
    "age_month": ("months since the first paid month", "初回課金月からの経過月数"),
    "age_quarter": ("quarters since the start", "開始からの経過四半期"),
    "age_year": ("years since the start", "開始からの経過年数"),
    "cohort_size": ("cohort (accounts)", "コホート（顧客数）"),
    "no_contracts": ("No contracts table: renewals and committed changes are not available (MRR comes from "
                     "monthly subscriptions).", "契約データ (contracts) がないため、契約更新と確定済みの増減は表示できません"
                     "（MRRは月次の subscriptions から計算しています）。"),
    "no_renewals": ("No contract comes up for renewal in the months ahead.", "今後の対象期間に更新を迎える契約はありません。"),
    "index": ("Pages of this report", "このレポートのページ"),
    "impact_sentence": ("What CS contact does: accounts with a proactive touchpoint churned {effect} (95 % interval "
                        "{low} to {high}) within {h} months compared with similar accounts of the same month without "
                        "one ({touched} vs {matched}; {pairs} pairs, {first}..{last}): {verdict}",
                        "CS接点の効果: 能動的な接点があった顧客の{h}か月以内の解約率は、同じ月の似た顧客（接点なし）より "
                        "{effect}（95%区間 {low}〜{high}）でした（{touched} 対 {matched}、{pairs}組、{first}〜{last}）。"
                        "{verdict}"),
    "impact_lower": ("contact lowers churn.", "接点は解約を減らしています。"),
    "impact_higher": ("touched accounts churn more: contact may follow risk rather than prevent it.",
                      "接点のあった顧客の方が解約が多く、接点がリスクの後追いになっている可能性があります。"),
    "impact_unclear": ("the data cannot tell the effect from zero.", "効果はゼロと区別できません。"),
    "impact_unavailable": ("What CS contact does cannot be estimated from this data: {why}",
                           "CS接点の効果はこのデータでは推定できません: {why}"),
    "impact_title": ("Effect of a proactive touchpoint on churn within {h} months (95 % interval)",
                     "能動的な接点による{h}か月以内の解約率の変化（95%区間）"),
    "impact_zero": ("no effect", "効果なし"),
    "dropped_link": ("→ The {n} accounts that dropped a level, and what moved their score",
                     "→ レベルが下がった{n}社と、スコアを動かした要因"),
    "dropped_title": ("Accounts that dropped a level this period, and why", "当期にレベルが下がった顧客とその要因"),
    "small_cohort": ("fewer than {n} accounts: read with care", "{n}社未満（参考値）"),
    "model_backtest_caption": ("Time-ordered backtest, all test folds pooled: churn in the next {h} months; chosen "
                               "model: {model}", "時系列順のバックテスト（全検証期間の合計）: {h}か月以内の解約、採用モデル: {model}"),
    "model_left_race": ("; {model} left the comparison after {k} of {n} folds, clearly behind (DeLong's test), "
                        "so its row covers those folds only",
                        "。{model}は{n}回中{k}回目の検証で明らかに劣ったため比較から外れ（DeLong検定）、その行はそこまでの検証のみ"),
    "model_not_compared": ("; {model} was not compared: the training periods hold too few churns for it (it needs "
                           "about 200 per feature, logistic regression 20-50)",
                           "。{model}は比較対象外（学習期間の解約が少なすぎるため。特徴量あたり約200件が必要。ロジスティック回帰は20〜50件）"),
    "model_folds_caption": ("The same per fold: trained on dates before the fold start, tested on later dates",
                            "検証期間ごと: 検証開始日より前で学習し、その後の時点で検証"),
    "driver_counts_caption": ("Drivers named most often among the high-risk accounts",
                              "高リスク顧客で多く挙がった要因"),
    "predicted": ("Predicted churn probability", "予測した解約確率"),
    "observed": ("Observed churn rate", "実際の解約率"),
    "no_contact_caption": ("Active accounts without CS contact for more than {days} days: {n} (the {shown} with "
                           "the most ARR)", "{days}日を超えてCS接点がない顧客: {n}社（ARRの大きい{shown}社）"),
    "top_risks": ("The ten accounts with the most ARR at risk", "リスクARR上位10社"),
    "headline_detail": ("Headline KPIs: this period, the previous one and a year ago", "主要KPI（当期・前期・前年同期）"),
    "backtest_caption": ("Churn within {h} months after each monthly snapshot, by health level; ROC AUC of the "
                         "score {auc}", "各月末時点のヘルスレベル別、その後{h}か月以内の解約率（スコアのROC AUC {auc}）"),
    "what_moved": ("What moved: the largest contributors", "主な変動要因"),
    "movement": ("Movement", "増減"),
    "contributor": ("Segment or account", "セグメント・顧客"),
    "amount": ("MRR", "MRR"),
    "share_of_total": ("Share of the total", "全体に占める割合"),
    "small_base_note": ("* computed on fewer than {n} accounts (small base): read with care",
                        "* {n}社未満で計算した値（母数が小さいため参考値）"),
    "churned": ("churned", "解約"),
    "from": ("Level at start", "期首のレベル"),
    "to": ("at end", "期末"),
    "transitions_caption": ("Accounts by health level on {start} (rows) and {end} (columns)",
                            "{start}（行）と{end}（列）のヘルスレベル別顧客数"),
    "unassigned": ("(unassigned)", "（未割当）"),
    "renewal_calendar": ("Renewal calendar: contracts ending in the months ahead", "更新カレンダー（今後の契約終了）"),
    "forecast_backtest": ("Forecast backtest: the error of forecasts made at past dates",
                          "予測のバックテスト（過去の時点で行った予測の誤差）"),
    "account": ("Account", "顧客"),
    "product": ("Product", "製品"),
    "end_date": ("End date", "契約終了日"),
    "days_to_renewal": ("Days to renewal", "更新までの日数"),
    "arr_due": ("ARR up for renewal", "更新対象ARR"),
    "notice_deadline": ("Notice deadline", "解約通知期限"),
    "auto_renew": ("Auto-renew", "自動更新"),
    "yes": ("yes", "あり"),
    "no": ("no", "なし"),
    "owner": ("Owner", "担当CSM"),
    "health_level": ("Health level", "ヘルスレベル"),
    "churn_probability": ("Churn probability by then", "更新時までの解約確率"),
    "expected_renewal_arr": ("Expected renewal ARR", "更新見込みARR"),
    "month": ("Month", "月"),
    "cmrr": ("Committed MRR", "確定MRR (CMRR)"),
    "known_cancellations": ("Known cancellations", "解約通知済み"),
    "signed_new": ("Signed, starting later", "契約済み・開始前"),
    "forecast_low": ("Forecast (low)", "予測（下限）"),
    "forecast_base": ("Forecast", "予測"),
    "forecast_high": ("Forecast (high)", "予測（上限）"),
    "forecast_title": ("MRR: actual and forecast", "MRRの実績と予測"),
    "actual": ("Actual MRR", "MRR実績"),
    "band": ("Forecast band", "予測の幅"),
    "no_forecast_backtest": ("The model file has no forecast backtest (trained by an earlier version).",
                             "このモデルには予測のバックテストがありません（以前のバージョンで学習）。"),
    "months_ahead": ("Months ahead", "何か月先"),
    "forecast_dates": ("Forecast dates", "予測時点の数"),
    "mape_existing": ("MAPE, MRR of the accounts at the date", "平均絶対誤差率（時点の既存顧客のMRR）"),
    "mape_all": ("MAPE, all MRR", "平均絶対誤差率（全MRR）"),
    "headline_renewals": ("Next quarter: {contracts} contracts with {arr_due} of ARR come up for renewal, expected "
                          "renewal rate {rate}; forecast MRR in {month}: {forecast} ({low}..{high}).",
                          "来四半期: 更新を迎える契約 {contracts} 件、更新対象ARR {arr_due}、更新見込み率 {rate}。"
                          "{month} のMRR予測 {forecast}（{low}〜{high}）。"),
    "headline_no_contracts": ("Forecast MRR in {month}: {forecast} ({low}..{high}); no contracts table, so no "
                              "renewals.", "{month} のMRR予測 {forecast}（{low}〜{high}）。契約データがないため更新は表示できません。"),
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


# column headers of the report's tables (report.formatting.present)
COLUMNS: dict[str, tuple[str, str]] = {
    "account_id": ("Account ID", "顧客ID"),
    "name": ("Account", "顧客名"),
    "churn_probability": ("Churn probability", "解約確率"),
    "risk_tier": ("Risk tier", "リスク区分"),
    "arr": ("ARR", "ARR"),
    "arr_at_risk": ("ARR at risk", "リスクARR"),
    "health_level": ("Health level", "ヘルスレベル"),
    "level": ("Health level", "ヘルスレベル"),
    "touch_tier": ("Touch tier", "タッチ区分"),
    "csm_owner": ("Owner", "担当CSM"),
    "top_drivers": ("Top drivers", "主な要因"),
    "top_drivers_ja": ("Top drivers", "主な要因"),
    "next_action": ("Next action", "次のアクション"),
    "next_action_ja": ("Next action", "次のアクション"),
    "action_owner": ("Who acts", "実施者"),
    "action_owner_ja": ("Who acts", "実施者"),
    "days_since_contact": ("Days since last contact", "最終接点からの日数"),
    "observations": ("Observations", "観測数"),
    "churned": ("Churned", "解約数"),
    "churn_rate": ("Churn rate", "解約率"),
    "auc": ("ROC AUC of the score", "スコアのROC AUC"),
    "model": ("Model", "モデル"),
    "cutoff": ("Fold start", "検証開始日"),
    "roc_auc": ("ROC AUC", "ROC AUC"),
    "pr_auc": ("PR AUC", "PR AUC"),
    "top10_capture": ("Churners in the riskiest 10 %", "上位10%での解約捕捉率"),
    "lift_top10": ("Lift (top 10 %)", "リフト（上位10%）"),
    "rows": ("Rows", "行数"),
    "brier": ("Brier score", "ブライアスコア"),
    "ece": ("Calibration error (ECE)", "較正誤差 (ECE)"),
    "accounts": ("Accounts", "顧客数"),
    "high_risk": ("High risk", "高リスク"),
    "driver": ("Driver", "要因"),
    "count": ("High-risk accounts", "高リスク顧客数"),
    "measure": ("Measure", "指標"),
    "value": ("Value", "値"),
    "level_from": ("Level at start", "期首のレベル"),
    "level_since": ("Level at start", "期首のレベル"),
    "score_change": ("Score change", "スコアの変化"),
    "moved_by": ("What moved the score", "スコアを動かした要因"),
    "moved_by_ja": ("What moved the score", "スコアを動かした要因"),
    "churned_level": ("Churned", "解約"),
}

# segmentations and the segments the project itself names, as a report shows them (a column of
# the company's own data keeps its name and values); the tidy outputs keep the codes
SEGMENTATIONS: dict[str, tuple[str, str]] = {"all": ("All accounts", "全体"), "size": ("company size", "企業規模"),
                                             "touch_tier": ("touch tier", "タッチ区分")}
SEGMENT_VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "touch_tier": {"high": ("high touch", "ハイタッチ"), "low": ("low touch", "ロータッチ"),
                   "tech": ("tech touch", "テックタッチ")},
}
NO_SEGMENT: tuple[str, str] = ("(none)", "（なし）")  # core.segments.NONE: no value in the column
NO_REASON: tuple[str, str] = ("(no reason recorded)", "（理由の記録なし）")  # kpis.cancellations.UNKNOWN

# churn-model candidates and references in a backtest (model.pipelines)
MODELS: dict[str, tuple[str, str]] = {
    "logistic": ("logistic regression", "ロジスティック回帰"),
    "gradient_boosting": ("gradient boosting", "勾配ブースティング"),
    "baseline:health_score": ("health score (reference)", "ヘルススコア（比較基準）"),
    "oracle": ("true risk (simulated data only)", "真のリスク（シミュレーションのみ）"),
}

# risk tiers of an at-risk list (model.artefact.risk_tiers)
RISK_TIERS: dict[str, tuple[str, str]] = {"high": ("high", "高"), "medium": ("medium", "中"), "low": ("low", "低")}
