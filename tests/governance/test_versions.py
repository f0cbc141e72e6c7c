"""Versions: every configuration change is a snapshot; a change reviewers judge (prompt, model,
web access, exposure, or a higher risk) waits for review while the approved version keeps
answering chats — the fake upstream shows which version's model, prompt, temperature and
max_tokens a chat used — and other changes of an approved GPT are approved with it. Rollback
brings an earlier approved version back as a new one. GET /api/v1/gpts/{id}/review shows it all."""

from typing import Any

import httpx
import pytest

from tests.governance.conftest import Models
from tests.governance.world import (
    ADMIN_A,
    USER_A,
    Made,
    Owner,
    act,
    acted,
    answered_with,
    ask,
    audit,
    changed,
    patch,
    refused,
    row,
    state,
    versions,
)
from tests.llm.fake_openai import FakeUpstream
from tests.rest.world import TEAM_A, World


def v1(models: Models) -> dict[str, Any]:
    return {"model": models.first, "prompt": "Version one: answer in English.",
            "temperature": 0.3, "max_tokens": 300}  # fmt: skip


def v2(models: Models) -> dict[str, Any]:
    return {"model": models.second, "prompt": "Version two: answer in French.",
            "temperature": 0.3, "max_tokens": 300}  # fmt: skip


def statuses(owner: Owner, gpt: str) -> list[tuple[int, str]]:
    return [(v["version"], v["status"]) for v in versions(owner, gpt)]


def test_a_new_gpt_answers_once_approved(
    org: World, made: Made, models: Models, upstream: FakeUpstream
) -> None:
    gpt = made.posted("user_a", **v1(models))["id"]
    session = made.session(gpt)
    refused(ask(org, session, "Anyone there?"), 403, "gpt_unavailable")
    acted(org, "admin_a", gpt, "approve")
    assert answered_with(org, upstream, session) == v1(models)


def test_the_approved_version_answers_while_a_change_waits(
    org: World, made: Made, owner: Owner, models: Models, upstream: FakeUpstream
) -> None:
    gpt = made.gpt(approval="approved", **v1(models))
    session = made.session(gpt)
    assert answered_with(org, upstream, session) == v1(models)

    after = changed(org, "user_a", gpt, prompt=v2(models)["prompt"], model=models.second)
    assert (after["approval_status"], after["version"], after["approved_version"]) == (
        "pending", 2, 1,
    )  # fmt: skip
    assert statuses(owner, gpt) == [(1, "approved"), (2, "pending")]
    assert (after["model"], after["prompt"]) == (models.second, v2(models)["prompt"])
    assert answered_with(org, upstream, session) == v1(models)

    acted(org, "admin_a", gpt, "approve", comment="French is fine")
    assert answered_with(org, upstream, session) == v2(models)
    assert statuses(owner, gpt) == [(1, "superseded"), (2, "approved")]
    newest = versions(owner, gpt)[-1]
    assert (newest["created_by"], newest["reviewed_by"], newest["review_comment"]) == (
        USER_A, ADMIN_A, "French is fine",
    )  # fmt: skip
    assert newest["ever_approved"] and versions(owner, gpt)[0]["ever_approved"]


def test_a_rejected_change_leaves_the_approved_version_answering(
    org: World, made: Made, owner: Owner, models: Models, upstream: FakeUpstream
) -> None:
    gpt = made.gpt(approval="approved", **v1(models))
    session = made.session(gpt)
    changed(org, "user_a", gpt, prompt=v2(models)["prompt"])
    rejected = acted(org, "admin_a", gpt, "reject", comment="Keep it in English")
    assert (rejected["approval_status"], rejected["version"], rejected["approved_version"]) == (
        "rejected", 2, 1,
    )  # fmt: skip
    assert statuses(owner, gpt) == [(1, "approved"), (2, "rejected")]
    assert versions(owner, gpt)[-1]["review_comment"] == "Keep it in English"
    assert answered_with(org, upstream, session) == v1(models)

    # the creator tries again: a new version to review
    again = changed(org, "user_a", gpt, prompt="Version three: answer in Spanish.")
    assert (again["approval_status"], again["version"], again["approved_version"]) == (
        "pending", 3, 1,
    )  # fmt: skip
    assert statuses(owner, gpt) == [(1, "approved"), (2, "rejected"), (3, "pending")]


