"""/storage/v1/object: Supabase Storage's object API, as storage3 and supabase-js call it.

Routes parse the request and call the service; every operation runs as the caller's
claims (RLS decides), except a signed-URL download, whose token is checked first.
"""

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from gptdesk.auth.routes import request_info
from gptdesk.storage import errors, names, repository, signing
from gptdesk.storage.bodies import upload_body
from gptdesk.storage.downloads import serve
from gptdesk.storage.http import TRUE, claims_of, json_body, json_rows, secret_of, service_of
from gptdesk.storage.service import body_key

router = APIRouter(prefix="/storage/v1")


# ---- objects: listing, moving, copying, signing -----------------------------------------


@router.post("/object/list/{bucket_id}")
async def list_objects(request: Request, bucket_id: str) -> Response:
    """Files and folders under `prefix` (limit, offset, sortBy, search)."""
    claims = await claims_of(request)
    body = await json_body(request)
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
    return json_rows(rows)


def _move_arguments(body: dict[str, Any]) -> tuple[str, str, str, str]:
    bucket_id = names.check_bucket_id(str(body.get("bucketId") or ""))
    source = names.check_object_name(str(body.get("sourceKey") or ""))
    target_bucket = names.check_bucket_id(str(body.get("destinationBucket") or bucket_id))
    target = names.check_object_name(str(body.get("destinationKey") or ""))
    return bucket_id, source, target_bucket, target


@router.post("/object/move")
async def move_object(request: Request) -> Response:
    """Rename an object (optionally into another bucket)."""
    claims = await claims_of(request)
    bucket_id, source, target_bucket, target = _move_arguments(await json_body(request))
    moved = await service_of(request).move(
        claims, request_info(request), bucket_id=bucket_id, source=source,
        target_bucket=target_bucket, target=target,
    )  # fmt: skip
    return JSONResponse(
        {"message": "Successfully moved", "Id": moved, "Key": f"{target_bucket}/{target}"}
    )


@router.post("/object/copy")
async def copy_object(request: Request) -> Response:
    """Copy an object to a new name."""
    claims = await claims_of(request)
    bucket_id, source, target_bucket, target = _move_arguments(await json_body(request))
    copied = await service_of(request).copy(
        claims, request_info(request), bucket_id=bucket_id, source=source,
        target_bucket=target_bucket, target=target,
        upsert=request.headers.get("x-upsert", "").lower() in TRUE,
    )  # fmt: skip
    return JSONResponse({"Id": copied.id, "Key": copied.key})


def _signed_url(request: Request, bucket_id: str, name: str, seconds: int, download: object) -> str:
    token = signing.sign(secret_of(request), f"{bucket_id}/{name}", "download", seconds)
    url = f"/object/sign/{bucket_id}/{name}?token={token}"
    if download not in (None, False, ""):
        url += "&download=" + ("" if download is True else str(download))
    return url


@router.post("/object/sign/{bucket_id}/{name:anypath}")
async def sign_url(request: Request, bucket_id: str, name: str) -> Response:
    """A download URL for one object the caller may read, valid `expiresIn` seconds."""
    claims = await claims_of(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    body = await json_body(request)
    seconds = signing.expires_in(body.get("expiresIn"))
    await service_of(request).visible_object(claims, request_info(request), bucket_id, name)
    return JSONResponse(
        {"signedURL": _signed_url(request, bucket_id, name, seconds, body.get("download"))}
    )


@router.post("/object/sign/{bucket_id}")
async def sign_urls(request: Request, bucket_id: str) -> Response:
    """Download URLs for many objects; each item says whether it could be signed."""
    claims = await claims_of(request)
    body = await json_body(request)
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
        secret_of(request), request.query_params.get("token"), f"{bucket_id}/{name}", "download"
    )
    row = await service_of(request).signed_object(bucket_id, name)
    return await serve(
        service_of(request).store, body_key(row["version"]), row, request.headers,
        download=request.query_params.get("download"),
    )  # fmt: skip


