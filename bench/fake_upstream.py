"""A fast fake OpenAI-compatible upstream for the gateway benchmarks: one fixed answer.

Usage: python -m bench.fake_upstream --port PORT

`POST /v1/chat/completions` answers a fixed `chat.completion` with its usage, or with
`"stream": true` the same answer as Server-Sent Events (a role chunk, three content
chunks, the finish chunk, with `stream_options.include_usage` a last chunk with no
choices and the usage, then `[DONE]`), sent chunked in one write. `GET /health` answers
200. Anything else is 404.

A raw uvloop protocol around httptools' parser (the parser uvicorn uses), so that the
upstream costs as little CPU as possible per request and the gateways' overhead stands out;
run it in a process of its own so it shares no interpreter lock with the load generator.
"""

import argparse
import asyncio

import httptools
import orjson
import uvloop

MODEL = "gpt-4o-mini"
ANSWER = ["Hello", " from the", " fake upstream."]
USAGE = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}


def _response(status: bytes, content_type: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type
        + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


def _completion() -> bytes:
    body = {
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1764000000,
        "model": MODEL, "system_fingerprint": None,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "".join(ANSWER)}}],
        "usage": USAGE,
    }  # fmt: skip
    return _response(b"200 OK", b"application/json", orjson.dumps(body))


def _chunk(delta: dict[str, str], finish: str | None) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764000000,
        "model": MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }  # fmt: skip


def _stream(include_usage: bool) -> bytes:
    events = [_chunk({"role": "assistant", "content": ""}, None)]
    events += [_chunk({"content": text}, None) for text in ANSWER]
    events.append(_chunk({}, "stop"))
    if include_usage:
        events.append({**_chunk({}, None), "choices": [], "usage": USAGE})
    lines = [b"data: " + orjson.dumps(event) + b"\n\n" for event in events]
    lines.append(b"data: [DONE]\n\n")
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"0\r\n\r\n"
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\n\r\n" + chunked
    )


COMPLETION = _completion()
STREAMS = {False: _stream(False), True: _stream(True)}
HEALTHY = _response(b"200 OK", b"application/json", b'{"status":"ok"}')
NOT_FOUND = _response(b"404 Not Found", b"application/json", b'{"error":{"message":"not found"}}')
BAD_REQUEST = _response(b"400 Bad Request", b"application/json", b'{"error":{"message":"bad"}}')


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(BAD_REQUEST)
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.write(self._answer(self.parser.get_method(), self.url.split(b"?")[0]))
        if not self.parser.should_keep_alive():
            self.transport.close()

    def _answer(self, method: bytes, path: bytes) -> bytes:
        if method == b"GET" and path == b"/health":
            return HEALTHY
        if method != b"POST" or path != b"/v1/chat/completions":
            return NOT_FOUND
        try:
            request = orjson.loads(b"".join(self.body))
        except orjson.JSONDecodeError:
            return BAD_REQUEST
        if not isinstance(request, dict):
            return BAD_REQUEST
        if request.get("stream"):
            options = request.get("stream_options") or {}
            return STREAMS[bool(isinstance(options, dict) and options.get("include_usage"))]
        return COMPLETION


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
