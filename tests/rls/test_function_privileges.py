"""Who may call the functions of the migrations, and where log_action takes the client address.

The audit tests set the request settings themselves (as the request scope would) on an
owner's connection that switches to `authenticated`, and roll back, so they depend neither on
the scope nor on other tests' data.
"""

import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from gptdesk.db.scope import Scope

HELPERS = ("get_user_role", "get_user_team_id", "is_admin_or_super", "is_super_admin")
CLAIM_READERS = ("uid", "role", "jwt", "email")
API_ROLES = ("anon", "authenticated", "service_role")
# What authenticated may call in public; everything else there is for the owner alone.
AUTHENTICATED_CALLS = {
    *HELPERS,
    "log_action",
    "remove_team_member",
    "can_manage_team",
    "price_of",
    "usage_cost",
    "rate_gpt",
    "set_provider_key",
    "purge_audit_logs",
    "approve_gpt",
    "reject_gpt",
    "suspend_gpt",
    "reinstate_gpt",
    "rollback_gpt",
    "override_gpt_risk",
    "record_gpt_refusal",
}
SPOOFED_HEADERS = {
    "x-forwarded-for": "203.0.113.66, 10.0.0.1",
    "x-real-ip": "203.0.113.67",
    "user-agent": "audit-probe/1",
}

# The public functions the migrations made (not those of extensions such as pg_trgm), with
# who may execute them; PUBLIC's grant shows as the grantee 0 in the ACL.
OUR_FUNCTIONS = """
select p.proname as name,
       pg_catalog.has_function_privilege('anon', p.oid, 'execute') as anon,
       pg_catalog.has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
       pg_catalog.has_function_privilege('service_role', p.oid, 'execute') as service_role,
       exists (select from pg_catalog.aclexplode(
                 coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
               where a.grantee = 0 and a.privilege_type = 'EXECUTE') as public
  from pg_catalog.pg_proc p
 where p.pronamespace = 'public'::regnamespace
   and not exists (select from pg_catalog.pg_depend d
                   where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid
                     and d.deptype = 'e')
"""


async def test_public_functions_are_callable_only_by_whom_needs_them(
    admin_conn: asyncpg.Connection,
) -> None:
    rows = {row["name"]: row for row in await admin_conn.fetch(OUR_FUNCTIONS)}
    assert set(rows) >= AUTHENTICATED_CALLS
    assert [name for name, row in rows.items() if row["public"] or row["anon"]] == []
    for name, row in rows.items():
        callable_by_users = name in AUTHENTICATED_CALLS
        assert row["authenticated"] is callable_by_users, name
        assert row["service_role"] is callable_by_users, name


async def test_the_claim_readers_stay_callable_by_every_api_role(
    admin_conn: asyncpg.Connection,
) -> None:
    for role in API_ROLES:
        for reader in CLAIM_READERS:
            assert await admin_conn.fetchval(
                "select pg_catalog.has_function_privilege($1, $2, 'execute')",
                role,
                f"auth.{reader}()",
            ), (role, reader)


@pytest.mark.parametrize("helper", HELPERS)
async def test_anon_cannot_ask_about_a_user(scope: Scope, helper: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=f"function {helper}"):
        async with scope.as_claims({"role": "anon"}) as conn:
            await conn.fetchval(f"select public.{helper}($1)", uuid.uuid4())


async def test_an_anonymous_gpt_insert_is_refused_by_the_policy(scope: Scope) -> None:
    """The governance guard runs before RLS; for anon it must not reach for the helpers."""
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with scope.as_claims({"role": "anon"}) as conn:
            await conn.execute("insert into public.gpts (name) values ('anonymous')")


class _Undo(Exception):
    """Carries the audit row out of the transaction it rolls back."""

    def __init__(self, row: asyncpg.Record) -> None:
        super().__init__("rolled back")
        self.row = row


async def log_with(conn: asyncpg.Connection, **settings: str) -> dict[str, Any]:
    """Call log_action as a signed-in user with these request settings; return its row.

    Runs in a transaction on an owner's connection, which switches to `authenticated` for
    the call and back to read the row, then rolls everything back.
    """
    claims = {"role": "authenticated", "sub": str(uuid.uuid4())}
    settings = {"request.jwt.claims": orjson.dumps(claims).decode(), **settings}
    try:
        async with conn.transaction():
            await conn.execute("set local role authenticated")
            for name, value in settings.items():
                await conn.execute("select pg_catalog.set_config($1, $2, true)", name, value)
            new_id = await conn.fetchval("select public.log_action('case.audited', 'probe')")
            await conn.execute("reset role")
            raise _Undo(
                await conn.fetchrow(
                    "select host(ip_address) as ip, user_agent from public.audit_logs "
                    "where id = $1",
                    new_id,
                )
            )
    except _Undo as undone:
        return dict(undone.row)
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("client_ip", "recorded"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8::7", "2001:db8::7"),
        ("", None),
        ("   ", None),
        ("not-an-address", None),
    ],
)
async def test_log_action_takes_the_address_from_request_client_ip_alone(
    admin_conn: asyncpg.Connection, client_ip: str, recorded: str | None
) -> None:
    row = await log_with(
        admin_conn,
        **{
            "request.headers": orjson.dumps(SPOOFED_HEADERS).decode(),
            "request.client_ip": client_ip,
        },
    )
    assert row == {"ip": recorded, "user_agent": "audit-probe/1"}


async def test_log_action_without_request_client_ip_records_no_address(db: Any) -> None:
    """A connection that never set request.client_ip (the setting is missing, not empty)."""
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        assert await conn.fetchval("select current_setting('request.client_ip', true)") is None
        row = await log_with(conn, **{"request.headers": orjson.dumps(SPOOFED_HEADERS).decode()})
    finally:
        await conn.close()
    assert row == {"ip": None, "user_agent": "audit-probe/1"}
