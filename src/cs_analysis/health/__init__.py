"""Account health on the DEAR frame: point-in-time signals (:mod:`.signals`), the scorer
(:mod:`.scorer`) and its review — back-test, transitions, gaps, onboarding (:mod:`.review`)."""

from cs_analysis.health.scorer import HealthScorer

__all__ = ["HealthScorer"]
