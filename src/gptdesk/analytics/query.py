"""Analytics requests: parsing (ranges, periods, groupings, filters) and the SQL that answers
them from the smallest rollup that holds the dimensions asked for (pure).

Every statement runs as the caller, so RLS decides the rows whichever relation is read:
the rollups for team admins and super admins, and for plain users their own rows (the
per-user rollup, or the raw usage rows when they group by GPT or model — a user's raw rows
are few and indexed).
"""

import calendar
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from gptdesk.analytics.percentiles import COLUMNS as HISTOGRAM

PERIODS = ("day", "week", "month")
GROUPS = ("none", "team", "user", "gpt", "model")
MAX_RANGE_DAYS = 400
USAGE_PARAMS = {
    "from",
    "to",
    "period",
    "group_by",
    "team_id",
    "gpt_id",
    "user_id",
    "model",
    "format",
}
DEFAULT_RANGE_DAYS = 30
# Dates a range may name (the previous period of a range must still be a date).
EARLIEST = date(1970, 1, 1)
LATEST = date.max
SUMMED = (
    "requests",
    "failed_requests",
    "unpriced_requests",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "response_ms_sum",
    *HISTOGRAM,
)
# The dimensions each rollup keeps besides the day, smallest first. The organization's totals
# keep none (super admins alone read them: every other caller's rows name a team or a user).
ROLLUPS = (
    ("public.usage_daily_totals", frozenset()),
    ("public.usage_daily_teams", frozenset({"team"})),
    ("public.usage_daily_gpts", frozenset({"team", "gpt", "model"})),
    ("public.usage_daily_users", frozenset({"team", "user"})),
)
_KEY_COLUMN = {"team": "team_id", "user": "user_id", "gpt": "gpt_id", "model": "model"}


class QueryError(ValueError):
    """A request analytics cannot answer; `code` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """How many days the range covers."""
        return (self.end - self.start).days + 1

    def previous(self) -> "DateRange":
        """The range of the same length just before this one."""
        return DateRange(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


@dataclass(frozen=True)
class Filters:
    """Narrowing: one team, GPT, user or model asked for; and `within_team` / `within_user`,
    what RLS lets the caller see anyway (a team admin's team, a user's own rows), stated so
    the planner can use the indexes instead of filtering every row through the policies."""

    team_id: str | None = None
    gpt_id: str | None = None
    user_id: str | None = None
    model: str | None = None
    within_team: str | None = None
    within_user: str | None = None
    gpt_ids: tuple[str, ...] | None = None  # one of these GPTs (the dashboard's top ones)

    def dimensions(self) -> frozenset[str]:
        """The dimensions these filters need the relation to keep."""
        gpt = self.gpt_id or self.gpt_ids
        given = {
            "team": self.team_id or self.within_team,
            "gpt": gpt,
            "user": self.user_id or self.within_user,
        }
        return frozenset(k for k, v in {**given, "model": self.model}.items() if v)


@dataclass(frozen=True)
class Viewer:
    """Who asks: a plain user sees only their own usage, a team admin their team's."""

    mine: bool = False
    team_id: str | None = None
    user_id: str | None = None

    def narrow(self, filters: Filters) -> Filters:
        """`filters` within what this viewer may see."""
        return replace(filters, within_team=self.team_id, within_user=self.user_id)


@dataclass(frozen=True)
class UsageQuery:
    """Usage over `range`, per `period`, per `group_by` key, within `filters`."""

    range: DateRange
    period: str = "day"
    group_by: str = "none"
    filters: Filters = Filters()


def _date(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw).date()
    except ValueError:
        raise QueryError("invalid_date", f"{name} must be an ISO date such as 2026-11-01") from None


