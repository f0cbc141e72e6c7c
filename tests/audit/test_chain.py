"""The chain rebuilt outside the database: quote_nullable as PostgreSQL quotes, row hashes as
audit.row_hash takes them, and ChainWalker naming every kind of break in synthetic chains."""

import hashlib
import uuid
from typing import Any

import asyncpg
import pytest

from gptdesk.audit.chain import FIELDS, GENESIS, ChainWalker, Start, quote_nullable, row_hash
from tests.audit.conftest import AWKWARD, AWKWARD_AGENT

TRICKY = [
    "",
    "plain",
    "it's",
    "''",
    "'",
    "\\",
    "back\\slash",
    "trailing\\",
    "both ' and \\ and \\'",
    "E'looks quoted'",
    "NULL",
    "unicode: é ü 漢字 🙂 e\u0301",
    "line\nbreak\ttab\r",
    '{"a": "x\\"y", "b": "\\u00e9"}',
    AWKWARD,
    AWKWARD_AGENT,
]


@pytest.mark.parametrize("text", [*TRICKY, None])
async def test_quote_nullable_matches_postgresql(
    admin_conn: asyncpg.Connection, text: str | None
) -> None:
    assert quote_nullable(text) == await admin_conn.fetchval(
        "select quote_nullable($1::text)", text
    )


async def test_row_hash_matches_the_database(trail_conn: asyncpg.Connection) -> None:
    """Every template row, awkward text and all, hashes alike on both sides."""
    fields = ", ".join(f"{sql} as {name}" for name, sql in FIELDS)
    rows = await trail_conn.fetch(
        f"select {fields}, hash, audit.row_hash(a) as db_hash from public.audit_logs a order by seq"
    )
    assert len(rows) > 5
    assert any(row["user_agent"] == AWKWARD_AGENT for row in rows)
    for row in rows:
        assert row_hash(row) == row["hash"] == row["db_hash"], row["seq"]


def test_row_hash_is_sha256_over_the_quoted_fields_in_order() -> None:
    row = {name: None for name, _ in FIELDS} | {
        "seq": "7",
        "prev_hash": "ab",
        "id": "00000000-0000-4000-8000-000000000007",
        "action": "gpt.updated",
        "details": '{"k": "it\'s"}',
    }
    text = "'7','ab','00000000-0000-4000-8000-000000000007',NULL,NULL,NULL,'gpt.updated',NULL,NULL,"
    text += "'{\"k\": \"it''s\"}',NULL,NULL"
    assert row_hash(row) == hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# ChainWalker on synthetic chains: rows carry their fields as text, as verify reads them.
# ---------------------------------------------------------------------------------------


def make_chain(count: int, first_seq: int = 1, prev: str = GENESIS) -> list[dict[str, Any]]:
    """`count` correctly chained rows from `first_seq`."""
    rows = []
    for seq in range(first_seq, first_seq + count):
        row: dict[str, Any] = {name: None for name, _ in FIELDS}
        row |= {
            "seq": str(seq),
            "prev_hash": prev,
            "id": str(uuid.uuid4()),
            "created_at": f"2024-05-01T10:00:{seq:02d}.000000Z",
            "action": "probe.noted",
            "resource_type": "probe",
            "details": f'{{"n": {seq}}}',
        }
        row["hash"] = prev = row_hash(row)
        rows.append(row)
    return rows


def rehash(row: dict[str, Any]) -> None:
    """What a forger able to compute hashes does after an edit."""
    row["hash"] = row_hash(row)


def start_of(rows: list[dict[str, Any]], first_seq: int = 1, prev: str = GENESIS) -> Start:
    """The start and head a chain head would record for `rows`."""
    if not rows:
        return Start(first_seq, prev, first_seq - 1, prev)
    return Start(first_seq, prev, int(rows[-1]["seq"]), rows[-1]["hash"])


def walk(start: Start, rows: list[dict[str, Any]]) -> list[tuple[str, int | None, str]]:
    """(kind, seq, message) of every problem, in the order found."""
    walker = ChainWalker(start)
    problems = [p for row in rows for p in walker.feed(row)]
    problems += walker.finish()
    assert walker.rows == len(rows)
    return [(p.kind, p.seq, p.message) for p in problems]


def kinds(problems: list[tuple[str, int | None, str]]) -> list[tuple[str, int | None]]:
    return [(kind, seq) for kind, seq, _ in problems]


def test_an_intact_chain_has_no_problems() -> None:
    rows = make_chain(5)
    assert walk(start_of(rows), rows) == []


def test_an_empty_chain_is_intact() -> None:
    assert walk(start_of([]), []) == []


def test_an_edited_row_is_named() -> None:
    rows = make_chain(5)
    start = start_of(rows)
    rows[2]["details"] = '{"n": 999}'
    assert walk(start, rows) == [
        ("edited", 3, f"row 3 ({rows[2]['id']}) was changed after it was written")
    ]


@pytest.mark.parametrize("field", [name for name, _ in FIELDS if name not in ("seq", "prev_hash")])
def test_an_edit_of_any_hashed_field_is_seen(field: str) -> None:
    rows = make_chain(3)
    start = start_of(rows)
    rows[1][field] = "tampered" if rows[1][field] is None else None
    assert kinds(walk(start, rows)) == [("edited", 2)]


def test_an_edit_rehashed_breaks_the_link_to_the_next_row() -> None:
    rows = make_chain(5)
    start = start_of(rows)
    rows[2]["user_agent"] = "forged"
    rehash(rows[2])
    problems = walk(start, rows)
    assert kinds(problems) == [("out_of_order", 4)]
    assert rows[3]["id"] in problems[0][2]


def test_the_last_row_edited_and_rehashed_differs_from_the_head() -> None:
    rows = make_chain(4)
    start = start_of(rows)
    rows[-1]["details"] = "{}"
    rehash(rows[-1])
    assert walk(start, rows) == [
        ("edited", 4, "the last row (4) is not the one the chain head recorded")
    ]


def test_a_deleted_middle_row_is_missing() -> None:
    rows = make_chain(6)
    start = start_of(rows)
    del rows[2]
    assert walk(start, rows) == [("missing", 4, "row(s) 3 before row 4 were deleted")]


def test_several_deleted_rows_are_named_as_a_range() -> None:
    rows = make_chain(8)
    start = start_of(rows)
    del rows[1:5]
    assert walk(start, rows) == [("missing", 6, "row(s) 2 to 5 before row 6 were deleted")]


def test_a_deleted_first_row_is_missing() -> None:
    rows = make_chain(3)
    start = start_of(rows)
    del rows[0]
    assert kinds(walk(start, rows)) == [("missing", 2)]


def test_swapped_rows_are_out_of_order_and_edited() -> None:
    """Two rows' sequence numbers exchanged, read back in sequence order."""
    rows = make_chain(5)
    start = start_of(rows)
    rows[1]["seq"], rows[2]["seq"] = rows[2]["seq"], rows[1]["seq"]
    rows[1], rows[2] = rows[2], rows[1]
    problems = walk(start, rows)
    assert kinds(problems) == [
        ("out_of_order", 2),
        ("edited", 2),
        ("out_of_order", 3),
        ("edited", 3),
        ("out_of_order", 4),  # its link still names the row that was third
    ]
    assert rows[1]["id"] in problems[0][2] and rows[2]["id"] in problems[2][2]


def test_rows_cut_off_the_end_are_truncated() -> None:
    rows = make_chain(5)
    start = start_of(rows)
    assert walk(start, rows[:3]) == [
        ("truncated", None, "rows 4 to 5 at the end of the chain were deleted")
    ]


def test_every_row_deleted_is_truncated() -> None:
    rows = make_chain(2)
    assert kinds(walk(start_of(rows), [])) == [("truncated", None)]


def test_a_row_appended_past_the_head_is_named() -> None:
    """A forger who chains a new row correctly but cannot move the head."""
    rows = make_chain(3)
    start = start_of(rows)
    rows += make_chain(1, first_seq=4, prev=rows[-1]["hash"])
    assert walk(start, rows) == [
        ("out_of_order", 4, "rows after 3, the last the chain head recorded, were added")
    ]


def test_a_purged_chain_verifies_from_its_recorded_start() -> None:
    rows = make_chain(6)
    kept = rows[3:]
    assert walk(start_of(kept, first_seq=4, prev=rows[2]["hash"]), kept) == []
    # the wrong start: the rows before were not the ones purged
    problems = walk(start_of(kept, first_seq=4, prev=GENESIS), kept)
    assert kinds(problems) == [("out_of_order", 4)]
    # a purge recorded through 3 but row 4 gone as well
    assert kinds(walk(start_of(kept, first_seq=4, prev=rows[2]["hash"]), kept[1:])) == [
        ("missing", 5)
    ]
