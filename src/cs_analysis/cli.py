"""`cs-analysis` command line: a thin layer over the library. Data errors exit 2, no traceback."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cs_analysis.errors import CsAnalysisError


def _cmd_validate(args: argparse.Namespace) -> int:
    from cs_analysis.dataset import load_dataset

    ds = load_dataset(args.path)
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


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from cs_analysis.demo import DemoSpec, write_demo

    spec = DemoSpec(accounts=args.accounts, months=args.months, end=args.end, seed=args.seed)
    started = time.perf_counter()
    counts = write_demo(args.out, spec, fmt=args.format)
    took = time.perf_counter() - started
    total = sum(counts.values())
    print(f"wrote demo company to {args.out}: {spec.accounts:,} accounts, {spec.months} months "
          f"ending {spec.end_month()}, {total:,} rows in {len(counts)} tables ({took:.1f}s)")
    return 0


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
    p.set_defaults(func=_cmd_validate)

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
    p.set_defaults(func=_cmd_demo_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cs-analysis`` console script."""
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


if __name__ == "__main__":
    sys.exit(main())