def parse_range(params: Mapping[str, str], today: date) -> DateRange:
    """`from` and `to` (inclusive ISO dates); both omitted: the last 30 days to today."""
    raw_from, raw_to = params.get("from"), params.get("to")
    if not raw_from and not raw_to:
        return DateRange(today - timedelta(days=DEFAULT_RANGE_DAYS - 1), today)
    if not raw_from or not raw_to:
        raise QueryError("unbounded_range", "Give both from and to, or neither (the last 30 days)")
    found = DateRange(_date("from", raw_from), _date("to", raw_to))
    if found.start < EARLIEST or found.end > LATEST:
        raise QueryError("invalid_date", f"Dates must lie between {EARLIEST} and {LATEST}")
    if found.start > found.end:
        raise QueryError("inverted_range", "from must not be after to")
    if found.days > MAX_RANGE_DAYS:
        raise QueryError(
            "range_too_long", f"A range may cover at most {MAX_RANGE_DAYS} days, not {found.days}"
        )
    return found


def _uuid(name: str, raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise QueryError("invalid_filter", f"{name} must be a uuid") from None


def parse_filters(params: Mapping[str, str]) -> Filters:
    """team_id, gpt_id, user_id and model filters."""
    model = params.get("model") or None
    if model is not None and len(model) > 200:
        raise QueryError("invalid_filter", "model is too long")
    return Filters(
        team_id=_uuid("team_id", params.get("team_id")),
        gpt_id=_uuid("gpt_id", params.get("gpt_id")),
        user_id=_uuid("user_id", params.get("user_id")),
        model=model,
    )


def refuse_unknown(params: Mapping[str, str], known: set[str]) -> None:
    """Refuse parameters this endpoint does not take (a typo is not silently ignored)."""
    unknown = sorted(set(params) - known)
    if unknown:
        raise QueryError(
            "unknown_parameter",
            f"Unknown parameter {unknown[0]!r}; this endpoint takes {', '.join(sorted(known))}",
        )


def parse_usage(params: Mapping[str, str], today: date) -> UsageQuery:
    """A usage query from query parameters: from, to, period, group_by and the filters."""
    refuse_unknown(
        params,
        {"from", "to", "period", "group_by", "team_id", "gpt_id", "user_id", "model", "format"},
    )
    period = params.get("period", "day")
    if period not in PERIODS:
        raise QueryError("invalid_period", f"period must be one of {', '.join(PERIODS)}")
    group_by = params.get("group_by", "none")
    if group_by not in GROUPS:
        raise QueryError("invalid_grouping", f"group_by must be one of {', '.join(GROUPS)}")
    return UsageQuery(parse_range(params, today), period, group_by, parse_filters(params))


def relation_for(needed: frozenset[str], own_only: bool) -> str:
    """The smallest relation keeping the `needed` dimensions; `own_only` callers (plain
    users) can read only their own rows, so they always need the user dimension."""
    if own_only:
        needed = needed | {"user"}
    for name, keeps in ROLLUPS:
        if needed <= keeps:
            return name
    return RAW_RELATION


# The raw usage rows shaped like a rollup row ($1, $2: the range's first and last day).
RAW_RELATION = (
    "(select (u.created_at at time zone 'UTC')::date as day, u.team_id, u.user_id, u.gpt_id,"
    " u.metrics ->> 'model' as model, 1 as requests,"
    " (coalesce(u.metrics ->> 'status', 'completed') <> 'completed')::int as failed_requests,"
    " (u.cost is null)::int as unpriced_requests,"
    " coalesce((u.metrics ->> 'prompt_tokens')::bigint, 0) as prompt_tokens,"
    " coalesce((u.metrics ->> 'completion_tokens')::bigint, 0) as completion_tokens,"
    " coalesce(u.cost, 0) as cost, u.response_time_ms as response_ms_sum, "
    + ", ".join(
        f"(analytics.response_bucket(u.response_time_ms) = {i})::int as {column}"
        for i, column in enumerate(HISTOGRAM)
    )
    + " from public.usage_analytics u"
    " where u.created_at >= $1::date::timestamp at time zone 'UTC'"
    " and u.created_at < ($2::date + 1)::timestamp at time zone 'UTC')"
)


def sums(prefix: str = "") -> str:
    """The summed columns, as `sum(r.x) as x`."""
    return ", ".join(f"sum(r.{c})::{_cast(c)} as {prefix}{c}" for c in SUMMED)


def _cast(column: str) -> str:
    return "numeric" if column == "cost" else "bigint"


def where_clause(filters: Filters, args: list[object]) -> str:
    """`r.day between $1 and $2` and the filters' conditions, appending their arguments."""
    conditions = ["r.day between $1 and $2"]
    for dimension, value in (
        ("team", filters.team_id),
        ("gpt", filters.gpt_id),
        ("user", filters.user_id),
        ("model", filters.model),
        ("team", filters.within_team),
        ("user", filters.within_user),
    ):
        if value:
            args.append(value)
            cast = "" if dimension == "model" else "::uuid"
            conditions.append(f"r.{_KEY_COLUMN[dimension]} = ${len(args)}{cast}")
    if filters.gpt_ids is not None:
        args.append(list(filters.gpt_ids))
        conditions.append(f"r.gpt_id = any(${len(args)}::uuid[])")
    return " and ".join(conditions)


def usage_sql(query: UsageQuery, own_only: bool) -> tuple[str, list[object]]:
    """The usage rows (period_start, key, name, sums) of `query`, and its arguments."""
    needed = query.filters.dimensions() | (
        frozenset() if query.group_by == "none" else frozenset({query.group_by})
    )
    relation = relation_for(needed, own_only)
    args: list[object] = [query.range.start, query.range.end]
    where = where_clause(query.filters, args)
    key = "null::text" if query.group_by == "none" else f"r.{_KEY_COLUMN[query.group_by]}::text"
    sql = (
        f"select pg_catalog.date_trunc('{query.period}', r.day)::date as period_start,"
        f" {key} as key, {sums()} from {relation} r where {where} group by 1, 2"
        # rollup rows whose raw rows were all deleted are zeros: not a group
        " having sum(r.requests) > 0"
    )
    return f"select s.*, {_name_of(query.group_by)} as name from ({sql}) s order by 1, 2", args


def _name_of(group_by: str) -> str:
    """A readable name for the key, where the caller may see its row (RLS)."""
    return {
        "team": "(select t.name from public.teams t where t.id = s.key::uuid)",
        "user": "(select coalesce(u.full_name, u.email) from public.users u"
        " where u.id = s.key::uuid)",
        "gpt": "(select g.name from public.gpts g where g.id = s.key::uuid)",
    }.get(group_by, "null::text")


def totals_sql(
    range_: DateRange, filters: Filters, group_by: str, own_only: bool
) -> tuple[str, list[object]]:
    """One row per `group_by` key (or one row) over the whole range."""
    query = UsageQuery(range_, "day", group_by, filters)
    sql, args = usage_sql(query, own_only)
    # the same relation and filters, without the period
    inner = sql.replace("pg_catalog.date_trunc('day', r.day)::date", "null::date", 1)
    return inner, args


def with_range(query: UsageQuery, range_: DateRange) -> UsageQuery:
    """`query` over another range."""
    return replace(query, range=range_)


def month_starts(first: date, last: date) -> list[date]:
    """The first days of the months from `first`'s to `last`'s."""
    months, month, final = [first.replace(day=1)], first.replace(day=1), last.replace(day=1)
    while month < final:
        month = _last_day(month) + timedelta(days=1)
        months.append(month)
    return months


def _last_day(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def day_mask(month: date, first: date, last: date) -> int:
    """The bits of `month` (its first day; bit 0 is day 1) for its days from `first` to
    `last`, as analytics.user_active_days keeps them."""
    low, high = max(first, month), min(last, _last_day(month))
    if low > high:
        return 0
    return ((1 << high.day) - 1) & ~((1 << (low.day - 1)) - 1)


def active_users_sql(
    ends: Sequence[date], conditions: Sequence[tuple[str, str]]
) -> tuple[str, list[object]]:
    """Distinct users active on, in the 7 and in the 30 days to, each of `ends`, from the
    users' day bits where each (column, uuid) of `conditions` holds: one row per user, its
    months' bits tested against masks worked out here per month and window."""
    months = month_starts(min(ends) - timedelta(days=29), max(ends))
    args: list[object] = [months]
    columns, flags, counts = ["month"], [], []
    for i, end in enumerate(ends):
        for window, days in (("daily", 1), ("weekly", 7), ("monthly", 30)):
            name = f"{window}_{i}"
            first = end - timedelta(days=days - 1)
            args.append([day_mask(month, first, end) for month in months])
            columns.append(name)
            flags.append(f"bool_or(r.days & m.{name} <> 0) as {name}")
            counts.append(f"count(*) filter (where s.{name}) as {name}")
    masks = ", ".join(f"${i + 1}::{'date' if i == 0 else 'bigint'}[]" for i in range(len(args)))
    where = ["r.month = any($1::date[])"]
    for column, value in conditions:
        args.append(value)
        where.append(f"r.{column} = ${len(args)}::uuid")
    sql = (
        f"select {', '.join(counts)} from (select {', '.join(flags)}"
        f" from analytics.user_active_days r join unnest({masks}) as m ({', '.join(columns)})"
        f" on m.month = r.month where {' and '.join(where)} group by r.user_id) s"
    )
    return sql, args


def top_gpts_sql(
    range_: DateRange, filters: Filters, own_only: bool, limit: int
) -> tuple[str, list[object]]:
    """The ids of the `limit` GPTs with the most requests (then cost) over the range: from the
    GPTs' running totals (one row per GPT and month) unless a user or model narrows it, else
    from the two sums the ranking needs over the smallest rollup; their full figures are then
    summed for those GPTs alone."""
    if not own_only and filters.dimensions() <= {"team", "gpt"}:
        # per month of the range: the running totals' elements just before it and at its end
        months = month_starts(range_.start, range_.end)
        args: list[object] = [
            months,
            [(max(range_.start, m) - m).days for m in months],
            [(min(range_.end, _last_day(m)) - m).days + 1 for m in months],
        ]
        conditions = ["r.month = any($1::date[])"]
        for column, value in (
            ("team_id", filters.team_id),
            ("team_id", filters.within_team),
            ("gpt_id", filters.gpt_id),
        ):
            if value:
                args.append(value)
                conditions.append(f"r.{column} = ${len(args)}::uuid")
        if filters.gpt_ids is not None:
            args.append(list(filters.gpt_ids))
            conditions.append(f"r.gpt_id = any(${len(args)}::uuid[])")
        sql = (
            "select s.gpt from (select r.gpt_id::text as gpt,"
            " sum(r.requests[m.hi] - coalesce(r.requests[m.lo], 0)) as requests,"
            " sum(r.cost[m.hi] - coalesce(r.cost[m.lo], 0)) as cost"
            " from analytics.gpt_running_totals r"
            " join unnest($1::date[], $2::integer[], $3::integer[]) as m (month, lo, hi)"
            f" on m.month = r.month where {' and '.join(conditions)} group by r.gpt_id) s"
            f" where s.requests > 0 order by s.requests desc, s.cost desc limit {int(limit)}"
        )
        return sql, args
    args = [range_.start, range_.end]
    relation = relation_for(filters.dimensions() | {"gpt"}, own_only)
    where = where_clause(filters, args)
    sql = (
        "select r.gpt_id::text as gpt"
        f" from {relation} r where {where} and r.gpt_id is not null"
        " group by r.gpt_id having sum(r.requests) > 0"
        f" order by sum(r.requests) desc, sum(r.cost) desc limit {int(limit)}"
    )
    return sql, args
