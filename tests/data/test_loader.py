"""load_dataset: typed tables, round trips through CSV / Parquet / DuckDB, Excel encodings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pandas as pd
import pandas.testing as pdt
import pytest

from conftest import MINI, write_mini
from cs_analysis import Dataset, load_dataset
from cs_analysis.data.io import write_frame


def test_types_of_the_mini_dataset(mini: Path):
    ds = load_dataset(mini)
    subs = ds.subscriptions
    assert str(subs["month"].dtype) == "datetime64[us]"
    assert subs["licenses"].dtype == "int64" and subs["mrr"].dtype == "float64"
    assert ds.accounts["target_health_level"].dtype == "Int64"
    assert ds.accounts["target_health_level"].isna().sum() == 1
    assert ds.accounts["csm_owner"].isna().tolist() == [False, True, False]
    assert ds.tickets["resolved_at"].isna().tolist() == [False, True]
    assert list(ds.tables()) == list(MINI)


def _assert_same(a: Dataset, b: Dataset) -> None:
    assert list(a.tables()) == list(b.tables())
    for name, frame in a.tables().items():
        pdt.assert_frame_equal(frame, b.tables()[name], check_dtype=False, obj=name)
    assert a.fingerprint() == b.fingerprint()


def test_parquet_round_trip(mini: Path, tmp_path: Path):
    ds = load_dataset(mini)
    for name, frame in ds.tables().items():
        write_frame(frame, tmp_path / "pq" / f"{name}.parquet")
    _assert_same(ds, load_dataset(tmp_path / "pq"))


def test_duckdb_round_trip(mini: Path, tmp_path: Path):
    ds = load_dataset(mini)
    db = tmp_path / "company.duckdb"
    con = duckdb.connect(str(db))
    for name, frame in ds.tables().items():
        con.register("frame", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
        con.unregister("frame")
    con.execute("CREATE TABLE scratch AS SELECT 1 AS x")
    con.close()
    back = load_dataset(db)
    _assert_same(ds, back)
    assert back.notes == ["ignored table scratch: not a table of the data contract"]


def test_duckdb_with_bad_rows_reports_row_positions(mini: Path, tmp_path: Path):
    db = tmp_path / "bad.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE accounts AS SELECT * FROM read_csv_auto(?, all_varchar=true)",
                [str(mini / "accounts.csv")])
    con.execute("CREATE TABLE subscriptions (account_id VARCHAR, month DATE, product VARCHAR, "
                "licenses INTEGER, mrr DOUBLE)")
    con.execute("INSERT INTO subscriptions VALUES ('A1', '2024-02-01', 'core', 5, 100), "
                "('A1', '2024-03-01', 'core', 5, -1)")
    con.close()
    with pytest.raises(Exception) as err:
        load_dataset(db)
    assert "subscriptions.mrr [bad.duckdb:subscriptions]: must be >= 0: 1 row (rows 2); values '-1.0'" in str(err.value)


def test_cp932_and_bom_files_read_the_same(tmp_path: Path):
    utf8 = load_dataset(write_mini(tmp_path / "utf8"))
    sjis = load_dataset(write_mini(tmp_path / "sjis", encoding="cp932"))
    bom = load_dataset(write_mini(tmp_path / "bom", encoding="utf-8-sig"))
    _assert_same(utf8, sjis)
    _assert_same(utf8, bom)
    assert sjis.accounts["name"].tolist()[0] == "株式会社さくら"


@pytest.mark.parametrize("written", ["¥25,000", "￥25,000", "25,000", "25000", "25000.0", " ¥25,000 "])
def test_money_strings_are_accepted_in_money_columns(tmp_path: Path, written: str):
    text = MINI["subscriptions"].replace("core,5,25000", f'core,5,"{written}"')
    ds = load_dataset(write_mini(tmp_path / "m", {"subscriptions": text}))
    assert ds.subscriptions["mrr"].iloc[0] == 25000.0


def test_cp932_yen_sign_backslash_is_money(tmp_path: Path):
    # Excel (CP932) writes ¥ as byte 0x5C, which decodes to a backslash.
    text = MINI["subscriptions"].replace("core,5,25000", 'core,5,"\\25,000"')
    ds = load_dataset(write_mini(tmp_path / "m", {"subscriptions": text}, encoding="cp932"))
    assert ds.subscriptions["mrr"].iloc[0] == 25000.0


def test_slash_dates_and_short_months_are_accepted(tmp_path: Path):
    text = MINI["subscriptions"].replace("A1,2024-02-01", "A1,2024/02/01").replace("A1,2024-03-01", "A1,2024-03")
    ds = load_dataset(write_mini(tmp_path / "d", {"subscriptions": text}))
    assert ds.subscriptions["month"].iloc[:2].dt.strftime("%Y-%m-%d").tolist() == ["2024-02-01", "2024-03-01"]


def test_optional_tables_may_be_absent_and_extra_columns_kept(tmp_path: Path):
    accounts = MINI["accounts"].replace("target_health_level\n", "target_health_level,region\n")
    accounts = "\n".join(line + (",関東" if i else "") for i, line in enumerate(accounts.splitlines()[1:], 1))
    header = MINI["accounts"].splitlines()[0] + ",region\n"
    overrides: dict[str, str | None] = {n: None for n in MINI if n not in ("accounts", "subscriptions")}
    overrides["accounts"] = header + accounts + "\n"
    ds = load_dataset(write_mini(tmp_path / "x", overrides))
    assert ds.usage is None and ds.tickets is None
    assert ds.accounts["region"].tolist() == ["関東"] * 3


def test_truth_and_unknown_files_are_not_read(mini: Path):
    (mini / "_truth").mkdir()
    (mini / "_truth" / "hazard.csv").write_text("garbage")
    (mini / "notes.csv").write_text("x\n1\n")
    ds = load_dataset(mini)
    assert ds.notes == ["ignored notes.csv: not a table of the data contract"]


def test_fingerprint_changes_with_content(tmp_path: Path):
    a = load_dataset(write_mini(tmp_path / "a"))
    b = load_dataset(write_mini(tmp_path / "b", {"roi": MINI["roi"].replace("120.5", "120.6")}))
    assert a.fingerprint() == load_dataset(tmp_path / "a").fingerprint()
    assert a.fingerprint() != b.fingerprint()


def test_loading_never_modifies_inputs(demo_small: Path):
    def digest() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in demo_small.rglob("*") if p.is_file()}

    before = digest()
    load_dataset(demo_small)
    assert digest() == before


def test_write_frame_is_atomic(tmp_path: Path):
    target = tmp_path / "t.csv"
    write_frame(pd.DataFrame({"a": [1]}), target)
    with pytest.raises(Exception):  # noqa: B017 (whatever pyarrow raises for an object column)
        write_frame(pd.DataFrame({"a": [object()]}), tmp_path / "t.parquet")
    assert target.read_bytes() == "\ufeffa\n1\n".encode()  # UTF-8 with BOM, for Excel
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
