"""Audit export: filters parsed from a query string or the command line, the SQL that reads
the rows in chain order, and the JSONL / CSV lines they are written as (pure)."""

import csv
import io
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

COLUMNS = (
    "seq",
    "id",
    "created_at",
    "user_id",
    "team_id",
    "action",
    "resource_type",
    "resource_id",
    "details",
    "ip_address",
    "user_agent",
    "prev_hash",
    "hash",
)
FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
_ACTION = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$")


class FilterError(ValueError):
    """A filter that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Filters:
    """Which audit rows to export. `action` ending in `.*` matches a prefix."""

    since: datetime | None = None
    until: datetime | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None


def parse_time(name: str, raw: str) -> datetime:
    """An ISO date (midnight UTC) or timestamp (UTC when it names no zone)."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"{name} must be an ISO date or timestamp, not {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _uuid(name: str, raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise FilterError(f"{name} must be a uuid, not {raw!r}") from None


def parse_filters(params: Mapping[str, str]) -> Filters:
    """Filters from query parameters or options; unknown names are refused."""
    known = {"since", "until", "action", "resource_type", "resource_id", "team_id", "user_id"}
    unknown = sorted(set(params) - known - {"format"})
    if unknown:
        raise FilterError(f"unknown filter {unknown[0]!r}; use {', '.join(sorted(known))}")
    since = parse_time("since", params["since"]) if params.get("since") else None
    until = parse_time("until", params["until"]) if params.get("until") else None
    if since and until and since >= until:
        raise FilterError("since must be before until")
    action = params.get("action") or None
    if action is not None and not _ACTION.match(action):
        raise FilterError("action must be a dotted name such as gpt.approved, or a prefix gpt.*")
    return Filters(
        since=since,
        until=until,
        action=action,
        resource_type=params.get("resource_type") or None,
        resource_id=_uuid("resource_id", params["resource_id"])
        if params.get("resource_id")
        else None,
        team_id=_uuid("team_id", params["team_id"]) if params.get("team_id") else None,
        user_id=_uuid("user_id", params["user_id"]) if params.get("user_id") else None,
    )


def export_query(filters: Filters) -> tuple[str, list[Any]]:
    """SELECT of the matching rows in chain order, and its arguments."""
    where: list[str] = []
    args: list[Any] = []

    def add(clause: str, value: Any) -> None:
        args.append(value)
        where.append(clause.format(f"${len(args)}"))

    if filters.since:
        add("created_at >= {}", filters.since)
    if filters.until:
        add("created_at < {}", filters.until)
    if filters.action:
        if filters.action.endswith(".*"):
            add("starts_with(action::text, {})", filters.action[:-1])
        else:
            add("action = {}", filters.action)
    if filters.resource_type:
        add("resource_type = {}", filters.resource_type)
    if filters.resource_id:
        add("resource_id = {}::uuid", filters.resource_id)
    if filters.team_id:
        add("recorded_team_id = {}::uuid", filters.team_id)
    if filters.user_id:
        add("recorded_user_id = {}::uuid", filters.user_id)
    sql = (
        "select seq, id::text, created_at, recorded_user_id::text as user_id,"
        " recorded_team_id::text as team_id, action::text,"
        " resource_type::text, resource_id::text, details::text, host(ip_address) as ip_address,"
        " user_agent, prev_hash, hash from public.audit_logs"
        + (" where " + " and ".join(where) if where else "")
        + " order by public.audit_logs.seq"
    )
    return sql, args


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["created_at"] = row["created_at"].isoformat()
    return out


def jsonl_line(row: Mapping[str, Any]) -> bytes:
    """One row as a JSON line (details as JSON, not text)."""
    out = _plain(row)
    out["details"] = orjson.Fragment(row["details"].encode())
    return orjson.dumps(out) + b"\n"


def _csv(values: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue().encode()


def csv_header() -> bytes:
    """The CSV header line."""
    return _csv(list(COLUMNS))


def csv_line(row: Mapping[str, Any]) -> bytes:
    """One row as a CSV line (details as its JSON text)."""
    values = _plain(row)
    return _csv([values[c] for c in COLUMNS])
