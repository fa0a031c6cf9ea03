"""`cs-analysis import`: a company's own files through a mapping file. A Japanese CRM sheet
(CP932, Japanese headers, 2025/4/1 and 2025年4月1日 dates, ￥ amounts, full-width digits,
はい/いいえ) and the same data in English give identical KPI tables; mapping errors name the
mapping file, the table and the source column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cs_analysis.cli import main
from cs_analysis.config import Settings
from cs_analysis.data.dataset import load_dataset
from cs_analysis.data.mapping import import_dataset
from cs_analysis.errors import DataError, OutputError, ValidationError
from cs_analysis.kpis import compute_kpis

JA_ACCOUNTS = "取引先ID,会社名,従業員数,業種\nC001,株式会社さくら,１２０,製造\nC002,みらい商事,2500,IT\nC003,あおば工業,40,小売\n"
JA_CONTRACTS = ("取引先ID,製品,契約開始日,契約終了日,月額,試用,ライセンス\n"
                "C001,コア,2024/4/1,2025/3/31,\"\\100,000\",いいえ,５\n"
                "C001,コア,2025年4月1日,,\"￥120,000\",いいえ,6\n"
                "C002,コア,2024/3/1,2024/3/31,,はい,\n"
                "C002,コア,2024/4/1,2024/12/31,\"￥500,000\",いいえ,40\n"
                "C003,IVR,2024/6/15,,\"￥20,000\",いいえ,2\n")
JA_MAPPING = """as_of: 2025-06-30
tables:
  accounts:
    file: crm_accounts.csv
    columns: {account_id: 取引先ID, name: 会社名, employees: 従業員数}
    keep: [業種]
  contracts:
    file: contracts.csv
    columns: {account_id: 取引先ID, product: 製品, start_date: 契約開始日, end_date: 契約終了日,
              mrr: 月額, trial: 試用, licenses: ライセンス}
    values: {trial: {"はい": true, "いいえ": false}}
"""
EN_ACCOUNTS = "Account,Company,Employees,業種\nC001,株式会社さくら,120,製造\nC002,みらい商事,2500,IT\nC003,あおば工業,40,小売\n"
EN_CONTRACTS = ("Account,Product,Start,End,Monthly,Trial,Seats\n"
                "C001,コア,2024-04-01,2025-03-31,100000,FALSE,5\n"
                "C001,コア,2025-04-01,,120000,false,6\n"
                "C002,コア,2024-03-01,2024-03-31,,TRUE,\n"
                "C002,コア,2024-04-01,2024-12-31,500000,No,40\n"
                "C003,IVR,2024-06-15,,20000,0,2\n")
EN_MAPPING = """as_of: 2025-06-30
tables:
  accounts:
    file: accounts.csv
    columns: {account_id: Account, name: Company, employees: Employees}
    keep: [業種]
  contracts:
    file: contracts.csv
    columns: {account_id: Account, product: Product, start_date: Start, end_date: End, mrr: Monthly,
              trial: Trial, licenses: Seats}
