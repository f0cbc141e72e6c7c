"""What the analytics endpoints refuse, and that a refusal tells nothing it should not: each
bad input has its stable code in `{"error": {"code", "message"}}` and nothing more (no SQL,
no internals); a GPT the caller may not see is as unknown as one that does not exist; the
other team's ids as filters give empty answers, not errors that confirm them.
"""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import httpx
import pytest
import pytest_asyncio

from tests.analytics.crew import Crew, Gpt, add_gpt
from tests.analytics.usage import Use, insert

USAGE = "/api/v1/analytics/usage"
COSTS = "/api/v1/analytics/costs"
DASHBOARD = "/api/v1/analytics/dashboard"
RANGE = {"from": "2025-01-01", "to": "2025-01-31"}
LONG_MODEL = "m" * 201
# (endpoint, parameters) -> the error code
USAGE_CASES = [
    ({"from": "2025-01-01"}, "unbounded_range"),
    ({"to": "2025-01-01"}, "unbounded_range"),
    ({"from": "2025-02-01", "to": "2025-01-31"}, "inverted_range"),
    ({"from": "2024-01-01", "to": "2025-02-04"}, "range_too_long"),  # 401 days
    ({"from": "2025-02-30", "to": "2025-03-01"}, "invalid_date"),
    ({"from": "yesterday", "to": "2025-03-01"}, "invalid_date"),
    ({"from": "2025-13-01", "to": "2025-03-01"}, "invalid_date"),
    ({**RANGE, "period": "hour"}, "invalid_period"),
    ({**RANGE, "period": "DAY"}, "invalid_period"),
    ({**RANGE, "group_by": "team_id"}, "invalid_grouping"),
    ({**RANGE, "group_by": "gpt,model"}, "invalid_grouping"),
    ({**RANGE, "groupby": "team"}, "unknown_parameter"),
    ({**RANGE, "From": "2025-01-01"}, "unknown_parameter"),
    ({**RANGE, "select": "*"}, "unknown_parameter"),
    ({**RANGE, "team_id": "not-a-uuid"}, "invalid_filter"),
    ({**RANGE, "gpt_id": "1"}, "invalid_filter"),
    ({**RANGE, "user_id": "' or 1=1 --"}, "invalid_filter"),
    ({**RANGE, "model": LONG_MODEL}, "invalid_filter"),
    ({**RANGE, "format": "xml"}, "invalid_format"),
    ({**RANGE, "format": "CSV"}, "invalid_format"),
]
RANGE_CASES = [
    ({"from": "2025-01-01"}, "unbounded_range"),
    ({"from": "2025-02-01", "to": "2025-01-31"}, "inverted_range"),
    ({"from": "2023-01-01", "to": "2025-01-01"}, "range_too_long"),
    ({"from": "2025-01-32", "to": "2025-02-01"}, "invalid_date"),
    ({**RANGE, "period": "day"}, "unknown_parameter"),
    ({**RANGE, "group_by": "team"}, "unknown_parameter"),
    ({**RANGE, "team_id": "x"}, "invalid_filter"),
    ({**RANGE, "format": "pdf"}, "invalid_format"),
]
SECRETS = ("select ", "from public", "asyncpg", "traceback", "postgres", "sqlstate", "usage_daily")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def private_y(owner: asyncpg.Connection, crew: Crew) -> AsyncIterator[Gpt]:
    """Team y's private GPT (team x may not see it)."""
    yield await add_gpt(owner, crew, "y", "bad-input-model")


