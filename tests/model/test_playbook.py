"""The playbook (settings ``playbook``): next actions from the account's top churn driver and
its touch tier, checked when the settings load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cs_analysis.config import load_settings
from cs_analysis.errors import ConfigError
from cs_analysis.model.drivers import driver_code, top_driver_codes
from cs_analysis.model.training import next_actions


def test_actions_follow_the_driver_and_the_owner_the_tier():
    s = load_settings()
    out = next_actions(np.array(["champion_change", "champion_change", "severe_ticket", "unheard_of"], dtype=object),
                       np.array(["high", "tech", "low", "low"], dtype=object), s)
    assert out["next_action_ja"][0] == "新任担当者との関係構築（役員同席）"
    assert out["action_owner_ja"][0] == "担当CSM・営業責任者" and out["action_owner_ja"][1] == "担当CSM"
    assert out["next_action"][2] == "support escalation and follow-up"
    assert out["next_action"][3] == "owner call to review the account"  # the default play
    assert len(set(out["next_action"])) == 3


def test_the_top_driver_is_the_feature_pushing_risk_up_most():
    contrib = np.array([[0.1, 0.9, -0.2], [-0.1, -0.3, -0.2]])
    codes = top_driver_codes(contrib, ["utilisation", "severe_open_tickets", "mrr"])
    assert codes.tolist() == ["severe_ticket", "default"]  # nothing pushes the second up
    assert driver_code("band_days_since_contact") == "no_contact"


def test_a_user_playbook_overrides_one_play_and_is_checked(tmp_path: Path):
    (tmp_path / "s.yaml").write_text("playbook:\n  detractor:\n    action: [call back within a week, 1週間以内に折り返し]\n",
                                     encoding="utf-8")
    s = load_settings(tmp_path / "s.yaml")
    assert s.playbook.play("detractor").action == ("call back within a week", "1週間以内に折り返し")
    assert s.playbook.play("no_contact").action[1] == "主要担当者への定例コール"  # the rest stays
    (tmp_path / "bad.yaml").write_text("playbook:\n  detractor:\n    act: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="playbook.detractor must give 'action'"):
        load_settings(tmp_path / "bad.yaml")
    (tmp_path / "tier.yaml").write_text("playbook:\n  detractor:\n    owner: {vip: [a, b]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="owner must map touch tiers"):
        load_settings(tmp_path / "tier.yaml")
