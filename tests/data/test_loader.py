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


READER_CASES = {
    "plain": "a,b,c\n1,2,3\n4,,6\n",
    "bom": "\ufeffa,b\n1,2\n",
    "quoted empty and blank": 'a,b\n"",x\n"  ",y\n',
    "NA words stay text": "a,b\nNA,null\nNaN,None\n",
    "spaces kept": "a,b\n 1 , x \n\t2,y\n",
    "CRLF": "a,b\r\n1,2\r\n3,4\r\n",
    "no final newline": "a,b\n1,2",
    "Japanese": "名前,値\n山田,１２０\n",
    "quotes": 'a,b\n"x,y","he said ""hi"""\n',
    "header only": "a,b\n",
    "blank line": "a,b\n1,2\n\n3,4\n",
    "cell over two lines": 'a,b\n"x\ny",2\n3,4\n',
}


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
@pytest.mark.parametrize("case", sorted(READER_CASES))
def test_the_arrow_reader_gives_pandas_frame(tmp_path: Path, case: str, encoding: str):
    """The multi-threaded pyarrow read is the frame pandas' reader gives (values, missing
    cells, dtypes), in UTF-8 (BOM or not) and CP932; files it cannot read the same way
    (short or long rows) are left to pandas."""
    from cs_analysis.data.io import _header, _read_csv_arrow

    if case == "bom" and encoding == "cp932":
        pytest.skip("a byte-order mark is UTF-8's")
    path = tmp_path / "t.csv"
    path.write_bytes(READER_CASES[case].encode(encoding))
    read_as = "utf-8-sig" if encoding == "utf-8" else encoding
    fast = _read_csv_arrow(path, read_as, _header(path, read_as))
    slow = pd.read_csv(path, dtype=str, encoding=read_as, keep_default_na=False, na_values=[""],
                       skip_blank_lines=False, index_col=False)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)


@pytest.mark.parametrize("text", ["a,b,c\n1,2\n", "a,b\n1,2,3\n", "a,,b\n1,2,3\n"])
def test_rows_of_another_width_and_unnamed_columns_are_read_by_pandas(tmp_path: Path, text: str):
    from cs_analysis.data.io import _header, _read_csv_arrow

    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    assert _read_csv_arrow(path, "utf-8-sig", _header(path, "utf-8-sig")) is None


def test_dictionary_encoded_parquet_columns_load_like_plain_ones(tmp_path: Path, mini: Path):
    """Parquet dictionary columns (text ids and dates, whole numbers with a gap) are typed and
    checked like the same columns written plainly: the same Dataset, the same problems."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cs_analysis.errors import ValidationError

    plain, dictionary = tmp_path / "plain", tmp_path / "dictionary"
    for folder in (plain, dictionary):
        folder.mkdir()
    for csv_file in mini.glob("*.csv"):
        table = pa.Table.from_pandas(pd.read_csv(csv_file, dtype=str), preserve_index=False)
        pq.write_table(table, plain / f"{csv_file.stem}.parquet", use_dictionary=False)
        encoded = pa.table({c: table[c].dictionary_encode() for c in table.column_names})
        pq.write_table(encoded, dictionary / f"{csv_file.stem}.parquet")
    assert isinstance(pd.read_parquet(dictionary / "subscriptions.parquet")["month"].dtype, pd.CategoricalDtype)
    _assert_same(load_dataset(plain), load_dataset(dictionary))

    accounts = pd.read_csv(mini / "accounts.csv", dtype=str)
    employees = pa.array([120, None, 40], type=pa.int64()).dictionary_encode()
    table = pa.Table.from_pandas(accounts.drop(columns="employees"), preserve_index=False).append_column("employees", employees)
    pq.write_table(table, dictionary / "accounts.parquet")
    with pytest.raises(ValidationError, match=r"accounts.employees \[accounts.parquet\]: missing value: 1 row \(rows 2\)"):
        load_dataset(dictionary)


@pytest.mark.parametrize("form", ["subscriptions", "contracts", "mini without optional tables"])
def test_a_snapshot_is_the_dataset_it_was_made_from(tmp_path: Path, mini: Path, form: str):
    """A report run validates once and hands its kernels a snapshot: reading it back gives the
    same tables with the same dtypes (datetime64[us], Int64, str, boolean) and the same fields
    (notes, MRR source, through/since of contracts, as-of)."""
    import dataclasses

    from cs_analysis.data.dataset import load_snapshot
    from cs_analysis.data.demo import DemoSpec, write_demo

    if form == "mini without optional tables":
        folder = mini
    else:
        folder = tmp_path / "demo"
        write_demo(folder, DemoSpec(accounts=60, months=18, end="2026-09", seed=3), mrr_as=form)
    ds = load_dataset(folder)
    back = load_snapshot(ds.save_snapshot(tmp_path / "snap"))
    assert list(back.tables()) == list(ds.tables())
    for name, frame in ds.tables().items():
        pdt.assert_frame_equal(back.tables()[name], frame, check_exact=True, obj=name)
    for f in dataclasses.fields(ds):
        if not isinstance(getattr(ds, f.name), pd.DataFrame):
            assert getattr(back, f.name) == getattr(ds, f.name), f.name
    assert back.fingerprint() == ds.fingerprint()
    if form == "contracts":
        assert ds.through is not None and ds.since is not None and ds.contracts is not None
