"""Risk and compliance scoring: each rule applies with its reason, points and penalty; the
points give the level (4+ high, 2-3 medium, else low) and 100 less the penalties the score
(never below 0); everything is recomputed on every change and kept with the version. An
admin's override, justified and audited, holds until the configuration changes; lowering a
high risk (or overriding any GPT a super admin reviews) is for super admins."""

from typing import Any

import pytest

from tests.governance.world import (
    ADMIN_A,
    CLEAN,
    Made,
    Owner,
    act,
    acted,
    audit,
    changed,
    patch,
    refused,
    state,
    versions,
)
from tests.rest.world import World

# (what differs from CLEAN, the rule, its risk points, its penalty, a word of its reason)
RULES = [
    ({"web_access": True}, "web_access", 2, 10, "web"),
    ({"is_public": True}, "public", 3, 10, "Public"),
    ({"access_level": "organization"}, "organization_access", 2, 5, "Organization"),
    ({"model": "gov-house-model"}, "unpriced_model", 1, 10, "price"),
    ({"model": "gpt-4o"}, "frontier_model", 1, 0, "Frontier"),
    ({"model": "claude-3-opus"}, "frontier_model", 1, 0, "Frontier"),
    ({"temperature": 1.5}, "high_temperature", 1, 5, "Temperature"),
    ({"prompt": "You look up an employee's salary."}, "personal_data", 4, 25, "personal"),
    ({"prompt": "You keep the home address of each client."}, "personal_data", 4, 25, "personal"),
    ({"prompt": "You explain diagnoses to patients."}, "personal_data", 4, 25, "personal"),
    ({"prompt": "You keep the team's API keys."}, "secrets", 4, 25, "secrets"),
    ({"prompt": "Reset PASSWORDS when asked."}, "secrets", 4, 25, "secrets"),
    ({"prompt": "Rotate the access tokens."}, "secrets", 4, 25, "secrets"),
    ({"prompt": None}, "no_prompt", 0, 15, "prompt"),
    ({"prompt": "   "}, "no_prompt", 0, 15, "prompt"),
    pytest.param(
        {"prompt": "\n\t"},
        "no_prompt",
        0,
        15,
        "prompt",
    ),
    ({"description": None}, "no_description", 0, 10, "description"),
    ({"description": ""}, "no_description", 0, 10, "description"),
    ({"category": None}, "no_category", 0, 5, "category"),
]
# Near misses: nothing applies.
CLEAN_TOO = [
    {"temperature": 1.2},
    {"model": "gpt-4o-mini"},
    {"prompt": "You explain passwordless sign-in."},
    {"prompt": "You share the secret of a good itinerary."},
    {"prompt": "You suggest which phone plan to take abroad."},
]


def level(points: int) -> str:
    return "high" if points >= 4 else "medium" if points >= 2 else "low"


@pytest.mark.parametrize(("config", "rule", "points", "penalty", "word"), RULES)
def test_each_rule_applies_with_its_reason(
    made: Made, owner: Owner, config: dict[str, Any], rule: str, points: int, penalty: int,
    word: str,
) -> None:  # fmt: skip
    row = made.posted("user_a", **config)
    [reason] = row["risk_reasons"]
    assert {k: reason[k] for k in ("rule", "risk_points", "compliance_penalty")} == {
        "rule": rule, "risk_points": points, "compliance_penalty": penalty,
    }  # fmt: skip
    assert word.lower() in reason["reason"].lower()
    assert (row["risk_level"], row["compliance_score"]) == (level(points), 100 - penalty)
    [v1] = versions(owner, row["id"])
    assert (v1["risk_level"], v1["compliance_score"], v1["risk_reasons"]) == (
        row["risk_level"], row["compliance_score"], row["risk_reasons"],
    )  # fmt: skip


