"""Nobody but a super admin approves a version they made: the admin who created a GPT, or who
changed what a version says, is refused with 403 own_gpt on both surfaces, and the attempt is
in the audit trail (gpt.approve_refused, by them) although its transaction rolled back.
Another admin of the team may approve it; a super admin may approve their own."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from supabase import Client

from tests.governance.world import (
    ADMIN_A,
    ADMIN_A2,
    SUPER,
    Made,
    Owner,
    acted,
    changed,
    everything,
    through_api,
    through_rpc,
    versions,
)
from tests.rest.world import TEAM_A, World

OWN = "You made changes in this version: another admin must approve it"


def attempt(
    org: World, clients: Callable[[str], Client], surface: str, actor: str, gpt: str
) -> tuple[int, str | None]:
    body: dict[str, Any] = {"comment": "Mine, and fine"}
    if surface == "api":
        outcome = through_api(org, actor, gpt, "approve", body)
    else:
        outcome = through_rpc(clients(actor), gpt, "approve", body)
    return outcome.status, outcome.code


def refusal_rows(owner: Owner, gpt: str) -> list[dict[str, Any]]:
    return [r for r in everything(owner, gpt).audit if r["action"] == "gpt.approve_refused"]


@pytest.mark.parametrize("surface", ["api", "rpc"])
def test_an_admin_may_not_approve_the_gpt_they_made(
    org: World, owner: Owner, made: Made, clients: Callable[[str], Client], surface: str
) -> None:
    gpt = made.posted("admin_a")["id"]
    assert versions(owner, gpt)[0]["created_by"] == ADMIN_A
    before = everything(owner, gpt)

    assert attempt(org, clients, surface, "admin_a", gpt) == (403, "own_gpt")

    after = everything(owner, gpt)
    assert (after.row, after.versions) == (before.row, before.versions)
    [refusal] = after.audit[len(before.audit) :]
    assert refusal["action"] == "gpt.approve_refused"
    assert (refusal["user_id"], refusal["team_id"], refusal["resource_type"]) == (
        ADMIN_A, TEAM_A, "gpt",
    )  # fmt: skip
    assert refusal["details"]["code"] == "own_gpt"
    assert refusal["details"]["actor_id"] == ADMIN_A
    assert refusal["details"]["message"].startswith(OWN)
    assert refusal["ip_address"] == "127.0.0.1"

    # another admin of the team may
    assert attempt(org, clients, surface, "admin_a2", gpt) == (200, None)
    [v1] = versions(owner, gpt)
    assert (v1["status"], v1["reviewed_by"]) == ("approved", ADMIN_A2)


@pytest.mark.parametrize("surface", ["api", "rpc"])
def test_an_admin_may_not_approve_a_change_they_made_to_someone_elses_gpt(
    org: World, owner: Owner, made: Made, clients: Callable[[str], Client], surface: str
) -> None:
    gpt = made.gpt(approval="approved")  # user_a's
    changed(org, "admin_a", gpt, prompt="You plan trips and always pick the dearest hotel.")
    assert versions(owner, gpt)[-1]["created_by"] == ADMIN_A

    assert attempt(org, clients, surface, "admin_a", gpt) == (403, "own_gpt")
    assert len(refusal_rows(owner, gpt)) == 1
    assert attempt(org, clients, surface, "admin_a2", gpt) == (200, None)


def test_an_admin_may_not_approve_their_change_hidden_under_a_later_edit(
    org: World, owner: Owner, made: Made, clients: Callable[[str], Client]
) -> None:
    """Four eyes over every change since the last approval, not only the newest version."""
    gpt = made.gpt(approval="approved")  # user_a's
    changed(org, "admin_a", gpt, prompt="You plan trips and always pick the dearest hotel.")
    changed(org, "user_a", gpt, description="Plans trips")
    assert versions(owner, gpt)[-1]["created_by"] != ADMIN_A
    assert attempt(org, clients, "api", "admin_a", gpt) == (403, "own_gpt")
    assert attempt(org, clients, "rpc", "admin_a2", gpt) == (200, None)


def test_every_refused_attempt_is_recorded(
    org: World, owner: Owner, made: Made, clients: Callable[[str], Client]
) -> None:
    """Two tries through each surface: four rows, in order, nothing else changed."""
    gpt = made.posted("admin_a")["id"]
    before = everything(owner, gpt)
    for surface in ("api", "rpc", "api", "rpc"):
        assert attempt(org, clients, surface, "admin_a", gpt) == (403, "own_gpt")
    after = everything(owner, gpt)
    assert (after.row, after.versions) == (before.row, before.versions)
    added = after.audit[len(before.audit) :]
    assert [(r["action"], r["details"]["code"]) for r in added] == [
        ("gpt.approve_refused", "own_gpt")
    ] * 4


@pytest.mark.parametrize("actor", ["admin_a", "admin_a2"])
def test_a_transition_through_get_is_read_only(
    org: World, owner: Owner, made: Made, actor: str
) -> None:
    """GET /rpc runs in a read-only transaction: not even an allowed approval goes through."""
    gpt = made.posted("admin_a")["id"]
    before = everything(owner, gpt)
    answer = httpx.get(
        f"{org.server.url}/rest/v1/rpc/approve_gpt",
        params={"gpt_id": gpt, "comment": "Mine"},
        headers=org.headers(actor),
    )
    assert answer.status_code == 405, answer.text
    assert answer.json()["code"] == "25006"
    assert everything(owner, gpt) == before


def test_a_super_admin_may_approve_their_own_gpt(org: World, owner: Owner, made: Made) -> None:
    gpt = made.posted("super_admin", is_public=True)["id"]
    assert versions(owner, gpt)[0]["created_by"] == SUPER
    assert acted(org, "super_admin", gpt, "approve")["approval_status"] == "approved"


def test_the_api_refusal_message_is_the_functions_message(
    org: World, owner: Owner, made: Made
) -> None:
    gpt = made.posted("admin_a")["id"]
    answer = through_api(org, "admin_a", gpt, "approve", {})
    assert answer.code == "own_gpt"
    message = httpx.post(
        f"{org.server.url}/api/v1/gpts/{gpt}/approve", headers=org.headers("admin_a"), json={}
    ).json()["error"]["message"]
    assert message == OWN
    assert {r["details"]["message"] for r in refusal_rows(owner, gpt)} == {OWN}


def test_nobody_records_a_refusal_for_a_gpt_they_cannot_see(
    org: World, owner: Owner, made: Made
) -> None:
    gpt = made.gpt(approval="approved")  # team A's, private
    before = everything(owner, gpt)
    answer = httpx.post(
        f"{org.server.url}/rest/v1/rpc/record_gpt_refusal",
        headers=org.headers("user_b"),
        json={"gpt_id": gpt, "action": "approve", "code": "own_gpt", "message": "Forged"},
    )
    assert answer.status_code in (403, 404), answer.text
    assert everything(owner, gpt) == before
