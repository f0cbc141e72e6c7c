"""Transitions from the wrong state (approving what is approved, reinstating what is active,
rolling back to a version that never was approved or does not exist) and without what they
require (a comment, a reason, a justification): 409, 404 or 400 with the stable code, on
both surfaces, and nothing changed or audited. Then /api/v1's own checks of its input."""

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from supabase import Client

from tests.governance.world import (
    FUNCTIONS,
    Made,
    Owner,
    act,
    changed,
    everything,
    owner_update,
    refused,
    through_api,
    through_rpc,
)
from tests.rest.world import World


def arranged(org: World, made: Made, setup: str) -> str:
    """A team GPT of user_a's in the named state."""
    if setup in ("pending", "approved", "rejected"):
        return made.gpt(approval=setup)
    if setup == "suspended":
        return made.gpt(approval="approved", status="suspended")
    gpt = made.gpt(approval="approved")
    changed(org, "user_a", gpt, prompt="You plan trips, briefly.")  # version 2, pending
    if setup == "v2_rejected":
        owner_update(made.owner, gpt, approval_status="rejected")
    elif setup == "v2_approved":
        owner_update(made.owner, gpt, approval_status="approved")
    return gpt


JUSTIFIED = {"justification": "Checked by hand"}
CASES = [
    # (state, action, body, status, code)
    ("approved", "approve", {}, 409, "not_pending"),
    ("rejected", "approve", {}, 409, "not_pending"),
    ("approved", "reject", {"comment": "No"}, 409, "not_pending"),
    ("rejected", "reject", {"comment": "No"}, 409, "not_pending"),
    ("suspended", "suspend", {"reason": "Again"}, 409, "already_suspended"),
    ("approved", "reinstate", {}, 409, "not_suspended"),
    ("pending", "reinstate", {}, 409, "not_suspended"),
    ("approved", "rollback", {"version": 9}, 404, "version_not_found"),
    ("approved", "rollback", {"version": 0}, 404, "version_not_found"),
    ("v2_pending", "rollback", {"version": 2}, 409, "version_never_approved"),
    ("v2_rejected", "rollback", {"version": 2}, 409, "version_never_approved"),
    ("pending", "rollback", {"version": 1}, 409, "version_never_approved"),
    ("approved", "rollback", {"version": 1}, 409, "already_current"),
    ("v2_approved", "rollback", {"version": 2}, 409, "already_current"),
    ("pending", "reject", {}, 400, "comment_required"),
    ("pending", "reject", {"comment": "   "}, 400, "comment_required"),
    pytest.param(
        "pending", "reject", {"comment": "\t\n"}, 400, "comment_required",
    ),
    ("approved", "suspend", {}, 400, "reason_required"),
    ("approved", "suspend", {"reason": " "}, 400, "reason_required"),
    pytest.param(
        "approved", "suspend", {"reason": "\n"}, 400, "reason_required",
    ),
    ("approved", "risk-override", {"risk_level": "low", "compliance_score": 90}, 400,
     "justification_required"),
    ("approved", "risk-override", {"risk_level": "low", "compliance_score": 90,
                                   "justification": " "}, 400, "justification_required"),
    pytest.param(
        "approved", "risk-override", {"risk_level": "low", "compliance_score": 90,
                                      "justification": "\t"}, 400, "justification_required",
    ),
    ("approved", "risk-override", {"risk_level": "low", **JUSTIFIED}, 400, "invalid_override"),
    ("approved", "risk-override", {"compliance_score": 50, **JUSTIFIED}, 400, "invalid_override"),
    ("approved", "risk-override", {"risk_level": "low", "compliance_score": 101, **JUSTIFIED},
     400, "invalid_override"),
    ("approved", "risk-override", {"risk_level": "low", "compliance_score": -1, **JUSTIFIED},
     400, "invalid_override"),
]  # fmt: skip