@pytest.mark.parametrize("config", CLEAN_TOO)
def test_near_misses_score_clean(made: Made, config: dict[str, Any]) -> None:
    row = made.posted("user_a", **config)
    assert (row["risk_reasons"], row["risk_level"], row["compliance_score"]) == ([], "low", 100)


@pytest.mark.parametrize(
    ("config", "rules", "risk", "compliance"),
    [
        ({"web_access": True, "model": "gpt-4o"}, ["frontier_model", "web_access"], "medium", 90),
        (
            {"web_access": True, "model": "gpt-4o", "temperature": 1.5},
            ["frontier_model", "high_temperature", "web_access"], "high", 85,
        ),
        ({"is_public": True, "access_level": "organization"}, ["organization_access", "public"],
         "high", 85),
        (
            {"web_access": True, "is_public": True, "access_level": "organization",
             "model": "gov-house-model", "temperature": 1.9, "description": None, "category": None,
             "prompt": "You file salaries and passwords."},
            ["high_temperature", "no_category", "no_description", "organization_access",
             "personal_data", "public", "secrets", "unpriced_model", "web_access"], "high", 0,
        ),
    ],
)  # fmt: skip
def test_points_add_up_to_the_level_and_penalties_to_the_score(
    made: Made, config: dict[str, Any], rules: list[str], risk: str, compliance: int
) -> None:
    row = made.posted("user_a", **config)
    assert [r["rule"] for r in row["risk_reasons"]] == rules  # in rule order
    assert (row["risk_level"], row["compliance_score"]) == (risk, compliance)
    expected = "super_admin" if risk == "high" or "public" in rules else "team_admin"
    assert row["reviewer"] == expected


def test_scores_are_recomputed_on_every_change(org: World, made: Made, owner: Owner) -> None:
    gpt = made.posted("user_a")["id"]
    risky = changed(org, "user_a", gpt, prompt="You keep the passwords of the team.")
    assert [r["rule"] for r in risky["risk_reasons"]] == ["secrets"]
    assert (risky["risk_level"], risky["compliance_score"], risky["reviewer"]) == (
        "high", 75, "super_admin",
    )  # fmt: skip
    calm = changed(org, "user_a", gpt, prompt=CLEAN["prompt"], category=None)
    assert [r["rule"] for r in calm["risk_reasons"]] == ["no_category"]
    assert (calm["risk_level"], calm["compliance_score"], calm["reviewer"]) == (
        "low", 95, "team_admin",
    )  # fmt: skip
    scored = [(v["version"], v["risk_level"], v["compliance_score"]) for v in versions(owner, gpt)]
    assert scored == [(1, "low", 100), (2, "high", 75), (3, "low", 95)]


# ---------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------

OVERRIDE = {"risk_level": "medium", "compliance_score": 60, "justification": "Sends data abroad"}


def test_an_override_is_justified_audited_and_holds_until_the_configuration_changes(
    org: World, made: Made, owner: Owner
) -> None:
    gpt = made.gpt(approval="approved")
    overridden = acted(org, "admin_a", gpt, "risk-override", **OVERRIDE)
    assert (overridden["risk_level"], overridden["compliance_score"]) == ("medium", 60)
    assert overridden["risk_reasons"] == []  # the computed reasons stay what they are
    held = overridden["risk_override"]
    assert {k: held[k] for k in ("risk_level", "compliance_score", "justification", "by")} == {
        **OVERRIDE, "by": ADMIN_A,
    }  # fmt: skip
    assert held["computed"] == {"risk_level": "low", "compliance_score": 100}
    assert overridden["approval_status"] == "approved"  # an override is no new version
    assert len(versions(owner, gpt)) == 1
    assert (versions(owner, gpt)[0]["risk_level"], versions(owner, gpt)[0]["compliance_score"]) == (
        "medium", 60,
    )  # fmt: skip
    record = audit(owner, gpt)[-1]
    assert (record["action"], record["user_id"]) == ("gpt.risk_overridden", ADMIN_A)
    assert record["details"]["justification"] == OVERRIDE["justification"]
    assert record["details"]["before"] == {"risk_level": "low", "compliance_score": 100}
    assert record["details"]["after"] == {"risk_level": "medium", "compliance_score": 60}

    # not configuration: the override holds
    assert patch(org, "user_a", gpt, tags=["abroad"]).status_code == 200
    assert state(owner, gpt)["risk_override"] == held
    # configuration: the override judged the old one, so it goes
    renamed = changed(org, "user_a", gpt, name="Trips abroad")
    assert (renamed["risk_level"], renamed["compliance_score"], renamed["risk_override"]) == (
        "low", 100, None,
    )  # fmt: skip


