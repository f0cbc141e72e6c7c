"""Content negotiation: which representation an `Accept` header asks for, as PostgREST reads it."""

from dataclasses import dataclass
from typing import Literal

from gptdesk.rest.errors import RestError

Shape = Literal["array", "object", "csv", "openapi"]
CONTENT_TYPES = {
    "array": "application/json; charset=utf-8",
    "object": "application/vnd.pgrst.object+json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "openapi": "application/openapi+json; charset=utf-8",
}
_SHAPES: dict[str, Shape] = {
    "*/*": "array",
    "application/*": "array",
    "application/json": "array",
    "application/vnd.pgrst.array+json": "array",
    "application/vnd.pgrst.object+json": "object",
    "text/csv": "csv",
    "text/*": "csv",
    "application/openapi+json": "openapi",
}


@dataclass(frozen=True)
class Media:
    """The chosen representation; `strip_nulls` for `…+json;nulls=stripped`."""

    shape: Shape
    strip_nulls: bool = False

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.shape]


def negotiate(accept: str | None, *, allow_openapi: bool = False) -> Media:
    """The first representation of `accept` GPT Desk serves (no header: JSON array)."""
    if not accept or not accept.strip():
        return Media("openapi" if allow_openapi else "array")
    for media_range in accept.split(","):
        kind, *parameters = (part.strip() for part in media_range.split(";"))
        params = dict(p.partition("=")[::2] for p in parameters)
        if params.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        shape = _SHAPES.get(kind.lower())
        if shape == "openapi" and not allow_openapi:
            continue
        if shape is not None:
            if allow_openapi and shape == "array":
                shape = "openapi"
            strip = params.get("nulls") == "stripped" and shape in ("array", "object")
            return Media(shape, strip)
    raise RestError(
        406, "PGRST107", f"None of these media types are available: {accept.strip()[:200]}"
    )
