"""The sans-I/O frame layer, byte by byte (cf. h11's test_io and wsproto's frame tests)."""

from __future__ import annotations

import contextlib
import datetime as dt
import struct

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from trio_coord import MAX_FRAME_SIZE, FrameDecoder, LocalProtocolError, RemoteProtocolError, _framing
from trio_coord._framing import (
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    frame_prefix,
)


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def decode_all(data: bytes, chunks: list[int] | None = None) -> list[bytes]:
    """Feed ``data`` in the given chunk sizes (all at once by default), then EOF."""
    decoder = FrameDecoder()
    out: list[bytes] = []
    pos = 0
    for size in chunks or [len(data)]:
        decoder.receive_data(data[pos : pos + size])
        pos += size
        while (payload := decoder.next_frame()) is not None:
            out.append(bytes(payload))
    decoder.receive_data(data[pos:])
    decoder.receive_data(b"")
    while (payload := decoder.next_frame()) is not None:
        out.append(bytes(payload))
    assert decoder.at_eof
    return out


# ---------------------------------------------------------------- byte layout


def test_request_bytes_match_the_protocol_example() -> None:
    # protocol.md §2.5: [0, {"type":"GetVariable","key":"k"}]
    payload = encode_request(0, {"type": "GetVariable", "key": "k"})
    expected = bytes.fromhex(
        "92 00 82 a4 74 79 70 65 ab 47 65 74 56 61 72 69 61 62 6c 65 a3 6b 65 79 a1 6b".replace(" ", "")
    )
    assert payload == expected
    assert frame_prefix(len(payload)) == b"\x00\x00\x00\x1a"


def test_response_bytes_match_the_protocol_example() -> None:
    data = bytes.fromhex(
        "00 00 00 26 93 00 83 a3 6b 65 79 a1 6b a5 76 61 6c 75 65 a1 76 a4 74 79 70"
        "65 ae 56 61 72 69 61 62 6c 65 52 65 73 75 6c 74 c0".replace(" ", "")
    )
    (payload,) = decode_all(data)
    response = decode_response(payload)
    assert response.id == 0
    assert response.body == {"key": "k", "value": "v", "type": "VariableResult"}
    assert response.error is None


def test_nil_nil_response_is_the_documented_eight_bytes() -> None:
    payload = encode_response(7, None)
    assert frame_prefix(len(payload)) + payload == bytes.fromhex("0000000493 07 c0 c0".replace(" ", ""))


def test_prefix_is_big_endian_length_without_itself() -> None:
    assert frame_prefix(1) == b"\x00\x00\x00\x01"
    assert frame_prefix(0x01020304) == b"\x01\x02\x03\x04"
    assert frame_prefix(MAX_FRAME_SIZE) == b"\xff\xff\xff\xff"


def test_prefix_refuses_oversized_and_empty_payloads() -> None:
    with pytest.raises(LocalProtocolError, match="exceeds the maximum"):
        frame_prefix(MAX_FRAME_SIZE + 1)
    with pytest.raises(LocalProtocolError, match="zero-length"):
        frame_prefix(0)


def test_request_needs_a_string_type_and_an_int_id() -> None:
    with pytest.raises(LocalProtocolError, match="'type'"):
        encode_request(1, {"key": "k"})
    with pytest.raises(LocalProtocolError, match="integer"):
        encode_request(True, {"type": "GetVariable"})


def test_naive_datetime_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(LocalProtocolError, match="cannot encode"):
        encode_request(1, {"type": "SucceedTask", "end_date": dt.datetime(2026, 1, 1)})


def test_aware_datetimes_use_the_timestamp_extension() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    payload = encode_request(1, {"type": "SucceedTask", "end_date": when})
    assert b"\xd6\xff" in payload  # timestamp32: no sub-second part
    body = msgpack.unpackb(payload, timestamp=3)[1]
    assert body["end_date"] == when


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("encoded", "body", "error"),
    [
        (msgpack.packb([3, {"a": 1}, None]), {"a": 1}, None),
        (msgpack.packb([3, {"a": 1}]), {"a": 1}, None),  # 2-element replies are accepted
        (msgpack.packb([3, None, {"error": "X"}]), None, {"error": "X"}),
        (msgpack.packb([3, None, None, "extra", 5]), None, None),  # trailing elements ignored
    ],
)
def test_decode_response_shapes(encoded: bytes, body: object, error: object) -> None:
    response = decode_response(encoded)
    assert (response.id, response.body, response.error) == (3, body, error)