def test_both_null_clears_the_override(org: World, made: Made, owner: Owner) -> None:
    gpt = made.gpt(approval="approved")
    acted(org, "admin_a", gpt, "risk-override", **OVERRIDE)
    cleared = acted(org, "admin_a", gpt, "risk-override", justification="Data stays home now")
    assert (cleared["risk_level"], cleared["compliance_score"], cleared["risk_override"]) == (
        "low", 100, None,
    )  # fmt: skip
    record = audit(owner, gpt)[-1]
    assert (record["action"], record["details"]["justification"]) == (
        "gpt.risk_override_cleared", "Data stays home now",
    )  # fmt: skip
    assert record["details"]["before"] == {"risk_level": "medium", "compliance_score": 60}
    assert record["details"]["after"] == {"risk_level": "low", "compliance_score": 100}


@pytest.mark.parametrize("approval", ["approved", "pending"])
def test_a_team_admin_may_not_lower_a_high_risk(
    org: World, made: Made, owner: Owner, approval: str
) -> None:
    gpt = made.gpt(approval=approval, prompt="You reset colleagues' passwords.")
    before = state(owner, gpt)
    assert (before["risk_level"], before["reviewer"]) == ("high", "super_admin")
    low = {"risk_level": "low", "compliance_score": 95, "justification": "Only test accounts"}

    refused(act(org, "admin_a", gpt, "risk-override", **low), 403, "super_admin_required")
    assert state(owner, gpt) == before
    record = audit(owner, gpt)[-1]
    assert (record["action"], record["user_id"], record["details"]["code"]) == (
        "gpt.override_risk_refused", ADMIN_A, "super_admin_required",
    )  # fmt: skip

    lowered = acted(org, "super_admin", gpt, "risk-override", **low)
    assert (lowered["risk_level"], lowered["compliance_score"], lowered["reviewer"]) == (
        "low", 95, "team_admin",
    )  # fmt: skip


def test_a_super_admins_lowering_lets_the_team_review(org: World, made: Made) -> None:
    """Once a super admin judged a high risk lower, the pending version is the team's."""
    gpt = made.gpt(prompt="You reset colleagues' passwords.")
    refused(act(org, "admin_a", gpt, "approve"), 403, "super_admin_required")
    acted(org, "super_admin", gpt, "risk-override", risk_level="medium", compliance_score=80,
          justification="Test accounts only")  # fmt: skip
    assert acted(org, "admin_a", gpt, "approve")["approval_status"] == "approved"


def test_a_high_override_is_for_super_admins_to_lift(org: World, made: Made, owner: Owner) -> None:
    """A team admin may raise a team GPT's risk to high; it is then a super admin's to review,
    so lifting the override is theirs too."""
    gpt = made.gpt(approval="approved")
    raised = acted(org, "admin_a", gpt, "risk-override", risk_level="high", compliance_score=40,
                   justification="Spreads rumours")  # fmt: skip
    assert (raised["risk_level"], raised["reviewer"], raised["approval_status"]) == (
        "high", "super_admin", "approved",
    )  # fmt: skip
    lift = {"justification": "It was a joke"}
    refused(act(org, "admin_a", gpt, "risk-override", **lift), 403, "super_admin_required")
    assert acted(org, "super_admin", gpt, "risk-override", **lift)["risk_level"] == "low"
