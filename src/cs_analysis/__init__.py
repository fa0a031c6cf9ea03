"""cs-analysis: customer-success analytics and churn modelling for B2B SaaS."""

from cs_analysis.config.settings import Settings, load_settings
from cs_analysis.data.dataset import Dataset, load_dataset
from cs_analysis.data.validation import Problem, ValidationError
from cs_analysis.errors import ConfigError, CsAnalysisError, DataError

__all__ = [
    "ConfigError",
    "CsAnalysisError",
    "DataError",
    "Dataset",
    "Problem",
    "Settings",
    "ValidationError",
    "load_dataset",
    "load_settings",
]
__version__ = "0.1.0"
