"""Message search parameters and cursors, pure: the query string in, a SearchQuery out.

Keyset pagination: a cursor is the (rank, created_at, id) of the last result of a page,
sealed in base64url JSON; the next page is what sorts after it. Bad input is an ApiError
(400) with a stable code, before any SQL runs.
"""

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson

from gptdesk.api import ApiError

MAX_QUERY_CHARS = 1000
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended."""

    rank: float
    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class SearchQuery:
    """A search: the words, optional GPT and time window, page size and position."""

    text: str
    gpt_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None


def _bad(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _bad(f"invalid_{name}", f"{name} must be a UUID") from None


def _time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(f"invalid_{name}", f"{name} must be an ISO 8601 date or time") from None
    if parsed.tzinfo is None:
        raise _bad(f"invalid_{name}", f"{name} must carry a time zone (e.g. Z or +00:00)")
    return parsed


def encode_cursor(cursor: Cursor) -> str:
    """The opaque cursor string of a page's last result."""
    raw = orjson.dumps([cursor.rank, cursor.created_at.isoformat(), str(cursor.id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """A cursor from `encode_cursor`, or 400 invalid_cursor."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        rank, created_at, ident = orjson.loads(raw)
        return Cursor(float(rank), datetime.fromisoformat(created_at), uuid.UUID(ident))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise _bad("invalid_cursor", "cursor is not one this API returned") from None


def parse_search(params: Mapping[str, str]) -> SearchQuery:
    """The search a query string asks for (`q`, `gpt_id`, `from`, `to`, `limit`, `cursor`)."""
    text = (params.get("q") or "").strip()
    if not text:
        raise _bad("invalid_query", "q (the words to search for) is required")
    if len(text) > MAX_QUERY_CHARS or "\x00" in text:
        raise _bad("invalid_query", f"q must be at most {MAX_QUERY_CHARS} characters of text")
    limit_text = params.get("limit", str(DEFAULT_LIMIT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise _bad("invalid_limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    since = _time(params["from"], "from") if params.get("from") else None
    until = _time(params["to"], "to") if params.get("to") else None
    if since and until and since >= until:
        raise _bad("invalid_to", "to must be later than from")
    return SearchQuery(
        text,
        _uuid(params["gpt_id"], "gpt_id") if params.get("gpt_id") else None,
        since,
        until,
        int(limit_text),
        decode_cursor(params["cursor"]) if params.get("cursor") else None,
    )
