"""supabase-js driven from the tests: tests/realtime/js/subscribe.mjs as a subprocess.

The script subscribes with the parameters it is given and prints one JSON line per thing
that happens (its subscription status, each event received, each broadcast sent, `done`
last); `NodeClient` collects those lines so a test waits for the subscription, makes its
changes, and checks what the client printed once it exits.
"""

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.realtime.wire import WAIT

SCRIPT = Path(__file__).parent / "js" / "subscribe.mjs"

Line = dict[str, Any]


class NodeClient:
    """A running subscribe.mjs and the lines it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[Line] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(json.loads(raw))
            self._arrived.set()

    async def expect(self, predicate: Callable[[Line], bool], within: float = WAIT) -> Line:
        """The first printed line that satisfies `predicate`, waiting for it."""

        async def wait() -> Line:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                if self._reader.done():
                    raise AssertionError(f"subscribe.mjs ended without it: {self.lines}")
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(wait(), within)
        except TimeoutError:
            raise AssertionError(f"not printed in {within} s: {self.lines}") from None

    async def subscribed(self) -> None:
        """Wait for the channel's first status, and require it to be SUBSCRIBED."""
        line = await self.expect(lambda line: line["kind"] == "status")
        assert line["status"] == "SUBSCRIBED", self.lines

    async def finished(self, within: float = 2 * WAIT) -> list[Line]:
        """Wait for the script to exit; the lines it printed before `done`."""
        assert self.process.stderr is not None
        stderr = await asyncio.wait_for(self.process.stderr.read(), within)
        await asyncio.wait_for(self.process.wait(), within)
        await self._reader
        assert self.process.returncode == 0, stderr.decode()
        kinds = [line["kind"] for line in self.lines]
        assert "done" in kinds, (self.lines, stderr.decode())
        return self.lines[: kinds.index("done") + 1]

    def received(self, kind: str) -> list[Line]:
        """The events of `kind` printed before `done`."""
        lines = []
        for line in self.lines:
            if line["kind"] == "done":
                break
            if line["kind"] == kind:
                lines.append(line)
        return lines


@asynccontextmanager
async def node_client(node_dir: Path, **params: Any) -> AsyncIterator[NodeClient]:
    """subscribe.mjs running with `params`; killed afterwards if it is still running."""
    process = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), json.dumps(params),
        env={**os.environ, "GPTDESK_NODE_DIR": str(node_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    client = NodeClient(process)
    try:
        yield client
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await client._reader
