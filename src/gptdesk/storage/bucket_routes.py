"""/storage/v1/bucket: buckets (create, list, get, update, empty, delete), as the caller's
RLS on storage.buckets allows (super admins and service_role change them)."""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from gptdesk.auth.routes import request_info
from gptdesk.storage import errors, names, repository
from gptdesk.storage.http import claims_of, json_body, json_rows, service_of
from gptdesk.storage.service import database_error

router = APIRouter(prefix="/storage/v1")


def _size_limit(value: object) -> int | None:
    """`file_size_limit` as clients send it: bytes, or a string like '20MB'."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise errors.invalid_request("file_size_limit must be a size")
    if isinstance(value, int):
        size = value
    else:
        text = str(value).strip().upper()
        units = {"GB": 1 << 30, "MB": 1 << 20, "KB": 1 << 10, "B": 1}
        for unit, factor in units.items():
            if text.endswith(unit) and text[: -len(unit)].strip().isdigit():
                size = int(text[: -len(unit)]) * factor
                break
        else:
            if not text.isdigit():
                raise errors.invalid_request(f"file_size_limit {value!r} is not a size")
            size = int(text)
    if size <= 0:
        raise errors.invalid_request("file_size_limit must be positive")
    return size


def _bucket_fields(body: dict[str, Any], creating: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "public" in body:
        if not isinstance(body["public"], bool):
            raise errors.invalid_request("public must be true or false")
        fields["public"] = body["public"]
    if "file_size_limit" in body:
        fields["file_size_limit"] = _size_limit(body["file_size_limit"])
    if "allowed_mime_types" in body:
        allowed = body["allowed_mime_types"]
        if allowed is not None and (
            not isinstance(allowed, list) or not all(isinstance(m, str) and m for m in allowed)
        ):
            raise errors.invalid_request("allowed_mime_types must be a list of types")
        fields["allowed_mime_types"] = allowed or None
    if creating:
        bucket_id = names.check_bucket_id(str(body.get("id") or body.get("name") or ""))
        fields = {"id": bucket_id, "name": str(body.get("name") or bucket_id), **fields}
    return fields


# ---- buckets --------------------------------------------------------------------------


@router.get("/bucket")
async def list_buckets(request: Request) -> Response:
    """Every bucket the caller may see."""
    claims = await claims_of(request)
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        rows = await repository.buckets(conn)
    return json_rows(rows)


@router.get("/bucket/{bucket_id}")
async def get_bucket(request: Request, bucket_id: str) -> Response:
    """One bucket."""
    claims = await claims_of(request)
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        row = await repository.bucket(conn, bucket_id)
    if row is None:
        raise errors.no_such_bucket()
    return json_rows([row], one=True)


@router.post("/bucket")
async def create_bucket(request: Request) -> Response:
    """Create a bucket (super admins; service_role)."""
    claims = await claims_of(request)
    fields = _bucket_fields(await json_body(request), creating=True)
    fields["owner"] = claims.get("sub")
    fields["owner_id"] = claims.get("sub")
    try:
        async with request.app.state.scope.as_claims(claims, request=request_info(request)) as c:
            await repository.create_bucket(c, fields)
    except Exception as error:
        raise _bucket_error(error) from None
    return JSONResponse({"name": fields["id"]})


@router.put("/bucket/{bucket_id}")
async def update_bucket(request: Request, bucket_id: str) -> Response:
    """Change a bucket's public flag and limits."""
    claims = await claims_of(request)
    fields = _bucket_fields(await json_body(request), creating=False)
    try:
        async with request.app.state.scope.as_claims(claims, request=request_info(request)) as c:
            changed = await repository.update_bucket(c, bucket_id, fields)
    except Exception as error:
        raise _bucket_error(error) from None
    if not changed:
        raise errors.no_such_bucket()
    return JSONResponse({"message": "Successfully updated"})


@router.post("/bucket/{bucket_id}/empty")
async def empty_bucket(request: Request, bucket_id: str) -> Response:
    """Remove every object of the bucket the caller may remove."""
    claims = await claims_of(request)
    await service_of(request).empty_bucket(claims, request_info(request), bucket_id)
    return JSONResponse({"message": "Successfully emptied"})


@router.delete("/bucket/{bucket_id}")
async def delete_bucket(request: Request, bucket_id: str) -> Response:
    """Remove an empty bucket."""
    claims = await claims_of(request)
    try:
        async with request.app.state.scope.as_claims(claims, request=request_info(request)) as c:
            deleted = await repository.delete_bucket(c, bucket_id)
    except Exception as error:
        raise _bucket_error(error) from None
    if not deleted:
        raise errors.no_such_bucket()
    return JSONResponse({"message": "Successfully deleted"})


def _bucket_error(error: Exception) -> Exception:
    state = getattr(error, "sqlstate", "")
    if state == "23505":
        return errors.StorageError(
            409, "BucketAlreadyExists", "Duplicate", "The resource already exists"
        )
    if state == "23503":
        return errors.StorageError(
            409,
            "ResourceNotEmpty",
            "Bucket not empty",
            "The bucket you tried to delete is not empty",
        )
    if state:
        return database_error(error)  # type: ignore[arg-type]
    return error
