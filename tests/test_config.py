"""Settings: shipped defaults, overrides, clear errors."""

from __future__ import annotations

import pytest

from cs_analysis import ConfigError, Settings, load_settings


def test_defaults():
    s = load_settings()
    assert s == Settings()
    assert (s.fiscal_year_start_month, s.currency, s.enterprise_employees, s.high_touch_licenses,
            s.low_touch_licenses, s.gross_margin) == (4, "JPY", 2000, 10, 5, 0.8)


def test_override_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("fiscal_year_start_month: 1\ngross_margin: 1\n")
    s = load_settings(f)
    assert s.fiscal_year_start_month == 1 and s.gross_margin == 1.0 and s.currency == "JPY"


@pytest.mark.parametrize(
    "text,message",
    [
        ("fiscal_year_start: 4\n", "unknown setting(s) fiscal_year_start"),
        ("fiscal_year_start_month: 13\n", "fiscal_year_start_month must be 1..12"),
        ("fiscal_year_start_month: april\n", "fiscal_year_start_month must be a whole number, got 'april'"),
        ("gross_margin: 0\n", "gross_margin must be in (0, 1]"),
        ("low_touch_licenses: 20\n", "need 0 <= low_touch_licenses <= high_touch_licenses"),
        ("- a\n- b\n", "expected a mapping of setting: value"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path, text, message):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    assert message in str(err.value) and str(f) in str(err.value)


def test_missing_settings_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings(tmp_path / "none.yaml")
