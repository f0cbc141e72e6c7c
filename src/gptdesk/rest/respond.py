"""The HTTP response PostgREST gives: status, Content-Range, Location, Preference-Applied.

Pure: a prepared request and what the statement returned in, status + headers + body out.
The body PostgreSQL built is passed through as bytes (an object response is the array's
only element, cut out of the text rather than decoded).
"""

from dataclasses import dataclass
from urllib.parse import quote

import orjson

from gptdesk.rest.errors import RestError
from gptdesk.rest.executor import Outcome, singular_error
from gptdesk.rest.prepare import Prepared

# Preferences PostgREST knows that GPT Desk accepts but does not act on: never echoed.
_NOT_APPLIED = ("tx=", "timezone=")


@dataclass(frozen=True)
class Reply:
    """Status, headers and body of a REST response."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


def content_range(offset: int, rows: int, total: int | None) -> str:
    """`first-last/total`, `*/total` for an empty page; total is `*` when not counted."""
    counted = "*" if total is None else str(total)
    if rows == 0:
        return f"*/{counted}"
    return f"{offset}-{offset + rows - 1}/{counted}"


def _location(prepared: Prepared, body: bytes | None) -> str | None:
    if not body or not prepared.primary_key:
        return None
    rows = orjson.loads(body)
    if not rows:
        return None
    first = rows[0]
    filters = "&".join(
        f"{quote(key)}=eq.{quote(str(first.get(key)), safe='')}" for key in prepared.primary_key
    )
    return f"/{prepared.table}?{filters}"


def _applied(prepared: Prepared) -> dict[str, str]:
    shown = [p for p in prepared.preferences.applied if not p.startswith(_NOT_APPLIED)]
    return {"Preference-Applied": ", ".join(shown)} if shown else {}


def _read(prepared: Prepared, outcome: Outcome) -> Reply:
    page = prepared.page
    total = outcome.total
    if outcome.rows == 0 and total is not None and page.offset > total:
        raise RestError(
            416,
            "PGRST103",
            "Requested range not satisfiable",
            f"An offset of {page.offset} was requested, but there are only {total} rows.",
        )
    headers = {"Content-Range": content_range(page.offset, outcome.rows, total)}
    status = 206 if total is not None and outcome.rows < total else 200
    body = outcome.body if outcome.body is not None else b"[]"
    if prepared.media.shape == "object":
        if outcome.rows != 1:
            raise singular_error(outcome.rows)
        body = body[1:-1]
    return Reply(status, headers, body)


def reply(prepared: Prepared, outcome: Outcome) -> Reply:
    """The response to a request that ran."""
    headers = {"Content-Type": prepared.media.content_type, **_applied(prepared)}
    action = prepared.action
    if action == "read" or (action == "call" and not prepared.void):
        result = _read(prepared, outcome)
        headers.update(result.headers)
        return Reply(result.status, headers, b"" if prepared.head else result.body)
    if action == "call":
        return Reply(204, _applied(prepared))
    counted = "*" if outcome.total is None else str(outcome.total)
    representation = prepared.preferences.return_ == "representation"
    body = outcome.body or b"[]"
    if prepared.media.shape == "object" and representation:
        body = body[1:-1]
    if action == "insert":
        headers["Content-Range"] = f"*/{counted}"
        if prepared.preferences.return_ == "headers-only":
            location = _location(prepared, outcome.body)
            if location:
                headers["Location"] = location
        status = 200 if outcome.inserted is False else 201  # an upsert that only merged
        return Reply(status, headers, body if representation else b"")
    if action == "delete":
        headers["Content-Range"] = f"*/{counted}"
    else:
        headers["Content-Range"] = content_range(0, outcome.rows, outcome.total)
    if representation:
        return Reply(200, headers, body)
    headers.pop("Content-Type")
    return Reply(204, headers)
