"""Where object bodies live: one small interface (base.py), two backends, one factory."""

from pathlib import Path
from typing import Any

from gptdesk.storage.backends.base import ObjectStore


def create_store(kind: str, *, root: Path, s3: dict[str, Any] | None = None) -> ObjectStore:
    """The backend named `kind`: 'local' (files under `root`) or 's3' (`s3` settings)."""
    if kind == "local":
        from gptdesk.storage.backends.local import LocalStore

        return LocalStore(root)
    if kind == "s3":
        from gptdesk.storage.backends.s3 import S3Store

        return S3Store(**(s3 or {}))
    raise ValueError(f"unknown storage backend {kind!r}")
