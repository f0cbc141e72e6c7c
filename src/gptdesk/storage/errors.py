"""Storage's errors as its clients parse them.

Supabase Storage answers every error below 500 with HTTP 400 and the real status as a
string in the body: `{"statusCode": "404", "code": "NoSuchKey", "error": "not_found",
"message": "Object not found"}`. storage3 (supabase-py) needs `message`, `error` and
`statusCode`.
"""

from starlette.responses import JSONResponse


class StorageError(Exception):
    """A storage failure: the real status, Storage's code and error, a message."""

    def __init__(self, status: int, code: str, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.error = error
        self.message = message


def render(error: StorageError) -> JSONResponse:
    """The response for `error` (HTTP 400 unless it is a server error)."""
    body = {
        "statusCode": str(error.status),
        "code": error.code,
        "error": error.error,
        "message": error.message,
    }
    return JSONResponse(body, status_code=error.status if error.status >= 500 else 400)


def no_such_bucket() -> StorageError:
    """The bucket does not exist (or the caller cannot see it)."""
    return StorageError(404, "NoSuchBucket", "Bucket not found", "Bucket not found")


def no_such_key() -> StorageError:
    """The object does not exist (or the caller cannot see it)."""
    return StorageError(404, "NoSuchKey", "not_found", "Object not found")


def access_denied(message: str = "new row violates row-level security policy") -> StorageError:
    """RLS refused the operation."""
    return StorageError(403, "AccessDenied", "Unauthorized", message)


def duplicate() -> StorageError:
    """An object of that name exists and the upload is not an upsert."""
    return StorageError(409, "Duplicate", "Duplicate", "The resource already exists")


def invalid_key(message: str) -> StorageError:
    """An object name the store refuses."""
    return StorageError(400, "InvalidKey", "Invalid Input", message)


def invalid_request(message: str) -> StorageError:
    """A malformed request."""
    return StorageError(400, "InvalidRequest", "Invalid Input", message)


def entity_too_large() -> StorageError:
    """Over the bucket's (or the server's) size limit."""
    return StorageError(
        413, "EntityTooLarge", "Payload too large", "The object exceeded the maximum allowed size"
    )


def invalid_mime_type(mime: str) -> StorageError:
    """A content type the bucket does not allow."""
    return StorageError(
        415, "InvalidMimeType", "invalid_mime_type", f"mime type {mime} is not supported"
    )


def invalid_jwt(message: str) -> StorageError:
    """A token that is malformed, forged or expired."""
    return StorageError(400, "InvalidJWT", "Invalid JWT", message)
