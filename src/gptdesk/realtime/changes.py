"""Row changes from PostgreSQL, and who may see them.

Changes arrive as notifications on `gptdesk_realtime` (migrations/0019: sent by a trigger,
delivered at commit, in commit order); a large one is fetched from realtime.large_changes.
`authorize` asks PostgreSQL which of a batch of changes each distinct subscriber claims
may SELECT: one call per table and batch (realtime.visible_rows, or visible_old_rows for
DELETEs), in which PostgreSQL switches to each claims' role so the table's RLS decides.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson


@dataclass(frozen=True)
class Change:
    """One committed row change."""

    schema: str
    table: str
    type: str  # INSERT, UPDATE, DELETE
    commit_timestamp: str
    pk: tuple[str, ...]
    record: dict[str, Any] | None
    old_record: dict[str, Any] | None
    full_old: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def key(self) -> dict[str, Any] | None:
        """The primary key of the row (from the new row, or for DELETE the old one)."""
        row = self.old_record if self.type == "DELETE" else self.record
        if row is None or not self.pk:
            return None
        return {column: row.get(column) for column in self.pk}


def parse_change(payload: dict[str, Any]) -> Change:
    """A change from its notification payload."""
    return Change(
        schema=payload["schema"], table=payload["table"], type=payload["type"],
        commit_timestamp=payload["commit_timestamp"], pk=tuple(payload.get("pk") or ()),
        record=payload.get("record"), old_record=payload.get("old_record"),
        full_old=payload.get("full_old"),
    )  # fmt: skip


async def read_notification(conn: asyncpg.Connection, text: str) -> Change:
    """The change a notification carries (fetching a large one by its id)."""
    payload = orjson.loads(text)
    if "large" in payload:
        payload = await conn.fetchval(
            "select payload from realtime.large_changes where id = $1", int(payload["large"])
        )
    return parse_change(payload)


async def columns_of(conn: asyncpg.Connection, relation: str) -> list[dict[str, str]]:
    """The table's columns in order, with their type names (what payloads list)."""
    rows = await conn.fetch(
        "select a.attname::text as name, t.typname::text as type "
        "from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid "
        "where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum",
        relation,
    )
    return [{"name": r["name"], "type": r["type"]} for r in rows]


async def authorize(
    conn: asyncpg.Connection,
    relation: str,
    changes: Sequence[Change],
    claims: Sequence[dict[str, Any]],
) -> set[tuple[int, int]]:
    """(claims index, change index) pairs: which claims may see which change."""
    if not changes or not claims:
        return set()
    deletes = [i for i, c in enumerate(changes) if c.type == "DELETE"]
    others = [i for i, c in enumerate(changes) if c.type != "DELETE"]
    seen: set[tuple[int, int]] = set()
    if others:
        keys = [changes[i].key for i in others]
        rows = await conn.fetch(
            "select claims_index, key_index from realtime.visible_rows($1::regclass, $2, $3)",
            relation, keys, list(claims),
        )  # fmt: skip
        seen |= {(r["claims_index"], others[r["key_index"]]) for r in rows}
    if deletes:
        old_rows = [changes[i].full_old or changes[i].old_record for i in deletes]
        rows = await conn.fetch(
            "select claims_index, key_index from realtime.visible_old_rows($1::regclass, $2, $3)",
            relation, old_rows, list(claims),
        )  # fmt: skip
        seen |= {(r["claims_index"], deletes[r["key_index"]]) for r in rows}
    return seen