def test_decode_response_reads_timestamps_as_aware_utc() -> None:
    stamp32 = b"\x93\x00\x81\xa1t\xd6\xff" + struct.pack(">I", 1_767_225_600) + b"\xc0"
    response = decode_response(stamp32)
    assert response.body == {"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    nanos = 123_456_000
    stamp64 = b"\x93\x00\x81\xa1t\xd7\xff" + struct.pack(">Q", (nanos << 34) | 1_767_225_600) + b"\xc0"
    value = decode_response(stamp64).body
    assert value == {"t": dt.datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=dt.UTC)}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xc1", "not valid msgpack"),
        (msgpack.packb({"id": 1}), "must be a msgpack array"),
        (msgpack.packb([1]), "at least 2 elements"),
        (msgpack.packb(["1", None, None]), "id must be an integer"),
        (msgpack.packb([True, None, None]), "id must be an integer"),
        (msgpack.packb([1, "body", None]), "frame body must be a map"),
        (msgpack.packb([1, None, [1]]), "frame error must be a map"),
        (msgpack.packb([1, {b"k": 1}, None], use_bin_type=True), "non-string key"),
        (msgpack.packb([1, None]) + b"\x00", "not valid msgpack"),
    ],
)
def test_decode_response_rejects_malformed_payloads(payload: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode_response(payload)


def test_decode_request_shapes() -> None:
    request = decode_request(msgpack.packb([5, {"type": "GetVariable", "key": "k"}, None]))
    assert (request.id, request.body) == (5, {"type": "GetVariable", "key": "k"})
    with pytest.raises(RemoteProtocolError, match="must be a map"):
        decode_request(msgpack.packb([5, None]))


def test_decoder_splits_back_to_back_frames() -> None:
    payloads = [encode_request(i, {"type": "T", "i": i}) for i in range(5)]
    data = b"".join(frame(p) for p in payloads)
    assert decode_all(data) == payloads


def test_decoder_byte_at_a_time() -> None:
    payloads = [encode_request(i, {"type": "T", "x": "y" * i}) for i in range(20)]
    data = b"".join(frame(p) for p in payloads)
    assert decode_all(data, [1] * len(data)) == payloads


def test_decoder_large_frame_in_pieces_keeps_memory_bounded() -> None:
    payload = encode_request(1, {"type": "SetXCom", "value": "x" * 300_000})
    data = frame(payload)
    decoder = FrameDecoder()
    decoder.receive_data(data[:100])
    assert decoder.next_frame() is None
    assert decoder.buffered == 96  # the 96 payload bytes that arrived; nothing for the rest
    pieces = [data[i : i + 4096] for i in range(100, len(data), 4096)]
    for piece in pieces[:-1]:
        decoder.receive_data(piece)
        assert decoder.next_frame() is None
    decoder.receive_data(pieces[-1])
    assert decoder.next_frame() == payload


def test_huge_announced_length_allocates_nothing() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(b"\xff\xff\xff\xff")
    assert decoder.next_frame() is None
    assert decoder.buffered == 0
    decoder.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="0 of 4294967295"):
        decoder.next_frame()


def test_zero_length_frame_is_a_protocol_error() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(b"\x00\x00\x00\x00")
    with pytest.raises(RemoteProtocolError, match="zero-length"):
        decoder.next_frame()


def test_max_frame_size_is_enforced_on_the_prefix() -> None:
    decoder = FrameDecoder(max_frame_size=10)
    decoder.receive_data(b"\x00\x00\x00\x0b")
    with pytest.raises(RemoteProtocolError, match="more than the maximum of 10"):
        decoder.next_frame()


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 9])
def test_eof_inside_a_frame_is_reported(cut: int) -> None:
    data = frame(b"\x92\x01\x80\x00\x00\x00")[:cut]
    decoder = FrameDecoder()
    decoder.receive_data(data)
    assert decoder.next_frame() is None
    decoder.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="connection closed inside"):
        decoder.next_frame()


def test_clean_eof_between_frames() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(frame(b"\x90"))
    decoder.receive_data(b"")
    assert decoder.next_frame() == b"\x90"
    assert decoder.next_frame() is None
    assert decoder.at_eof
    with pytest.raises(RuntimeError, match="after end of stream"):
        decoder.receive_data(b"x")


def test_decoder_rejects_bad_max() -> None:
    with pytest.raises(ValueError, match="max_frame_size"):
        FrameDecoder(max_frame_size=0)


# ---------------------------------------------------------------- properties

json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    bodies=st.lists(st.dictionaries(st.text(min_size=1), json_like, max_size=4), min_size=1, max_size=6),
    cuts=st.lists(st.integers(1, 50), max_size=40),
)
def test_round_trip_through_random_chunking(bodies: list[dict[str, object]], cuts: list[int]) -> None:
    payloads = [encode_request(i, {**body, "type": "T"}) for i, body in enumerate(bodies)]
    data = b"".join(frame(p) for p in payloads)
    decoded = decode_all(data, cuts)
    assert decoded == payloads
    for i, payload in enumerate(decoded):
        request = decode_request(payload)
        assert request.id == i
        assert request.body == {**bodies[i], "type": "T"}


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(1, 64), max_size=20))
def test_garbage_only_ever_raises_remote_protocol_error(data: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder(max_frame_size=1 << 20)
    pos = 0
    try:
        for size in [*cuts, len(data)]:
            decoder.receive_data(data[pos : pos + size])
            pos += size
            while (payload := decoder.next_frame()) is not None:
                decode_response(payload)
        decoder.receive_data(b"")
        while (payload := decoder.next_frame()) is not None:
            decode_response(payload)
    except RemoteProtocolError:
        pass


wire_keys = st.text(max_size=4) | st.binary(max_size=2)
wire_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=4)
wire_values = st.recursive(
    wire_scalars | st.binary(max_size=2),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(wire_keys, children, max_size=3),
    max_leaves=12,
)
frame_ids = st.integers(0, 2**40) | st.booleans() | st.none() | st.text(max_size=2)


@settings(max_examples=500, deadline=None)
@given(
    value=st.lists(wire_values, max_size=4)
    | st.tuples(frame_ids, st.none() | st.dictionaries(wire_keys, wire_values, max_size=4), st.none())
    | wire_values
)
def test_decode_response_common_frame_path_matches_the_full_checks(value: object) -> None:
    payload = msgpack.packb(value, use_bin_type=True)
    try:
        fast: object = decode_response(payload)
        assert type(fast) is _framing.ResponseFrame
    except RemoteProtocolError as exc:
        fast = str(exc)
    try:
        full: object = _framing._checked_response(_framing._unpack(payload))
    except RemoteProtocolError as exc:
        full = str(exc)
    assert fast == full


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(min_size=1, max_size=200))
def test_decode_response_of_arbitrary_bytes_only_raises_remote_protocol_error(payload: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode_response(payload)
