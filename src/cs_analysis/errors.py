"""Every error a user can reach: one base class, the CLI prints its message and exits 2.

All of the project's exception types live here, so that a caller catches one
:class:`CsAnalysisError` and a reader finds them in one place:

- :class:`ConfigError` — a settings file or value is invalid;
- :class:`DataError` — input data cannot be read or breaks the data contract
  (:class:`ValidationError` lists every failed check at once);
- :class:`PeriodError` — a period string cannot be parsed or does not fit the data;
- :class:`SegmentError` — an unknown or unavailable segmentation;
- :class:`HistoryError` — the data is too short or degenerate for what was asked
  (a backtest, a model, a date outside the data);
- :class:`ModelError` — a model file or its metadata cannot be used;
- :class:`OutputError` — an output cannot be written (the path and the reason);
- :class:`ReportError` — a report run cannot start or stopped.
"""

from __future__ import annotations

from collections.abc import Sequence


class CsAnalysisError(Exception):
    """Base class: the CLI prints the message and exits 2."""


class ConfigError(CsAnalysisError):
    """A settings file or value is invalid."""


class DataError(CsAnalysisError):
    """Input data cannot be read or does not meet the data contract."""


class ValidationError(DataError):
    """The data breaks the contract; ``problems`` lists every failed check (each printable)."""

    def __init__(self, where: str, problems: Sequence[object]):
        self.problems = list(problems)
        lines = [
            f"{where}: {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''} found; "
            "nothing was loaded. Row numbers are as in the file (CSV: the header is row 1)."
        ]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class PeriodError(CsAnalysisError):
    """A period string cannot be parsed, or the period lies outside the data."""


class SegmentError(CsAnalysisError):
    """An unknown segmentation was asked for, or its column is absent."""


class HistoryError(DataError):
    """The history is too short or degenerate for what was asked (says what is needed)."""


class ModelError(CsAnalysisError):
    """A model file or its metadata cannot be used."""


class OutputError(CsAnalysisError):
    """An output file or folder cannot be written; names the path and the reason."""


class ReportError(CsAnalysisError):
    """The report cannot be run, or its shared preparation failed."""