@pytest.mark.parametrize(
    ("change", "reviewer"),
    [
        ({"prompt": "Something else entirely."}, "team_admin"),
        ({"model": "gpt-4.1-mini"}, "team_admin"),
        ({"web_access": True}, "team_admin"),
        ({"is_public": True}, "super_admin"),
        ({"access_level": "organization"}, "super_admin"),
    ],
)
def test_a_change_reviewers_judge_goes_back_to_review(
    org: World, made: Made, owner: Owner, change: dict[str, Any], reviewer: str
) -> None:
    gpt = made.gpt(approval="approved")
    after = changed(org, "user_a", gpt, **change)
    review = ("approval_status", "version", "approved_version", "reviewer", "published")
    assert [after[k] for k in review] == ["pending", 2, 1, reviewer, False]
    [first, second] = versions(owner, gpt)
    assert (first["status"], second["status"]) == ("approved", "pending")
    assert all(second[k] == v for k, v in change.items())


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Trip planner"},
        {"description": "Plans trips, with receipts"},
        {"category": "finance"},
        {"temperature": 0.9},
        {"max_tokens": 400},
    ],
)
def test_other_changes_are_approved_with_the_gpt(
    org: World, made: Made, owner: Owner, models: Models, upstream: FakeUpstream,
    change: dict[str, Any],
) -> None:  # fmt: skip
    gpt = made.gpt(approval="approved", **v1(models))
    session = made.session(gpt)
    after = changed(org, "user_a", gpt, **change)
    assert (after["approval_status"], after["version"], after["approved_version"]) == (
        "approved", 2, 2,
    )  # fmt: skip
    assert statuses(owner, gpt) == [(1, "superseded"), (2, "approved")]
    assert [r["action"] for r in audit(owner, gpt)][-1] == "gpt.updated"
    wanted = v1(models) | {k: v for k, v in change.items() if k in ("temperature", "max_tokens")}
    assert answered_with(org, upstream, session) == wanted


def test_a_change_that_raises_the_risk_goes_back_to_review(
    org: World, made: Made, owner: Owner
) -> None:
    """Temperature is not judged by itself, but 1.5 on a frontier model is medium risk."""
    gpt = made.gpt(approval="approved", model="gpt-4o")
    assert state(owner, gpt)["risk_level"] == "low"
    after = changed(org, "user_a", gpt, temperature=1.5)
    assert (after["risk_level"], after["approval_status"], after["approved_version"]) == (
        "medium", "pending", 1,
    )  # fmt: skip


def test_a_change_that_lowers_the_risk_is_approved_with_the_gpt(
    org: World, made: Made, owner: Owner
) -> None:
    gpt = made.gpt(approval="approved", model="gpt-4o", temperature=1.5)
    assert state(owner, gpt)["risk_level"] == "medium"
    after = changed(org, "user_a", gpt, temperature=0.5)
    assert (after["risk_level"], after["approval_status"], after["approved_version"]) == (
        "low", "approved", 2,
    )  # fmt: skip


def test_a_change_that_needs_a_super_admin_waits_for_one(
    org: World, made: Made, owner: Owner
) -> None:
    gpt = made.gpt(approval="approved", model="gpt-4o", web_access=True)
    assert (state(owner, gpt)["risk_level"], state(owner, gpt)["reviewer"]) == (
        "medium", "team_admin",
    )  # fmt: skip
    after = changed(org, "user_a", gpt, temperature=1.5)
    assert (after["risk_level"], after["reviewer"], after["approval_status"]) == (
        "high", "super_admin", "pending",
    )  # fmt: skip
    refused(act(org, "admin_a", gpt, "approve"), 403, "super_admin_required")
    assert acted(org, "super_admin", gpt, "approve")["approved_version"] == 2


