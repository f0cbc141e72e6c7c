"""/api/v1/providers: super admins manage the model providers (RLS decides who may).

An API key is accepted on create and update, sealed by the server and stored apart; it is
never returned — a provider shows `has_api_key` and a hint (`sk-…wxyz`) instead.
"""

import uuid
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from gptdesk.api import ApiError, json_object, signed_in_claims
from gptdesk.auth.routes import request_info
from gptdesk.auth.sealing import seal
from gptdesk.llm.registry import SEAL_PURPOSE

router = APIRouter(prefix="/api/v1/providers")
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]
_COLUMNS = (
    "id, name, kind, base_url, models, is_default, enabled, timeout_seconds, max_retries, "
    "pace_ms, api_key_hint, api_key_hint is not null as has_api_key, created_at, updated_at"
)
_Model = Annotated[str, Field(min_length=1, max_length=200)]


class ProviderChange(BaseModel):
    """The fields a request may set; absent ones keep their value (or default)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(default=None, min_length=1, max_length=100)
    kind: Literal["openai", "offline"] | None = None
    base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    models: list[_Model] | None = Field(default=None, max_length=1000)
    is_default: bool | None = None
    enabled: bool | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=3600)
    max_retries: int | None = Field(default=None, ge=0, le=10)
    pace_ms: int | None = Field(default=None, ge=0, le=10_000)
    api_key: str | None = Field(default=None, min_length=1, max_length=4096)


def _change(body: dict[str, Any]) -> ProviderChange:
    try:
        return ProviderChange.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, "invalid_provider", f"{where}: {first['msg']}") from None


def key_hint(key: str) -> str:
    """Enough of an API key to recognise it, never enough to use it."""
    return f"{key[:3]}…{key[-4:]}" if len(key) >= 16 else f"…{key[-2:]}"


def _parse_id(provider_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(provider_id)
    except ValueError:
        raise ApiError(404, "provider_not_found", "No such provider") from None


def _database_error(error: asyncpg.PostgresError) -> ApiError:
    state = getattr(error, "sqlstate", "")
    constraint = getattr(error, "constraint_name", None) or ""
    if state == "23505":
        if "default" in constraint:
            return ApiError(409, "default_exists", "Another provider is the default already")
        return ApiError(409, "name_taken", "A provider with this name exists already")
    if state == "23514":
        return ApiError(400, "invalid_provider", f"The provider breaks the rule {constraint}")
    if state == "42501":
        return ApiError(403, "forbidden", "Only super admins manage providers")
    if state == "PT404":
        return ApiError(404, "provider_not_found", "No such provider")
    raise error


def _row(row: asyncpg.Record) -> dict[str, Any]:
    found = dict(row)
    found["id"] = str(found["id"])
    found["models"] = list(found["models"])
    return found


async def _set_key(
    conn: asyncpg.Connection, secret: str, provider_id: uuid.UUID, key: str | None
) -> None:
    sealed = seal(secret, SEAL_PURPOSE, key, str(provider_id)) if key else None
    await conn.execute(
        "select public.set_provider_key($1, $2, $3)",
        provider_id, sealed, key_hint(key) if key else None,
    )  # fmt: skip


def _secret(request: Request) -> str:
    return request.app.state.settings.jwt_secret.get_secret_value()  # type: ignore[no-any-return]


@router.get("")
async def list_providers(request: Request, claims: Claims) -> list[dict[str, Any]]:
    """The providers the caller may see (super admins: all)."""
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        rows = await conn.fetch(f"select {_COLUMNS} from public.llm_providers order by name")
    return [_row(r) for r in rows]


@router.post("", status_code=201)
async def create_provider(request: Request, claims: Claims) -> dict[str, Any]:
    """Add a provider (201); `name` and `kind` are required."""
    change = _change(await json_object(request))
    if change.name is None or change.kind is None:
        raise ApiError(400, "invalid_provider", "name and kind are required")
    fields = change.model_dump(exclude_unset=True, exclude={"api_key"})
    if change.kind == "openai" and not change.models and not change.is_default:
        raise ApiError(
            400, "invalid_provider", "An openai provider needs models or is_default: true"
        )
    provider_id = uuid.uuid4()
    names = ["id", *fields]
    values = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    try:
        async with request.app.state.scope.as_claims(claims, request=request_info(request)) as c:
            row = await c.fetchrow(
                f"insert into public.llm_providers ({', '.join(names)}) values ({values}) "
                f"returning {_COLUMNS}",
                provider_id, *fields.values(),
            )  # fmt: skip
            if change.api_key:
                await _set_key(c, _secret(request), provider_id, change.api_key)
                row = await c.fetchrow(
                    f"select {_COLUMNS} from public.llm_providers where id = $1", provider_id
                )
    except asyncpg.PostgresError as error:
        raise _database_error(error) from None
    request.app.state.providers.invalidate()
    return _row(row)


@router.get("/{provider_id}")
async def get_provider(request: Request, provider_id: str, claims: Claims) -> dict[str, Any]:
    """One provider."""
    found = _parse_id(provider_id)
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        row = await conn.fetchrow(
            f"select {_COLUMNS} from public.llm_providers where id = $1", found
        )
    if row is None:
        raise ApiError(404, "provider_not_found", "No such provider")
    return _row(row)


@router.patch("/{provider_id}")
async def update_provider(request: Request, provider_id: str, claims: Claims) -> dict[str, Any]:
    """Change a provider's fields; `api_key` sets the key, `api_key: null` removes it."""
    found = _parse_id(provider_id)
    change = _change(await json_object(request))
    fields = change.model_dump(exclude_unset=True, exclude={"api_key"})
    for name in ("name", "kind", "models", "is_default", "enabled", "timeout_seconds"):
        if name in fields and fields[name] is None:
            raise ApiError(400, "invalid_provider", f"{name} cannot be null")
    assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(fields, start=2))
    try:
        async with request.app.state.scope.as_claims(claims, request=request_info(request)) as c:
            if assignments:
                row = await c.fetchrow(
                    f"update public.llm_providers set {assignments} where id = $1 "
                    f"returning {_COLUMNS}",
                    found, *fields.values(),
                )  # fmt: skip
            else:
                row = await c.fetchrow(
                    f"select {_COLUMNS} from public.llm_providers where id = $1", found
                )
            if row is None:
                raise ApiError(404, "provider_not_found", "No such provider")
            if "api_key" in change.model_fields_set:
                await _set_key(c, _secret(request), found, change.api_key)
                row = await c.fetchrow(
                    f"select {_COLUMNS} from public.llm_providers where id = $1", found
                )
    except asyncpg.PostgresError as error:
        raise _database_error(error) from None
    request.app.state.providers.invalidate()
    return _row(row)


@router.delete("/{provider_id}", status_code=204)
async def delete_provider(request: Request, provider_id: str, claims: Claims) -> Response:
    """Remove a provider and its key."""
    found = _parse_id(provider_id)
    async with request.app.state.scope.as_claims(claims, request=request_info(request)) as conn:
        deleted = await conn.fetchval(
            "delete from public.llm_providers where id = $1 returning id", found
        )
    if deleted is None:
        raise ApiError(404, "provider_not_found", "No such provider")
    request.app.state.providers.invalidate()
    return Response(status_code=204)