"""


def _write(folder: Path, files: dict[str, tuple[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (text, encoding) in files.items():
        (folder / name).write_text(text, encoding=encoding)
    return folder / "mapping.yaml"


def _ja(tmp_path: Path, mapping: str = JA_MAPPING, contracts: str = JA_CONTRACTS) -> Path:
    return _write(tmp_path / "ja", {"crm_accounts.csv": (JA_ACCOUNTS, "cp932"), "contracts.csv": (contracts, "cp932"),
                                    "mapping.yaml": (mapping, "utf-8")})


def test_japanese_sheet_and_english_export_give_identical_kpis(tmp_path):
    ja = import_dataset(_ja(tmp_path), tmp_path / "out_ja", Settings())
    en_map = _write(tmp_path / "en", {"accounts.csv": (EN_ACCOUNTS, "utf-8"), "contracts.csv": (EN_CONTRACTS, "utf-8"),
                                      "mapping.yaml": (EN_MAPPING, "utf-8")})
    en = import_dataset(en_map, tmp_path / "out_en", Settings())
    assert ja.written == en.written == {"accounts": 3, "contracts": 5}
    for period in ("2025-04", "FY2024", "2024-04..2025-06"):
        a = compute_kpis(load_dataset(tmp_path / "out_ja"), period, Settings(), by=["業種", "size"])
        b = compute_kpis(load_dataset(tmp_path / "out_en"), period, Settings(), by=["業種", "size"])
        pd.testing.assert_frame_equal(a, b)
    k = compute_kpis(load_dataset(tmp_path / "out_ja"), "2025-04", Settings()).set_index("kpi")["value"]
    assert k["mrr_start"] == 120_000.0 and k["mrr_end"] == 140_000.0 and k["expansion_mrr"] == 20_000.0


def test_the_imported_folder_equals_the_mapped_dataset(tmp_path):
    done = import_dataset(_ja(tmp_path), tmp_path / "out", Settings())
    again = load_dataset(tmp_path / "out")
    pd.testing.assert_frame_equal(done.dataset.subscriptions, again.subscriptions)
    assert (tmp_path / "out" / "dataset.yaml").read_text(encoding="utf-8").count("as_of: 2025-06-30") == 1
    assert again.accounts.set_index("account_id").loc["C001", "employees"] == 120  # full-width digits


def test_cli_import_prints_what_it_did(tmp_path, capsys):
    assert main(["import", "--mapping", str(_ja(tmp_path)), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "contracts: 5 rows" in out and "1 trial contract(s) left out of MRR" in out
    assert "months 2024-03..2025-06 (as-of 2025-06-30)" in out
    assert main(["kpis", str(tmp_path / "o"), "--period", "2025-04"]) == 0


def test_xlsx_source_with_a_sheet(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "crm_accounts.csv").write_text(JA_ACCOUNTS, encoding="cp932")
    frame = pd.DataFrame({"取引先ID": ["C001", "C002"], "製品": ["コア", "コア"],
                          "契約開始日": [pd.Timestamp("2024-04-01"), "2024/5/1"], "契約終了日": [None, None],
                          "月額": [100000, "￥50,000"], "試用": [False, True]})
    with pd.ExcelWriter(folder / "contracts.xlsx") as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="表紙", index=False)
        frame.to_excel(writer, sheet_name="契約", index=False)
    (folder / "mapping.yaml").write_text(JA_MAPPING.replace("file: contracts.csv", "file: contracts.xlsx\n    sheet: 契約")
                                         .replace(", licenses: ライセンス", ""), encoding="utf-8")
    done = import_dataset(folder / "mapping.yaml", tmp_path / "out", Settings())
    subs = done.dataset.subscriptions
    assert set(subs["account_id"]) == {"C001"} and set(subs["mrr"]) == {100000.0}


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.replace("mrr: 月額", "mrr: 月額料金"),
     "mapping.yaml: table contracts: source column '月額料金' (for mrr) is not in contracts.csv"),
    (lambda m: m.replace("account_id: 取引先ID, product: 製品, ", "account_id: 取引先ID, "),
     "mapping.yaml: table contracts: no source column or constant for required column(s) product"),
    (lambda m: m.replace('{"はい": true, "いいえ": false}', '{"はい": true}'),
     "mapping.yaml: table contracts: source column '試用' (trial) has value(s) 'いいえ' that 'values' does not map"),
    (lambda m: m.replace("contracts:\n", "contract:\n", 1), "mapping.yaml: unknown table 'contract'"),
    (lambda m: m.replace("keep: [業種]", "keep: [地域]"),
     "mapping.yaml: table accounts: 'keep' names source column '地域', which is not in crm_accounts.csv"),
    (lambda m: m.replace("as_of: 2025-06-30", "as_of: soon"), "mapping.yaml: as_of must be a date"),
    (lambda m: m + "extra: 1\n", "mapping.yaml: unknown key(s) extra"),
])
def test_mapping_errors_name_the_file_table_and_column(tmp_path, edit, message, capsys):
    path = _ja(tmp_path, mapping=edit(JA_MAPPING))
    with pytest.raises(DataError) as err:
        import_dataset(path, tmp_path / "out", Settings())
    assert message in str(err.value)
    assert main(["import", "--mapping", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_cells_are_reported_with_the_source_file_and_rows(tmp_path):
    path = _ja(tmp_path, contracts=JA_CONTRACTS.replace("2024/6/15", "六月"))
    with pytest.raises(ValidationError) as err:
        import_dataset(path, tmp_path / "out", Settings())
    assert "contracts.start_date [contracts.csv (mapped by mapping.yaml)]: not a date" in str(err.value)
    assert "(rows 6)" in str(err.value)


def test_constants_and_an_existing_folder(tmp_path):
    mapping = JA_MAPPING.replace(", licenses: ライセンス}", "}\n    constants: {licenses: 0}")
    done = import_dataset(_ja(tmp_path, mapping=mapping), tmp_path / "out", Settings())
    assert set(done.dataset.subscriptions["licenses"]) == {0}
    import_dataset(_ja(tmp_path, mapping=mapping), tmp_path / "out", Settings())  # an earlier import: replaced
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not an earlier import"):
        import_dataset(_ja(tmp_path, mapping=mapping), other, Settings())
    assert (other / "notes.txt").read_text() == "keep me"
