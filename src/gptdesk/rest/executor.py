"""The one stage of the REST pipeline that talks to PostgreSQL.

Runs a prepared statement in the request's scope (role and claims set, read-only for
reads) and hands back the body PostgreSQL built as bytes. Checks that must undo the
write — a singular response that is not one row, `max-affected` exceeded — raise inside
the transaction, so it rolls back.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from gptdesk.db.scope import RequestInfo, Scope
from gptdesk.rest.errors import RestError, from_postgres
from gptdesk.rest.prepare import Prepared


@dataclass(frozen=True)
class Outcome:
    """What the statement returned: the total (if counted), rows on the page, the body."""

    total: int | None
    rows: int
    body: bytes | None
    inserted: bool | None = None  # an upsert's: did it insert any row (else only merged)


def singular_error(rows: int) -> RestError:
    """PGRST116: an object was asked for and the result is not exactly one row."""
    return RestError(
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
        f"The result contains {rows} rows",
    )


def _affected(status: str) -> int:
    """The row count of a command status such as `INSERT 0 3` or `DELETE 2`."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


async def _planned_count(conn: asyncpg.Connection, prepared: Prepared) -> int | None:
    statement = prepared.count_statement
    if statement is None:
        return None
    plan = await conn.fetchval(f"explain (format json) {statement.sql}", *statement.params)
    estimate = int((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]["Plan Rows"])
    # estimated: exact while the planner expects no more than a page cap of rows.
    limit = prepared.page.limit
    if prepared.preferences.count == "estimated" and limit is not None and estimate <= limit:
        return int(await conn.fetchval(statement.sql, *statement.params))
    return estimate


async def _run(conn: asyncpg.Connection, prepared: Prepared) -> Outcome:
    statement = prepared.statement
    if not prepared.rows_returned:
        rows = _affected(await conn.execute(statement.sql, *statement.params))
        outcome = Outcome(rows if prepared.preferences.count else None, rows, None)
    else:
        row = await conn.fetchrow(statement.sql, *statement.params)
        assert row is not None
        total = row["total"]
        if total is None:
            total = await _planned_count(conn, prepared)
        body = row["body"]
        outcome = Outcome(
            total,
            row["page_total"],
            None if body is None else body.encode(),
            row.get("inserted"),
        )
    if prepared.action in ("insert", "update", "delete"):
        if prepared.media.shape == "object" and outcome.rows != 1:
            raise singular_error(outcome.rows)
        limit = prepared.preferences.max_affected
        if limit is not None and prepared.preferences.strict and outcome.rows > limit:
            raise RestError(
                400,
                "PGRST124",
                "Query result exceeds max-affected preference constraint",
                f"The query affects {outcome.rows} rows",
            )
    return outcome


async def execute(
    scope: Scope, claims: Mapping[str, Any], request: RequestInfo, prepared: Prepared
) -> Outcome:
    """Run `prepared` as `claims`; PostgreSQL errors come back as PostgREST reports them."""
    role = str(claims.get("role", "anon"))
    try:
        async with scope.as_claims(claims, request=request, read_only=prepared.read_only) as conn:
            return await _run(conn, prepared)
    except asyncpg.PostgresError as error:
        raise from_postgres(
            error.sqlstate or "XX000",
            error.args[0] if error.args else str(error),
            getattr(error, "detail", None),
            getattr(error, "hint", None),
            role=role,
        ) from None
    except OSError as error:  # the database went away mid-request
        raise RestError(503, "PGRST001", "Database client error", str(error)) from None
