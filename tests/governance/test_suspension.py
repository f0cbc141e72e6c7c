"""Suspending a GPT stops it answering at once — the session endpoint and the OpenAI-style one
refuse with 403 gpt_unavailable and record nothing — and reinstating brings it back; a new
version approved meanwhile does not lift the suspension."""

import httpx

from tests.governance.conftest import Models
from tests.governance.world import (
    ADMIN_A,
    Made,
    Owner,
    acted,
    answered_with,
    ask,
    audit,
    changed,
    refused,
    state,
)
from tests.llm.fake_openai import FakeUpstream
from tests.rest.world import World


def stored(owner: Owner, session: str) -> int:
    [(count,)] = owner.query(
        "select count(*) from public.chat_messages where session_id = $1::uuid", session
    )
    return int(count)


def openai_ask(org: World, gpt: str) -> httpx.Response:
    return httpx.post(
        f"{org.server.url}/api/v1/openai/chat/completions",
        headers=org.headers("user_a"),
        json={"model": f"gpt_{gpt}", "messages": [{"role": "user", "content": "Hello?"}]},
        timeout=30,
    )


def test_suspending_stops_chats_and_reinstating_restores_them(
    org: World, made: Made, owner: Owner, models: Models, upstream: FakeUpstream
) -> None:
    gpt = made.gpt(approval="approved", model=models.first)
    session = made.session(gpt)
    assert answered_with(org, upstream, session)["model"] == models.first

    suspended = acted(org, "admin_a", gpt, "suspend", reason="Gives wrong visa advice")
    assert (suspended["status"], suspended["approval_status"]) == ("suspended", "approved")
    record = audit(owner, gpt)[-1]
    assert (record["action"], record["user_id"]) == ("gpt.suspended", ADMIN_A)
    assert record["details"] == {
        "reason": "Gives wrong visa advice",
        "before": {"status": "active"},
        "after": {"status": "suspended"},
    }

    messages = stored(owner, session)
    asked_before = len(upstream.requests)
    answer = ask(org, session, "Do I need a visa?")
    refused(answer, 403, "gpt_unavailable")
    assert "suspended" in answer.json()["error"]["message"]
    streamed = httpx.post(
        f"{org.server.url}/api/v1/chat/sessions/{session}/messages",
        headers=org.headers("user_a"),
        json={"content": "Do I need a visa?", "stream": True},
        timeout=30,
    )
    refused(streamed, 403, "gpt_unavailable")
    via_openai = openai_ask(org, gpt)
    assert via_openai.status_code == 403, via_openai.text
    assert via_openai.json()["error"]["code"] == "gpt_unavailable"
    assert (stored(owner, session), len(upstream.requests)) == (messages, asked_before)

    reinstated = acted(org, "admin_a", gpt, "reinstate", comment="Advice fixed")
    assert reinstated["status"] == "active"
    assert audit(owner, gpt)[-1]["details"] == {
        "comment": "Advice fixed",
        "before": {"status": "suspended"},
        "after": {"status": "active"},
    }
    assert answered_with(org, upstream, session)["model"] == models.first
    assert openai_ask(org, gpt).status_code == 200


def test_approving_a_new_version_does_not_lift_a_suspension(
    org: World, made: Made, owner: Owner, models: Models
) -> None:
    gpt = made.gpt(approval="approved", model=models.first)
    session = made.session(gpt)
    acted(org, "admin_a", gpt, "suspend", reason="Under investigation")
    changed(org, "user_a", gpt, prompt="A better prompt.")
    approved = acted(org, "admin_a", gpt, "approve")
    assert (approved["status"], approved["approved_version"]) == ("suspended", 2)
    refused(ask(org, session, "Back?"), 403, "gpt_unavailable")


def test_a_suspended_gpt_stays_visible_to_its_team(org: World, made: Made, owner: Owner) -> None:
    """Suspension stops answers, not the record: the team still sees why."""
    gpt = made.gpt(approval="approved")
    acted(org, "admin_a", gpt, "suspend", reason="Checking")
    listed = httpx.get(
        f"{org.server.url}/rest/v1/gpts",
        params={"id": f"eq.{gpt}", "select": "status"},
        headers=org.headers("user_a"),
    )
    assert listed.json() == [{"status": "suspended"}]
    assert state(owner, gpt)["status"] == "suspended"