@pytest.mark.parametrize("surface", ["api", "rpc"])
@pytest.mark.parametrize(("setup", "action", "body", "status", "code"), CASES)
def test_a_transition_from_the_wrong_state_changes_nothing(
    org: World,
    owner: Owner,
    made: Made,
    clients: Callable[[str], Client],
    surface: str,
    setup: str,
    action: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    """Asked by the super admin, who may make every transition: only the state refuses."""
    gpt = arranged(org, made, setup)
    before = everything(owner, gpt)
    if surface == "api":
        outcome = through_api(org, "super_admin", gpt, action, body)
    else:
        outcome = through_rpc(clients("super_admin"), gpt, action, body)
    assert (outcome.status, outcome.code) == (status, code), outcome
    assert everything(owner, gpt) == before  # no audit row either: only 403s are recorded


@pytest.mark.parametrize("surface", ["api", "rpc"])
@pytest.mark.parametrize("action", list(FUNCTIONS))
@pytest.mark.parametrize("actor", ["admin_a", "super_admin", "service_role"])
def test_an_unknown_gpt_is_404(
    org: World, clients: Callable[[str], Client], surface: str, action: str, actor: str
) -> None:
    body = {"version": 1, "reason": "r", "comment": "c", **JUSTIFIED}
    body = {k: v for k, v in body.items() if k in _fields(action)}
    nobody = str(uuid.uuid4())
    if surface == "api":
        outcome = through_api(org, actor, nobody, action, body)
    else:
        outcome = through_rpc(clients(actor), nobody, action, body)
    assert (outcome.status, outcome.code) == (404, "gpt_not_found")


def _fields(action: str) -> tuple[str, ...]:
    return {
        "approve": ("comment",),
        "reject": ("comment",),
        "suspend": ("reason",),
        "reinstate": ("comment",),
        "rollback": ("version", "comment"),
        "risk-override": ("risk_level", "compliance_score", "justification"),
    }[action]


# ---------------------------------------------------------------------------------------
# /api/v1's input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body", "status", "code"),
    [
        ("publish", {}, 404, "unknown_action"),
        ("approve", {"comment": "ok", "version": 1}, 400, "invalid_request"),
        ("approve", {"comment": 7}, 400, "invalid_request"),
        ("approve", {"comment": "x" * 5001}, 400, "invalid_request"),
        ("rollback", {}, 400, "invalid_request"),
        ("rollback", {"version": "1"}, 400, "invalid_request"),
        ("rollback", {"version": True}, 400, "invalid_request"),
        ("risk-override", {"risk_level": "severe", "compliance_score": 5, **JUSTIFIED}, 400,
         "invalid_request"),
        ("risk-override", {"risk_level": "low", "compliance_score": 5.5, **JUSTIFIED}, 400,
         "invalid_request"),
    ],
)  # fmt: skip
def test_the_api_checks_its_input(
    org: World, owner: Owner, made: Made, action: str, body: dict[str, Any], status: int, code: str
) -> None:
    gpt = made.gpt()
    before = everything(owner, gpt)
    refused(act(org, "super_admin", gpt, action, **body), status, code)
    assert everything(owner, gpt) == before


def test_the_api_refuses_what_is_not_json_or_not_signed_in(
    org: World, owner: Owner, made: Made
) -> None:
    gpt = made.gpt()
    before = everything(owner, gpt)
    url = f"{org.server.url}/api/v1/gpts/{gpt}/approve"
    refused(httpx.post(url, headers=org.headers("admin_a"), content=b"{"), 400, "invalid_json")
    refused(httpx.post(url, headers=org.headers("admin_a"), json=[1]), 400, "invalid_json")
    assert httpx.post(url, json={}).status_code == 401  # no project key: the gateway's 401
    refused(httpx.post(url, headers=org.headers("anon"), json={}), 401, "not_authenticated")
    refused(act(org, "admin_a", "not-a-uuid", "approve"), 404, "gpt_not_found")
    review = httpx.get(f"{org.server.url}/api/v1/gpts/{gpt}/review", headers=org.headers("anon"))
    refused(review, 401, "not_authenticated")
    assert everything(owner, gpt) == before


def test_the_anonymous_role_may_not_call_the_functions(
    org: World, owner: Owner, made: Made, clients: Callable[[str], Client]
) -> None:
    gpt = made.gpt()
    before = everything(owner, gpt)
    for action, function in FUNCTIONS.items():
        answer = httpx.post(
            f"{org.server.url}/rest/v1/rpc/{function}",
            headers=org.headers("anon"),
            json={"gpt_id": gpt, **{name: None for name in _fields(action)}},
        )
        assert answer.status_code == 401, answer.text
        assert answer.json()["code"] == "42501"
    assert everything(owner, gpt) == before
