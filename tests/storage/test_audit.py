"""Audit rows of storage changes: uploads, replacements, moves, copies, removals and bucket
changes each write one, in the same transaction, with the actor, their team and the
request's user agent; a refused change writes none."""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError

from tests.conftest import MigratedDatabase
from tests.helpers import owner_query
from tests.rest.world import World
from tests.storage.conftest import Scratch
from tests.storage.helpers import BUCKET, TEAM_A, TEAM_B, USERS, object_row

Storage = Callable[..., SyncStorageClient]


def audit_rows(db: MigratedDatabase, run: str) -> list[dict[str, Any]]:
    """The audit rows naming this test's objects or buckets, oldest first."""
    rows = owner_query(
        db,
        "select action, resource_type, resource_id::text, user_id::text, team_id::text, "
        "details::text, user_agent from public.audit_logs "
        "where strpos(details::text, $1) > 0 order by created_at, action",
        run,
    )
    keys = ("action", "resource_type", "resource_id", "user_id", "team_id", "details", "agent")
    found = [dict(zip(keys, row, strict=True)) for row in rows]
    for row in found:
        row["details"] = json.loads(row["details"])
    return found


def test_object_changes_are_audited(
    storage: Storage, scratch: Scratch, db: MigratedDatabase
) -> None:
    agent = f"audit-test/{scratch.run}"
    files = storage("user_a", **{"User-Agent": agent}).from_(BUCKET)
    path = scratch.path(TEAM_A, "audited.txt")
    moved, copied = scratch.path(TEAM_A, "moved.txt"), scratch.path(TEAM_A, "copied.txt")
    files.upload(path, b"12345")
    row = object_row(db, BUCKET, path)
    assert row is not None
    files.upload(path, b"1234567", {"upsert": "true"})
    files.move(path, moved)
    files.copy(moved, copied)
    copy_row = object_row(db, BUCKET, copied)
    assert copy_row is not None
    files.remove([moved, copied])

    rows = audit_rows(db, scratch.run)
    seen = [(r["action"], r["details"]["name"]) for r in rows]
    assert seen[:4] == [
        ("storage.object_uploaded", path),
        ("storage.object_replaced", path),
        ("storage.object_moved", moved),
        ("storage.object_uploaded", copied),
    ]
    # one remove, one transaction: the two rows share their time
    assert sorted(seen[4:]) == [
        ("storage.object_removed", copied),
        ("storage.object_removed", moved),
    ]
    for audit in rows:
        assert audit["resource_type"] == "storage_object"
        assert audit["user_id"] == USERS["user_a"]
        assert audit["team_id"] == TEAM_A
        assert audit["agent"] == agent
        assert audit["details"]["bucket"] == BUCKET
    uploaded, replaced, move = rows[0], rows[1], rows[2]
    assert uploaded["resource_id"] == row["id"]
    assert uploaded["details"]["size"] == 5
    assert replaced["details"]["size"] == 7
    assert move["details"]["from_name"] == path
    assert move["details"]["from_bucket"] == BUCKET
    assert rows[3]["resource_id"] == copy_row["id"]


def test_refused_changes_are_not_audited(
    storage: Storage, http: httpx.Client, actors: World, scratch: Scratch, db: MigratedDatabase
) -> None:
    path = scratch.path(TEAM_A, "guarded.txt")
    storage("user_a").from_(BUCKET).upload(path, b"guarded")
    intruder = storage("user_b").from_(BUCKET)
    for attempt in (
        lambda: intruder.upload(scratch.path(TEAM_A, "planted.txt"), b"x"),
        lambda: intruder.upload(path, b"x", {"upsert": "true"}),
        lambda: intruder.move(path, scratch.path(TEAM_B, "taken.txt")),
    ):
        with pytest.raises(StorageApiError):
            attempt()
    assert intruder.remove([path]) == []
    with pytest.raises(StorageApiError):  # a duplicate: refused too
        storage("user_a").from_(BUCKET).upload(path, b"again")
    assert [r["action"] for r in audit_rows(db, scratch.run)] == ["storage.object_uploaded"]


def test_bucket_changes_are_audited(
    storage: Storage, scratch: Scratch, db: MigratedDatabase
) -> None:
    agent = f"bucket-audit/{scratch.run}"
    client = storage("super_admin", **{"User-Agent": agent})
    bucket = scratch.bucket("audited")
    client.create_bucket(bucket, options={"public": False})
    client.update_bucket(bucket, {"public": True})
    client.delete_bucket(bucket)
    rows = audit_rows(db, scratch.run)
    assert [r["action"] for r in rows] == [
        "storage.bucket_created",
        "storage.bucket_changed",
        "storage.bucket_removed",
    ]
    for audit in rows:
        assert audit["resource_type"] == "storage_bucket"
        assert audit["user_id"] == USERS["super_admin"]
        assert audit["agent"] == agent
        assert audit["details"]["bucket"] == bucket
    created, changed, removed = rows
    assert created["details"]["after"]["public"] is False and created["details"]["before"] is None
    assert changed["details"]["before"]["public"] is False
    assert changed["details"]["after"]["public"] is True
    assert removed["details"]["after"] is None


def test_a_refused_bucket_change_is_not_audited(
    storage: Storage, scratch: Scratch, db: MigratedDatabase
) -> None:
    with pytest.raises(StorageApiError):
        storage("admin_a").create_bucket(scratch.bucket("nope"))
    assert audit_rows(db, scratch.run) == []
