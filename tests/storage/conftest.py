"""The storage tests' fixtures: a moto S3 server, a live server per backend, the RLS world,
clients per actor, and a per-test scratch space that is removed afterwards.

`backend` is parametrized over the two stores: every test that takes it runs once against
a server keeping bodies under a data dir this fixture controls (local) and once against
one keeping them in a bucket of the moto server (s3), so the same flows are checked on both.
"""

import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from storage3 import SyncStorageClient

from gptdesk.db.embedded import free_port
from tests.conftest import MigratedDatabase, running_server, scratch_dir, stop_process
from tests.helpers import owner_query
from tests.rest.conftest import world
from tests.rest.world import World
from tests.storage.helpers import MOTO_REGION, Backend, empty_s3_bucket, storage_for, wait_for

__all__ = ["world"]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server (its own process) on a free loopback port."""
    port = free_port()
    log = scratch_dir("gptdesk-moto-") / "moto.out"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/moto-api/", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answering, "the moto server", timeout=30)
        yield url
    finally:
        stop_process(process)
        shutil.rmtree(log.parent, ignore_errors=True)


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client of the moto server."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=MOTO_REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="session")
def s3(moto_endpoint: str) -> Any:
    """A boto3 client of the moto server."""
    return s3_client(moto_endpoint)


@pytest.fixture
def s3_bucket(s3: Any) -> Iterator[str]:
    """An S3 bucket of its own for one test, emptied and removed afterwards."""
    name = f"gptdesk-unit-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        empty_s3_bucket(s3, name)
        s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="module", params=["local", "s3"])
def backend(request: pytest.FixtureRequest, db: MigratedDatabase) -> Iterator[Backend]:
    """A live server storing bodies locally (under a data dir of ours) or in moto's S3."""
    if request.param == "local":
        data_dir = scratch_dir("gptdesk-storage-data-")
        try:
            with running_server(db, data_dir=str(data_dir)) as live:
                yield Backend("local", live, root=data_dir / "storage")
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        return
    endpoint: str = request.getfixturevalue("moto_endpoint")
    client = s3_client(endpoint)
    bucket = f"gptdesk-bodies-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket)
    try:
        with running_server(
            db,
            storage_backend="s3",
            storage_s3_bucket=bucket,
            storage_s3_endpoint_url=endpoint,
            storage_s3_region=MOTO_REGION,
            storage_s3_access_key_id="test",
            storage_s3_secret_access_key="test",
        ) as live:
            yield Backend("s3", live, s3=client, s3_bucket=bucket)
    finally:
        empty_s3_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)


@pytest.fixture
def actors(backend: Backend, world: World) -> World:
    """The RLS world's tokens, for the backend's server."""
    return World(backend.server, world.tokens)


@pytest.fixture
def http(backend: Backend) -> Iterator[httpx.Client]:
    """Raw HTTP to the backend's /storage/v1."""
    with httpx.Client(base_url=f"{backend.server.url}/storage/v1", timeout=60) as client:
        yield client


@pytest.fixture
def storage(actors: World) -> Iterator[Callable[..., SyncStorageClient]]:
    """`storage(actor, **headers)`: supabase-py's storage client as `actor`."""
    with httpx.Client(timeout=60) as transport:

        def make(actor: str, **extra_headers: str) -> SyncStorageClient:
            return storage_for(actors, actor, transport, **extra_headers)

        yield make


@dataclass(frozen=True)
class Scratch:
    """A test's own names: a folder segment and a bucket-id prefix no other test uses."""

    run: str

    def path(self, team: str, name: str) -> str:
        """`<team>/<run>/<name>`: an object name in a team's folder."""
        return f"{team}/{self.run}/{name}"

    def bucket(self, label: str) -> str:
        """A bucket id of this test."""
        return f"{self.run}-{label}"


def remove_scratch(db: MigratedDatabase, url: str, service_key: str, run: str) -> None:
    """Remove, through the server as service_role (so bodies go too), every object and
    bucket whose name carries `run`, then the audit rows and documents naming it."""
    auth = {"apikey": service_key, "Authorization": f"Bearer {service_key}"}
    rows = owner_query(
        db,
        "select bucket_id, name from storage.objects "
        "where strpos(name, $1) > 0 or starts_with(bucket_id, $1)",
        run,
    )
    by_bucket: dict[str, list[str]] = {}
    for bucket_id, name in rows:
        by_bucket.setdefault(bucket_id, []).append(name)
    with httpx.Client(base_url=f"{url}/storage/v1", headers=auth, timeout=60) as client:
        for bucket_id, names in by_bucket.items():
            gone = client.request("DELETE", f"/object/{bucket_id}", json={"prefixes": names})
            assert gone.status_code == 200, gone.text
        for (bucket_id,) in owner_query(
            db, "select id from storage.buckets where starts_with(id, $1)", run
        ):
            gone = client.request("DELETE", f"/bucket/{bucket_id}", json={})
            assert gone.status_code == 200, gone.text
    owner_query(db, "delete from public.documents where strpos(object_path, $1) > 0", run)


@pytest.fixture
def scratch(backend: Backend, db: MigratedDatabase) -> Iterator[Scratch]:
    """This test's names; whatever carries them is removed afterwards."""
    run = f"t{secrets.token_hex(5)}"
    try:
        yield Scratch(run)
    finally:
        remove_scratch(db, backend.server.url, backend.server.service_role_key, run)
