"""Every governance transition and who may make it, through /api/v1 and through supabase-py's
/rest/v1/rpc: a matrix of actors by actions by kinds of GPT, with the state before and after
and the audit row a success writes; a refusal changes nothing but the audit trail (a 403 is
recorded as `gpt.<action>_refused`, a 404 not at all, so as not to tell a GPT exists)."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from supabase import Client

from tests.governance.world import (
    ACTOR_IDS,
    KINDS,
    REFUSED_AS,
    Made,
    Outcome,
    Owner,
    changed,
    everything,
    owner_update,
    state,
    state_of,
    through_api,
    through_rpc,
    versions,
)
from tests.rest.world import World

ACTORS = ("user_a", "admin_a", "user_b", "admin_b", "super_admin", "service_role")
ACTIONS = ("approve", "reject", "suspend", "reinstate", "rollback", "risk-override")
DONE = {
    "approve": "gpt.approved",
    "reject": "gpt.rejected",
    "suspend": "gpt.suspended",
    "reinstate": "gpt.reinstated",
    "rollback": "gpt.rolled_back",
    "risk-override": "gpt.risk_overridden",
}
OVERRIDE = {"risk_level": "medium", "compliance_score": 70, "justification": "Checked by hand"}


@dataclass(frozen=True)
class Arranged:
    """A GPT in the state an action starts from, the action's body, and what it needs."""

    gpt: str
    body: dict[str, Any]
    reviewer: str  # the level the action needs: team_admin | super_admin
    published: bool  # whether other teams see the GPT


def arrange(org: World, made: Made, kind: str, action: str) -> Arranged:
    """A GPT of `kind` (team, public, high_risk) in the state `action` applies to."""
    config = KINDS[kind]
    senior = "team_admin" if kind == "team" else "super_admin"
    if action in ("approve", "reject"):
        body = {"comment": "Looks right"} if action == "approve" else {"comment": "Not yet"}
        needs = senior if action == "approve" else "team_admin"  # any team admin may reject
        return Arranged(made.gpt(**config), body, needs, False)
    published = kind == "public"
    if action == "suspend":
        gpt = made.gpt(approval="approved", **config)
        return Arranged(gpt, {"reason": "Complaints"}, "team_admin", published)
    if action == "reinstate":
        gpt = made.gpt(approval="approved", status="suspended", **config)
        return Arranged(gpt, {"comment": "Fixed"}, senior, published)
    if action == "rollback":
        gpt = made.gpt(approval="approved", **config)
        prompt = config.get("prompt", "You help colleagues plan business trips.")
        changed(org, "user_a", gpt, prompt=prompt + " Be brief.")  # version 2, pending
        owner_update(made.owner, gpt, approval_status="approved")  # …approved
        return Arranged(gpt, {"version": 1, "comment": "Back to 1"}, senior, published)
    gpt = made.gpt(approval="approved", **config)
    return Arranged(gpt, OVERRIDE, senior, published)


def expected_outcome(arranged: Arranged, actor: str) -> tuple[int, str | None]:
    """Who may: super admins and the service role always; the team's admins at their level;
    nobody else (404 for whoever does not see the GPT)."""
    if actor in ("super_admin", "service_role"):
        return 200, None
    if actor in ("user_b", "admin_b"):
        return (403, "not_a_reviewer") if arranged.published else (404, "gpt_not_found")
    if actor == "user_a":
        return 403, "not_a_reviewer"
    if arranged.reviewer == "super_admin":
        return 403, "super_admin_required"
    return 200, None


def expected_state(before: dict[str, Any], action: str, kind: str) -> dict[str, Any]:
    """The state after a successful `action` (risk_override compared apart)."""
    after = dict(before)
    if action == "approve":
        after.update(approval_status="approved", approved_version=before["version"])
        after["published"] = kind == "public"
    elif action == "reject":
        after["approval_status"] = "rejected"
    elif action == "suspend":
        after["status"] = "suspended"
    elif action == "reinstate":
        after["status"] = "active"
    elif action == "rollback":
        after.update(version=before["version"] + 1, approved_version=before["version"] + 1)
    else:
        after.update(risk_level="medium", compliance_score=70)
        after["reviewer"] = "super_admin" if kind == "public" else "team_admin"
    return after


