"""`cs-analysis kpis`: formats, segmentations, settings, errors."""

from __future__ import annotations

import io
import json

import pandas as pd

from cs_analysis.cli import main


def test_table_is_bilingual_and_formatted(demo_small, capsys):
    assert main(["kpis", str(demo_small), "--period", "FY2025Q1", "--by", "size"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("KPIs FY2025Q1: 2025-04..2025-06 (start 2025-03, end 2025-06)")
    assert "顧客チャーンレート / Customer churn rate" in out and "逸失金額" in out
    assert "size=Enterprise" in out and "size=SMB" in out
    assert "¥" in out and "%" in out


def test_csv_is_the_tidy_frame(demo_small, capsys):
    assert main(["kpis", str(demo_small), "--period", "2025Q3", "--by", "size,touch_tier", "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(frame.columns) == ["period", "segment_by", "segment", "kpi", "value"]
    assert set(frame["segment_by"]) == {"all", "size", "touch_tier"}
    assert (frame["period"] == "2025Q3").all()


def test_json_to_file_and_default_period(demo_small, tmp_path, capsys):
    out = tmp_path / "k.json"
    assert main(["kpis", str(demo_small), "--format", "json", "--out", str(out)]) == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert rows[0]["period"] == "FY2026Q2"  # data ends 2026-09: the last complete fiscal quarter
    assert {r["kpi"] for r in rows} >= {"nrr", "grr", "lost_revenue", "ltv", "ltv_survival"}
    assert "wrote" in capsys.readouterr().err


def test_config_changes_the_fiscal_year(demo_small, tmp_path, capsys):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("fiscal_year_start_month: 1\n")
    assert main(["kpis", str(demo_small), "--period", "FY2025Q1", "--config", str(cfg), "--format", "csv"]) == 0
    assert main(["kpis", str(demo_small), "--period", "2025Q1", "--format", "csv"]) == 0
    jan, cal = (pd.read_csv(io.StringIO("period,segment_by" + t)).drop(columns="period")
                for t in capsys.readouterr().out.split("period,segment_by", 2)[1:])
    # FY2025Q1 with F=1 is 2025Q1; only lost revenue (to the fiscal year end) depends on F
    same = jan["kpi"] != "lost_revenue"
    pd.testing.assert_frame_equal(jan[same], cal[same])
    assert (jan.loc[~same, "value"] > cal.loc[~same, "value"]).all()  # to December vs to March


def test_errors_are_clear(demo_small, capsys):
    assert main(["kpis", str(demo_small), "--period", "FY2030"]) == 2
    assert "needs data from 2030-03" in capsys.readouterr().err
    assert main(["kpis", str(demo_small), "--period", "Q3"]) == 2
    assert "not understood" in capsys.readouterr().err
    assert main(["kpis", str(demo_small), "--by", "colour"]) == 2
    assert "unknown segmentation 'colour'" in capsys.readouterr().err
