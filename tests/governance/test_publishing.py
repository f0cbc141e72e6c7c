"""Publishing: other teams see a GPT only once a version that exposes it (public, or
organization access) is approved — by a super admin. A pending change that would publish a
team GPT shows it, its versions and its review to nobody new; approval does."""

from typing import Any

import httpx
import pytest

from tests.governance.conftest import Models
from tests.governance.world import (
    USER_B,
    Made,
    Owner,
    act,
    acted,
    answered_with,
    ask,
    changed,
    refused,
    state,
)
from tests.llm.fake_openai import FakeUpstream
from tests.rest.world import World


def seen_by(org: World, actor: str, gpt: str) -> dict[str, Any]:
    """What `actor` sees of the GPT: its row, its versions, its review, the OpenAI models."""
    url, headers = org.server.url, org.headers(actor)
    rows = httpx.get(f"{url}/rest/v1/gpts", params={"id": f"eq.{gpt}"}, headers=headers)
    kept = httpx.get(
        f"{url}/rest/v1/gpt_versions",
        params={"gpt_id": f"eq.{gpt}", "select": "version", "order": "version"},
        headers=headers,
    )
    review = httpx.get(f"{url}/api/v1/gpts/{gpt}/review", headers=headers)
    listed = httpx.get(f"{url}/api/v1/openai/models", headers=headers)
    assert rows.status_code == kept.status_code == listed.status_code == 200
    return {
        "rows": len(rows.json()),
        "versions": [v["version"] for v in kept.json()],
        "review": review.status_code,
        "listed": f"gpt_{gpt}" in {m["id"] for m in listed.json()["data"]},
    }


INVISIBLE = {"rows": 0, "versions": [], "review": 404, "listed": False}


@pytest.mark.parametrize("exposure", [{"is_public": True}, {"access_level": "organization"}])
def test_a_team_gpt_made_public_stays_unseen_until_a_super_admin_approves(
    org: World, made: Made, owner: Owner, exposure: dict[str, Any]
) -> None:
    gpt = made.posted("user_a")["id"]
    acted(org, "admin_a", gpt, "approve")
    assert seen_by(org, "user_b", gpt) == INVISIBLE

    after = changed(org, "user_a", gpt, **exposure)
    assert (after["approval_status"], after["reviewer"], after["published"]) == (
        "pending", "super_admin", False,
    )  # fmt: skip
    for other in ("user_b", "admin_b"):
        assert seen_by(org, other, gpt) == INVISIBLE
        refused(act(org, other, gpt, "approve"), 404, "gpt_not_found")
    refused(act(org, "admin_a", gpt, "approve"), 403, "super_admin_required")
    assert state(owner, gpt)["published"] is False
    assert seen_by(org, "user_a", gpt)["versions"] == [1, 2]  # the team sees the change

    assert acted(org, "super_admin", gpt, "approve")["published"] is True
    assert seen_by(org, "user_b", gpt) == {
        "rows": 1, "versions": [1, 2], "review": 200, "listed": True,
    }  # fmt: skip


def test_a_new_public_gpt_is_unseen_until_approved(org: World, made: Made) -> None:
    gpt = made.posted("user_a", is_public=True)["id"]
    assert seen_by(org, "user_b", gpt) == INVISIBLE
    acted(org, "super_admin", gpt, "approve")
    assert seen_by(org, "user_b", gpt)["rows"] == 1


def test_a_rejected_publication_stays_unseen(org: World, made: Made, owner: Owner) -> None:
    gpt = made.gpt(approval="approved")
    changed(org, "user_a", gpt, is_public=True)
    acted(org, "admin_a", gpt, "reject", comment="Not for everyone")  # any team admin may
    assert state(owner, gpt)["published"] is False
    assert seen_by(org, "user_b", gpt) == INVISIBLE


def test_narrowing_a_published_gpt_takes_effect_at_once(
    org: World, made: Made, owner: Owner
) -> None:
    """The cautious direction needs no review to hide: while the change to team-only waits,
    other teams no longer see the GPT; approved, it stays so."""
    gpt = made.gpt(approval="approved", is_public=True)
    assert seen_by(org, "user_b", gpt)["rows"] == 1
    after = changed(org, "user_a", gpt, is_public=False)
    assert (after["approval_status"], after["approved_version"], after["published"]) == (
        "pending", 1, False,
    )  # fmt: skip
    assert seen_by(org, "user_b", gpt) == INVISIBLE
    acted(org, "admin_a", gpt, "approve")  # a team-only version is the team's to review
    assert seen_by(org, "user_b", gpt) == INVISIBLE


def test_other_teams_chat_only_with_a_published_gpt(
    org: World, made: Made, models: Models, upstream: FakeUpstream
) -> None:
    gpt = made.gpt(approval="approved", model=models.first, prompt="Public answers.")
    session = made.session(gpt, user=USER_B)
    refused(ask(org, session, "Hello?", actor="user_b"), 404, "gpt_not_found")
    changed(org, "user_a", gpt, is_public=True)
    refused(ask(org, session, "Hello?", actor="user_b"), 404, "gpt_not_found")
    acted(org, "super_admin", gpt, "approve")
    sent = answered_with(org, upstream, session, actor="user_b")
    assert (sent["model"], sent["prompt"]) == (models.first, "Public answers.")


def test_a_published_gpt_is_reviewed_by_its_own_team_only(org: World, made: Made) -> None:
    """Other teams see it and may not touch it: 403, not 404, as they know it is there."""
    gpt = made.gpt(approval="approved", is_public=True)
    for other in ("user_b", "admin_b"):
        refused(act(org, other, gpt, "suspend", reason="Dislike it"), 403, "not_a_reviewer")
