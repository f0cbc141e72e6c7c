"""/storage/v1: Supabase Storage's HTTP API, as storage3 and supabase-js call it.

Routes parse the request and call the service; every operation runs as the caller's
claims (RLS decides), except a signed-URL download, whose token is checked first.
"""

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import JSONResponse, Response

from gptdesk.auth.live_sessions import RequestAuthenticator
from gptdesk.auth.routes import request_info
from gptdesk.auth.tokens import InvalidToken
from gptdesk.storage import errors, names, repository, signing
from gptdesk.storage.bodies import upload_body
from gptdesk.storage.downloads import serve
from gptdesk.storage.service import StorageService, body_key, database_error


class AnyPath(Convertor[str]):
    """A path that may hold any character (Starlette's `path` stops at a newline), so a
    bad object name reaches the name check and gets Storage's InvalidKey."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", AnyPath())
router = APIRouter(prefix="/storage/v1")
MAX_JSON_BYTES = 1 << 20
_TRUE = ("true", "1")


async def _claims(request: Request) -> dict[str, Any]:
    authenticator: RequestAuthenticator = request.app.state.request_authenticator
    try:
        caller = await authenticator.caller(request.headers)
    except InvalidToken as exc:
        raise errors.invalid_jwt(str(exc)) from None
    return caller.claims


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_JSON_BYTES:
        raise errors.invalid_request("The request body is too large")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.invalid_request("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise errors.invalid_request("The request body must be a JSON object")
    return body


def _service(request: Request) -> StorageService:
    service: StorageService = request.app.state.storage
    return service


def _secret(request: Request) -> str:
    return str(request.app.state.settings.jwt_secret.get_secret_value())


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
    claims = await _claims(request)
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        rows = await repository.buckets(conn)
    return _rows(rows)


@router.get("/bucket/{bucket_id}")
async def get_bucket(request: Request, bucket_id: str) -> Response:
    """One bucket."""
    claims = await _claims(request)
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        row = await repository.bucket(conn, bucket_id)
    if row is None:
        raise errors.no_such_bucket()
    return _rows([row], one=True)


@router.post("/bucket")
async def create_bucket(request: Request) -> Response:
    """Create a bucket (super admins; service_role)."""
    claims = await _claims(request)
    fields = _bucket_fields(await _json(request), creating=True)
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
    claims = await _claims(request)
    fields = _bucket_fields(await _json(request), creating=False)
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
    claims = await _claims(request)
    await _service(request).empty_bucket(claims, request_info(request), bucket_id)
    return JSONResponse({"message": "Successfully emptied"})


@router.delete("/bucket/{bucket_id}")
async def delete_bucket(request: Request, bucket_id: str) -> Response:
    """Remove an empty bucket."""
    claims = await _claims(request)
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


def _rows(rows: list[Any], one: bool = False) -> Response:
    items = [dict(r) for r in rows]
    return Response(
        orjson.dumps(items[0] if one else items, default=str), media_type="application/json"
    )


# ---- objects: listing, moving, copying, signing -----------------------------------------


@router.post("/object/list/{bucket_id}")
async def list_objects(request: Request, bucket_id: str) -> Response:
    """Files and folders under `prefix` (limit, offset, sortBy, search)."""
    claims = await _claims(request)
    body = await _json(request)
    sort = body.get("sortBy") or {}
    column = sort.get("column", "name") if isinstance(sort, dict) else "name"
    order = str(sort.get("order", "asc")).lower() if isinstance(sort, dict) else "asc"
    if column not in repository.SORT_COLUMNS or order not in ("asc", "desc"):
        raise errors.invalid_request(
            "sortBy needs a column (name, created_at, updated_at, last_accessed_at) "
            "and an order (asc, desc)"
        )
    try:
        limit = int(body.get("limit", 100))
        offset = int(body.get("offset", 0))
    except (TypeError, ValueError):
        raise errors.invalid_request("limit and offset must be numbers") from None
    if not 1 <= limit <= 1000 or offset < 0:
        raise errors.invalid_request("limit must be 1 to 1000 and offset not negative")
    search = body.get("search") or ""
    if not isinstance(search, str):
        raise errors.invalid_request("search must be a string")
    prefix = names.prefix_of(str(body.get("prefix") or ""))
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        if await repository.bucket(conn, bucket_id) is None:
            raise errors.no_such_bucket()
        rows = await repository.list_objects(
            conn, bucket_id=bucket_id, prefix=prefix, search=search, limit=limit,
            offset=offset, sort_column=column, descending=order == "desc",
        )  # fmt: skip
    return _rows(rows)


def _move_arguments(body: dict[str, Any]) -> tuple[str, str, str, str]:
    bucket_id = names.check_bucket_id(str(body.get("bucketId") or ""))
    source = names.check_object_name(str(body.get("sourceKey") or ""))
    target_bucket = names.check_bucket_id(str(body.get("destinationBucket") or bucket_id))
    target = names.check_object_name(str(body.get("destinationKey") or ""))
    return bucket_id, source, target_bucket, target


@router.post("/object/move")
async def move_object(request: Request) -> Response:
    """Rename an object (optionally into another bucket)."""
    claims = await _claims(request)
    bucket_id, source, target_bucket, target = _move_arguments(await _json(request))
    moved = await _service(request).move(
        claims, request_info(request), bucket_id=bucket_id, source=source,
        target_bucket=target_bucket, target=target,
    )  # fmt: skip
    return JSONResponse(
        {"message": "Successfully moved", "Id": moved, "Key": f"{target_bucket}/{target}"}
    )


@router.post("/object/copy")
async def copy_object(request: Request) -> Response:
    """Copy an object to a new name."""
    claims = await _claims(request)
    bucket_id, source, target_bucket, target = _move_arguments(await _json(request))
    copied = await _service(request).copy(
        claims, request_info(request), bucket_id=bucket_id, source=source,
        target_bucket=target_bucket, target=target,
        upsert=request.headers.get("x-upsert", "").lower() in _TRUE,
    )  # fmt: skip
    return JSONResponse({"Id": copied.id, "Key": copied.key})


def _signed_url(request: Request, bucket_id: str, name: str, seconds: int, download: object) -> str:
    token = signing.sign(_secret(request), f"{bucket_id}/{name}", "download", seconds)
    url = f"/object/sign/{bucket_id}/{name}?token={token}"
    if download not in (None, False, ""):
        url += "&download=" + ("" if download is True else str(download))
    return url


@router.post("/object/sign/{bucket_id}/{name:anypath}")
async def sign_url(request: Request, bucket_id: str, name: str) -> Response:
    """A download URL for one object the caller may read, valid `expiresIn` seconds."""
    claims = await _claims(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    body = await _json(request)
    seconds = signing.expires_in(body.get("expiresIn"))
    await _service(request).visible_object(claims, request_info(request), bucket_id, name)
    return JSONResponse(
        {"signedURL": _signed_url(request, bucket_id, name, seconds, body.get("download"))}
    )


@router.post("/object/sign/{bucket_id}")
async def sign_urls(request: Request, bucket_id: str) -> Response:
    """Download URLs for many objects; each item says whether it could be signed."""
    claims = await _claims(request)
    body = await _json(request)
    seconds = signing.expires_in(body.get("expiresIn"))
    paths = body.get("paths")
    if (
        not isinstance(paths, list)
        or not all(isinstance(p, str) for p in paths)
        or len(paths) > 1000
    ):
        raise errors.invalid_request("paths must be a list of at most 1000 object names")
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        rows = await conn.fetch(
            "select name from storage.objects where bucket_id = $1 and name = any($2::text[])",
            bucket_id, paths,
        )  # fmt: skip
    visible = {r["name"] for r in rows}
    missing = "Either the object does not exist or you do not have access to it"
    download = body.get("download")
    return JSONResponse(
        [
            {
                "error": None,
                "path": p,
                "signedURL": _signed_url(request, bucket_id, p, seconds, download),
            }
            if p in visible
            else {"error": missing, "path": p, "signedURL": None}
            for p in paths
        ]
    )


@router.get("/object/sign/{bucket_id}/{name:anypath}")
async def signed_download(request: Request, bucket_id: str, name: str) -> Response:
    """A download by signed URL: the token names the object (no RLS past it)."""
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    signing.verify(
        _secret(request), request.query_params.get("token"), f"{bucket_id}/{name}", "download"
    )
    row = await _service(request).signed_object(bucket_id, name)
    return await serve(
        _service(request).store, body_key(row["version"]), row, request.headers,
        download=request.query_params.get("download"),
    )  # fmt: skip


@router.post("/object/upload/sign/{bucket_id}/{name:anypath}")
async def sign_upload(request: Request, bucket_id: str, name: str) -> Response:
    """An upload URL for `bucket_id/name`, if the caller could upload it now."""
    claims = await _claims(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    upsert = request.headers.get("x-upsert", "").lower() in _TRUE
    await _service(request).check_upload(claims, request_info(request), bucket_id, name, upsert)
    token = signing.sign(
        _secret(request), f"{bucket_id}/{name}", "upload", 2 * 3600,
        sub=claims.get("sub"), role=claims.get("role", "anon"), upsert=upsert,
    )  # fmt: skip
    return JSONResponse(
        {"url": f"/object/upload/sign/{bucket_id}/{name}?token={token}", "token": token}
    )


@router.put("/object/upload/sign/{bucket_id}/{name:anypath}")
async def signed_upload(request: Request, bucket_id: str, name: str) -> Response:
    """An upload by signed URL: it runs as the signer, under RLS."""
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    claims = signing.verify(
        _secret(request), request.query_params.get("token"), f"{bucket_id}/{name}", "upload"
    )
    signer = {
        "role": claims.get("role", "anon"),
        **({"sub": claims["sub"]} if claims.get("sub") else {}),
    }
    return await _upload(request, signer, bucket_id, name, bool(claims.get("upsert")))


# ---- objects: info, upload, download, remove -----------------------------------------------


@router.get("/object/info/{bucket_id}/{name:anypath}")
@router.get("/object/info/authenticated/{bucket_id}/{name:anypath}")
async def object_info(request: Request, bucket_id: str, name: str) -> Response:
    """An object's metadata."""
    claims = await _claims(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    row = await _service(request).visible_object(claims, request_info(request), bucket_id, name)
    metadata = row["metadata"] or {}
    info = {
        "id": row["id"], "name": row["name"], "bucket_id": row["bucket_id"],
        "version": row["version"], "size": metadata.get("size"),
        "content_type": metadata.get("mimetype"), "cache_control": metadata.get("cacheControl"),
        "etag": metadata.get("eTag"), "metadata": row["user_metadata"] or {},
        "last_modified": row["updated_at"], "created_at": row["created_at"],
    }  # fmt: skip
    return Response(orjson.dumps(info, default=str), media_type="application/json")


@router.api_route("/object/public/{bucket_id}/{name:anypath}", methods=["GET", "HEAD"])
async def public_download(request: Request, bucket_id: str, name: str) -> Response:
    """A file of a public bucket, to anyone (RLS: the public-bucket policy, as anon)."""
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    row = await _service(request).visible_object(
        {"role": "anon"}, request_info(request), bucket_id, name
    )
    return await serve(
        _service(request).store, body_key(row["version"]), row, request.headers,
        head=request.method == "HEAD", download=request.query_params.get("download"),
    )  # fmt: skip


@router.api_route("/object/{bucket_id}/{name:anypath}", methods=["GET", "HEAD"])
@router.api_route("/object/authenticated/{bucket_id}/{name:anypath}", methods=["GET", "HEAD"])
async def download(request: Request, bucket_id: str, name: str) -> Response:
    """An object's body, as the caller may read it; Range and If-None-Match honoured."""
    claims = await _claims(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    row = await _service(request).visible_object(claims, request_info(request), bucket_id, name)
    return await serve(
        _service(request).store, body_key(row["version"]), row, request.headers,
        head=request.method == "HEAD", download=request.query_params.get("download"),
    )  # fmt: skip


@router.post("/object/{bucket_id}/{name:anypath}")
async def upload(request: Request, bucket_id: str, name: str) -> Response:
    """Upload a new object (`x-upsert: true` replaces an existing one)."""
    claims = await _claims(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    upsert = request.headers.get("x-upsert", "").lower() in _TRUE
    return await _upload(request, claims, bucket_id, name, upsert)


@router.put("/object/{bucket_id}/{name:anypath}")
async def replace(request: Request, bucket_id: str, name: str) -> Response:
    """Replace an object's body (or create it)."""
    claims = await _claims(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    return await _upload(request, claims, bucket_id, name, upsert=True)


async def _upload(
    request: Request, claims: dict[str, Any], bucket_id: str, name: str, upsert: bool
) -> Response:
    length = request.headers.get("content-length")
    uploaded = await _service(request).upload(
        claims, request_info(request), bucket_id=bucket_id, name=name, upsert=upsert,
        content_length=int(length) if length and length.isdigit() else None,
        read_body=lambda: upload_body(request.headers, request.stream()),
    )  # fmt: skip
    return JSONResponse({"Id": uploaded.id, "Key": uploaded.key})


@router.delete("/object/{bucket_id}")
async def remove(request: Request, bucket_id: str) -> Response:
    """Remove many objects (`prefixes`); those missing or not the caller's are skipped."""
    claims = await _claims(request)
    body = await _json(request)
    prefixes = body.get("prefixes")
    if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
        raise errors.invalid_request("prefixes must be a list of object names")
    if len(prefixes) > 1000:
        raise errors.invalid_request("at most 1000 objects can be removed at once")
    rows = await _service(request).remove(claims, request_info(request), bucket_id, prefixes)
    return Response(orjson.dumps(rows, default=str), media_type="application/json")


@router.delete("/object/{bucket_id}/{name:anypath}")
async def remove_one(request: Request, bucket_id: str, name: str) -> Response:
    """Remove one object."""
    claims = await _claims(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    rows = await _service(request).remove(claims, request_info(request), bucket_id, [name])
    if not rows:
        raise errors.no_such_key()
    return JSONResponse({"message": "Successfully deleted"})


@router.api_route("/render/image/{rest:path}", methods=["GET", "HEAD"])
async def render_image(request: Request, rest: str) -> Response:
    """Image transformations are not offered: said plainly, not ignored."""
    raise errors.StorageError(
        400, "InvalidRequest", "Invalid Input",
        "Image transformations are not supported by this server; download the original",
    )  # fmt: skip
