"""The Phoenix codec without a server (realtime/protocol.py): vsn 1.0.0 objects, vsn 2.0.0
arrays, binary kind-3 broadcast pushes, and the frames it must refuse as FrameError (which
the socket then ignores) rather than fail on."""

import json

import pytest

from gptdesk.realtime.protocol import Frame, FrameError, decode, encode, reply
from tests.realtime.wire import kind3


def test_a_py_frame_is_an_object_and_null_refs_stay_null() -> None:
    text = '{"event":"heartbeat","payload":{},"topic":"phoenix","ref":null,"join_ref":null}'
    assert decode(text, "1.0.0") == Frame("phoenix", "heartbeat", {}, None, None)


def test_a_js_frame_is_an_array_of_five() -> None:
    frame = decode('["6","7","realtime:room1","phx_join",{"config":{}}]', "2.0.0")
    assert frame == Frame("realtime:room1", "phx_join", {"config": {}}, "7", "6")


def test_numeric_refs_are_read_as_text_and_a_missing_payload_as_empty() -> None:
    frame = decode('{"topic":"phoenix","event":"heartbeat","ref":7}', "1.0.0")
    assert frame == Frame("phoenix", "heartbeat", {}, "7", None)


def test_the_captured_js_binary_broadcast_push_decodes() -> None:
    # wire spec §4.2: 03 01 01 0e 06 00 01 "6" "7" "realtime:room1" "typing" {"user":"alice"}
    data = bytes([3, 1, 1, 14, 6, 0, 1]) + b'67realtime:room1typing{"user":"alice"}'
    assert data == kind3("realtime:room1", "typing", b'{"user":"alice"}', ref="7", join_ref="6")
    assert decode(data, "2.0.0") == Frame(
        "realtime:room1",
        "broadcast",
        {"type": "broadcast", "event": "typing", "payload": {"user": "alice"}},
        "7",
        "6",
    )


def test_a_binary_push_without_refs_has_null_refs() -> None:
    frame = decode(kind3("realtime:r", "e", b"[1,2]"), "2.0.0")
    assert (frame.ref, frame.join_ref, frame.payload["payload"]) == (None, None, [1, 2])


def test_frames_encode_in_the_socket_version() -> None:
    frame = Frame("realtime:r", "postgres_changes", {"ids": [1]}, None, "3")
    assert json.loads(encode(frame, "2.0.0")) == ["3", None, "realtime:r", "postgres_changes",
                                                  {"ids": [1]}]  # fmt: skip
    assert json.loads(encode(frame, "1.0.0")) == {
        "topic": "realtime:r", "event": "postgres_changes", "payload": {"ids": [1]},
        "ref": None, "join_ref": "3",
    }  # fmt: skip


def test_a_reply_answers_its_request_with_the_same_refs() -> None:
    request = Frame("realtime:r", "phx_join", {}, "4", "4")
    assert reply(request, "ok", {"postgres_changes": []}) == Frame(
        "realtime:r", "phx_reply", {"status": "ok", "response": {"postgres_changes": []}}, "4", "4"
    )


@pytest.mark.parametrize(
    ("data", "vsn"),
    [
        ("not json", "1.0.0"),
        ("[1, 2, 3]", "1.0.0"),  # an array on a vsn 1.0.0 socket
        ('["1","1","realtime:r","phx_join"]', "2.0.0"),  # four elements
        ('"a string"', "2.0.0"),
        ('{"event":"heartbeat","payload":{}}', "1.0.0"),  # no topic
        ('{"topic":"phoenix","event":7}', "1.0.0"),
        ('{"topic":"phoenix","event":"heartbeat","ref":{"a":1}}', "1.0.0"),
        ('{"topic":"phoenix","event":"heartbeat","ref":true}', "1.0.0"),
        (b"\x04\x01\x01\x01\x00\x01reb{}", "2.0.0"),  # kind 4 is server → client only
        (b"\x03\x01", "2.0.0"),  # shorter than its header
        (bytes([3, 0, 0, 40, 1, 0, 1]) + b"realtime:r", "2.0.0"),  # shorter than its lengths
        (kind3("realtime:r", "e", b"{not json"), "2.0.0"),
    ],
)
def test_what_is_not_a_phoenix_frame_is_a_frame_error(data: str | bytes, vsn: str) -> None:
    with pytest.raises(FrameError):
        decode(data, vsn)


def test_a_binary_push_with_invalid_utf8_is_a_frame_error() -> None:
    data = bytes([3, 1, 1, 2, 1, 0, 1]) + b"12" + b"\xff\xfe" + b"e" + b"{}"
    with pytest.raises(FrameError):
        decode(data, "2.0.0")