def test_a_change_of_a_pending_gpt_supersedes_the_pending_version(
    org: World, made: Made, owner: Owner
) -> None:
    gpt = made.posted("user_a")["id"]
    changed(org, "user_a", gpt, name="Renamed before review")
    assert statuses(owner, gpt) == [(1, "superseded"), (2, "pending")]
    approved = acted(org, "admin_a", gpt, "approve")
    assert (approved["version"], approved["approved_version"]) == (2, 2)
    assert statuses(owner, gpt) == [(1, "superseded"), (2, "approved")]
    assert not versions(owner, gpt)[0]["ever_approved"]


# ---------------------------------------------------------------------------------------
# Rollback
# ---------------------------------------------------------------------------------------


def test_rollback_brings_version_1_back_as_a_new_approved_version(
    org: World, made: Made, owner: Owner, models: Models, upstream: FakeUpstream
) -> None:
    gpt = made.gpt(approval="approved", **v1(models))
    session = made.session(gpt)
    changed(org, "user_a", gpt, prompt=v2(models)["prompt"], model=models.second)
    acted(org, "admin_a2", gpt, "approve")
    assert answered_with(org, upstream, session) == v2(models)

    back = acted(org, "admin_a", gpt, "rollback", version=1, comment="French confused people")
    assert (back["approval_status"], back["version"], back["approved_version"]) == (
        "approved", 3, 3,
    )  # fmt: skip
    assert statuses(owner, gpt) == [(1, "superseded"), (2, "superseded"), (3, "approved")]
    third = versions(owner, gpt)[-1]
    assert (third["rollback_of"], third["ever_approved"]) == (1, True)
    assert (third["created_by"], third["reviewed_by"], third["review_comment"]) == (
        ADMIN_A, ADMIN_A, "French confused people",
    )  # fmt: skip
    assert {k: row(owner, gpt)[k] for k in v1(models)} == v1(models)
    assert answered_with(org, upstream, session) == v1(models)
    record = audit(owner, gpt)[-1]
    assert (record["action"], record["user_id"]) == ("gpt.rolled_back", ADMIN_A)
    assert {k: record["details"][k] for k in ("to_version", "new_version", "comment")} == {
        "to_version": 1, "new_version": 3, "comment": "French confused people",
    }  # fmt: skip
    assert record["details"]["before"]["approved_version"] == 2
    assert record["details"]["after"]["approved_version"] == 3


def test_rollback_discards_a_pending_change(
    org: World, made: Made, owner: Owner, models: Models, upstream: FakeUpstream
) -> None:
    gpt = made.gpt(approval="approved", **v1(models))
    session = made.session(gpt)
    changed(org, "user_a", gpt, prompt=v2(models)["prompt"])
    back = acted(org, "admin_a", gpt, "rollback", version=1)
    assert (back["approval_status"], back["version"], back["approved_version"]) == (
        "approved", 3, 3,
    )  # fmt: skip
    assert statuses(owner, gpt) == [(1, "superseded"), (2, "superseded"), (3, "approved")]
    assert versions(owner, gpt)[-1]["review_comment"] == "rolled back to version 1"
    assert answered_with(org, upstream, session) == v1(models)


def test_a_rolled_back_version_may_be_rolled_back_to_again(
    org: World, made: Made, owner: Owner
) -> None:
    gpt = made.gpt(approval="approved")
    changed(org, "user_a", gpt, prompt="Second thoughts.")
    acted(org, "admin_a", gpt, "approve")
    acted(org, "admin_a", gpt, "rollback", version=1)
    again = acted(org, "admin_a", gpt, "rollback", version=2)
    assert (again["version"], again["approved_version"]) == (4, 4)
    assert row(owner, gpt)["prompt"] == "Second thoughts."
    assert versions(owner, gpt)[-1]["rollback_of"] == 2


