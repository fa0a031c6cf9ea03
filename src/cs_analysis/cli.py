"""`cs-analysis` command line: a thin layer over the library. Data errors exit 2, no traceback."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cs_analysis.config.scorecard import scorecard_mapping
from cs_analysis.config.settings import load_settings
from cs_analysis.data.dataset import load_dataset
from cs_analysis.data.demo import DemoSpec, write_demo
from cs_analysis.data.io import CSV_EXPORT_ENCODING, csv_text, write_frame, write_text
from cs_analysis.data.mapping import import_dataset
from cs_analysis.errors import CsAnalysisError
from cs_analysis.health.scorer import HealthScorer
from cs_analysis.i18n import LEVELS
from cs_analysis.kpis.cohorts import MEASURES, cohort_retention
from cs_analysis.kpis.engine import KpiEngine
from cs_analysis.model.persistence import load_model, save_model
from cs_analysis.report.formatting import kpi_table


def _cmd_validate(args: argparse.Namespace) -> int:
    settings, ds = _load(args)
    print(f"OK {args.path}: {len(ds.tables())} tables meet the data contract")
    print(ds.summary().to_string(index=False))
    subs = ds.subscriptions
    months = subs["month"].drop_duplicates().sort_values()
    if len(months):
        last = subs.loc[subs["month"].eq(months.iloc[-1])].groupby("account_id")["mrr"].sum()
        print(
            f"accounts: {len(ds.accounts):,} (active in {months.iloc[-1]:%Y-%m}: {int((last > 0).sum()):,}); "
            f"months: {len(months)} ({months.iloc[0]:%Y-%m}..{months.iloc[-1]:%Y-%m})"
        )
    for note in ds.notes:
        print(f"note: {note}")
    return 0


def _cmd_usage_features(args: argparse.Namespace) -> int:
    from cs_analysis.data.events import write_usage_features

    started = time.perf_counter()
    rows = write_usage_features(args.events, args.out, args.engine, args.memory_limit)
    print(f"wrote {args.out}: {rows:,} account-months ({args.engine}, {time.perf_counter() - started:.1f}s)",
          file=sys.stderr)
    return 0


def _cmd_demo_data(args: argparse.Namespace) -> int:

    spec = DemoSpec(accounts=args.accounts, months=args.months, end=args.end, seed=args.seed)
    started = time.perf_counter()
    counts = write_demo(args.out, spec, fmt=args.format, events=args.events, mrr_as=args.mrr_as)
    took = time.perf_counter() - started
    total = sum(counts.values())
    print(f"wrote demo company to {args.out}: {spec.accounts:,} accounts, {spec.months} months "
          f"ending {spec.end_month()}, {total:,} rows in {len(counts)} tables ({took:.1f}s)")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    started = time.perf_counter()
    done = import_dataset(args.mapping, args.out, settings)
    ds = done.dataset
    print(f"imported {args.mapping} -> {done.out} ({time.perf_counter() - started:.1f}s)")
    for name, rows in done.written.items():
        print(f"  {name}: {rows:,} rows")
    if ds.mrr_source != "subscriptions":
        subs = ds.subscriptions
        print(f"  subscriptions derived from {ds.mrr_source}: {len(subs):,} account x product x month rows, "
              f"months {ds.since}..{ds.through} (as-of {ds.as_of:%Y-%m-%d})")
    for note in ds.notes:
        if not note.startswith("subscriptions derived"):
            print(f"note: {note}")
    return 0


def _load(args: argparse.Namespace):
    """Settings and validated dataset, the way every data command starts."""

    settings = load_settings(getattr(args, "config", None))
    return settings, load_dataset(args.path, settings)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return

    csv = out.suffix.lower() == ".csv"  # a CSV file for Excel: UTF-8 with BOM
    write_text(text, out, encoding=CSV_EXPORT_ENCODING if csv else "utf-8")
    print(f"wrote {out}", file=sys.stderr)


def _cmd_kpis(args: argparse.Namespace) -> int:

    settings, ds = _load(args)
    engine = KpiEngine(ds, settings)
    period = args.period or engine.default_period()
    by = [b.strip() for b in (args.by or "").split(",") if b.strip()]
    tidy = engine.kpis(period, by)
    p = engine.period(period)
    if args.format == "csv":

        text = csv_text(tidy)
    elif args.format == "json":
        text = tidy.to_json(orient="records", force_ascii=False, indent=1) + "\n"
    else:
        head = (f"KPIs {p.label}: {p.first}..{p.last} (start {p.start}, end {p.end}); "
                f"currency {settings.currency}; fiscal year starts in month {settings.fiscal_year_start_month}\n")
        text = head + kpi_table(tidy, settings.currency).to_string() + "\n"
    _emit(text, args.out)
    return 0


def _cmd_cohorts(args: argparse.Namespace) -> int:
    settings, ds = _load(args)
    engine = KpiEngine(ds, settings, with_health=False)
    measures = (args.measure,) if args.measure else MEASURES
    table = cohort_retention(engine, args.grain, args.by, measures)
    frame = table.frame
    if args.format == "csv":
        text = csv_text(frame)
    elif args.format == "json":
        text = frame.to_json(orient="records", force_ascii=False, indent=1) + "\n"
    else:
        lines = [f"Cohort retention by first paid {table.grain} (age in {table.grain}s since the start; "
                 f"* = fewer than {table.min_accounts} accounts)"]
        if table.left_out:
            lines.append(f"note: {table.left_out:,} accounts active in the opening month {engine.cube.months[0]} "
                         "with an earlier signup_date are left out (their first paid month is before the data)")
        groups = frame[["segment_by", "segment"]].drop_duplicates().itertuples(index=False)
        for seg_by, segment in groups:
            sizes = table.sizes(seg_by, segment)
            for measure in measures:
                m = table.matrix(measure, seg_by, segment)
                title = "all accounts" if seg_by == "all" else f"{seg_by}={segment}"
                if m.empty:  # e.g. seats when no cohort starts with licenses: undefined, not 0
                    lines += ["", f"{measure} retention (%), {title}: none (no cohort starts with any "
                              f"{'licenses' if measure == 'seats' else 'MRR'}, so the ratio is undefined)"]
                    continue
                small = frame[(frame["measure"] == measure) & (frame["segment_by"] == seg_by)
                              & (frame["segment"] == segment)].pivot_table(
                    index="cohort", columns="age", values="cohort_accounts", aggfunc="first", sort=True)
                shown = m.map(lambda v: "" if v != v else f"{v:.1f}")
                shown = shown.where(small.reindex_like(m).fillna(table.min_accounts) >= table.min_accounts,
                                    shown + "*")
                shown.insert(0, "accounts", sizes.reindex(shown.index).fillna(0).astype(int))
                lines += ["", f"{measure} retention (%), {title}", shown.to_string()]
        text = "\n".join(lines) + "\n"
    _emit(text, args.out)
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    from cs_analysis.health.review import backtest, onboarding_summary

    settings, ds = _load(args)
    scorer = HealthScorer(ds, settings)
    frame = scorer.at(args.as_of)
    if args.since is not None and args.since >= args.as_of:
        raise CsAnalysisError(f"health: --since {args.since:%Y-%m-%d} must be before --as-of {args.as_of:%Y-%m-%d}")
    lines = [f"Health on {args.as_of:%Y-%m-%d}: {len(frame):,} active accounts"]
    for note in scorer.notes:
        lines.append(f"note: {note}")
    counts = frame["level"].value_counts()
    for level in (4, 3, 2, 1):
        n = int(counts.get(level, 0))
        share = f"{n / len(frame) * 100:5.1f}%" if len(frame) else "    —"
        lines.append(f"  {level} {LEVELS[level][1]} {LEVELS[level][0]:<16} {n:>8,}  {share}")
    if len(frame):
        lines.append(f"  target achievement 目標達成率: {frame['meets_target'].mean() * 100:.1f}%; "
                     f"capped by champion change: {int(frame['capped_by_champion_change'].sum()):,}")
        flags = {c[5:]: int(frame[c].sum()) for c in frame.columns if c.startswith("flag_")}
        lines.append("  flags: " + ", ".join(f"{k} {v:,}" for k, v in flags.items()))
    onboarding = onboarding_summary(scorer, args.as_of)
    if onboarding:
        lines.append("  onboarding: " + ", ".join(f"{k} {v:.1f}" if v == v else f"{k} —"
                                                  for k, v in onboarding.items()))
    if args.backtest:
        bt = backtest(scorer, args.horizon_months or settings.horizon_months)
        lines.append(f"Back-test: churn within {bt.horizon_months} months after {bt.snapshots} monthly snapshots "
                     f"({bt.observations:,} observations)")
        lines.append(bt.by_level.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
        lines.append(f"  ROC AUC of the score: {bt.auc:.3f}; by dimension: "
                     + ", ".join(f"{k} {v:.3f}" for k, v in bt.auc_by_dimension.items()))
    if args.since is not None:
        moved = scorer.moved_by(args.since, args.as_of)
        frame = frame.merge(moved, on="account_id", how="left")
        then = frame["level_since"]
        down = int((frame["level"] < then).fillna(False).sum())
        up = int((frame["level"] > then).fillna(False).sum())
        lines.append(f"Since {args.since:%Y-%m-%d}: {down:,} accounts dropped a level, {up:,} rose one or more, "
                     f"{int(then.isna().sum()):,} were not active then; the largest drops in score:")
        change = frame["score"] - frame["score_since"]
        for i in change.nsmallest(5).index[change.nsmallest(5) < 0]:
            r = frame.loc[i]
            lines.append(f"  {r['account_id']}: {r['score_since']:.0f} → {r['score']:.0f} "
                         f"(level {int(r['level_since'])} → {int(r['level'])}): {r['moved_by']}")
    print("\n".join(lines))
    if args.out is not None:
        write_frame(frame, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _cmd_tune_scorecard(args: argparse.Namespace) -> int:
    import yaml

    from cs_analysis.model.tuning import tune_scorecard

    settings, ds = _load(args)
    horizon = args.horizon_months or settings.horizon_months
    tuned = tune_scorecard(ds, settings, args.as_of, horizon, seed=args.seed)
    cur, new = tuned.current, tuned.tuned
    fit, held = tuned.fit_dates, tuned.held_out_dates
    lines = [f"Scorecard tuned on {tuned.fit_rows:,} account-months ({fit[0]:%Y-%m}..{fit[1]:%Y-%m}); held out: "
             f"{held[0]:%Y-%m}..{held[1]:%Y-%m} ({new.observations:,} account-months), churn within "
             f"{horizon} months",
             f"  ROC AUC on the held-out dates: current scorecard {cur.auc:.3f}, tuned {new.auc:.3f}, "
             f"churn model (logistic, same rows) {tuned.model_auc:.3f}",
             "  churn by level on the held-out dates (current → tuned):"]
    a, b = cur.by_level.set_index("level"), new.by_level.set_index("level")
    def cell(t, level: int) -> str:  # noqa: ANN001 (a by-level frame)
        return (f"{t.at[level, 'churn_rate']:5.1f}% of {int(t.at[level, 'observations']):>6,}"
                if level in t.index else f"{'—':>16}")

    for level in (4, 3, 2, 1):
        lines.append(f"    {level} {LEVELS[level][1]} {LEVELS[level][0]:<16} {cell(a, level)}  →  {cell(b, level)}")
    lines.append("  weights that moved most (share of the score):")
    for r in tuned.weights.head(5).itertuples():
        lift = f"{r.lift:.1f}×" if r.lift == r.lift else "—"
        lines.append(f"    {r.measure} ({r.dimension}): {r.current_share:.0f}% → {r.tuned_share:.0f}%; accounts in "
                     f"its lowest-scoring band ({r.lowest_band}) churned at {lift} the average")
    print("\n".join(lines))
    raw: dict = {}
    if args.config is not None:  # the user's other settings stay; the scorecard is replaced whole
        raw = yaml.safe_load(args.config.read_text(encoding="utf-8-sig")) or {}
    raw["health"] = scorecard_mapping(tuned.scorecard)
    header = (f"# health scorecard tuned by cs-analysis tune-scorecard on {args.path} --as-of {args.as_of:%Y-%m-%d}"
              f" (horizon {horizon} months)\n# held-out ROC AUC: current {cur.auc:.3f}, tuned {new.auc:.3f}, "
              f"churn model {tuned.model_auc:.3f}\n# use it with --config {args.out.name}\n")
    write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, default_flow_style=None,
                                       width=120), args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _cmd_contact_impact(args: argparse.Namespace) -> int:
    import json

    from cs_analysis.model.impact import contact_impact

    settings, ds = _load(args)
    horizon = args.horizon_months or settings.horizon_months
    impact = contact_impact(ds, settings, args.as_of, horizon, by=args.by, seed=args.seed)
    if args.format == "json":
        text = json.dumps(impact.as_dict(), ensure_ascii=False, indent=1, allow_nan=False) + "\n"
    else:
        def line(name: str, e) -> str:  # noqa: ANN001 (an Estimate)
            if e.effect != e.effect:
                return f"  {name}: too few pairs ({e.pairs}) to estimate"
            return (f"  {name}: {e.effect * 100:+.2f} points of churn (95% CI {e.ci_low * 100:+.2f} to "
                    f"{e.ci_high * 100:+.2f}); {e.pairs:,} pairs, churn {e.churn_touched * 100:.1f}% touched vs "
                    f"{e.churn_matched * 100:.1f}% matched untouched; {e.unmatched:,} touched without a match")
        o = impact.overall
        lines = [f"Effect of a proactive touchpoint on churn within {horizon} months "
                 f"(account-months {impact.months[0]}..{impact.months[1]}; propensity-score matching within the "
                 f"month on the signals at the month's start):", line("all accounts", o)]
        lines += [line(f"{impact.by}={s}", e) for s, e in impact.segments.items()]
        lines.append("balance (standardised mean difference, touched vs untouched → vs matched):")
        for r in impact.balance.head(8).itertuples():
            lines.append(f"  {r.covariate:<24} {r.smd_before:+.3f} → {r.smd_after:+.3f}")
        worst = impact.balance["smd_after"].abs().max()
        lines.append(f"  largest |SMD| after matching: {worst:.3f}" + (" (balanced: < 0.1)" if worst < 0.1 else
                                                                          " (above 0.1: read with care)"))
        text = "\n".join(lines) + "\n"
    _emit(text, args.out)
    return 0


def _dataset_or_table(args: argparse.Namespace, parser_name: str) -> None:
    if (args.path is None) == (args.table is None):
        raise CsAnalysisError(f"{parser_name}: give either a dataset folder or --table FILE, not both or neither")
    if args.path is not None and args.as_of is None:
        raise CsAnalysisError(f"{parser_name}: --as-of DATE is required with a dataset folder")


def _cmd_train(args: argparse.Namespace) -> int:

    _dataset_or_table(args, "train")
    if args.table is not None:
        from cs_analysis.model.table import read_table, train_table

        if args.label is None:
            raise CsAnalysisError("train --table: --label COL is required")
        tm = train_table(read_table(args.table), args.label, args.id, seed=args.seed, source=str(args.table))
        for note in tm.notes:
            print(note, file=sys.stderr)
        meta = tm.model.meta
        print(f"stratified 5-fold cross-validation, {meta.rows:,} rows, churn rate "
              f"{meta.churn_rate * 100:.1f}%; chosen: {meta.model}")
        print(tm.cv.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        save_model(tm.model, args.model_out)
    else:
        from cs_analysis.model.training import read_truth, train_model

        settings, ds = _load(args)
        horizon = args.horizon_months or settings.horizon_months
        trained = train_model(ds, settings, args.as_of, horizon, truth=read_truth(args.path, horizon), seed=args.seed)
        bt = trained.backtest
        for note in trained.model.meta.notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"time-ordered backtest, horizon {bt.horizon_months} months, cutoffs "
              + ", ".join(f"{c:%Y-%m}" for c in bt.cutoffs) + f"; chosen: {bt.chosen}")
        print(bt.folds.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        print("overall:")
        print(bt.overall.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        save_model(trained.model, args.model_out)
    print(f"wrote {args.model_out} and {args.model_out}.json", file=sys.stderr)
    return 0


def _cmd_score(args: argparse.Namespace) -> int:

    _dataset_or_table(args, "score")
    model = load_model(args.model)
    if args.table is not None:
        from cs_analysis.model.table import read_table, score_table

        out = score_table(model, read_table(args.table), load_settings(args.config))
    else:
        from cs_analysis.model.training import at_risk_accounts

        if model.meta.kind != "accounts":
            raise CsAnalysisError("this model was trained on a single table; score it with --table FILE")
        settings, ds = _load(args)
        out = at_risk_accounts(model, ds, settings, args.as_of, args.capacity)
    write_frame(out, args.out)
    print(f"wrote {args.out}: {len(out):,} rows", file=sys.stderr)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from cs_analysis.report.runner import run_report

    result = run_report(args.period, args.data, args.out, args.lang, args.segments,
                        str(args.config) if args.config else None, args.force, args.timeout, jobs=args.jobs)
    print(f"report in {result.folder}: {len(result.notebooks)} notebooks, {len(result.failed)} failed")
    for note in result.notes:
        print(f"note: {note}")
    for entry in result.failed:
        where = f"cell {entry['cell']}" if entry.get("cell") else "execution"
        print(f"error: notebook {entry['notebook']} failed at {where}: {entry['error']} "
              f"(see {result.folder / (entry['notebook'] + '.ipynb')})", file=sys.stderr)
    return 1 if result.failed else 0


def _date(text: str):
    import pandas as pd

    try:
        return pd.Timestamp(text).normalize()
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date YYYY-MM-DD") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _month(text: str) -> str:
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError("expected YYYY-MM")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cs-analysis",
        description="Customer-success analytics and churn modelling for B2B SaaS.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a dataset against the data contract",
                       description="Check every table of a dataset and report all problems at once "
                                   "(exit 2), or print a summary (exit 0).")
    p.add_argument("path", help="folder of CSV/Parquet files, or a DuckDB database file")
    _common(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("import", help="a company's own files -> a dataset folder, through a mapping file",
                       description="Read a company's own exports (CSV in UTF-8 or CP932, Parquet, xlsx) through a "
                                   "mapping file (docs/data-contract.md), map them onto the data contract, derive "
                                   "monthly subscriptions, validate, and write a standard dataset folder (Parquet) "
                                   "with dataset.yaml.")
    p.add_argument("--mapping", required=True, type=Path, help="mapping file (YAML); paths in it are relative to it")
    p.add_argument("--out", required=True, type=Path, help="dataset folder to write (new, empty or an earlier import)")
    _common(p)
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("demo-data", help="write the simulated demo company",
                       description="Write a complete simulated dataset (all tables of the data "
                                   "contract) plus _truth/hazard.csv.")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--accounts", type=_positive, default=1000, help="number of accounts (default 1000)")
    p.add_argument("--months", type=_positive, default=36, help="months of history (default 36)")
    p.add_argument("--end", type=_month, default=None,
                   help="last month YYYY-MM (default: the last full month before today)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)")
    p.add_argument("--as", dest="mrr_as", choices=("subscriptions", "contracts"), default="subscriptions",
                   help="MRR as monthly subscriptions (default) or as contracts with a dataset.yaml")
    p.add_argument("--events", action="store_true",
                   help="also write the raw product events behind the usage table (events/month=YYYY-MM/*.parquet; "
                        "about 40M events per 1,000 accounts x 36 months)")
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser("usage-features", help="raw product events -> monthly usage and activity features",
                       description="Compute the usage table of the data contract and trailing 30/90-day activity "
                                   "features (active users, events per user, feature breadth, days since last "
                                   "activity, usage trend) from raw events (account_id, user_id, event, ts) in "
                                   "Parquet, on DuckDB (default, out of core) or Spark.")
    p.add_argument("--events", required=True, type=Path, help="events: a Parquet file or a folder of them")
    p.add_argument("--out", required=True, type=Path, help="output file (.parquet or .csv)")
    p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="engine (default duckdb)")
    p.add_argument("--memory-limit", help="engine memory limit, e.g. 2GB (DuckDB spills to disk beyond it)")
    p.set_defaults(func=_cmd_usage_features)

    p = sub.add_parser("kpis", help="compute every CS KPI for a period",
                       description="Every KPI (docs/kpis.md) for a period, in total and per segment. "
                                   "csv/json print the tidy frame (period, segment_by, segment, kpi, value).")
    p.add_argument("path", help="dataset folder or DuckDB file")
    p.add_argument("--period", help="2025-07, 2025Q3, FY2025, FY2025Q1 or 2025-04..2025-09 "
                                    "(default: the last complete fiscal quarter in the data)")
    p.add_argument("--by", help="segmentations, comma-separated: size, touch_tier or any accounts column")
    _common(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default table)")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")
    p.set_defaults(func=_cmd_kpis)

    p = sub.add_parser("cohorts", help="cohort retention tables (logo, net MRR, seats)",
                       description="Retention of each signup cohort (first paid month, fiscal quarter or fiscal year) "
                                   "by age since its start: logo, net MRR and seat retention, in %.")
    p.add_argument("path", help="dataset folder or DuckDB file")
    p.add_argument("--grain", choices=("month", "quarter", "year"), help="cohort grain (default: the setting "
                   "cohort_grain, month)")
    p.add_argument("--measure", choices=("logo", "mrr", "seats"), help="one measure (default: all three)")
    p.add_argument("--by", help="also per segment of this segmentation (size, touch_tier or an accounts column)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default table)")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")
    _common(p)
    p.set_defaults(func=_cmd_cohorts)

    p = sub.add_parser("health", help="score account health on a date (DEAR frame)",
                       description="Health of every account active on a date, from data dated on or "
                                   "before it: dimension points, score, level 4 良好 .. 1 要対応, "
                                   "target, flags and reasons.")
    p.add_argument("path", help="dataset folder or DuckDB file")
    p.add_argument("--as-of", required=True, type=_date, help="the date to score on (YYYY-MM-DD)")
    _common(p)
    p.add_argument("--out", type=Path, help="write the per-account table (.csv or .parquet)")
    p.add_argument("--since", type=_date, help="also each account's score and level on this earlier date "
                                               "and what moved it since (moved_by, moved_by_ja)")
    p.add_argument("--backtest", action="store_true",
                   help="also back-test: churn in the following months by level, and ROC AUC")
    _horizon_option(p, "back-test horizon")
    p.set_defaults(func=_cmd_health)

    p = sub.add_parser("tune-scorecard", help="learn the health scorecard's weights and bands from outcomes",
                       description="Fit the DEAR points scorecard (bands, integer points, weights adding up "
                                   "to 100, level cut-offs) on point-in-time rows whose churn is known by "
                                   "--as-of, earlier dates only; print the current and tuned scorecards' "
                                   "ROC AUC and churn by level on the later, held-out dates, beside the churn "
                                   "model's; write a settings file that --config accepts.")
    p.add_argument("path", help="dataset folder or DuckDB file")
    p.add_argument("--as-of", required=True, type=_date, help="tuning date: outcomes must be known by then")
    _horizon_option(p, "outcome: churn within H months")
    p.add_argument("--out", required=True, type=Path, help="settings YAML to write (the tuned health scorecard)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    _common(p)
    p.set_defaults(func=_cmd_tune_scorecard)

    p = sub.add_parser("contact-impact", help="estimate what a proactive CS touchpoint does to churn",
                       description="Account-months with a proactive touchpoint vs similar ones of the same "
                                   "month without (propensity-score matching on the signals at the month's "
                                   "start): the effect on churn within H months, a 95% bootstrap interval, "
                                   "the pairs and balance diagnostics; outcomes known by --as-of only.")
    p.add_argument("path", help="dataset folder or DuckDB file")
    p.add_argument("--as-of", required=True, type=_date, help="outcomes must be known by this date")
    _horizon_option(p, "outcome: churn within H months")
    p.add_argument("--by", help="also per segment of this column (size, touch_tier or an accounts column)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.add_argument("--out", type=Path, help="write to this file instead of the screen")
    p.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap (default 0)")
    _common(p)
    p.set_defaults(func=_cmd_contact_impact)

    p = sub.add_parser("train", help="train the churn-risk model (dataset or single table)",
                       description="On a dataset: point-in-time rows up to --as-of, time-ordered "
                                   "backtest of the candidates (printed), the best refitted and saved. "
                                   "With --table: any CSV/Parquet table with a label column.")
    p.add_argument("path", nargs="?", help="dataset folder or DuckDB file")
    p.add_argument("--as-of", type=_date, help="training date (dataset): labels must be complete by then")
    _horizon_option(p, "label: churn within H months")
    p.add_argument("--table", type=Path, help="a single CSV/Parquet table instead of a dataset")
    p.add_argument("--label", help="label column of --table (yes/no, true/false, 1/0)")
    p.add_argument("--id", help="id column of --table (kept out of the features)")
    p.add_argument("--model-out", required=True, type=Path, help="model file to write (skops) + .json metadata")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    _common(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("score", help="score accounts with a trained model (at-risk list)",
                       description="On a dataset: the accounts active on --as-of ranked by ARR at risk, "
                                   "with drivers and next actions. With --table: id, churn_probability, "
                                   "risk_tier, top_drivers per row.")
    p.add_argument("path", nargs="?", help="dataset folder or DuckDB file")
    p.add_argument("--model", required=True, type=Path, help="model file written by train")
    p.add_argument("--as-of", type=_date, help="scoring date (dataset)")
    p.add_argument("--table", type=Path, help="a single CSV/Parquet table instead of a dataset")
    p.add_argument("--capacity", type=_positive, help="accounts each owner can act on (marks 'assigned')")
    p.add_argument("--out", required=True, type=Path, help="output file (.csv or .parquet)")
    _common(p)
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("report", help="run the notebooks: quarterly report and analyses",
                       description="Execute the report notebooks with papermill into OUT/<period>/: "
                                   "executed notebooks, HTML without code, figures, tables, manifest.json.")
    p.add_argument("--period", help="2025-07, 2025Q3, FY2025, FY2025Q1 or 2025-04..2025-09 "
                                    "(default: the last complete fiscal quarter in the data)")
    p.add_argument("--data", type=Path, default=Path("data/demo"), help="dataset folder (default data/demo)")
    p.add_argument("--lang", choices=("ja", "en"), default="ja", help="report language (default ja)")
    p.add_argument("--segments", default="size,touch_tier",
                   help="segmentations with a segment-analysis notebook each (default size,touch_tier)")
    p.add_argument("--out", type=Path, default=Path("reports"), help="reports folder (default reports)")
    p.add_argument("--force", action="store_true", help="replace an existing report for the period")
    p.add_argument("--timeout", type=_positive, default=1800, help="per-cell execution timeout, seconds")
    p.add_argument("--jobs", type=_positive, default=None,
                   help="notebooks run at once, each in its own process (default: CPUs, at most 4)")
    _common(p)
    p.set_defaults(func=_cmd_report)
    return parser


def _horizon_option(p: argparse.ArgumentParser, what: str) -> None:
    """--horizon-months: ``what`` the horizon is for; the setting horizon_months by default."""
    p.add_argument("--horizon-months", type=_positive, default=None,
                   help=f"{what} (default: the setting horizon_months, 3)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="settings YAML overriding the shipped defaults")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cs-analysis`` console script.

    Every error a user can reach is a :class:`~cs_analysis.errors.CsAnalysisError`: its message
    is printed as one ``error:`` line (or block, for a list of data problems) and the exit code
    is 2. An operating-system error that escaped the library's own handling is reported the
    same way with its path. Anything else is a bug in cs-analysis: it is reported in one line,
    asking for a report, also with exit 2 and without a traceback (``CS_ANALYSIS_DEBUG=1``
    shows it).
    """
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit, writes fail with EFBIG (not a kill)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CsAnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one clear line, never a traceback (unless debugging)
        if os.environ.get("CS_ANALYSIS_DEBUG"):
            raise
        print(f"error: unexpected internal error ({type(exc).__name__}: {exc}); this is a bug in "
              "cs-analysis: please report it with the command (CS_ANALYSIS_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
