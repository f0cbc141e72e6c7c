"""Who may do what to team files, as a table of cases (actor, operation, file → outcome),
through storage3 on both backends.

Each case starts from three files of gpt-desk-files: `a` (user_a's, team A), `adm`
(admin_a's, team A) and `b` (user_b's, team B). After the operation every file the case
did not legitimately change — row, body and bytes — is exactly as it was, and a refused
move, copy or upload leaves nothing at its destination.

Outcomes: "ok" (done), "hidden" (RLS filtered silently: an empty list, nothing removed,
an unsigned item), or the statusCode string of the error Storage answers.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from storage3.types import CreateSignedUploadUrlOptions

from tests.conftest import MigratedDatabase
from tests.rest.world import World
from tests.storage.conftest import Scratch
from tests.storage.helpers import BUCKET, TEAM_A, TEAM_B, Backend, body_of, object_row

Storage = Callable[..., SyncStorageClient]
FILES = {"a": (TEAM_A, "user_a"), "adm": (TEAM_A, "admin_a"), "b": (TEAM_B, "user_b")}
TEAMS = {"team_a": TEAM_A, "team_b": TEAM_B}
WRITES = {"upsert", "update", "move", "copy", "remove", "upload"}


@dataclass(frozen=True)
class Case:
    actor: str
    operation: str
    target: str  # a file of FILES, or a team of TEAMS for uploads
    outcome: str
    into: str | None = None  # the team folder a move, copy or upload writes into

    def __str__(self) -> str:
        into = f"->{self.into}" if self.into else ""
        return f"{self.actor}-{self.operation}-{self.target}{into}-{self.outcome}"


CASES = [
    # another team's member: sees nothing of team A, changes nothing there
    Case("user_b", "list", "a", "hidden"),
    Case("user_b", "download", "a", "404"),
    Case("user_b", "info", "a", "404"),
    Case("user_b", "sign", "a", "404"),
    Case("user_b", "sign_many", "a", "hidden"),
    Case("user_b", "signed_upload", "a", "403"),
    Case("user_b", "upsert", "a", "403"),
    Case("user_b", "update", "a", "403"),
    Case("user_b", "move", "a", "404", into="team_b"),
    Case("user_b", "move", "a", "404", into="team_a"),
    Case("user_b", "copy", "a", "404", into="team_b"),
    Case("user_b", "remove", "a", "hidden"),
    Case("user_b", "upload", "team_a", "403", into="team_a"),
    # a member: their team's files to read, their own to change, nothing outside
    Case("user_a", "list", "a", "ok"),
    Case("user_a", "download", "adm", "ok"),
    Case("user_a", "info", "adm", "ok"),
    Case("user_a", "sign", "adm", "ok"),
    Case("user_a", "upload", "team_b", "403", into="team_b"),
    Case("user_a", "move", "a", "403", into="team_b"),
    Case("user_a", "copy", "a", "403", into="team_b"),
    Case("user_a", "copy", "adm", "ok", into="team_a"),
    Case("user_a", "move", "a", "ok", into="team_a"),
    Case("user_a", "upsert", "a", "ok"),
    Case("user_a", "remove", "a", "ok"),
    Case("user_a", "remove", "adm", "hidden"),  # another member's file
    Case("user_a", "upsert", "adm", "403"),
    Case("user_a", "move", "adm", "404", into="team_a"),
    Case("user_a", "list", "b", "hidden"),
    Case("user_a", "download", "b", "404"),
    # the team's admin: changes and removes the team's files
    Case("admin_a", "remove", "a", "ok"),
    Case("admin_a", "upsert", "a", "ok"),
    Case("admin_a", "update", "a", "ok"),
    Case("admin_a", "move", "a", "ok", into="team_a"),
    Case("admin_a", "download", "b", "404"),
    Case("admin_a", "remove", "b", "hidden"),
    # nobody signed in: nothing of a private bucket
    Case("anon", "list", "a", "hidden"),
    Case("anon", "download", "a", "404"),
    Case("anon", "info", "a", "404"),
    Case("anon", "sign", "a", "404"),
    Case("anon", "upsert", "a", "403"),
    Case("anon", "remove", "a", "hidden"),
    Case("anon", "upload", "team_a", "403", into="team_a"),
    # super admins see and change everything; so does the server's key
    Case("super_admin", "list", "a", "ok"),
    Case("super_admin", "list", "b", "ok"),
    Case("super_admin", "download", "b", "ok"),
    Case("super_admin", "info", "a", "ok"),
    Case("super_admin", "upsert", "b", "ok"),
    Case("super_admin", "remove", "b", "ok"),
    Case("super_admin", "upload", "team_b", "ok", into="team_b"),
    Case("service_role", "download", "a", "ok"),
    Case("service_role", "remove", "b", "ok"),
    Case("service_role", "copy", "a", "ok", into="team_b"),
]


@dataclass
class Setting:
    """The three files and what each looked like after it was uploaded."""

    paths: dict[str, str]
    rows: dict[str, dict[str, Any]]
    data: dict[str, bytes]


@pytest.fixture
def team_files(
    http: httpx.Client, actors: World, scratch: Scratch, db: MigratedDatabase
) -> Iterator[Setting]:
    """a, adm and b, each uploaded by its owner."""
    paths, rows, data = {}, {}, {}
    for key, (team, owner) in FILES.items():
        paths[key] = scratch.path(team, f"{key}.txt")
        data[key] = f"{key} as uploaded".encode()
        sent = http.post(
            f"/object/{BUCKET}/{paths[key]}",
            content=data[key],
            headers={**actors.headers(owner), "content-type": "text/plain"},
        )
        assert sent.status_code == 200, sent.text
        row = object_row(db, BUCKET, paths[key])
        assert row is not None
        rows[key] = row
    yield Setting(paths, rows, data)


def destination(case: Case, scratch: Scratch) -> str:
    """Where a move, copy or upload of `case` writes."""
    assert case.into is not None
    return scratch.path(TEAMS[case.into], f"{case.operation}-{case.actor}-{case.target}.txt")


def run(case: Case, client: SyncStorageClient, setting: Setting, scratch: Scratch) -> str:
    """Do the case's operation; its outcome."""
    files = client.from_(BUCKET)
    path = setting.paths.get(case.target, "")
    try:
        match case.operation:
            case "list":
                folder = path.rsplit("/", 1)[0]
                names = {item["name"] for item in files.list(folder)}
                return "ok" if path.rsplit("/", 1)[1] in names else "hidden"
            case "download":
                assert files.download(path) == setting.data[case.target]
            case "info":
                assert files.info(path)["name"] == path
            case "sign":
                url = files.create_signed_url(path, 60)["signedURL"]
                assert url is not None
                assert httpx.get(url).content == setting.data[case.target]
            case "sign_many":
                [item] = files.create_signed_urls([path], 60)
                return "ok" if item["signedURL"] else "hidden"
            case "signed_upload":
                files.create_signed_upload_url(path, CreateSignedUploadUrlOptions(upsert="true"))
            case "upsert":
                files.upload(path, b"overwritten", {"upsert": "true"})
            case "update":
                files.update(path, b"overwritten")
            case "move":
                files.move(path, destination(case, scratch))
            case "copy":
                files.copy(path, destination(case, scratch))
            case "remove":
                return "ok" if files.remove([path]) else "hidden"
            case "upload":
                files.upload(destination(case, scratch), b"new file")
            case _:
                raise AssertionError(case.operation)
    except StorageApiError as error:
        assert isinstance(error.status, str), error.to_dict()
        return error.status
    return "ok"


