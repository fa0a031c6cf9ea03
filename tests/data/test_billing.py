"""MRR from contracts and invoice lines (docs/data-contract.md): every rule with a hand-worked
example, through the loader as a user gives it (CSV folder + dataset.yaml), and the invariants
(deriving from the derived subscriptions changes nothing; contracts and monthly form agree)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_analysis.config import Settings
from cs_analysis.data import billing
from cs_analysis.data.dataset import load_dataset
from cs_analysis.errors import DataError, SegmentError, ValidationError
from cs_analysis.kpis import compute_kpis
from cs_analysis.kpis.registry import RENEWAL_KPIS

ACCOUNTS = "account_id\nA\nB\n"


def _folder(tmp_path: Path, tables: dict[str, str], as_of: str | None = None, extra: str = "") -> Path:
    folder = tmp_path / "ds"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {"accounts": ACCOUNTS, **tables}.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    if as_of or extra:
        (folder / "dataset.yaml").write_text((f"as_of: {as_of}\n" if as_of else "") + extra, encoding="utf-8")
    return folder


def _mrr(ds, account: str = "A") -> dict[str, float]:
    subs = ds.subscriptions[ds.subscriptions["account_id"] == account]
    return subs.groupby(subs["month"].dt.strftime("%Y-%m"))["mrr"].sum().to_dict()


def _kpis(ds, period: str, settings: Settings | None = None) -> pd.Series:
    return compute_kpis(ds, period, settings or Settings()).set_index("kpi")["value"]


def test_annual_contract_is_mrr_for_twelve_months_and_churns_with_its_lost_revenue(tmp_path):
    folder = _folder(tmp_path, {"contracts": "account_id,product,start_date,end_date,amount,billing_period_months\n"
                                             "A,core,2024-04-01,2025-03-31,\"¥1,200,000\",12\n"
                                             "B,core,2024-03-01,,50000,\n"}, as_of="2025-06-30")
    ds = load_dataset(folder)
    mrr = _mrr(ds)
    assert list(mrr) == [f"{m:%Y-%m}" for m in pd.period_range("2024-04", "2025-03", freq="M")]
    assert set(mrr.values()) == {100_000.0}
    k = _kpis(ds, "2025-04")
    assert k["churned_accounts"] == 1 and k["churned_mrr"] == 100_000.0
    assert k["lost_revenue"] == 1_200_000.0  # 12 months to the fiscal year end (March 2026)
    assert ds.through == pd.Period("2025-06", "M")  # months run through the as-of date


def test_three_year_term_and_arr(tmp_path):
    ds = load_dataset(_folder(tmp_path, {"contracts": "account_id,product,start_date,end_date,arr\n"
                                                      "A,core,2023-04-01,2026-03-31,2400000\n"}))
    mrr = _mrr(ds)
    assert len(mrr) == 36 and set(mrr.values()) == {200_000.0}  # arr ÷ 12 for 36 months
    assert ds.as_of == pd.Timestamp("2026-03-31")  # no dataset.yaml: the latest date of the table


def test_trial_then_paid_contract(tmp_path):
    ds = load_dataset(_folder(tmp_path, {
        "contracts": "account_id,product,start_date,end_date,mrr,trial\n"
                     "A,core,2024-03-01,2024-03-31,,TRUE\n"
                     "A,core,2024-04-01,,30000,no\n"}, as_of="2024-06-30"))
    assert _mrr(ds) == {"2024-04": 30000.0, "2024-05": 30000.0, "2024-06": 30000.0}
    assert any("1 trial contract(s) left out of MRR" in n for n in ds.notes)
    assert ds.accounts.set_index("account_id").loc["A", "signup_date"] == pd.Timestamp("2024-03-01")
    assert ds.accounts.set_index("account_id").loc["A", "name"] == "A"  # name defaults to the id
    k = _kpis(ds, "2024-04")
    assert k["new_accounts"] == 1 and k["new_mrr"] == 30000.0


def test_overlapping_contracts_of_one_product_add_up(tmp_path):
    ds = load_dataset(_folder(tmp_path, {
        "contracts": "account_id,product,start_date,end_date,mrr,licenses\n"
                     "A,core,2024-01-01,2024-06-30,10000,2\n"
                     "A,core,2024-04-01,2024-09-30,5000,1\n"}, as_of="2024-12-31"))
    subs = ds.subscriptions.set_index(ds.subscriptions["month"].dt.strftime("%Y-%m"))
    assert subs.loc["2024-03", "mrr"] == 10000 and subs.loc["2024-04", "mrr"] == 15000
    assert subs.loc["2024-04", "licenses"] == 3 and subs.loc["2024-07", "mrr"] == 5000
    k = _kpis(ds, "2024-04")
    assert k["expansion_mrr"] == 5000.0


def test_open_ended_runs_through_the_as_of_month_only_when_complete(tmp_path):
    contracts = {"contracts": "account_id,product,start_date,end_date,mrr\nA,core,2024-01-15,,10000\n"}
    ds = load_dataset(_folder(tmp_path, contracts, as_of="2024-05-30"))  # May is not complete
    assert list(_mrr(ds)) == ["2024-01", "2024-02", "2024-03", "2024-04"]
    ds = load_dataset(_folder(tmp_path, contracts, as_of="2024-05-31"))
    assert list(_mrr(ds))[-1] == "2024-05"


def test_canceled_contract_runs_to_its_end_date(tmp_path):
    ds = load_dataset(_folder(tmp_path, {
        "contracts": "account_id,product,start_date,end_date,mrr,auto_renew,canceled_at\n"
                     "A,core,2024-01-01,2024-12-31,10000,yes,2024-06-15\n"}, as_of="2025-03-31",
        extra="auto_renew_extends: true\n"))
    assert list(_mrr(ds))[-1] == "2024-12"  # notice given: no renewal, service to the end date


def test_auto_renew_extends_until_a_follow_on_contract(tmp_path):
    contracts = ("account_id,product,start_date,end_date,mrr,auto_renew\n"
                 "A,core,2024-01-01,2024-06-30,10000,true\n"
                 "A,core,2025-01-01,2025-12-31,20000,false\n"
                 "B,core,2024-01-01,2024-03-31,7000,1\n")
    plain = load_dataset(_folder(tmp_path, {"contracts": contracts}, as_of="2025-03-31"))
    assert "2024-07" not in _mrr(plain)  # auto_renew alone does not extend: end_date is the last day
    ds = load_dataset(_folder(tmp_path, {"contracts": contracts}, as_of="2025-03-31",
                              extra="auto_renew_extends: true\n"))
    mrr = _mrr(ds)
    assert mrr["2024-12"] == 10000 and mrr["2025-01"] == 20000  # runs on until the follow-on starts
    assert list(_mrr(ds, "B"))[-1] == "2025-03"  # no follow-on: term by term through the as-of month


def test_gap_is_churn_and_reactivation_unless_within_the_grace(tmp_path):
    folder = _folder(tmp_path, {"contracts": "account_id,product,start_date,end_date,mrr\n"
                                             "A,core,2024-10-01,2025-03-15,10000\n"
                                             "A,core,2025-04-01,2025-09-30,10000\n"}, as_of="2025-06-30")
    ds = load_dataset(folder)
    assert "2025-03" not in _mrr(ds)
    assert _kpis(ds, "2025-03")["churned_accounts"] == 1
    assert _kpis(ds, "2025-04")["reactivation_mrr"] == 10000.0
    lenient = Settings(renewal_grace_days=16)  # the gap is 2025-03-16..03-31: 16 days
    ds = load_dataset(folder, lenient)
    assert _mrr(ds)["2025-03"] == 10000.0
    assert _kpis(ds, "2025-03", lenient)["churned_accounts"] == 0
    assert _kpis(ds, "2025-04", lenient)["reactivation_mrr"] == 0.0
    tight = Settings(renewal_grace_days=15)
    assert "2025-03" not in _mrr(load_dataset(folder, tight))


def test_monthly_invoice_lines_billed_on_the_fifth(tmp_path):
    lines = "account_id,product,period_start,period_end,amount,licenses\n" + "".join(
        f"A,core,{s:%Y-%m-%d},{(s + pd.DateOffset(months=1) - pd.Timedelta(days=1)):%Y-%m-%d},30000,3\n"
        for s in pd.date_range("2024-04-01", periods=6, freq="MS") + pd.Timedelta(days=4))
    ds = load_dataset(_folder(tmp_path, {"invoice_lines": lines}, as_of="2024-09-30"))
    assert _mrr(ds) == {f"2024-{m:02d}": 30000.0 for m in range(4, 10)}  # each line covers its month's end
    assert ds.mrr_source == "invoice_lines"


def test_annual_invoice_line_and_one_time_and_refund_lines(tmp_path):
    ds = load_dataset(_folder(tmp_path, {"invoice_lines":
        "account_id,product,period_start,period_end,amount,kind\n"
        "A,core,2024-04-01,2025-03-31,1200000,recurring\n"  # 365 days / 30.4375 = 12.0 months
        "A,setup,2024-04-01,2024-04-01,300000,one_time\n"
        "A,core,2024-05-01,2024-05-31,-50000,refund\n"
        "B,core,2024-04-10,2024-04-20,9000,\n"}, as_of="2025-03-31"))  # 11 days: 1 month, not at month end
    assert set(_mrr(ds).values()) == {100_000.0} and len(_mrr(ds)) == 12
    assert _mrr(ds, "B") == {}
    assert any("1 one-time line(s) left out of MRR" in n for n in ds.notes)
    assert any("1 refund line(s) left out of MRR" in n for n in ds.notes)


def test_foreign_currency_converts_at_the_start_month_rate(tmp_path):
    tables = {"contracts": "account_id,product,start_date,end_date,mrr,currency\n"
                           "A,core,2024-04-01,2024-06-30,1000,USD\n"
                           "B,core,2024-04-01,2024-06-30,50000,jpy\n",
              "fx_rates": "currency,month,rate\nUSD,2024-04-01,150\nUSD,2024-05-01,155\n"}
    ds = load_dataset(_folder(tmp_path, tables, as_of="2024-06-30"))
    assert set(_mrr(ds).values()) == {150_000.0}  # the April rate for the whole term
    assert set(_mrr(ds, "B").values()) == {50_000.0}
    tables["contracts"] += "A,addon,2024-07-01,2024-09-30,10,EUR\n"
    with pytest.raises(ValidationError) as err:
        load_dataset(_folder(tmp_path, tables, as_of="2024-09-30"))
    assert "no exchange rate for EUR in 2024-07" in str(err.value) and "rows 4" in str(err.value)


def test_source_tables_are_exclusive_and_prices_exactly_one(tmp_path):
    subs = "account_id,month,product,licenses,mrr\nA,2024-04-01,core,1,100\n"
    contracts = "account_id,product,start_date,end_date,mrr\nA,core,2024-04-01,,100\n"
    with pytest.raises(ValidationError, match=r"more than one MRR table \(subscriptions, contracts\)"):
        load_dataset(_folder(tmp_path, {"subscriptions": subs, "contracts": contracts}))
    both = "account_id,product,start_date,end_date,mrr,arr\nA,core,2024-04-01,,100,1200\n"
    with pytest.raises(ValidationError, match="exactly one of the columns mrr, arr or amount"):
        load_dataset(_folder(tmp_path / "b", {"contracts": both}))
    missing = "account_id,product,start_date,end_date,mrr,trial\nA,core,2024-04-01,,,false\nB,core,2024-04-01,,,true\n"
    with pytest.raises(ValidationError, match=r"missing price on a paid \(non-trial\) contract: 1 row \(rows 2\)"):
        load_dataset(_folder(tmp_path / "c", {"contracts": missing}))
    bad_bool = "account_id,product,start_date,end_date,mrr,trial\nA,core,2024-04-01,,100,maybe\n"
    with pytest.raises(ValidationError, match="not true/false"):
        load_dataset(_folder(tmp_path / "d", {"contracts": bad_bool}))
    with pytest.raises(ValidationError, match="no MRR table"):
        load_dataset(_folder(tmp_path / "e", {}))


def test_accounts_without_employees_have_no_size_segment(tmp_path):
    ds = load_dataset(_folder(tmp_path, {"contracts": "account_id,product,start_date,end_date,mrr\n"
                                                      "A,core,2024-01-01,,100\n"}, as_of="2024-06-30"))
    assert "employees" not in ds.accounts
    assert any("size segment is unavailable" in n for n in ds.notes)
    with pytest.raises(SegmentError, match="employees"):
        compute_kpis(ds, "2024-04", Settings(), by=["size"])
    assert _kpis(ds, "2024-04")["mrr_end"] == 100.0


def test_the_demo_as_contracts_gives_the_same_kpis(tmp_path):
    from cs_analysis.data.demo import DemoSpec, write_demo

    spec = DemoSpec(accounts=200, months=18, end="2025-09", seed=11)
    write_demo(tmp_path / "m", spec)
    write_demo(tmp_path / "c", spec, mrr_as="contracts")
    assert not (tmp_path / "c" / "subscriptions.csv").exists()
    s = Settings()
    a = compute_kpis(load_dataset(tmp_path / "m"), "FY2025Q2", s, by=["size", "touch_tier"])
    b = compute_kpis(load_dataset(tmp_path / "c"), "FY2025Q2", s, by=["size", "touch_tier"])
    assert a.loc[a["kpi"].isin(RENEWAL_KPIS), "value"].isna().all()  # renewals exist only with contracts
    assert b.loc[b["kpi"].isin(RENEWAL_KPIS) & (b["segment_by"] == "all"), "value"].notna().all()
    pd.testing.assert_frame_equal(a[~a["kpi"].isin(RENEWAL_KPIS)], b[~b["kpi"].isin(RENEWAL_KPIS)])


_months = st.integers(0, 30)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B"]), st.sampled_from(["core", "ivr"]), _months,
                          st.integers(0, 40), st.integers(1, 5) | st.none(), st.integers(0, 3)),
                min_size=1, max_size=12))
def test_deriving_again_from_the_derived_subscriptions_changes_nothing(rows):
    """Property: contracts → subscriptions → contracts (one per run) → subscriptions is the
    identity on the derived rows, for any starts, day offsets, lengths and overlaps."""
    frame = pd.DataFrame([{
        "account_id": a, "product": p,
        "start_date": pd.Timestamp("2023-01-01") + pd.DateOffset(months=m) + pd.Timedelta(days=d),
        "end_date": (pd.Timestamp("2023-01-01") + pd.DateOffset(months=m + n) - pd.Timedelta(days=1)
                     if n is not None else pd.NaT),
        "mrr": float(1000 * (k + 1)), "licenses": k,
    } for a, p, m, d, n, k in rows]).astype({"end_date": "datetime64[us]", "start_date": "datetime64[us]"})
    as_of = pd.Timestamp("2025-12-31")
    first = billing.from_contracts(frame, as_of).subscriptions
    if first.empty:
        return
    again = billing.contracts_from_subscriptions(first, billing.through_month(as_of))
    again = again.assign(start_date=pd.to_datetime(again["start_date"]),
                         end_date=pd.to_datetime(again["end_date"]))
    second = billing.from_contracts(again, as_of).subscriptions
    pd.testing.assert_frame_equal(first, second)
    # invariant: a month's MRR is the sum of the contracts in service on its last day
    month_end = first["month"].dt.to_period("M").dt.end_time.dt.normalize()
    for i in np.flatnonzero(np.arange(len(first)) % 7 == 0):
        day, acc, prod = month_end.iloc[i], first["account_id"].iloc[i], first["product"].iloc[i]
        live = frame[(frame["account_id"] == acc) & (frame["product"] == prod) & (frame["start_date"] <= day)
                     & (frame["end_date"].isna() | (frame["end_date"] >= day))]
        assert first["mrr"].iloc[i] == pytest.approx(live["mrr"].sum())


def test_nothing_in_service_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="nothing is in service"):
        load_dataset(_folder(tmp_path, {"contracts": "account_id,product,start_date,end_date,mrr\n"
                                                      "A,core,2024-01-05,2024-01-20,100\n"}))


@pytest.mark.parametrize("row, message", [
    ("A,core,2024-05-01,2024-04-30,100,C1", "contracts.end_date [contracts.csv]: earlier than start_date: 1 row (rows 3)"),
    ("A,core,2024-05-01,,-100,C1", "contracts.mrr [contracts.csv]: must be >= 0"),
    ("A,core,9999-01-01,,100,C1", "contracts.start_date [contracts.csv]: implausible date"),
    ("Z,core,2024-05-01,,100,C1", "contracts.account_id [contracts.csv]: unknown account_id"),
    ("A,core,2024-05-01,,100,C0", "contracts.contract_id [contracts.csv]: duplicate key (contract_id): 2 rows"),
    ("A,core,2024/13/01,,100,C1", "contracts.start_date [contracts.csv]: not a date"),
])
def test_bad_contract_rows_are_named(tmp_path, row, message):
    text = "account_id,product,start_date,end_date,mrr,contract_id\nA,core,2024-01-01,,100,C0\n" + row + "\n"
    with pytest.raises(ValidationError) as err:
        load_dataset(_folder(tmp_path, {"contracts": text}))
    assert message in str(err.value)


def test_formula_text_from_contracts_is_neutralised_in_csv_outputs(tmp_path):
    from cs_analysis.cli import main

    folder = _folder(tmp_path, {"contracts": "account_id,product,start_date,end_date,mrr\n"
                                             "A,=HYPERLINK(\"x\"),2024-01-01,,100\n"}, as_of="2024-06-30")
    out = tmp_path / "k.csv"
    assert main(["kpis", str(folder), "--period", "2024-05", "--by", "touch_tier", "--format", "csv",
                 "--out", str(out)]) == 0
    assert main(["validate", str(folder)]) == 0