def refused(r: httpx.Response, status: int, code: str) -> None:
    """The response is `status` with exactly `{"error": {"code": code, "message": …}}`."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    message = body["error"]["message"].lower()
    assert message and not any(word in message for word in SECRETS), message


@pytest.mark.parametrize(("params", "code"), USAGE_CASES, ids=[c for _, c in USAGE_CASES])
@pytest.mark.parametrize("actor", ("user_x", "super"))
def test_usage_refuses(crew: Crew, actor: str, params: dict[str, str], code: str) -> None:
    refused(crew.get(USAGE, actor, **params), 400, code)


@pytest.mark.parametrize(("params", "code"), RANGE_CASES, ids=[c for _, c in RANGE_CASES])
@pytest.mark.parametrize("path", (COSTS, DASHBOARD))
def test_costs_and_dashboard_refuse(
    crew: Crew, path: str, params: dict[str, str], code: str
) -> None:
    refused(crew.get(path, "admin_x", **params), 400, code)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"team_id": "10000000-0000-4000-8000-00000000000a"}, "unknown_parameter"),
        ({"group_by": "model"}, "unknown_parameter"),
        ({"from": "2025-01-01"}, "unbounded_range"),
        ({"format": "html"}, "invalid_format"),
    ],
)
def test_gpt_stats_refuse(crew: Crew, private_y: Gpt, params: dict[str, str], code: str) -> None:
    for path in (f"/api/v1/analytics/gpts/{private_y.id}", f"/api/v1/gpts/{private_y.id}/stats"):
        refused(crew.get(path, "admin_y", **params), 400, code)


def test_limits_hold_exactly(crew: Crew) -> None:
    """400 days and a single day are fine; 401 days are not."""
    for params in (
        {"from": "2024-01-01", "to": "2025-02-03"},
        {"from": "2025-01-01", "to": "2025-01-01"},
        {"model": "m" * 200},
        {"team_id": "", "gpt_id": "", "user_id": "", "model": ""},
        {"from": "2025-01-01T10:00:00", "to": "2025-01-02"},
    ):
        r = crew.get(USAGE, "user_x", **params)
        assert r.status_code == 200, (params, r.text)


@pytest.mark.parametrize("path", (USAGE, COSTS, DASHBOARD, "/api/v1/budgets"))
def test_signed_out_callers_are_refused(crew: Crew, path: str) -> None:
    refused(crew.get(path, "anon"), 401, "not_authenticated")
    bad = {"apikey": crew.server.anon_key, "Authorization": "Bearer not.a.token"}
    refused(httpx.get(f"{crew.server.url}{path}", headers=bad), 401, "invalid_token")
    assert httpx.get(f"{crew.server.url}{path}").status_code == 401  # no project key at all


@pytest.mark.parametrize("actor", ("admin_x", "user_x"))
def test_a_gpt_one_may_not_see_is_unknown(crew: Crew, private_y: Gpt, actor: str) -> None:
    for ident in (private_y.id, str(uuid.uuid4()), "not-a-uuid", "1%27%20or%201=1"):
        for path in (f"/api/v1/analytics/gpts/{ident}", f"/api/v1/gpts/{ident}/stats"):
            r = crew.get(path, actor)
            refused(r, 404, "gpt_not_found")
            assert r.json() == {
                "error": {
                    "code": "gpt_not_found",
                    "message": "No GPT with this id is one you may see",
                }
            }


def test_other_teams_ids_as_filters_answer_empty(crew: Crew, private_y: Gpt) -> None:
    for params in (
        {"team_id": crew.teams["y"]},
        {"gpt_id": private_y.id},
        {"user_id": crew.users["user_y"]},
    ):
        r = crew.get(USAGE, "admin_x", **RANGE, **params)
        assert r.status_code == 200 and r.json()["rows"] == [], r.text


@pytest.mark.parametrize(
    ("path", "actor", "which"),
    [
        (COSTS, "admin_y", "none"),  # team y has no usage at all
        (DASHBOARD, "admin_y", "none"),
        (COSTS, "admin_x", "team_y"),  # the other team's id as a filter
        ("gpt", "user_y", "none"),  # their team's GPT, never used
    ],
)
def test_nothing_used_answers_zeros(
    crew: Crew, private_y: Gpt, path: str, actor: str, which: str
) -> None:
    params = {"team_id": crew.teams["y"]} if which == "team_y" else {}
    if path == "gpt":
        path = f"/api/v1/analytics/gpts/{private_y.id}"
    r = crew.get(path, actor, **RANGE, **params)
    assert r.status_code == 200, r.text
    body = r.json()
    if path == COSTS:
        assert (body["by_team"], body["by_gpt"], body["by_model"]) == ([], [], [])
        assert (body["total"], body["month"]["to_date"]) == (0, 0)
    elif path == DASHBOARD:
        assert body["usage"]["requests"] == 0 and body["top_gpts"] == []
        assert body["trends"]["cost"] == {"current": 0, "previous": 0, "change_pct": None}
    else:
        assert (body["requests"], body["unique_users"], body["series"]) == (0, 0, [])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def far_usage(owner: asyncpg.Connection, crew: Crew) -> AsyncIterator[None]:
    """Team x's usage at the calendar's ends (and this month, for the costs' month)."""
    moments = [
        datetime(1, 1, 15, tzinfo=UTC),
        datetime(9999, 11, 15, tzinfo=UTC),
        datetime(9999, 12, 15, tzinfo=UTC),
        datetime.now(UTC),
    ]
    user, team = crew.users["user_x"], crew.teams["x"]
    uses = [
        Use(str(uuid.uuid4()), user, team, None, "far-model", at, Decimal("0.5"), 300)
        for at in moments
    ]
    await insert(owner, uses)
    yield


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (USAGE, {"from": "9999-12-01", "to": "9999-12-31"}),
        (COSTS, {"from": "9999-12-01", "to": "9999-12-31"}),
        (DASHBOARD, {"from": "9999-12-01", "to": "9999-12-31"}),
    ],
)  # fmt: skip
def test_ranges_at_the_calendars_ends_are_answered(
    crew: Crew, far_usage: None, path: str, params: dict[str, str]
) -> None:
    r = crew.get(path, "admin_x", **params)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", [USAGE, COSTS, DASHBOARD])
def test_ranges_before_1970_are_refused(crew: Crew, path: str) -> None:
    r = crew.get(path, "admin_x", **{"from": "0001-01-01", "to": "0001-01-31"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_date"
