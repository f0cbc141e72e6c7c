"""/api/v1/documents: upload a file into the caller's team folder with its documents row
(one operation: if either half fails, neither remains), list, get with a signed URL, and
delete the object with its row."""

import re
import unicodedata
import uuid
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gptdesk.api import ApiError, signed_in_claims
from gptdesk.auth.routes import request_info
from gptdesk.documents import repository
from gptdesk.storage import repository as objects
from gptdesk.storage import signing
from gptdesk.storage.backends.base import Stored
from gptdesk.storage.bodies import UploadBody, upload_body
from gptdesk.storage.errors import StorageError
from gptdesk.storage.service import StorageService, body_key

router = APIRouter(prefix="/api/v1/documents")
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]
BUCKET = "gpt-desk-files"
FOLDER = "documents"
SIGNED_URL_SECONDS = 3600
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_filename(raw: str | None) -> str:
    """A file name usable as the last segment of an object path."""
    name = unicodedata.normalize("NFC", (raw or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    name = _UNSAFE.sub("_", name).strip().strip(".")
    if not name:
        raise ApiError(400, "invalid_filename", "The file needs a name")
    return name[:200]


def _json(value: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(value, default=str), status_code=status, media_type="application/json"
    )


def _uuid(value: str | None, code: str, what: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(
            400 if code.startswith("invalid") else 404, code, f"{what} is not a uuid"
        ) from None


def _storage_failure(error: StorageError) -> ApiError:
    codes = {
        404: "not_found",
        403: "forbidden",
        409: "conflict",
        413: "file_too_large",
        415: "unsupported_media_type",
    }
    return ApiError(
        error.status if error.status < 500 else 500,
        codes.get(error.status, "invalid_upload"),
        error.message,
    )


@router.post("")
async def upload_document(request: Request, claims: Claims) -> Response:
    """Upload the form's file (fields: optional `gpt_id`) into the caller's team folder."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(415, "multipart_required", "Upload the file as multipart/form-data")
    service: StorageService = request.app.state.storage
    info = request_info(request)
    async with request.app.state.scope.as_claims(claims, request=info, read_only=True) as conn:
        team = await repository.caller_team(conn)
    if team is None:
        raise ApiError(403, "no_team", "Only members of a team can upload its documents")

    async def record(
        conn: asyncpg.Connection, object_id: str, body: UploadBody, stored: Stored
    ) -> Any:
        gpt_id = _uuid(body.fields.get("gpt_id"), "invalid_gpt_id", "gpt_id")
        return await repository.insert(conn, {
            "team_id": team, "user_id": claims.get("sub"), "gpt_id": gpt_id, "bucket": BUCKET,
            "object_path": path, "name": display, "size_bytes": stored.size,
            "mime_type": body.content_type,
        })  # fmt: skip

    # The object's name ends with the file part's name: the form is read up to that part
    # (its fields before it too) before anything is stored.
    body = await upload_body(request.headers, request.stream())
    display = safe_filename(body.filename)
    path = f"{team}/{FOLDER}/{uuid.uuid4()}/{display}"
    try:
        uploaded = await service.upload(
            claims, info, bucket_id=BUCKET, name=path, upsert=False,
            content_length=None, read_body=_ready(body), also=record,
        )  # fmt: skip
    except StorageError as error:
        raise _storage_failure(error) from None
    return _json(dict(uploaded.extra), status=201)


def _ready(body: UploadBody) -> Any:
    async def read() -> UploadBody:
        return body

    return read


@router.get("")
async def list_documents(request: Request, claims: Claims) -> Response:
    """The team's documents (all, for super admins), newest first; `gpt_id`, `limit`, `offset`."""
    params = request.query_params
    gpt_id = _uuid(params.get("gpt_id"), "invalid_gpt_id", "gpt_id")
    try:
        limit, offset = int(params.get("limit", "50")), int(params.get("offset", "0"))
    except ValueError:
        raise ApiError(400, "invalid_limit", "limit and offset must be numbers") from None
    if not 1 <= limit <= 1000 or offset < 0:
        raise ApiError(400, "invalid_limit", "limit must be 1 to 1000 and offset not negative")
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        rows = await repository.listing(conn, gpt_id, limit, offset)
    return _json([dict(r) for r in rows])


@router.get("/{document_id}")
async def get_document(request: Request, document_id: str, claims: Claims) -> Response:
    """One document, with a download URL valid an hour (`expires_in` seconds)."""
    found = _uuid(document_id, "document_not_found", "document id")
    try:
        seconds = signing.expires_in(request.query_params.get("expires_in", SIGNED_URL_SECONDS))
    except StorageError as error:
        raise ApiError(400, "invalid_expires_in", error.message) from None
    async with request.app.state.scope.as_claims(
        claims, request=request_info(request), read_only=True
    ) as conn:
        row = await repository.one(conn, found)
        visible = row is not None and await objects.object_row(
            conn, row["bucket"], row["object_path"]
        )
    if row is None:
        raise ApiError(404, "document_not_found", "No such document of your team")
    document = dict(row)
    document["signed_url"] = None
    if visible:
        url = f"{row['bucket']}/{row['object_path']}"
        token = signing.sign(
            str(request.app.state.settings.jwt_secret.get_secret_value()), url, "download", seconds
        )
        document["signed_url"] = (
            f"{request.app.state.settings.base_url}/storage/v1/object/sign/{url}?token={token}"
        )
    return _json(document)


@router.delete("/{document_id}", status_code=204)
async def delete_document(request: Request, document_id: str, claims: Claims) -> Response:
    """Remove a document's row and its object together (the body after commit)."""
    found = _uuid(document_id, "document_not_found", "document id")
    service: StorageService = request.app.state.storage
    async with request.app.state.scope.as_claims(claims, request=request_info(request)) as conn:
        row = await repository.delete(conn, found)
        if row is None:
            raise ApiError(404, "document_not_found", "No such document you may remove")
        removed = await objects.delete_objects(conn, row["bucket"], [row["object_path"]])
    await service.store.delete([body_key(r["version"]) for r in removed if r["version"]])
    return Response(status_code=204)
