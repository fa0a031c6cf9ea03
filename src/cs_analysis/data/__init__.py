"""Data in: the data contract (:mod:`.schema`), reading files (:mod:`.io`), validation and typing
(:mod:`.validation`), the validated :class:`Dataset` (:mod:`.dataset`), raw product events
(:mod:`.events`) and the simulated demo company (:mod:`.demo`)."""

from cs_analysis.data.dataset import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
