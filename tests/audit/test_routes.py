"""/api/v1/audit over HTTP, and `gptdesk audit export|purge`: export as JSONL and CSV in chain
order with filters, the rows each caller may read (RLS), refusals as stable error codes, and
the purge (super admins only over HTTP), itself audited."""

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from gptdesk.audit.export import COLUMNS
from tests.audit.conftest import OLD_ROWS, chain_rows, gptdesk_audit, new_kind, problems
from tests.conftest import MigratedDatabase
from tests.rest.world import TEAM_A, TEAM_B, USERS, World


@pytest.fixture
async def api(audit_world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{audit_world.server.url}/api/v1/audit") as client:
        yield client


async def write_rows(conn: asyncpg.Connection) -> tuple[str, list[asyncpg.Record]]:
    """Three rows of a fresh resource type: team A's by admin_a, team B's, and a teamless
    super admin's; each in its own transaction, so each has its own time (and is chained,
    with its seq, when that transaction commits)."""
    kind = new_kind()
    made = []
    for action, team, user in (
        ("probe.seen", TEAM_A, USERS["admin_a"]),
        ("probe.changed", TEAM_B, USERS["user_b"]),
        ("other.seen", None, USERS["super_admin"]),
    ):
        written = await conn.fetchval(
            "insert into public.audit_logs "
            "(user_id, team_id, action, resource_type, resource_id, details, ip_address, "
            "user_agent) values ($1, $2, $3, $4, $5, $6, '192.0.2.44', 'route/1') "
            "returning id",
            uuid.UUID(user),
            team and uuid.UUID(team),
            action,
            kind,
            uuid.uuid4(),
            json.dumps({"note": f'{action} it\'s \\ "quoted" 漢字'}),
        )
        made.append(
            await conn.fetchrow(
                "select seq, id::text, created_at from public.audit_logs where id = $1", written
            )
        )
    return kind, made


def jsonl(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines()]


async def test_jsonl_export_holds_whole_rows_in_chain_order(
    api: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    kind, made = await write_rows(audit_owner)
    response = await api.get(
        "/export", params={"resource_type": kind}, headers=audit_world.headers("super_admin")
    )
    assert 'filename="audit.jsonl"' in response.headers["content-disposition"]
    rows = jsonl(response)
    stored = await chain_rows(audit_owner, "resource_type = $1", kind)
    assert [row["id"] for row in rows] == [row["id"] for row in made]
    for row, db_row in zip(rows, stored, strict=True):
        assert list(row) == list(COLUMNS)
        assert row["seq"] == db_row["seq"]
        assert (row["hash"], row["prev_hash"]) == (db_row["hash"], db_row["prev_hash"])
        assert datetime.fromisoformat(row["created_at"]) == db_row["created_at"]
        assert row["details"] == json.loads(db_row["details"])  # an object, not text
        assert row["user_agent"] == "route/1"
    assert rows[1]["team_id"] == TEAM_B and rows[2]["team_id"] is None


async def test_export_gives_the_client_address_as_recorded(
    api: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    kind, _ = await write_rows(audit_owner)
    response = await api.get(
        "/export", params={"resource_type": kind}, headers=audit_world.headers("super_admin")
    )
    assert {row["ip_address"] for row in jsonl(response)} == {"192.0.2.44"}


async def test_csv_export(
    api: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    kind, made = await write_rows(audit_owner)
    response = await api.get(
        "/export",
        params={"resource_type": kind, "format": "csv"},
        headers=audit_world.headers("super_admin"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="audit.csv"' in response.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == list(COLUMNS)
    records = [dict(zip(COLUMNS, line, strict=True)) for line in table[1:]]
    assert [r["id"] for r in records] == [row["id"] for row in made]
    assert [int(r["seq"]) for r in records] == [row["seq"] for row in made]
    first = records[0]
    assert json.loads(first["details"]) == {"note": 'probe.seen it\'s \\ "quoted" 漢字'}
    assert (first["team_id"], first["user_id"]) == (TEAM_A, USERS["admin_a"])
    assert records[2]["team_id"] == ""


@pytest.mark.parametrize(
    ("actor", "visible"),
    [
        ("super_admin", [0, 1, 2]),
        ("service_role", [0, 1, 2]),
        ("admin_a", [0]),  # their team's rows only
        ("user_a", []),  # plain users read no trail, not even their team's
        ("user_b", []),
    ],
)
async def test_each_caller_exports_the_rows_they_may_read(
    api: httpx.AsyncClient,
    audit_world: World,
    audit_owner: asyncpg.Connection,
    actor: str,
    visible: list[int],
) -> None:
    kind, made = await write_rows(audit_owner)
    headers = audit_world.headers(actor)
    rows = jsonl(await api.get("/export", params={"resource_type": kind}, headers=headers))
    assert [row["id"] for row in rows] == [made[i]["id"] for i in visible]
    table = (
        await api.get("/export", params={"resource_type": kind, "format": "csv"}, headers=headers)
    ).text
    assert len(table.splitlines()) == 1 + len(visible)


async def test_a_team_admin_asking_for_another_team_gets_nothing(
    api: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    kind, _ = await write_rows(audit_owner)
    response = await api.get(
        "/export",
        params={"resource_type": kind, "team_id": TEAM_B},
        headers=audit_world.headers("admin_a"),
    )
    assert jsonl(response) == []


async def test_export_filters(
    api: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    kind, made = await write_rows(audit_owner)
    ids = [row["id"] for row in made]
    stored = {
        str(row["id"]): row for row in await chain_rows(audit_owner, "resource_type = $1", kind)
    }
    times = [row["created_at"] for row in made]
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"action": "probe.seen"}, ids[:1]),
        ({"action": "probe.*"}, ids[:2]),
        ({"action": "probe.seen.*"}, []),
        ({"team_id": TEAM_B}, ids[1:2]),
        ({"user_id": USERS["super_admin"]}, ids[2:]),
        ({"resource_id": str(stored[ids[1]]["resource_id"])}, ids[1:2]),
        ({"since": times[1].isoformat()}, ids[1:]),
        ({"until": times[1].isoformat()}, ids[:1]),
        ({"since": times[1].isoformat(), "until": times[2].isoformat()}, ids[1:2]),
        ({"since": times[0].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")}, ids),  # no zone
        ({"until": "2001-01-01"}, []),
        ({"action": "probe.*", "team_id": TEAM_A}, ids[:1]),
    ]
    for params, expected in cases:
        response = await api.get(
            "/export",
            params={"resource_type": kind, **params},
            headers=audit_world.headers("super_admin"),
        )
        assert [row["id"] for row in jsonl(response)] == expected, params


async def test_export_names_the_team_and_actor_recorded_after_they_are_deleted(
    api: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    """The foreign keys null user_id and team_id; export gives (and filters on) the ids the
    row was written with."""
    kind = new_kind()
    team = await audit_owner.fetchval("insert into teams (name) values ('Gone') returning id")
    user = await audit_owner.fetchval(
        "insert into auth.users (aud, role, email) values "
        "('authenticated', 'authenticated', $1) returning id",
        f"{kind}@example.com",
    )
    await audit_owner.execute(
        "insert into public.audit_logs (user_id, team_id, action, resource_type) "
        "values ($1, $2, 'probe.kept', $3)",
        user,
        team,
        kind,
    )
    await audit_owner.execute("delete from public.teams where id = $1", team)
    await audit_owner.execute("delete from auth.users where id = $1", user)
    (stored,) = await chain_rows(audit_owner, "resource_type = $1", kind)
    assert (stored["user_id"], stored["team_id"]) == (None, None)
    response = await api.get(
        "/export",
        params={"resource_type": kind, "team_id": str(team), "user_id": str(user)},
        headers=audit_world.headers("super_admin"),
    )
    (row,) = jsonl(response)
    assert (row["team_id"], row["user_id"]) == (str(team), str(user))
    assert row["hash"] == stored["hash"]


@pytest.mark.parametrize(
    ("params", "code", "fragment"),
    [
        ({"format": "xml"}, "invalid_format", "format must be jsonl or csv"),
        ({"since": "yesterday"}, "invalid_filter", "since must be an ISO date or timestamp"),
        ({"until": "2024-02-30"}, "invalid_filter", "until must be an ISO date"),
        ({"since": "2024-05-02", "until": "2024-05-01"}, "invalid_filter", "since must be before"),
        ({"since": "2024-05-01", "until": "2024-05-01"}, "invalid_filter", "since must be before"),
        ({"action": "gpt approved"}, "invalid_filter", "action must be a dotted name"),
        ({"action": "gpt.%"}, "invalid_filter", "action must be a dotted name"),
        ({"action": "*"}, "invalid_filter", "action must be a dotted name"),
        ({"team_id": "team-a"}, "invalid_filter", "team_id must be a uuid"),
        ({"user_id": "1"}, "invalid_filter", "user_id must be a uuid"),
        ({"resource_id": "x"}, "invalid_filter", "resource_id must be a uuid"),
        ({"colour": "red"}, "invalid_filter", "unknown filter 'colour'"),
    ],
)
async def test_bad_export_requests_are_refused(
    api: httpx.AsyncClient, audit_world: World, params: dict[str, str], code: str, fragment: str
) -> None:
    response = await api.get("/export", params=params, headers=audit_world.headers("super_admin"))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]


async def test_export_needs_a_signed_in_caller(api: httpx.AsyncClient, audit_world: World) -> None:
    response = await api.get("/export", headers=audit_world.headers("anon"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


# ---------------------------------------------------------------------------------------
# Purge
# ---------------------------------------------------------------------------------------


async def last_purge(conn: asyncpg.Connection) -> asyncpg.Record:
    return (await chain_rows(conn, "action = 'audit.purged'"))[-1]


@pytest.mark.parametrize("actor", ["admin_a", "user_a"])
async def test_only_super_admins_purge_over_http(
    api: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection, actor: str
) -> None:
    count = "select count(*) from public.audit_logs"
    before = await audit_owner.fetchval(count)
    response = await api.post(
        "/purge",
        json={"older_than": "2010-01-01", "justification": "not mine to purge"},
        headers=audit_world.headers(actor),
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"
    assert await audit_owner.fetchval(count) == before


@pytest.mark.parametrize(
    "body",
    [
        {"older_than": "2999-01-01", "justification": "future"},
        {"older_than": "2010-01-01", "justification": "  "},
        {"older_than": "2010-01-01"},
        {"justification": "no cutoff"},
        {"older_than": "last year", "justification": "words"},
        {"older_than": 2010, "justification": "a number"},
    ],
)
async def test_bad_purge_requests_are_refused(
    api: httpx.AsyncClient, audit_world: World, body: dict[str, Any]
) -> None:
    response = await api.post("/purge", json=body, headers=audit_world.headers("super_admin"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


async def test_a_super_admin_purges_over_http_and_the_purge_is_audited(
    api: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    """The copy starts with OLD_ROWS rows from 2001: the prefix a 2010 cutoff removes."""
    old = await chain_rows(audit_owner, "created_at < '2010-01-01'")
    assert [row["seq"] for row in old] == list(range(1, OLD_ROWS + 1))
    response = await api.post(
        "/purge",
        json={"older_than": "2010-01-01", "justification": "retention: 20 years"},
        headers={**audit_world.headers("super_admin"), "User-Agent": "purger/1"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"removed": OLD_ROWS, "older_than": "2010-01-01T00:00:00+00:00"}
    assert await chain_rows(audit_owner, "created_at < '2010-01-01'") == []
    row = await last_purge(audit_owner)
    assert (str(row["user_id"]), row["resource_type"], row["user_agent"]) == (
        USERS["super_admin"],
        "audit_log",
        "purger/1",
    )
    assert json.loads(row["details"]) == {
        "older_than": "2010-01-01T00:00:00+00:00",
        "justification": "retention: 20 years",
        "rows": OLD_ROWS,
        "through_seq": OLD_ROWS,
        "through_hash": old[-1]["hash"],
        "actor_role": "authenticated",
    }
    head = await audit_owner.fetchrow("select * from audit.chain_head")
    assert (head["purged_through_seq"], head["purged_through_hash"]) == (OLD_ROWS, old[-1]["hash"])
    assert await problems(audit_owner) == []

    again = await api.post(
        "/purge",
        json={"older_than": "2010-01-01", "justification": "again"},
        headers=audit_world.headers("super_admin"),
    )
    assert again.json()["removed"] == 0
    assert json.loads((await last_purge(audit_owner))["details"])["rows"] == 0


async def test_the_service_role_may_purge_over_http(
    api: httpx.AsyncClient, audit_world: World, audit_owner: asyncpg.Connection
) -> None:
    response = await api.post(
        "/purge",
        json={"older_than": "2000-01-01", "justification": "nothing that old"},
        headers=audit_world.headers("service_role"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["removed"] == 0
    row = await last_purge(audit_owner)
    assert row["user_id"] is None
    assert json.loads(row["details"])["actor_role"] == "service_role"


# ---------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------


async def test_purge_from_the_command_line(
    trail_db: MigratedDatabase, trail_conn: asyncpg.Connection, cli_data_dir: Path
) -> None:
    old = await chain_rows(trail_conn, "created_at < '2010-01-01'")
    result = gptdesk_audit(
        trail_db, cli_data_dir, "purge", "--before", "2010-01-01", "--justification", "cli"
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout == f"removed {OLD_ROWS} audit row(s) older than 2010-01-01T00:00:00+00:00\n"
    )
    row = await last_purge(trail_conn)
    details = json.loads(row["details"])
    assert row["user_id"] is None
    assert details["actor_role"] == await trail_conn.fetchval("select session_user::text")
    assert (details["rows"], details["justification"]) == (OLD_ROWS, "cli")
    assert details["through_hash"] == old[-1]["hash"]
    assert await problems(trail_conn) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--before", "2999-01-01"), "older_than must be a time in the past"),  # the database's
        (("--before", "someday"), "--before must be an ISO date or timestamp"),  # the command's
    ],
)
def test_the_purge_command_refuses_bad_input(
    audit_db: MigratedDatabase, cli_data_dir: Path, args: tuple[str, ...], fragment: str
) -> None:
    result = gptdesk_audit(audit_db, cli_data_dir, "purge", *args, "--justification", "x")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(f"error: {fragment}"), result.stderr
    assert "Traceback" not in result.stderr


async def test_export_from_the_command_line(
    trail_db: MigratedDatabase, trail_conn: asyncpg.Connection, cli_data_dir: Path
) -> None:
    result = gptdesk_audit(trail_db, cli_data_dir, "export", "--format", "csv", "--action", "gpt.*")
    assert result.returncode == 0, result.stderr
    table = list(csv.reader(io.StringIO(result.stdout)))
    expected = await chain_rows(trail_conn, "action like 'gpt.%'")
    assert table[0] == list(COLUMNS)
    assert [line[0] for line in table[1:]] == [str(row["seq"]) for row in expected]
    assert [line[5] for line in table[1:]] == ["gpt.created", "gpt.updated"]
