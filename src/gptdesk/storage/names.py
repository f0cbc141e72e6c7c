"""Bucket ids and object names: what the store accepts (pure).

An object name is a relative path of non-empty segments separated by '/', without '.' or
'..' segments, control characters or a leading '/', at most 1,024 bytes — so no name can
reach outside its bucket, in a folder or an S3 key.
"""

import re

from gptdesk.storage.errors import StorageError, invalid_key

MAX_NAME_BYTES = 1024
_BUCKET = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_bucket_id(bucket: str) -> str:
    """`bucket`, or InvalidBucketName."""
    if not _BUCKET.match(bucket) or bucket in (".", ".."):
        raise StorageError(
            400, "InvalidBucketName", "Invalid Input", f"Bucket name invalid: {bucket!r}"
        )
    return bucket


def check_object_name(name: str) -> str:
    """`name`, or InvalidKey naming what is wrong with it."""
    if not name:
        raise invalid_key("The object name is empty")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise invalid_key(f"The object name is longer than {MAX_NAME_BYTES} bytes")
    if _CONTROL.search(name):
        raise invalid_key("The object name contains control characters")
    if name.startswith("/") or "\\" in name:
        raise invalid_key(f"Invalid key: {name}")
    segments = name.split("/")
    if any(segment in ("", ".", "..") for segment in segments[:-1]) or segments[-1] in (
        "",
        ".",
        "..",
    ):
        raise invalid_key(f"Invalid key: {name}")
    return name


def split_path(path: str) -> tuple[str, str]:
    """(bucket, object name) of a URL path `bucket/name…`, both checked."""
    bucket, _, name = path.partition("/")
    return check_bucket_id(bucket), check_object_name(name)


def prefix_of(prefix: str) -> str:
    """A listing prefix: a folder path ('' for the bucket's root), normalised to end in '/'."""
    prefix = prefix.strip("/")
    if prefix and (_CONTROL.search(prefix) or any(s in ("", ".", "..") for s in prefix.split("/"))):
        raise invalid_key(f"Invalid prefix: {prefix}")
    return prefix + "/" if prefix else ""
