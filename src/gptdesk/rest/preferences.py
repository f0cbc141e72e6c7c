"""The request headers and paging parameters PostgREST reads: Prefer, Range, limit/offset.

Pure parsing into small values; what a preference means is the planner's business.
"""

from dataclasses import dataclass, field
from typing import Literal

MAX_LIMIT = 1_000_000  # a client asking for more rows than this means "all": cap, don't trust

ReturnPreference = Literal["minimal", "headers-only", "representation"]
CountPreference = Literal["exact", "planned", "estimated"]
Resolution = Literal["merge-duplicates", "ignore-duplicates"]

_CHOICES: dict[str, tuple[str, ...]] = {
    "return": ("minimal", "headers-only", "representation"),
    "count": ("exact", "planned", "estimated"),
    "resolution": ("merge-duplicates", "ignore-duplicates"),
    "missing": ("default", "null"),
    "handling": ("lenient", "strict"),
    "tx": ("commit", "rollback"),
}


class PreferenceError(Exception):
    """A bad Range (PGRST103, 416), limit/offset (PGRST100, 400) or strict Prefer (PGRST122)."""

    def __init__(self, code: str, status: int, message: str, details: str | None = None):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Preferences:
    """What `Prefer:` asked for; `applied` is echoed in Preference-Applied."""

    return_: ReturnPreference | None = None
    count: CountPreference | None = None
    resolution: Resolution | None = None
    missing_default: bool = False
    strict: bool = False
    rollback: bool = False
    max_affected: int | None = None
    timezone: str | None = None
    applied: tuple[str, ...] = field(default_factory=tuple)


def _acceptable(name: str, value: str) -> bool:
    """Whether `name=value` is a preference PostgREST knows, with a value it accepts."""
    if name in _CHOICES:
        return value in _CHOICES[name]
    if name == "max-affected":
        return value.isdigit() and len(value) <= 18
    return name == "timezone" and 0 < len(value) <= 64


def parse_prefer(values: list[str]) -> Preferences:
    """All Prefer headers of a request (comma-separated, repeatable); unknown ones ignored
    unless `handling=strict`, as PostgREST does."""
    found: dict[str, str] = {}
    unknown: list[str] = []
    applied: list[str] = []
    for header in values:
        for item in header.split(","):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if _acceptable(name, value):
                found[name] = value
                applied.append(f"{name}={value}")
            else:
                unknown.append(item)
    strict = found.get("handling") == "strict"
    if strict and unknown:
        raise PreferenceError(
            "PGRST122", 400, "Invalid preferences given with handling=strict",
            f"Invalid preferences: {', '.join(unknown)}",
        )  # fmt: skip
    return Preferences(
        return_=found.get("return"),  # type: ignore[arg-type]
        count=found.get("count"),  # type: ignore[arg-type]
        resolution=found.get("resolution"),  # type: ignore[arg-type]
        missing_default=found.get("missing") == "default",
        strict=strict,
        rollback=found.get("tx") == "rollback",
        max_affected=int(found["max-affected"]) if "max-affected" in found else None,
        timezone=found.get("timezone"),
        applied=tuple(applied),
    )


@dataclass(frozen=True)
class Page:
    """Rows `offset` … `offset + limit - 1` (limit None: to the end)."""

    offset: int = 0
    limit: int | None = None


def _count(text: str, name: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise PreferenceError("PGRST100", 400, f'"{name}" must be a non-negative integer')
    return int(text)


def parse_page(limit: str | None, offset: str | None, range_header: str | None) -> Page:
    """The page a read asks for: `limit`/`offset` parameters win over a `Range: a-b` header."""
    page = Page()
    if range_header:
        unit, _, span = range_header.strip().rpartition("=")
        if unit not in ("", "items"):
            raise PreferenceError("PGRST103", 416, "Requested range not satisfiable")
        first, dash, last = span.partition("-")
        if not dash or not first.isdigit() or (last and not last.isdigit()):
            raise PreferenceError("PGRST103", 416, "Requested range not satisfiable")
        start = int(first)
        if last and int(last) < start:
            raise PreferenceError("PGRST103", 416, "Requested range not satisfiable")
        page = Page(start, int(last) - start + 1 if last else None)
    if offset is not None:
        page = Page(_count(offset, "offset"), page.limit)
    if limit is not None:
        page = Page(page.offset, min(_count(limit, "limit"), MAX_LIMIT))
    return page
