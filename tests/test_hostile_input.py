"""A catalogue of hostile inputs and faults: each ends in a result or one clear error (exit 2),
never a traceback, and never loses or silently coerces data.

Each case is a regression test of a failure seen by a user: the comment above it says what used
to happen.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import MINI, write_mini
from cs_analysis.cli import main
from cs_analysis.config.settings import load_settings
from cs_analysis.data.dataset import load_dataset
from cs_analysis.data.io import atomic_path, csv_text, neutralise_formulas, write_frame
from cs_analysis.errors import ConfigError, DataError, OutputError, ReportError, ValidationError


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "unexpected internal error" not in out.err, out.err
    return code, out.out, out.err


def _edit(table: str, old: str, new: str) -> dict[str, str]:
    assert old in MINI[table], f"fixture has no {old!r}"
    return {table: MINI[table].replace(old, new, 1)}


def _problems(folder: Path) -> str:
    with pytest.raises(ValidationError) as err:
        load_dataset(folder)
    return str(err.value)


# ---- 6. integers beyond range (used to load as -9223372036854775808 and pass ">= 0") -----------
@pytest.mark.parametrize("table,old,new", [
    ("subscriptions", "core,5,25000", "core,100000000000000000000,25000"),
    ("accounts", ",120,", ",9223372036854775808,"),
])
def test_out_of_range_integers_are_errors(tmp_path: Path, table: str, old: str, new: str):
    text = _problems(write_mini(tmp_path / "d", _edit(table, old, new)))
    assert "whole number out of range" in text and "rows 2" in text


def test_out_of_range_integers_in_parquet_are_errors(tmp_path: Path):
    folder = write_mini(tmp_path / "d")
    subs = pd.read_csv(folder / "subscriptions.csv")
    subs["licenses"] = subs["licenses"].astype("int64")
    subs.loc[0, "licenses"] = np.iinfo(np.int64).max
    subs.to_parquet(folder / "subscriptions.parquet")
    (folder / "subscriptions.csv").unlink()
    assert "subscriptions.licenses [subscriptions.parquet]: whole number out of range" in _problems(folder)


# ---- 7. far-future dates (9999-12 allocated 68 GiB; 2200-01 gave a silent FY2199 report of ¥0) ----
@pytest.mark.parametrize("month", ["9999-12-01", "2200-01-01", "1850-01-01"])
def test_implausible_dates_are_validation_errors(tmp_path: Path, month: str):
    folder = write_mini(tmp_path / "d", {"subscriptions": MINI["subscriptions"] + f"A1,{month},core,5,25000\n"})
    text = _problems(folder)
    assert "subscriptions.month [subscriptions.csv]: implausible date" in text and "rows 7" in text


def test_the_plausible_range_is_a_setting(tmp_path: Path):
    ahead = (pd.Timestamp.now() + pd.DateOffset(years=2)).strftime("%Y-%m-01")
    folder = write_mini(tmp_path / "d", {"touchpoints": MINI["touchpoints"] + f"A1,{ahead},call,proactive\n"})
    assert "touchpoints.date" in _problems(folder)
    (tmp_path / "s.yaml").write_text("max_years_ahead: 3\n")
    assert load_dataset(folder, load_settings(tmp_path / "s.yaml")).touchpoints["date"].max() == pd.Timestamp(ahead)


# ---- 12. one number syntax (2_000, " 1e3 " and Arabic-Indic digits used to be accepted) --------
@pytest.mark.parametrize("written", ["2_000", " 1e3 ", "١٢٣", "1 000", "0x10", "nan"])
def test_numbers_outside_the_documented_syntax_are_rejected(tmp_path: Path, written: str):
    text = _problems(write_mini(tmp_path / "d", _edit("subscriptions", "core,5,25000", f'core,"{written}",25000')))
    assert "subscriptions.licenses [subscriptions.csv]: not a number" in text


@pytest.mark.parametrize("written,value", [("１２３", 123), ("－５", -5), (" 12 ", 12)])
def test_full_width_digits_are_numbers(tmp_path: Path, written: str, value: int):
    text = MINI["roi"].replace("120.5", written)
    assert load_dataset(write_mini(tmp_path / "d", {"roi": text})).roi["value"].iloc[0] == value


def test_full_width_money(tmp_path: Path):
    folder = write_mini(tmp_path / "d", _edit("subscriptions", "core,5,25000", 'core,5,"￥２５，０００"'))
    assert load_dataset(folder).subscriptions["mrr"].iloc[0] == 25000


def test_a_header_naming_a_column_twice_is_an_error(tmp_path: Path, capsys):
    # used to load silently as mrr + mrr.1
    text = MINI["subscriptions"].replace("licenses,mrr", "licenses,mrr,mrr").replace("\n", ",1\n")
    text = text.replace("licenses,mrr,mrr,1", "licenses,mrr,mrr")
    folder = write_mini(tmp_path / "d", {"subscriptions": text})
    code, _, err = _cli(["validate", folder], capsys)
    assert code == 2 and "subscriptions.csv: the header names column(s) 'mrr' more than once" in err


def test_near_miss_column_names_are_named_in_a_note(tmp_path: Path, capsys):
    # a case-variant optional column used to be ignored without a word
    usage = MINI["usage"].replace("features_used", "Features_Used")
    accounts = MINI["accounts"].replace("target_health_level", "Target_Health_Level")
    folder = write_mini(tmp_path / "d", {"usage": usage, "accounts": accounts})
    code, out, _ = _cli(["validate", folder], capsys)
    assert code == 0
    assert "usage.csv: column 'Features_Used' was not used: the contract's optional column is 'features_used'" in out
    assert "'Target_Health_Level' was not used" in out


def test_a_near_miss_of_a_required_column_is_hinted(tmp_path: Path):
    text = _problems(write_mini(tmp_path / "d", {"subscriptions": MINI["subscriptions"].replace(",mrr", ",MRR")}))
    assert "subscriptions.mrr [subscriptions.csv]: required column missing" in text
    assert "'MRR' differs only in case, spacing or spelling" in text


# ---- 14. time zones (mixed +09:00 and Z ended in "Mixed timezones") ------------------------------
def test_dates_with_offsets_become_local_dates(tmp_path: Path):
    text = ("account_id,date,channel,kind\nA1,2024-02-10T10:00:00+09:00,call,proactive\n"
            "A1,2024-02-10T01:00:00Z,call,proactive\nA2,2024-02-29T20:00:00Z,call,proactive\n"
            "A2,2024-02-12,meeting,reactive\n")
    ds = load_dataset(write_mini(tmp_path / "d", {"touchpoints": text}))
    dates = ds.touchpoints["date"].dt.strftime("%Y-%m-%d %H:%M").tolist()
    # 20:00 UTC on 29 Feb is 05:00 on 1 March in Tokyo
    assert dates == ["2024-02-10 10:00", "2024-02-10 10:00", "2024-03-01 05:00", "2024-02-12 00:00"]
    (tmp_path / "s.yaml").write_text("timezone: UTC\n")
    utc = load_dataset(tmp_path / "d", load_settings(tmp_path / "s.yaml")).touchpoints["date"]
    assert utc.dt.strftime("%Y-%m-%d %H:%M").tolist()[:3] == ["2024-02-10 01:00", "2024-02-10 01:00",
                                                             "2024-02-29 20:00"]


def test_timezone_aware_parquet_timestamps_are_converted(tmp_path: Path):
    folder = write_mini(tmp_path / "d")
    tp = pd.read_csv(folder / "touchpoints.csv")
    tp["date"] = pd.to_datetime(["2024-02-10T15:30:00Z", "2024-02-12T00:00:00Z"], utc=True)
    tp.to_parquet(folder / "touchpoints.parquet")
    (folder / "touchpoints.csv").unlink()
    dates = load_dataset(folder).touchpoints["date"].dt.strftime("%Y-%m-%d %H:%M").tolist()
    assert dates == ["2024-02-11 00:30", "2024-02-12 09:00"]


def test_duckdb_tables_in_another_schema(tmp_path: Path):
    import duckdb

    mini = load_dataset(write_mini(tmp_path / "d"))
    db = tmp_path / "crm.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA crm")
    for name, frame in mini.tables().items():
        con.register("f", frame)
        con.execute(f"CREATE TABLE crm.crm.{name} AS SELECT * FROM f")  # file and schema both crm
        con.unregister("f")
    con.close()
    assert load_dataset(db).subscriptions.shape == mini.subscriptions.shape
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE crm.main.accounts AS SELECT * FROM crm.crm.accounts")
    con.close()
    with pytest.raises(DataError, match="table 'accounts' is in several schemas"):
        load_dataset(db)


# ---- 15. small things ----------------------------------------------------------------------------
def test_row_numbers_count_lines_of_multi_line_cells(tmp_path: Path):
    accounts = MINI["accounts"].replace("A2,みらい商事", 'A2,"みらい\n商事\n本社"').replace(",40,", ",-40,")
    text = _problems(write_mini(tmp_path / "d", {"accounts": accounts}))
    assert "accounts.employees [accounts.csv]: must be >= 0: 1 row (rows 6)" in text  # A3 starts on line 6


def test_header_only_optional_table_is_read_as_empty(tmp_path: Path, capsys):
    folder = write_mini(tmp_path / "d", {"tickets": "ticket_id,account_id,opened_at,reason,severity,resolved_at\n"})
    ds = load_dataset(folder)
    assert ds.tickets is not None and ds.tickets.empty
    code, out, _ = _cli(["health", folder, "--as-of", "2024-03-31"], capsys)
    assert code == 0 and "severe_ticket 0" in out
    assert "accounts [accounts.csv]: no data rows" in _problems(
        write_mini(tmp_path / "e", {"accounts": MINI["accounts"].splitlines()[0] + "\n"}))


@pytest.mark.parametrize("table", ["usage", "touchpoints", "nps_responses", "tickets", "champion_changes",
                                   "onboarding", "roi", "success_plans"])
def test_every_command_works_with_a_header_only_table(tmp_path: Path, table: str, capsys):
    # an empty touchpoints table used to end in an IndexError in the point-in-time lookups
    folder = write_mini(tmp_path / "d", {table: MINI[table].splitlines()[0] + "\n"})
    for argv in (["validate", folder], ["kpis", folder, "--period", "2024-03..2024-04", "--by", "touch_tier"],
                 ["health", folder, "--as-of", "2024-03-31", "--out", tmp_path / "h.csv"]):
        assert _cli(argv, capsys)[0] == 0, argv


def test_too_little_history_for_a_default_period(tmp_path: Path, capsys):
    one = write_mini(tmp_path / "one", {"subscriptions": MINI["subscriptions"].splitlines()[0] + "\nA1,2024-02-01,core,5,25000\n"})
    code, _, err = _cli(["kpis", one], capsys)
    assert code == 2 and "the data holds one month only (2024-02)" in err
    code, _, err = _cli(["kpis", tmp_path.parent / tmp_path.name / "one", "--period", "2024-02"], capsys)
    assert code == 2 and "needs data from 2024-01" in err


def test_outputs_get_the_usual_permissions(tmp_path: Path):
    target = write_frame(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_period_labels_are_canonical(mini: Path, capsys):
    # "fy2024q4" used to create a second report folder beside FY2024Q4
    from cs_analysis.core.periods import parse_period

    assert parse_period(" fy2025q1 ").label == "FY2025Q1" and parse_period("2025q3").label == "2025Q3"
    code, out, _ = _cli(["kpis", mini, "--period", " 2024-03 .. 2024-04 ", "--format", "csv"], capsys)
    assert code == 0 and out.splitlines()[1].startswith("2024-03..2024-04,")


# ---- 8. spreadsheet formulas and Excel's encoding -----------------------------------------------
def test_csv_exports_neutralise_formulas_and_carry_a_bom(tmp_path: Path, capsys):
    accounts = (MINI["accounts"].replace("株式会社さくら", "=HYPERLINK(\"http://x\")")
                .replace("鈴木", "@SUM(A1)").replace("IT・通信", "+cmd"))
    folder = write_mini(tmp_path / "d", {"accounts": accounts})
    out = tmp_path / "k.csv"
    assert _cli(["kpis", folder, "--period", "2024-03", "--by", "industry", "--format", "csv",
                 "--out", out], capsys)[0] == 0
    raw = out.read_bytes()
    assert raw.startswith("\ufeff".encode())
    assert "'+cmd" in raw.decode("utf-8-sig") and "\n+cmd" not in raw.decode("utf-8-sig")
    frame = pd.DataFrame({"name": ["=1+1", "-x", "ok", None], "n": [-1, 2, 3, 4]})
    safe = neutralise_formulas(frame)
    assert safe["name"].tolist()[:3] == ["'=1+1", "'-x", "ok"] and pd.isna(safe["name"].iloc[3])
    assert safe["n"].tolist() == [-1, 2, 3, 4]  # numbers stay numbers
    assert frame["name"].iloc[0] == "=1+1"  # the caller's frame is untouched
    # numbers in an object column (a tidy KPI frame's value) stay numbers; only its text is guarded
    mixed = pd.DataFrame({"value": pd.Series([-0.37, 5, None, "-x"], dtype=object)})
    assert neutralise_formulas(mixed)["value"].tolist()[:2] == [-0.37, 5]
    assert neutralise_formulas(mixed)["value"].iloc[3] == "'-x"
    assert "'-" not in csv_text(pd.DataFrame({"value": pd.Series([-1.5, 2], dtype=object)}))


# ---- 9, 10. text from settings and data never becomes markup or mathtext -------------------------
def test_currency_setting_is_validated(tmp_path: Path, mini: Path, capsys):
    (tmp_path / "s.yaml").write_text('currency: "<img src=x onerror=alert(1)>"\n')
    code, _, err = _cli(["kpis", mini, "--config", tmp_path / "s.yaml"], capsys)
    assert code == 2 and "currency must be an ISO 4217 code" in err


def test_markdown_text_is_escaped():
    from cs_analysis.report.formatting import md_escape

    assert md_escape("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert md_escape("[x](javascript:1) *a* $b$\n# h") == r"\[x\](javascript:1) \*a\* \$b\$ # h"


def test_labels_with_dollars_render_as_text():
    # an owner named $\foo$ used to break the at-risk notebook (matplotlib mathtext)
    import io

    from cs_analysis.report.plots import bars, level_mix

    fig = bars(pd.Series([1.0, 2.0], index=[r"$\foo$", "佐藤"]), r"$\bar$ owners")
    fig.savefig(io.BytesIO(), format="png")
    counts = pd.DataFrame({4: [1], 3: [2], 2: [0], 1: [1]}, index=[r"$\foo$"])
    level_mix(counts, {4: "4", 3: "3", 2: "2", 1: "1"}, "mix").savefig(io.BytesIO(), format="png")


# ---- 11. report file names -----------------------------------------------------------------------
def test_segment_file_names_are_unique_bounded_and_stable():
    from cs_analysis.report.runner import segment_file_name

    a, b = segment_file_name("industry", "IT/通信"), segment_file_name("industry", "IT 通信")
    assert a != b and a == segment_file_name("industry", "IT/通信")
    long = segment_file_name("industry", "情" * 90)
    assert len(long.encode()) + len(".ipynb") < 255
    assert segment_file_name("industry", "(none)") != segment_file_name("industry", "(none: empty)")


def test_a_literal_none_segment_does_not_merge_with_blanks(tmp_path: Path):
    from cs_analysis.kpis.engine import KpiEngine

    accounts = MINI["accounts"].replace("IT・通信", "(none)").replace(",小売,", ",,")
    ds = load_dataset(write_mini(tmp_path / "d", {"accounts": accounts}))
    kpis = KpiEngine(ds, load_settings()).kpis("2024-03..2024-04", ["industry"])
    segments = set(kpis.loc[kpis["segment_by"] == "industry", "segment"])
    assert {"(none)", "(none: empty)"} <= segments


# ---- 13. output faults ---------------------------------------------------------------------------
def _good(path: Path) -> bytes:
    write_frame(pd.DataFrame({"a": [1]}), path)
    return path.read_bytes()


@pytest.mark.parametrize("fault", [errno.ENOSPC, errno.EFBIG, errno.EACCES, errno.EROFS])
def test_write_faults_are_output_errors_and_keep_the_good_file(tmp_path: Path, fault: int, monkeypatch):
    target = tmp_path / "t.csv"
    before = _good(target)

    def failing(*_args, **_kwargs):
        raise OSError(fault, os.strerror(fault))

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)
    with pytest.raises(OutputError, match=f"{target}: cannot write"):
        write_frame(pd.DataFrame({"a": [2]}), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # no temporary file left


def test_output_path_faults_through_the_cli(tmp_path: Path, mini: Path, capsys):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "folder.csv").mkdir()
    cases = {
        tmp_path / "folder.csv": "it is a folder",
        tmp_path / "afile" / "h.csv": "a part of the path is a file",
        tmp_path / ("x" * 300 + ".csv"): "file name too long",
    }
    for out, reason in cases.items():
        code, _, err = _cli(["health", mini, "--as-of", "2024-03-31", "--out", out], capsys)
        assert code == 2 and reason in err, err


def test_a_file_size_limit_is_an_error_not_a_kill(tmp_path: Path, mini: Path):
    out = tmp_path / "k.csv"
    script = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))\n"
              "from cs_analysis.cli import main\nsys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", script, "kpis", str(mini), "--period", "2024-03",
                           "--format", "csv", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "file too large" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini"]  # nothing written, nothing partial


def test_a_read_only_folder_is_an_output_error(tmp_path: Path, monkeypatch):
    def read_only(*_args, **_kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    with pytest.raises(OutputError, match="permission denied"), atomic_path(tmp_path / "x.csv"):
        pass


# ---- 14. edited model metadata and broken settings -----------------------------------------------
@pytest.fixture(scope="module")
def table_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("tm")
    x = rng.normal(size=400)
    frame = pd.DataFrame({"id": range(400), "x": x, "seg": rng.choice(["a", "b"], 400),
                          "churned": rng.random(400) < 1 / (1 + np.exp(-2 * x))})
    frame.to_csv(folder / "t.csv", index=False)
    assert main(["train", "--table", str(folder / "t.csv"), "--label", "churned", "--id", "id",
                 "--model-out", str(folder / "m.skops")]) == 0
    return folder


@pytest.mark.parametrize("edit,message", [
    (lambda m: [m], "must be a JSON object"),
    (lambda m: {**m, "numeric_features": [c for c in m["numeric_features"] if c != "x"]}, "feature list does not match"),
    (lambda m: {**m, "numeric_features": "x"}, "numeric_features must be a list"),
    (lambda m: {**m, "kind": "accounts", "horizon_months": "abc"}, "horizon_months must be a whole number"),
])
def test_edited_model_metadata_is_refused(table_model: Path, tmp_path: Path, edit, message: str, capsys):
    import shutil

    model = tmp_path / "m.skops"
    shutil.copy(table_model / "m.skops", model)
    meta = json.loads((table_model / "m.skops.json").read_text())
    (tmp_path / "m.skops.json").write_text(json.dumps(edit(meta)))
    code, _, err = _cli(["score", "--table", table_model / "t.csv", "--model", model, "--out", tmp_path / "s.csv"],
                        capsys)
    assert code == 2 and message in err, err


@pytest.mark.parametrize("text,message", [
    ("health:\n  dimensions:\n" + "".join(f"    {d}: {{weight: 0}}\n" for d in
                                           ("deployment", "engagement", "adoption", "roi", "other")),
     "every dimension weight is 0"),
    ("health:\n  dimensions:\n    deployment:\n      measures:\n        utilisation: {bins: [.nan, 0.5, 0.7, 0.85]}\n",
     "must be a finite number"),
    ("health:\n  dimensions:\n    roi: {weight: .inf}\n", "must be a finite number"),
    ("gross_margin: .nan\n", "must be a finite number"),
    ("timezone: Mars/Olympus\n", "timezone must be an IANA time zone"),
])
def test_broken_settings_are_config_errors(tmp_path: Path, mini: Path, text: str, message: str, capsys):
    (tmp_path / "s.yaml").write_text(text)
    code, _, err = _cli(["health", mini, "--as-of", "2024-03-31", "--config", tmp_path / "s.yaml"], capsys)
    assert code == 2 and message in err, err


def test_a_binary_settings_file_is_a_config_error(tmp_path: Path):
    (tmp_path / "s.yaml").write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match="not a text"):
        load_settings(tmp_path / "s.yaml")


# ---- 4. short and degenerate histories -----------------------------------------------------------
def test_health_after_the_data_names_the_range(mini: Path, capsys):
    # used to print "0 active accounts" and exit 0
    code, _, err = _cli(["health", mini, "--as-of", "2030-01-31"], capsys)
    assert code == 2 and "outside the data: the subscriptions cover 2024-02-01..2024-04-30" in err


def test_score_outside_the_data(demo_small: Path, tmp_path: Path, capsys):
    model = tmp_path / "m.skops"
    assert _cli(["train", demo_small, "--as-of", "2026-06-30", "--model-out", model], capsys)[0] == 0
    code, _, err = _cli(["score", demo_small, "--model", model, "--as-of", "2031-01-31", "--out",
                         tmp_path / "s.csv"], capsys)
    assert code == 2 and "outside the data" in err
    assert not (tmp_path / "s.csv").exists()


def test_train_without_churn_says_so(tmp_path: Path, capsys):
    from cs_analysis.data.demo import DemoSpec, write_demo

    folder = tmp_path / "d"
    write_demo(folder, DemoSpec(accounts=40, months=20, end="2026-09", seed=1))
    subs = pd.read_csv(folder / "subscriptions.csv")
    months = sorted(subs["month"].unique())
    full = pd.MultiIndex.from_product([subs["account_id"].unique(), months], names=["account_id", "month"])
    flat = full.to_frame(index=False).assign(product="core", licenses=5, mrr=10000)
    flat.to_csv(folder / "subscriptions.csv", index=False)
    code, _, err = _cli(["train", folder, "--as-of", "2026-06-30", "--model-out", tmp_path / "m"], capsys)
    assert code == 2 and "no account churned" in err


@pytest.mark.parametrize("rows,message", [
    ("x,churned\n1,1\n2,0\n3,1\n", "needs at least 10 rows of each label"),
    ("x,churned\n" + "".join(f"{i},{i % 2}\n" for i in range(40)) + "inf,1\n", "not finite numbers"),
    ("x,churned\n" + "".join(f"{i},{i % 2}\n" for i in range(40)) + "1e400,1\n", "not finite numbers"),
])
def test_degenerate_single_tables(tmp_path: Path, rows: str, message: str, capsys):
    (tmp_path / "t.csv").write_text(rows)
    code, _, err = _cli(["train", "--table", tmp_path / "t.csv", "--label", "churned", "--model-out",
                         tmp_path / "m"], capsys)
    assert code == 2 and message in err, err


def test_parquet_label_rows_count_from_one(tmp_path: Path, capsys):
    frame = pd.DataFrame({"x": range(30), "churned": [1.0, 0.0] * 15})
    frame.loc[3, "churned"] = np.nan
    frame.to_parquet(tmp_path / "t.parquet")
    code, _, err = _cli(["train", "--table", tmp_path / "t.parquet", "--label", "churned", "--model-out",
                         tmp_path / "m"], capsys)
    assert code == 2 and "1 empty cell(s) (rows 4)" in err


# ---- 3. rules and KPIs whose table is absent are off ---------------------------------------------
def test_rules_without_their_data_are_off(tmp_path: Path):
    from cs_analysis.health.scorer import HealthScorer
    from cs_analysis.kpis.engine import KpiEngine

    ds = load_dataset(write_mini(tmp_path / "d", {"onboarding": None, "touchpoints": None}))
    scorer = HealthScorer(ds, load_settings())
    frame = scorer.at("2024-03-31")
    assert not frame["capped_by_onboarding"].any()
    assert "flag_onboarding_stuck" not in frame and "flag_no_contact" not in frame
    assert any("onboarding rule switched off" in n for n in scorer.notes)
    kpis = KpiEngine(ds, load_settings()).kpis("2024-03").set_index("kpi")["value"]
    for kpi in ("no_contact_accounts", "onboarding_completion_rate", "onboarding_stuck_accounts"):
        assert kpis[kpi] is None, kpi
    full = KpiEngine(load_dataset(write_mini(tmp_path / "f")), load_settings()).kpis("2024-03")
    assert full.set_index("kpi")["value"]["no_contact_accounts"] == 0  # with the table: a real zero


# ---- 5. concurrent report runs ---------------------------------------------------------------
def test_a_live_lock_stops_a_second_run(tmp_path: Path):
    from cs_analysis.report.runner import period_lock

    with period_lock(tmp_path, "FY2025Q4") as lock:
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(ReportError, match=f"process {os.getpid()} on"), period_lock(tmp_path, "FY2025Q4"):
            pass
    assert not lock.exists()


def test_a_stale_lock_is_cleared(tmp_path: Path):
    import socket

    from cs_analysis.report.runner import period_lock

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = tmp_path / ".FY2025Q4.lock"
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "then"}))
    with period_lock(tmp_path, "FY2025Q4"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_second_report_run_exits_2_naming_the_first(demo_small: Path, tmp_path: Path, capsys):
    from cs_analysis.report.runner import period_lock

    with period_lock(tmp_path, "FY2025Q4"):
        code, _, err = _cli(["report", "--period", "FY2025Q4", "--data", demo_small, "--out", tmp_path], capsys)
    assert code == 2 and "another report run for FY2025Q4" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []

