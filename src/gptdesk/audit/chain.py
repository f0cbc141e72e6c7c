"""The audit hash chain, recomputed outside the database (pure).

Each row's hash is SHA-256 over its fields as text, each quoted as PostgreSQL's
quote_nullable quotes it and joined by commas, in `FIELDS` order; migration 0021's
audit.row_text builds the same string. Rebuilding it here, not calling the database's
function, means a replaced function cannot hide an edit.
"""

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

# The row's fields as text, in hash order: (name, SQL that reads it as text). The actor and
# team are the copies taken when the row was written (user_id and team_id are nulled by
# their foreign keys when the user or team is deleted).
FIELDS: tuple[tuple[str, str], ...] = (
    ("seq", "seq::text"),
    ("prev_hash", "prev_hash"),
    ("id", "id::text"),
    ("created_at", """to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""),
    ("user_id", "recorded_user_id::text"),
    ("team_id", "recorded_team_id::text"),
    ("action", "action::text"),
    ("resource_type", "resource_type::text"),
    ("resource_id", "resource_id::text"),
    ("details", "details::text"),
    ("ip_address", "ip_address::text"),
    ("user_agent", "user_agent"),
)


def quote_nullable(value: str | None) -> str:
    """PostgreSQL's quote_nullable of a text value."""
    if value is None:
        return "NULL"
    quoted = value.replace("'", "''")
    if "\\" in quoted:
        return "E'" + quoted.replace("\\", "\\\\") + "'"
    return "'" + quoted + "'"


def row_hash(row: Mapping[str, str | None]) -> str:
    """The hash a row with these text fields must carry."""
    text = ",".join(quote_nullable(row[name]) for name, _ in FIELDS)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    """One break in the chain, named by the row where it shows."""

    seq: int | None
    row_id: str | None
    kind: str  # edited | missing | out_of_order | truncated
    message: str


@dataclass(frozen=True)
class Start:
    """Where the remaining chain starts (after purges) and where it must end."""

    first_seq: int
    prev_hash: str
    head_seq: int
    head_hash: str


class ChainWalker:
    """Checks rows (text fields plus `hash`) fed in seq order from `start`."""

    def __init__(self, start: Start) -> None:
        self.start = start
        self.rows = 0
        self.expected_seq = start.first_seq
        self.expected_prev = start.prev_hash
        self.last_seq = start.first_seq - 1
        self.last_hash = start.prev_hash

    def feed(self, row: Mapping[str, Any]) -> Iterator[Problem]:
        """The problems this row shows."""
        self.rows += 1
        seq = int(row["seq"])
        row_id = row["id"]
        if seq > self.expected_seq:
            first = self.expected_seq
            gap = f"{first}" if seq == first + 1 else f"{first} to {seq - 1}"
            yield Problem(seq, row_id, "missing", f"row(s) {gap} before row {seq} were deleted")
        elif seq < self.expected_seq:
            yield Problem(seq, row_id, "out_of_order", f"row {seq} repeats a sequence number")
        elif row["prev_hash"] != self.expected_prev:
            yield Problem(
                seq,
                row_id,
                "out_of_order",
                f"row {seq} ({row_id}) does not follow the row before it: "
                "a row was deleted, inserted or moved here",
            )
        if row_hash(row) != row["hash"]:
            yield Problem(
                seq, row_id, "edited", f"row {seq} ({row_id}) was changed after it was written"
            )
        self.expected_seq = max(self.expected_seq, seq + 1)
        self.expected_prev = row["hash"]
        self.last_seq, self.last_hash = seq, row["hash"]

    def finish(self) -> Iterator[Problem]:
        """The problems at the end: rows cut off, or added past the recorded head."""
        head_seq, head_hash = self.start.head_seq, self.start.head_hash
        if self.last_seq > head_seq:
            yield Problem(
                self.last_seq,
                None,
                "out_of_order",
                f"rows after {head_seq}, the last the chain head recorded, were added",
            )
        elif self.last_seq < head_seq:
            yield Problem(
                None,
                None,
                "truncated",
                f"rows {self.last_seq + 1} to {head_seq} at the end of the chain were deleted",
            )
        elif self.last_hash != head_hash:
            yield Problem(
                self.last_seq,
                None,
                "edited",
                f"the last row ({self.last_seq}) is not the one the chain head recorded",
            )
