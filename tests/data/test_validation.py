"""Every validation rule, with a failing example and the exact message, through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MINI, write_mini
from cs_analysis.cli import main


def _edit(table: str, old: str, new: str) -> dict[str, str]:
    assert old in MINI[table], f"fixture has no {old!r}"
    return {table: MINI[table].replace(old, new, 1)}


# (variant id, overrides, exact problem line expected in the report)
VARIANTS = [
    ("mrr-negative", _edit("subscriptions", "core,5,25000", "core,5,-5"),
     "subscriptions.mrr [subscriptions.csv]: must be >= 0: 1 row (rows 2); values '-5'"),
    ("mrr-text", _edit("subscriptions", "core,5,25000", "core,5,abc"),
     "subscriptions.mrr [subscriptions.csv]: not a number: 1 row (rows 2); values 'abc'"),
    ("mrr-infinite", _edit("subscriptions", "core,5,25000", "core,5,inf"),
     "subscriptions.mrr [subscriptions.csv]: not a number: 1 row (rows 2); values 'inf'"),
    ("licenses-thousands", _edit("subscriptions", "core,40,180000", 'core,"1,200",180000'),
     "subscriptions.licenses [subscriptions.csv]: not a number (thousands separators and ¥ are "
     "accepted only in money columns): 1 row (rows 4); values '1,200'"),
    ("licenses-fraction", _edit("subscriptions", "core,6,30000", "core,2.5,30000"),
     "subscriptions.licenses [subscriptions.csv]: not a whole number: 1 row (rows 3); values '2.5'"),
    ("licenses-negative", _edit("subscriptions", "core,3,15000", "core,-1,15000"),
     "subscriptions.licenses [subscriptions.csv]: must be >= 0: 1 row (rows 6); values '-1'"),
    ("month-mid", _edit("subscriptions", "A1,2024-03-01", "A1,2024-03-15"),
     "subscriptions.month [subscriptions.csv]: not the first day of a month: 1 row (rows 3); "
     "values '2024-03-15'"),
    ("month-invalid", _edit("subscriptions", "A1,2024-03-01", "A1,2024-13-01"),
     "subscriptions.month [subscriptions.csv]: not a date (expected YYYY-MM-DD): 1 row (rows 3); "
     "values '2024-13-01'"),
    ("subscription-duplicate", {"subscriptions": MINI["subscriptions"] + "A1,2024-02-01,core,5,25000\n"},
     "subscriptions.product [subscriptions.csv]: duplicate key (account_id, month, product): "
     "2 rows (rows 2, 7); values 'core', 'core'"),
    ("subscription-unknown-account", _edit("subscriptions", "A3,2024-04-01", "A9,2024-04-01"),
     "subscriptions.account_id [subscriptions.csv]: unknown account_id (not in accounts): "
     "1 row (rows 6); values 'A9'"),
    ("mrr-column-missing", {"subscriptions": "account_id,month,product,licenses\nA1,2024-02-01,core,5\n"},
     "subscriptions.mrr [subscriptions.csv]: required column missing "
     "(found: account_id, month, product, licenses)"),
    ("semicolon-delimiter", {"subscriptions": MINI["subscriptions"].replace(",", ";")},
     "subscriptions.account_id [subscriptions.csv]: required column missing "
     "(found: account_id;month;product;licenses;mrr)"),
    ("accounts-table-missing", {"accounts": None},
     "accounts [{dir}]: required table missing (expected accounts.csv or accounts.parquet)"),
    ("accounts-duplicate-id", {"accounts": MINI["accounts"] + "A1,重複,10,製造,2024-01-01,佐藤,3\n"},
     "accounts.account_id [accounts.csv]: duplicate key (account_id): 2 rows (rows 2, 5); "
     "values 'A1', 'A1'"),
    ("accounts-employees-empty", _edit("accounts", ",40,", ",,"),
     "accounts.employees [accounts.csv]: missing value: 1 row (rows 4); values (empty)"),
    ("employees-negative", _edit("accounts", ",40,", ",-40,"),
     "accounts.employees [accounts.csv]: must be >= 0: 1 row (rows 4); values '-40'"),
    ("signup-not-a-date", _edit("accounts", "2023-06-01", "June 2023"),
     "accounts.signup_date [accounts.csv]: not a date (expected YYYY-MM-DD): 1 row (rows 3); "
     "values 'June 2023'"),
    ("target-level-5", _edit("accounts", "2024-01-15,佐藤,3", "2024-01-15,佐藤,5"),
     "accounts.target_health_level [accounts.csv]: must be <= 4: 1 row (rows 2); values '5'"),
    ("nps-score-11", _edit("nps_responses", "2024-02-20,9", "2024-02-20,11"),
     "nps_responses.score [nps_responses.csv]: must be <= 10: 1 row (rows 2); values '11'"),
    ("nps-score-fraction", _edit("nps_responses", "2024-02-21,4", "2024-02-21,7.5"),
     "nps_responses.score [nps_responses.csv]: not a whole number: 1 row (rows 3); values '7.5'"),
    ("touch-channel", _edit("touchpoints", "call,reactive", "fax,reactive"),
     "touchpoints.channel [touchpoints.csv]: not one of call, meeting, email, webinar, chat, visit, "
     "event, other: 1 row (rows 3); values 'fax'"),
    ("ticket-severity", _edit("tickets", "bug,high", "bug,urgent"),
     "tickets.severity [tickets.csv]: not one of low, medium, high, critical: 1 row (rows 3); "
     "values 'urgent'"),
    ("ticket-resolved-before-opened", _edit("tickets", "low,2024-02-05", "low,2024-01-05"),
     "tickets.resolved_at [tickets.csv]: earlier than opened_at: 1 row (rows 2); values '2024-01-05'"),
    ("ticket-unknown-account", _edit("tickets", "T2,A2", "T2,B7"),
     "tickets.account_id [tickets.csv]: unknown account_id (not in accounts): 1 row (rows 3); "
     "values 'B7'"),
    ("onboarding-duplicate", {"onboarding": MINI["onboarding"] + "A1,training_started,2024-01-21\n"},
     "onboarding.milestone [onboarding.csv]: duplicate key (account_id, milestone): 2 rows "
     "(rows 2, 4); values 'training_started', 'training_started'"),
    ("usage-mid-month", _edit("usage", "A1,2024-03-01", "A1,2024-03-02"),
     "usage.month [usage.csv]: not the first day of a month: 1 row (rows 3); values '2024-03-02'"),
    ("roi-not-a-number", _edit("roi", "120.5", "n/a"),
     "roi.value [roi.csv]: not a number: 1 row (rows 2); values 'n/a'"),
    ("success-plan-due-date", _edit("success_plans", "2024-04-30", "2024-02-30"),
     "success_plans.due_date [success_plans.csv]: not a date (expected YYYY-MM-DD): 1 row (rows 2); "
     "values '2024-02-30'"),
    ("blank-line-in-middle", {"usage": "account_id,month,active_users\nA1,2024-02-01,4\n\nA1,2024-03-01,5\n"},
     "usage.account_id [usage.csv]: missing value: 1 row (rows 3); values (empty)"),
    ("accounts-header-only", {"accounts": MINI["accounts"].splitlines()[0] + "\n",
                              "subscriptions": MINI["subscriptions"].splitlines()[0] + "\n"},
     "accounts [accounts.csv]: no data rows"),
]


@pytest.mark.parametrize("overrides,expected", [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_malformed_variant_is_reported_exactly(tmp_path, capsys, overrides, expected):
    folder = write_mini(tmp_path / "bad", overrides)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    rc = main(["validate", str(folder)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    assert f"  - {expected.format(dir=folder)}" in err.splitlines()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # inputs untouched


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"", "accounts.csv: the file is empty (no header row)"),
        (b"account_id,name\nA1,x,extra,fields\n", "accounts.csv: not a well-formed CSV file"),
        ("account_id,name\nA1,\u00e9t\u00e9\n".encode("utf-16"),
         "accounts.csv: text encoding is neither UTF-8 nor CP932 (Shift-JIS)"),
    ],
    ids=["empty-file", "ragged-row", "utf16-file"],
)
def test_unreadable_files_name_the_file(tmp_path, capsys, content, expected):
    folder = write_mini(tmp_path / "bad")
    (folder / "accounts.csv").write_bytes(content)
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_table_given_twice_is_an_error(tmp_path, capsys):
    folder = write_mini(tmp_path / "bad")
    (folder / "accounts.parquet").write_bytes(b"PAR1")
    assert main(["validate", str(folder)]) == 2
    assert "table 'accounts' is given twice (accounts.csv and accounts.parquet)" in capsys.readouterr().err


def test_all_problems_reported_at_once(tmp_path, capsys):
    overrides = {**_edit("subscriptions", "core,5,25000", "core,5,-5"),
                 **_edit("nps_responses", "2024-02-20,9", "2024-02-20,11"),
                 **_edit("tickets", "bug,high", "bug,urgent")}
    folder = write_mini(tmp_path / "bad", overrides)
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "3 problems found; nothing was loaded" in err
    assert sum(line.startswith("  - ") for line in err.splitlines()) == 3


def test_first_five_rows_and_total_count(tmp_path, capsys):
    rows = "".join(f"A1,2024-{m:02d}-01,core,1,-{m}\n" for m in range(1, 13))
    folder = write_mini(tmp_path / "bad", {"subscriptions": "account_id,month,product,licenses,mrr\n" + rows})
    assert main(["validate", str(folder)]) == 2
    assert ("subscriptions.mrr [subscriptions.csv]: must be >= 0: 12 rows (rows 2, 3, 4, 5, 6, ...); "
            "values '-1', '-2', '-3', '-4', '-5'") in capsys.readouterr().err


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope")]) == 2
    assert "no such folder or file" in capsys.readouterr().err


def test_console_script_prints_no_traceback(tmp_path):
    folder = write_mini(tmp_path / "bad", _edit("subscriptions", "core,5,25000", "core,5,-5"))
    proc = subprocess.run([sys.executable, "-m", "cs_analysis.cli", "validate", str(folder)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "subscriptions.mrr" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_valid_data_exits_zero_with_summary(mini: Path, capsys):
    assert main(["validate", str(mini)]) == 0
    out = capsys.readouterr().out
    assert "10 tables meet the data contract" in out
    assert "accounts: 3 (active in 2024-04: 1); months: 3 (2024-02..2024-04)" in out
