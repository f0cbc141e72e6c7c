"""The documents tests use the storage tests' fixtures: a live server per backend (local and
moto's S3), the RLS world, clients per actor, and a per-test scratch space."""

from tests.storage.conftest import (
    actors,
    backend,
    moto_endpoint,
    scratch,
    storage,
    world,
)

__all__ = ["actors", "backend", "moto_endpoint", "scratch", "storage", "world"]
