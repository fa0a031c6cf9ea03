"""Exception types shown to users as clear messages (never as tracebacks)."""


class CsAnalysisError(Exception):
    """Base class: the CLI prints the message and exits 2."""


class ConfigError(CsAnalysisError):
    """A settings file or value is invalid."""


class DataError(CsAnalysisError):
    """Input data cannot be read or does not meet the data contract."""
