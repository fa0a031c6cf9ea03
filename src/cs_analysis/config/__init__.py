"""Settings: one object, loaded once (shipped defaults + an optional user file) and passed down;
the health scorecard is part of it (:mod:`.scorecard`). The lowest layer above errors and
labels: everything else may import it, it imports nothing of the project's but those."""

from cs_analysis.config.settings import DateLimits, Settings, default_scorecard, load_settings

__all__ = ["DateLimits", "Settings", "default_scorecard", "load_settings"]
