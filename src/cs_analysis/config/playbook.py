"""The playbook: the next action for each churn driver, and who does it in each touch tier
(settings ``playbook``; docs/model.md, "Next actions"). Loaded and checked with the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cs_analysis.errors import ConfigError

TIERS = ("high", "low", "tech")
DEFAULT = "default"  # the play of a driver the playbook does not name


@dataclass(frozen=True)
class Play:
    """One driver's next action (English, Japanese) and its owner role per touch tier."""

    action: tuple[str, str]
    owner: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class Playbook:
    plays: dict[str, Play]

    def play(self, driver: str) -> Play:
        return self.plays.get(driver, self.plays[DEFAULT])


def _pair(value: Any, where: str) -> tuple[str, str]:
    if isinstance(value, str):
        return value, value
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, str) and v for v in value):
        return str(value[0]), str(value[1])
    raise ConfigError(f"{where} must be a text or a pair [English, 日本語], got {value!r}")


def parse_playbook(raw: Any, where: str) -> Playbook:
    """The ``playbook`` section: driver → {action: [en, ja], owner: {high|low|tech: [en, ja]}};
    a ``default`` play is required."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where} must map churn drivers to plays")
    plays = {}
    for driver, spec in raw.items():
        at = f"{where}.{driver}"
        if not isinstance(spec, dict) or set(spec) - {"action", "owner"} or "action" not in spec:
            raise ConfigError(f"{at} must give 'action' (and 'owner' per touch tier)")
        owner = spec.get("owner", {})
        if not isinstance(owner, dict) or set(owner) - set(TIERS):
            raise ConfigError(f"{at}.owner must map touch tiers ({', '.join(TIERS)}) to roles")
        plays[str(driver)] = Play(_pair(spec["action"], f"{at}.action"),
                                  {t: _pair(owner.get(t, ["CSM", "担当CSM"]), f"{at}.owner.{t}") for t in TIERS})
    if DEFAULT not in plays:
        raise ConfigError(f"{where} needs a '{DEFAULT}' play for drivers it does not name")
    return Playbook(plays)
