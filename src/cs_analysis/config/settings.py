"""Settings: one object, loaded once (shipped defaults + optional user file) and passed down."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cs_analysis.config.playbook import Playbook, parse_playbook
from cs_analysis.config.scorecard import Scorecard, parse_scorecard
from cs_analysis.errors import ConfigError


@functools.cache
def _default_raw() -> dict[str, Any]:
    text = resources.files("cs_analysis.config").joinpath("settings.yaml").read_text("utf-8")
    return _read_yaml(text, "default settings")


def default_scorecard() -> Scorecard:
    """The shipped health scorecard."""
    return parse_scorecard(_default_raw()["health"])


@dataclass(frozen=True)
class DateLimits:
    """Dates outside ``earliest``..``reference + max_years_ahead`` are validation errors (a
    planned date — a due date — may lie up to ``planned_years_ahead`` ahead); date-times with a
    UTC offset become local date-times of ``timezone``. ``reference``: today, or the dataset's
    as-of date."""

    timezone: str = "Asia/Tokyo"
    max_years_ahead: int = 1
    planned_years_ahead: int = 10
    earliest: pd.Timestamp = pd.Timestamp("1900-01-01")
    reference: pd.Timestamp | None = None

    def latest(self, col: Column) -> pd.Timestamp:  # noqa: F821 (a data.schema.Column)
        ref = self.reference if self.reference is not None else pd.Timestamp.now(self.timezone).tz_localize(None)
        years = self.planned_years_ahead if col.planned else self.max_years_ahead
        return (ref.normalize() + pd.DateOffset(years=years)).normalize()


@dataclass(frozen=True)
class Settings:
    """Project settings. Build with :func:`load_settings`; never read globals deep inside."""

    fiscal_year_start_month: int = 4
    currency: str = "JPY"
    enterprise_employees: int = 2000
    high_touch_licenses: int = 10
    low_touch_licenses: int = 5
    gross_margin: float = 0.8
    annual_discount_rate: float = 0.10
    min_cohort_accounts: int = 30
    timezone: str = "Asia/Tokyo"
    max_years_ahead: int = 1
    horizon_months: int = 3
    risk_high_share: float = 0.10
    risk_medium_share: float = 0.30
    renewal_grace_days: int = 0
    cohort_grain: str = "month"
    renewal_notice_days: int = 30
    small_base_accounts: int = 20
    health: Scorecard = field(default_factory=default_scorecard)
    playbook: Playbook = field(default_factory=lambda: default_playbook())

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.fiscal_year_start_month <= 12:
            problems.append("fiscal_year_start_month must be 1..12")
        if self.enterprise_employees < 0:
            problems.append("enterprise_employees must be >= 0")
        if not 0 <= self.low_touch_licenses <= self.high_touch_licenses:
            problems.append("need 0 <= low_touch_licenses <= high_touch_licenses")
        if not 0 < self.gross_margin <= 1:
            problems.append("gross_margin must be in (0, 1]")
        if not 0 <= self.annual_discount_rate < 1:
            problems.append("annual_discount_rate must be in [0, 1)")
        if self.min_cohort_accounts < 1:
            problems.append("min_cohort_accounts must be >= 1")
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            problems.append(f"currency must be an ISO 4217 code of three capital letters (JPY, USD, ...), "
                            f"got {self.currency!r}")
        if self.timezone not in _zones():
            problems.append(f"timezone must be an IANA time zone name such as Asia/Tokyo, got {self.timezone!r}")
        if not 0 <= self.max_years_ahead <= 100:
            problems.append("max_years_ahead must be 0..100")
        if not 1 <= self.horizon_months <= 60:
            problems.append("horizon_months must be 1..60")
        if not 0 < self.risk_high_share <= self.risk_medium_share <= 1:
            problems.append("need 0 < risk_high_share <= risk_medium_share <= 1")
        if self.cohort_grain not in ("month", "quarter", "year"):
            problems.append(f"cohort_grain must be month, quarter or year, got {self.cohort_grain!r}")
        if self.small_base_accounts < 0:
            problems.append("small_base_accounts must be >= 0")
        if not 0 <= self.renewal_notice_days <= 366:
            problems.append("renewal_notice_days must be 0..366")
        if not 0 <= self.renewal_grace_days <= 366:
            problems.append("renewal_grace_days must be 0..366")
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))


    def touch_tier_codes(self, licenses: np.ndarray) -> np.ndarray:
        """The touch tier of licence counts as codes into :data:`TOUCH_TIERS`: high when licenses ≥
        ``high_touch_licenses``, low when ≥ ``low_touch_licenses``, else tech (RevComm). The one
        definition of the rule (segments, model features and the demo simulator use it).

        >>> Settings().touch_tier_codes(np.array([12, 5, 1])).tolist()
        [0, 1, 2]
        """
        lic = np.asarray(licenses)
        return np.where(lic >= self.high_touch_licenses, 0, np.where(lic >= self.low_touch_licenses, 1, 2))

    def touch_tier(self, licenses: np.ndarray) -> np.ndarray:
        """The touch tier names of licence counts (see :meth:`touch_tier_codes`)."""
        return np.asarray(TOUCH_TIERS, dtype=object)[self.touch_tier_codes(licenses)]

    def size_codes(self, employees: np.ndarray) -> np.ndarray:
        """The size segment as codes into :data:`SIZES`: Enterprise (0) when employees ≥
        ``enterprise_employees``, else SMB (1) (RevComm). The one definition of the rule.

        >>> Settings().size_codes(np.array([2500, 40])).tolist()
        [0, 1]
        """
        return np.where(np.asarray(employees) >= self.enterprise_employees, 0, 1)

    def size(self, employees: np.ndarray) -> np.ndarray:
        """The size segment names of employee counts (see :meth:`size_codes`).

        >>> Settings().size(np.array([2500, 40])).tolist()
        ['Enterprise', 'SMB']
        """
        return np.asarray(SIZES, dtype=object)[self.size_codes(employees)]

    def date_limits(self, reference: pd.Timestamp | None = None) -> DateLimits:
        """The plausible date range and time zone that validation applies to the data."""
        return DateLimits(timezone=self.timezone, max_years_ahead=self.max_years_ahead, reference=reference)


TOUCH_TIERS = ("high", "low", "tech")  # codes 0, 1, 2 of Settings.touch_tier_codes
SIZES = ("Enterprise", "SMB")  # codes 0, 1 of Settings.size_codes


@functools.cache
def _zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def default_playbook() -> Playbook:
    """The shipped playbook (settings.yaml)."""
    return parse_playbook(_default_raw()["playbook"], "default settings: playbook")


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of setting: value")
    return data


def _coerce(source: str, raw: dict[str, Any]) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(fields)}"
        )
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("health", "playbook"):
            out[key] = value
            continue
        kind, word = {"int": (int, "a whole number"), "float": (float, "a number"),
                      "str": (str, "text")}[str(fields[key].type)]
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if kind is float and ok and not math.isfinite(value):
            raise ConfigError(f"{source}: {key} must be a finite number, got {value!r}")
        if not ok:
            raise ConfigError(f"{source}: {key} must be {word}, got {value!r}")
        out[key] = value
    return out


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into ``base``, recursively for nested mappings."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def load_settings(path: str | Path | None = None) -> Settings:
    """Shipped defaults, overridden by the YAML file at ``path`` when given (nested sections such
    as ``health`` are merged key by key)."""
    merged = _coerce("default settings", _default_raw())
    source = "default settings"
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ConfigError(f"cannot read settings file {p}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not a text (YAML) settings file: it is not UTF-8 text") from None
        if "\x00" in text:
            raise ConfigError(f"{p}: not a text (YAML) settings file: it holds binary data")
        merged = _merge(merged, _coerce(str(p), _read_yaml(text, str(p))))
        source = str(p)
    try:
        merged["health"] = parse_scorecard(merged["health"], f"{source}: health")
        merged["playbook"] = parse_playbook(merged["playbook"], f"{source}: playbook")
        return Settings(**merged)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}" if not str(exc).startswith(source) else str(exc)) from None