@router.post("/object/upload/sign/{bucket_id}/{name:anypath}")
async def sign_upload(request: Request, bucket_id: str, name: str) -> Response:
    """An upload URL for `bucket_id/name`, if the caller could upload it now."""
    claims = await claims_of(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    upsert = request.headers.get("x-upsert", "").lower() in TRUE
    await service_of(request).check_upload(claims, request_info(request), bucket_id, name, upsert)
    token = signing.sign(
        secret_of(request), f"{bucket_id}/{name}", "upload", 2 * 3600,
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
        secret_of(request), request.query_params.get("token"), f"{bucket_id}/{name}", "upload"
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
    claims = await claims_of(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    row = await service_of(request).visible_object(claims, request_info(request), bucket_id, name)
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
    row = await service_of(request).visible_object(
        {"role": "anon"}, request_info(request), bucket_id, name
    )
    return await serve(
        service_of(request).store, body_key(row["version"]), row, request.headers,
        head=request.method == "HEAD", download=request.query_params.get("download"),
    )  # fmt: skip


@router.api_route("/object/{bucket_id}/{name:anypath}", methods=["GET", "HEAD"])
@router.api_route("/object/authenticated/{bucket_id}/{name:anypath}", methods=["GET", "HEAD"])
async def download(request: Request, bucket_id: str, name: str) -> Response:
    """An object's body, as the caller may read it; Range and If-None-Match honoured."""
    claims = await claims_of(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    row = await service_of(request).visible_object(claims, request_info(request), bucket_id, name)
    return await serve(
        service_of(request).store, body_key(row["version"]), row, request.headers,
        head=request.method == "HEAD", download=request.query_params.get("download"),
    )  # fmt: skip


@router.post("/object/{bucket_id}/{name:anypath}")
async def upload(request: Request, bucket_id: str, name: str) -> Response:
    """Upload a new object (`x-upsert: true` replaces an existing one)."""
    claims = await claims_of(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    upsert = request.headers.get("x-upsert", "").lower() in TRUE
    return await _upload(request, claims, bucket_id, name, upsert)


@router.put("/object/{bucket_id}/{name:anypath}")
async def replace(request: Request, bucket_id: str, name: str) -> Response:
    """Replace an object's body (or create it)."""
    claims = await claims_of(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    return await _upload(request, claims, bucket_id, name, upsert=True)


async def _upload(
    request: Request, claims: dict[str, Any], bucket_id: str, name: str, upsert: bool
) -> Response:
    length = request.headers.get("content-length")
    uploaded = await service_of(request).upload(
        claims, request_info(request), bucket_id=bucket_id, name=name, upsert=upsert,
        content_length=int(length) if length and length.isdigit() else None,
        read_body=lambda: upload_body(request.headers, request.stream()),
    )  # fmt: skip
    return JSONResponse({"Id": uploaded.id, "Key": uploaded.key})


@router.delete("/object/{bucket_id}")
async def remove(request: Request, bucket_id: str) -> Response:
    """Remove many objects (`prefixes`); those missing or not the caller's are skipped."""
    claims = await claims_of(request)
    body = await json_body(request)
    prefixes = body.get("prefixes")
    if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
        raise errors.invalid_request("prefixes must be a list of object names")
    if len(prefixes) > 1000:
        raise errors.invalid_request("at most 1000 objects can be removed at once")
    rows = await service_of(request).remove(claims, request_info(request), bucket_id, prefixes)
    return Response(orjson.dumps(rows, default=str), media_type="application/json")


@router.delete("/object/{bucket_id}/{name:anypath}")
async def remove_one(request: Request, bucket_id: str, name: str) -> Response:
    """Remove one object."""
    claims = await claims_of(request)
    bucket_id, name = names.check_bucket_id(bucket_id), names.check_object_name(name)
    rows = await service_of(request).remove(claims, request_info(request), bucket_id, [name])
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