def test_rolling_back_to_a_public_version_needs_a_super_admin(
    org: World, made: Made, owner: Owner
) -> None:
    """The version brought back is judged as it was: public, so a super admin's call."""
    gpt = made.gpt(approval="approved", is_public=True)
    changed(org, "user_a", gpt, is_public=False)
    acted(org, "admin_a", gpt, "approve")  # team-only: the team's admins review it
    before = state(owner, gpt)
    refused(act(org, "admin_a", gpt, "rollback", version=1), 403, "super_admin_required")
    assert state(owner, gpt) == before
    back = acted(org, "super_admin", gpt, "rollback", version=1)
    assert (back["version"], back["published"], back["reviewer"]) == (3, True, "super_admin")


# ---------------------------------------------------------------------------------------
# What reviewers see
# ---------------------------------------------------------------------------------------


def test_the_review_shows_the_state_and_every_version(org: World, made: Made, owner: Owner) -> None:
    gpt = made.gpt(approval="approved", description=None)
    changed(org, "user_a", gpt, prompt="Second thoughts.")
    answer = httpx.get(f"{org.server.url}/api/v1/gpts/{gpt}/review", headers=org.headers("user_a"))
    assert answer.status_code == 200, answer.text
    review = answer.json()
    assert review["gpt"] == state(owner, gpt) | {"team_id": TEAM_A, "creator_id": USER_A}
    assert [r["rule"] for r in review["gpt"]["risk_reasons"]] == ["no_description"]
    assert [(v["version"], v["status"]) for v in review["versions"]] == [
        (2, "pending"), (1, "approved"),
    ]  # fmt: skip
    assert review["versions"][0]["prompt"] == "Second thoughts."


@pytest.mark.parametrize("actor", ["user_b", "admin_b"])
def test_the_review_of_a_gpt_the_caller_cannot_see_is_404(
    org: World, made: Made, actor: str
) -> None:
    gpt = made.gpt(approval="approved")
    answer = httpx.get(f"{org.server.url}/api/v1/gpts/{gpt}/review", headers=org.headers(actor))
    refused(answer, 404, "gpt_not_found")


# ---------------------------------------------------------------------------------------
# Found wanting
# ---------------------------------------------------------------------------------------


def test_the_openai_endpoint_answers_with_the_approved_version_while_a_change_waits(
    org: World, made: Made, models: Models, upstream: FakeUpstream
) -> None:
    gpt = made.gpt(approval="approved", **v1(models))
    changed(org, "user_a", gpt, prompt=v2(models)["prompt"])
    listed = httpx.get(f"{org.server.url}/api/v1/openai/models", headers=org.headers("user_a"))
    assert f"gpt_{gpt}" in {m["id"] for m in listed.json()["data"]}
    question = "Bonjour?"
    answer = httpx.post(
        f"{org.server.url}/api/v1/openai/chat/completions",
        headers=org.headers("user_a"),
        json={"model": f"gpt_{gpt}", "messages": [{"role": "user", "content": question}]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    [sent] = upstream.asked(question)
    assert (sent["model"], sent["messages"][0]["content"]) == (models.first, v1(models)["prompt"])


def test_a_trusted_writer_rejecting_the_current_version_stops_it_answering(
    org: World, made: Made, owner: Owner, models: Models
) -> None:
    gpt = made.gpt(approval="approved", **v1(models))
    session = made.session(gpt)
    assert patch(org, "service_role", gpt, approval_status="rejected").status_code == 200
    assert state(owner, gpt)["approval_status"] == "rejected"
    assert statuses(owner, gpt) == [(1, "rejected")]
    refused(ask(org, session, "Still there?"), 403, "gpt_unavailable")