def changed_by(case: Case) -> set[str]:
    """The files a case that succeeded may change."""
    if case.outcome == "ok" and case.operation in WRITES - {"copy", "upload"}:
        return {case.target}
    return set()


def check_effect(case: Case, setting: Setting, scratch: Scratch, db: MigratedDatabase) -> None:
    """What a successful write did to its target, and that a refused one wrote nothing."""
    path = setting.paths.get(case.target, "")
    if case.into is not None:
        written = object_row(db, BUCKET, destination(case, scratch))
        assert (written is not None) == (case.outcome == "ok"), case
    if case.outcome != "ok":
        return
    match case.operation:
        case "remove" | "move":
            assert object_row(db, BUCKET, path) is None
        case "upsert" | "update":
            row = object_row(db, BUCKET, path)
            assert row is not None and row["metadata"]["size"] == len(b"overwritten")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(
    case: Case,
    team_files: Setting,
    storage: Storage,
    scratch: Scratch,
    backend: Backend,
    db: MigratedDatabase,
) -> None:
    assert run(case, storage(case.actor), team_files, scratch) == case.outcome
    check_effect(case, team_files, scratch, db)
    service = storage("service_role").from_(BUCKET)
    stored = backend.bodies()
    for key in FILES.keys() - changed_by(case):
        row = object_row(db, BUCKET, team_files.paths[key])
        assert row == team_files.rows[key], f"{key} changed"
        assert body_of(row) in stored
        assert service.download(team_files.paths[key]) == team_files.data[key]


def test_folders_show_only_the_teams_one_sees(
    team_files: Setting, storage: Storage, scratch: Scratch
) -> None:
    def folders(actor: str) -> set[str]:
        return {item["name"] for item in storage(actor).from_(BUCKET).list("", {"limit": 1000})}

    assert TEAM_A in folders("user_a") and TEAM_B not in folders("user_a")
    assert TEAM_B in folders("user_b") and TEAM_A not in folders("user_b")
    assert {TEAM_A, TEAM_B} <= folders("super_admin")
    assert folders("anon") == set()
