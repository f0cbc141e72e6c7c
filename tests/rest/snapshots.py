"""The owner's view of the world: every row of every public table, to prove nothing changed.

A test takes a `snapshot` before it writes and calls `assert_unchanged` after; on a
difference the world is loaded again (with its users' sessions, so their tokens stay good)
and the test fails with the rows that changed. `TABLES` and `IDS` (the world's rows by name)
come from the RLS case table.
"""

import asyncpg
import jwt

from tests.rest.world import RLS, World
from tests.rls.test_rls_cases import TABLE

TABLES = sorted(TABLE.ops_by_table)  # every public table (test_rls_cases checks the catalog)
IDS = {name: str(value) for name, value in TABLE.ids.items()}  # the world's rows, by name

Snapshot = dict[str, list[str]]


# The audit trail only grows: an allowed write (and a refused governance action) adds rows,
# and the database refuses every change to a row once written (tests/audit prove it). So it
# is left out: reading every row of a trail that grows with every test would make each
# snapshot slower, and could show nothing the trail's own guard does not prevent.
APPEND_ONLY = frozenset({"audit_logs"})


async def snapshot(conn: asyncpg.Connection) -> Snapshot:
    """Every row of every public table but the audit trail, as JSON text, sorted."""
    found: Snapshot = {}
    for table in TABLES:
        if table in APPEND_ONLY:
            found[table] = []
            continue
        rows = await conn.fetch(f'select to_jsonb(t)::text as row from public."{table}" t')
        found[table] = sorted(row["row"] for row in rows)
    return found


def _changed(before: Snapshot, after: Snapshot) -> dict[str, tuple[list[str], list[str]]]:
    """Per table, the rows gone and the rows new."""
    changes = {}
    for table in TABLES:
        gone = sorted(set(before[table]) - set(after[table]))
        new = sorted(set(after[table]) - set(before[table]))
        if gone or new:
            changes[table] = (gone, new)
    return changes


async def restore_world(conn: asyncpg.Connection, world: World) -> None:
    """Load the world again (and its users' sessions, so the tokens stay good)."""
    await conn.execute((RLS / "world_teardown.sql").read_text())
    await conn.execute((RLS / "world.sql").read_text())
    for token in world.tokens.values():
        claims = jwt.decode(token, options={"verify_signature": False})
        await conn.execute(
            "insert into auth.sessions (id, user_id, aal) values ($1, $2, $3) "
            "on conflict (id) do nothing",
            claims["session_id"], claims["sub"], claims["aal"],
        )  # fmt: skip


def _diff(changes: dict[str, tuple[list[str], list[str]]]) -> str:
    lines = []
    for table, (gone, new) in changes.items():
        lines += [f"{table}: - {row}" for row in gone] + [f"{table}: + {row}" for row in new]
    return "\n".join(lines)


async def assert_unchanged(conn: asyncpg.Connection, world: World, before: Snapshot) -> None:
    """Fail if any public row changed since `before`, after putting the world back."""
    changes = _changed(before, await snapshot(conn))
    if changes:
        await restore_world(conn, world)
        raise AssertionError("rows changed (the world was reloaded):\n" + _diff(changes))
