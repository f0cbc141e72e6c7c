"""A worker whose every pooled connection holds a turn still answers: the provider table
is reloaded before a turn's transaction opens, never while it holds its connection."""

import asyncio
import time

import httpx

from tests.chat.gateway_world import GPT_A_PRIVATE, gpts
from tests.conftest import MigratedDatabase, running_server
from tests.rest.world import World

CLIENTS = 8
RELOAD_SECONDS = 5.0  # ProviderRegistry's ttl


async def _ask_all(url: str, headers: dict[str, str], sessions: list[str]) -> list[int]:
    async with httpx.AsyncClient(timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{url}/api/v1/chat/sessions/{session}/messages",
                    headers=headers,
                    json={"content": f"question {n}"},
                )
                for n, session in enumerate(sessions)
            )
        )
    return [answer.status_code for answer in answers]


def test_more_turns_than_connections_all_answer(world: World, db: MigratedDatabase) -> None:
    with gpts(db) as made, running_server(db, db_pool_min="1", db_pool_max="2") as live:
        sessions = [made.session(GPT_A_PRIVATE) for _ in range(CLIENTS)]
        headers = {
            "apikey": live.anon_key,
            "Authorization": f"Bearer {world.tokens['user_a']}",
        }
        first = asyncio.run(_ask_all(live.url, headers, sessions))
        time.sleep(RELOAD_SECONDS + 0.5)  # the next turns find the providers due a reload
        second = asyncio.run(_ask_all(live.url, headers, sessions))
    assert first == [201] * CLIENTS
    assert second == [201] * CLIENTS