def call(
    org: World, clients: Callable[[str], Client], surface: str, actor: str, a: Arranged, action: str
) -> Outcome:
    if surface == "api":
        return through_api(org, actor, a.gpt, action, a.body)
    return through_rpc(clients(actor), a.gpt, action, a.body)


@pytest.mark.parametrize("surface", ["api", "rpc"])
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("actor", ACTORS)
def test_who_may_make_each_transition(
    org: World,
    owner: Owner,
    made: Made,
    clients: Callable[[str], Client],
    surface: str,
    kind: str,
    action: str,
    actor: str,
) -> None:
    arranged = arrange(org, made, kind, action)
    before = everything(owner, arranged.gpt)
    status, code = expected_outcome(arranged, actor)

    outcome = call(org, clients, surface, actor, arranged, action)

    assert (outcome.status, outcome.code) == (status, code), outcome
    after = everything(owner, arranged.gpt)
    added = after.audit[len(before.audit) :]
    assert after.audit[: len(before.audit)] == before.audit
    if status != 200:
        assert (after.row, after.versions) == (before.row, before.versions)
        if status == 404:
            assert added == []
        else:
            [refusal] = added
            assert refusal["action"] == f"gpt.{REFUSED_AS[action]}_refused"
            assert (refusal["user_id"], refusal["team_id"]) == (
                ACTOR_IDS[actor],
                after.row["team_id"],
            )
            assert refusal["details"]["code"] == code
        return

    now = state(owner, arranged.gpt)
    assert outcome.state == now
    wanted = expected_state(state_of(before.row), action, kind)
    assert {k: v for k, v in now.items() if k != "risk_override"} == {
        k: v for k, v in wanted.items() if k != "risk_override"
    }
    [done] = added
    assert done["action"] == DONE[action]
    assert (done["user_id"], done["team_id"]) == (ACTOR_IDS[actor], after.row["team_id"])
    assert "before" in done["details"] and "after" in done["details"]
    if action == "risk-override":
        assert now["risk_override"]["justification"] == OVERRIDE["justification"]
        assert now["risk_override"]["by"] == ACTOR_IDS[actor]
    if action in ("approve", "reject"):
        current = versions(owner, arranged.gpt)[-1]
        assert current["status"] == wanted["approval_status"]
        assert (current["reviewed_by"], current["review_comment"]) == (
            ACTOR_IDS[actor], arranged.body["comment"],
        )  # fmt: skip
    if action == "rollback":
        newest = versions(owner, arranged.gpt)[-1]
        assert (newest["version"], newest["rollback_of"], newest["status"]) == (3, 1, "approved")
        assert newest["prompt"] == versions(owner, arranged.gpt)[0]["prompt"]


@pytest.fixture
def aal2_required(owner: Owner) -> Iterator[None]:
    """Admin powers wait for aal2 (0010's policy) while the test runs."""
    owner.query("update public.security_settings set admin_requires_aal2 = true")
    try:
        yield
    finally:
        owner.query("update public.security_settings set admin_requires_aal2 = false")


@pytest.mark.usefixtures("aal2_required")
@pytest.mark.parametrize("surface", ["api", "rpc"])
def test_an_admin_whose_powers_wait_for_aal2_reviews_nothing(
    org: World, owner: Owner, made: Made, clients: Callable[[str], Client], surface: str
) -> None:
    """admin_a2 signed in with a password only (aal1) is, for now, a plain user."""
    gpt = made.gpt()
    before = everything(owner, gpt)
    body = {"comment": "Fine"}
    if surface == "api":
        outcome = through_api(org, "admin_a2", gpt, "approve", body)
    else:
        outcome = through_rpc(clients("admin_a2"), gpt, "approve", body)
    assert (outcome.status, outcome.code) == (403, "not_a_reviewer")
    assert everything(owner, gpt).row == before.row
    # the super admin's session is aal2: their powers hold
    assert through_api(org, "super_admin", gpt, "approve", body).status == 200
