"""Budget webhooks: the server POSTs each alert once to its budget's URL with the alert as
JSON, retries a failed delivery later, and by default refuses addresses on loopback and
private networks (a team admin must not aim the server at internal services).

Delivery to a local receiver needs GPTDESK_WEBHOOK_ALLOW_PRIVATE_NETWORKS, and every server
on a database polls for due deliveries: so those tests get a database of their own, built
from the migrations, and a server with the setting on; the session's server (setting off)
never sees their alerts. The refusal is checked on the session's server.
"""

import asyncio
import json
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from gptdesk.db.database import ensure_database, prepare
from gptdesk.db.roles import authenticator_dsn
from tests.analytics.budget_world import alerts, charge, new_budget, this_month
from tests.analytics.crew import Crew, make_crew, remove_crew
from tests.conftest import (
    TEST_JWT_SECRET,
    LiveServer,
    MigratedDatabase,
    drop_database,
    running_server,
)

WAIT = 20.0  # seconds; the server polls every 2


@dataclass
class Receiver:
    """A local HTTP endpoint that keeps what it is sent and answers the next status queued
    (200 when none is)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["body"].get("alert_id") == alert_id]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body),
                     "status": status}
                )  # fmt: skip
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def hooks_db(postgres_cluster: str) -> AsyncIterator[MigratedDatabase]:
    """A database of this module's own, every migration applied."""
    name = f"gptdesk_test_hooks_{secrets.token_hex(4)}"
    admin_dsn = await ensure_database(postgres_cluster, name)
    try:
        await prepare(admin_dsn, TEST_JWT_SECRET)
        yield MigratedDatabase(
            admin_dsn, authenticator_dsn(admin_dsn, TEST_JWT_SECRET), TEST_JWT_SECRET
        )
    finally:
        await drop_database(postgres_cluster, name)


@pytest.fixture(scope="module")
def hooks_server(hooks_db: MigratedDatabase) -> Iterator[LiveServer]:
    """A server on that database that delivers to private addresses."""
    with running_server(
        hooks_db, webhook_allow_private_networks="true", webhook_timeout="5"
    ) as live:
        yield live


@pytest_asyncio.fixture(loop_scope="session")
async def hooks_owner(hooks_db: MigratedDatabase) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(hooks_db.admin_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def hooks_crew(
    hooks_owner: asyncpg.Connection, hooks_db: MigratedDatabase, hooks_server: LiveServer
) -> AsyncIterator[Crew]:
    made = await make_crew(hooks_owner, hooks_server, hooks_db.jwt_secret)
    try:
        yield made
    finally:
        await remove_crew(hooks_owner, made)


async def wait_for_alert(
    conn: asyncpg.Connection, budget: str, threshold: int, done: Callable[[dict[str, Any]], object]
) -> dict[str, Any]:
    """Poll the budget's alert at `threshold` until `done(alert)`."""
    deadline = time.monotonic() + WAIT
    while True:
        found = [a for a in await alerts(conn, budget) if a["threshold"] == threshold]
        if found and done(found[0]):
            return found[0]
        assert time.monotonic() < deadline, f"gave up waiting: {found}"
        await asyncio.sleep(0.1)


async def test_each_alert_is_delivered_once_with_its_payload(
    hooks_owner: asyncpg.Connection, hooks_crew: Crew, receiver: Receiver
) -> None:
    crew = hooks_crew
    path = f"/hooks/{secrets.token_hex(4)}"
    budget = new_budget(
        crew, monthly_limit=2, thresholds=[50, 100], hard_stop=True, webhook_url=receiver.url + path
    )["id"]
    await charge(hooks_owner, crew, "1.2")
    half = await wait_for_alert(hooks_owner, budget, 50, lambda a: a["webhook_status"] == "sent")
    assert (half["webhook_attempts"], half["webhook_error"]) == (1, None)
    [delivery] = receiver.deliveries(half["id"])
    assert delivery["path"] == path
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-gptdesk-event"] == "budget.threshold_reached"
    assert headers["x-gptdesk-delivery"] == half["id"]
    assert headers["user-agent"].startswith("GPTDesk-Webhooks/")
    body = delivery["body"]
    assert {k: body[k] for k in body if k != "at"} == {
        "type": "budget.threshold_reached", "alert_id": half["id"], "budget_id": budget,
        "team_id": crew.teams["x"], "gpt_id": None, "period": this_month(), "threshold": 50,
        "spent": 1.2, "monthly_limit": 2, "currency": "USD", "hard_stop": True,
    }  # fmt: skip
    assert body["at"]

    await charge(hooks_owner, crew, "0.8")
    full = await wait_for_alert(hooks_owner, budget, 100, lambda a: a["webhook_status"] == "sent")
    [delivery] = receiver.deliveries(full["id"])
    assert (delivery["body"]["threshold"], delivery["body"]["spent"]) == (100, 2)

    await charge(hooks_owner, crew, "5")
    await asyncio.sleep(4.5)  # two polls: nothing is delivered again
    assert len(receiver.deliveries(half["id"])) == len(receiver.deliveries(full["id"])) == 1
    assert [a["threshold"] for a in await alerts(hooks_owner, budget)] == [50, 100]


async def test_a_failed_delivery_is_retried_later(
    hooks_owner: asyncpg.Connection, hooks_crew: Crew, receiver: Receiver
) -> None:
    crew = hooks_crew
    budget = new_budget(
        crew, monthly_limit=1, thresholds=[100], webhook_url=f"{receiver.url}/flaky"
    )["id"]
    receiver.statuses.append(503)
    await charge(hooks_owner, crew, "1")
    failed = await wait_for_alert(hooks_owner, budget, 100, lambda a: a["webhook_error"])
    assert (failed["webhook_status"], failed["webhook_attempts"], failed["webhook_error"]) == (
        "pending", 1, "HTTP 503",
    )  # fmt: skip
    wait = await hooks_owner.fetchval(
        "select extract(epoch from webhook_next_at - now()) from public.budget_alerts"
        " where id = $1",
        uuid.UUID(failed["id"]),
    )
    assert 5 < wait <= 10, "the first retry waits 10 s"
    # due now rather than in 10 s, to keep the test short
    await hooks_owner.execute(
        "update public.budget_alerts set webhook_next_at = now() where id = $1",
        uuid.UUID(failed["id"]),
    )
    sent = await wait_for_alert(hooks_owner, budget, 100, lambda a: a["webhook_status"] == "sent")
    assert (sent["webhook_attempts"], sent["webhook_error"]) == (2, None)
    assert [d["status"] for d in receiver.deliveries(failed["id"])] == [503, 200]


async def test_loopback_webhooks_are_refused_by_default(
    owner: asyncpg.Connection, fresh_crew: Crew, receiver: Receiver
) -> None:
    crew = fresh_crew  # on the session's server: private networks not allowed
    budget = new_budget(crew, monthly_limit=1, thresholds=[100], webhook_url=receiver.url + "/x")
    await charge(owner, crew, "1")
    alert = await wait_for_alert(owner, budget["id"], 100, lambda a: a["webhook_error"])
    assert (alert["webhook_status"], alert["webhook_attempts"]) == ("pending", 1)
    assert alert["webhook_error"].startswith("refused: 127.0.0.1 resolves to a non-public"), alert
    assert receiver.deliveries(alert["id"]) == []
