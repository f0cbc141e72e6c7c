"""SSE framing and the relay that keeps a silent stream alive."""

import asyncio

import orjson

from gptdesk.chat import sse


def test_an_event_carries_its_name_and_json() -> None:
    frame = sse.event("delta", {"content": "Hi"})
    assert frame == b'event: delta\ndata: {"content":"Hi"}\n\n'
    assert orjson.loads(sse.data({"a": 1}).removeprefix(b"data: ")) == {"a": 1}


async def test_the_relay_passes_texts_then_stops_at_none() -> None:
    deltas: asyncio.Queue[str | None] = asyncio.Queue()
    for item in ("a", "b", None):
        deltas.put_nowait(item)
    assert [text async for text in sse.relay(deltas)] == ["a", "b"]


async def test_the_relay_sends_keepalives_while_the_model_is_silent() -> None:
    deltas: asyncio.Queue[str | None] = asyncio.Queue()

    async def later() -> None:
        await asyncio.sleep(0.05)
        deltas.put_nowait("late")
        deltas.put_nowait(None)

    feeder = asyncio.create_task(later())
    received = [text async for text in sse.relay(deltas, keepalive=0.01)]
    await feeder
    assert received[-1] == "late"
    assert sse.KEEPALIVE in received[:-1]
