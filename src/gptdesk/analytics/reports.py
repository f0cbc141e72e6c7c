"""Shaping summed rollup rows into the API's figures (pure): averages, p95, totals, trends."""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from gptdesk.analytics.percentiles import COLUMNS as HISTOGRAM
from gptdesk.analytics.percentiles import percentile
from gptdesk.analytics.query import SUMMED

FIGURES = (
    "requests",
    "failed_requests",
    "unpriced_requests",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "avg_response_ms",
    "p95_response_ms",
)


def figures(row: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of one summed row (missing or null sums, as of nothing used: zeros)."""
    requests = int(row.get("requests") or 0)
    prompt = int(row.get("prompt_tokens") or 0)
    completion = int(row.get("completion_tokens") or 0)
    counts = [int(row.get(c) or 0) for c in HISTOGRAM]
    return {
        "requests": requests,
        "failed_requests": int(row.get("failed_requests") or 0),
        "unpriced_requests": int(row.get("unpriced_requests") or 0),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost": Decimal(row.get("cost") or 0),
        "avg_response_ms": round(int(row.get("response_ms_sum") or 0) / requests, 1)
        if requests
        else None,
        "p95_response_ms": percentile(counts, 0.95),
    }


def summed(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The summed columns of several rows added up (as one row over all of them)."""
    return {
        column: sum((row[column] for row in rows), Decimal(0) if column == "cost" else 0)
        for column in SUMMED
    }


def usage_rows(rows: Sequence[Mapping[str, Any]], group_by: str) -> list[dict[str, Any]]:
    """API rows: period_start, the group's key and name, and the figures."""
    shaped = []
    for row in rows:
        item: dict[str, Any] = {"period_start": row["period_start"]}
        if group_by != "none":
            item[group_by] = row["key"]
            if group_by != "model":
                item["name"] = row["name"]
        item.update(figures(row))
        shaped.append(item)
    return shaped


def change(current: Decimal | int, previous: Decimal | int) -> dict[str, Any]:
    """A figure against the previous period: both values and the change in percent (None
    when the previous period had nothing)."""
    pct = None
    if previous:
        pct = round(float((Decimal(current) - Decimal(previous)) * 100 / Decimal(previous)), 1)
    return {"current": current, "previous": previous, "change_pct": pct}
