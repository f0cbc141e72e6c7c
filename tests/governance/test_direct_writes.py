"""What request roles may not write directly: the review (approval_status), the scores, the
versions, publication and suspension belong to the governance functions. A PATCH of any of
them — by the creator or the team's admin — is 403 (42501) and changes nothing; a new GPT is
pending whatever its creator says. Trusted writers (service_role) may still set
approval_status, which approves the current version. gpt_versions takes no direct writes."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import Client

from tests.governance.world import (
    Made,
    Owner,
    everything,
    patch,
    state,
    versions,
)
from tests.rest.world import World

FORBIDDEN: list[tuple[str, Any]] = [
    ("approval_status", "approved"),
    ("approval_status", "rejected"),
    ("risk_level", "high"),
    ("compliance_score", 100),
    ("version", 5),
    ("approved_version", 1),
    ("published", True),
    ("risk_reasons", []),
    ("risk_override", {"risk_level": "low", "compliance_score": 100, "justification": "mine"}),
    ("reviewer", "super_admin"),
    ("monthly_cost", 0.5),
    ("usage_count", 3),
    ("status", "suspended"),
]


@pytest.mark.parametrize("actor", ["user_a", "admin_a"])
@pytest.mark.parametrize(("column", "value"), FORBIDDEN)
def test_a_request_role_may_not_write_the_review_or_the_scores(
    org: World, owner: Owner, made: Made, actor: str, column: str, value: Any
) -> None:
    """On a pending GPT of user_a's with no description (its score is 90, not 100)."""
    gpt = made.gpt(description=None)
    before = everything(owner, gpt)
    answer = patch(org, actor, gpt, **{column: value})
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "42501"
    assert everything(owner, gpt) == before


@pytest.mark.parametrize("actor", ["user_a", "admin_a"])
def test_nothing_of_a_change_goes_through_with_a_forbidden_column(
    org: World, owner: Owner, made: Made, clients: Callable[[str], Client], actor: str
) -> None:
    gpt = made.gpt()
    before = everything(owner, gpt)
    with pytest.raises(APIError) as caught:
        clients(actor).table("gpts").update(
            {"name": "Renamed", "prompt": "New", "approval_status": "approved"}
        ).eq("id", gpt).execute()
    assert caught.value.code == "42501"
    assert everything(owner, gpt) == before


@pytest.mark.parametrize("actor", ["user_a", "admin_a"])
@pytest.mark.parametrize("status", ["active", "inactive"])
def test_a_suspended_gpt_is_not_reinstated_by_writing_its_status(
    org: World, owner: Owner, made: Made, actor: str, status: str
) -> None:
    gpt = made.gpt(approval="approved", status="suspended")
    before = everything(owner, gpt)
    answer = patch(org, actor, gpt, status=status)
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "42501"
    assert everything(owner, gpt) == before


def test_other_status_changes_are_the_creators(org: World, owner: Owner, made: Made) -> None:
    """Deactivating is not suspending: the creator may, and it makes no version."""
    gpt = made.gpt(approval="approved")
    answer = patch(org, "user_a", gpt, status="inactive")
    assert answer.status_code == 200, answer.text
    assert (state(owner, gpt)["status"], len(versions(owner, gpt))) == ("inactive", 1)


def test_a_new_gpt_is_pending_whatever_its_creator_says(made: Made, owner: Owner) -> None:
    row = made.posted(
        "admin_a",
        approval_status="approved",
        risk_level="low",
        compliance_score=100,
        status="suspended",
        version=7,
        approved_version=7,
        published=True,
        risk_override={"risk_level": "low", "compliance_score": 100, "justification": "mine"},
        reviewer="team_admin",
        web_access=True,
        usage_count=99,
        monthly_cost=12.5,
    )
    assert state(owner, row["id"]) | {"id": None, "name": None} == {
        "id": None, "name": None, "status": "active", "approval_status": "pending",
        "version": 1, "approved_version": None, "published": False, "risk_level": "medium",
        "compliance_score": 90, "risk_reasons": row["risk_reasons"], "risk_override": None,
        "reviewer": "team_admin",
    }  # fmt: skip
    assert [r["rule"] for r in row["risk_reasons"]] == ["web_access"]
    assert (row["usage_count"], row["monthly_cost"]) == (0, 0)
    [v1] = versions(owner, row["id"])
    assert (v1["status"], v1["ever_approved"], v1["risk_level"]) == ("pending", False, "medium")


def test_the_service_role_approves_by_writing_approval_status(
    org: World, owner: Owner, made: Made
) -> None:
    """A trusted writer (seeding, imports) approves the current version."""
    gpt = made.gpt()
    answer = patch(org, "service_role", gpt, approval_status="approved")
    assert answer.status_code == 200, answer.text
    now = state(owner, gpt)
    assert (now["approval_status"], now["version"], now["approved_version"]) == ("approved", 1, 1)
    [v1] = versions(owner, gpt)
    assert (v1["status"], v1["ever_approved"]) == ("approved", True)


def test_the_service_role_may_write_status(org: World, owner: Owner, made: Made) -> None:
    gpt = made.gpt(approval="approved")
    assert patch(org, "service_role", gpt, status="suspended").status_code == 200
    assert state(owner, gpt)["status"] == "suspended"
    assert patch(org, "service_role", gpt, status="active").status_code == 200
    assert state(owner, gpt)["status"] == "active"


@pytest.mark.parametrize("actor", ["user_a", "admin_a", "super_admin", "service_role"])
def test_versions_take_no_direct_writes(org: World, owner: Owner, made: Made, actor: str) -> None:
    gpt = made.gpt()
    before = everything(owner, gpt)
    url = f"{org.server.url}/rest/v1/gpt_versions"
    headers = org.headers(actor)
    [v1] = before.versions
    new = {key: v1[key] for key in ("name", "model", "temperature", "max_tokens", "web_access",
                                     "is_public", "access_level", "risk_level", "compliance_score",
                                     "reviewer")}  # fmt: skip
    attempts = [
        httpx.post(
            url, headers=headers, json={**new, "gpt_id": gpt, "version": 2, "status": "approved"}
        ),
        httpx.patch(
            url, params={"gpt_id": f"eq.{gpt}"}, headers=headers, json={"status": "approved"}
        ),
        httpx.delete(url, params={"gpt_id": f"eq.{gpt}"}, headers=headers),
    ]
    for answer in attempts:
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "42501"
    assert everything(owner, gpt) == before


def test_the_anonymous_role_sees_no_versions(org: World, made: Made) -> None:
    made.gpt(approval="approved", is_public=True)
    answer = httpx.get(f"{org.server.url}/rest/v1/gpt_versions", headers=org.headers("anon"))
    assert answer.status_code == 401, answer.text


def test_a_request_role_update_without_governance_columns_keeps_them(
    org: World, owner: Owner, made: Made
) -> None:
    """tags and settings are not configuration: no version, nothing reviewed."""
    gpt = made.gpt(approval="approved")
    before = state(owner, gpt)
    answer = patch(org, "user_a", gpt, tags=["travel"], settings={"colour": "blue"})
    assert answer.status_code == 200, answer.text
    assert state(owner, gpt) == before
    assert len(versions(owner, gpt)) == 1
