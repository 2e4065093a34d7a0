"""Sans-I/O framing for the coordinator protocol: bytes in, frames out.

Theory of operation
===================

A frame on the comm socket is a 4-byte big-endian unsigned payload length
followed by that many bytes of msgpack. The runtime sends requests
``[id, body]``; the supervisor answers ``[id, body_or_nil, error_or_nil]``
(we also accept the 2-element form and ignore trailing elements, as the Go
runtime does). Nothing in this module does I/O or imports trio: the driver
feeds whatever bytes arrived into :meth:`FrameDecoder.receive_data` and pulls
complete payloads out of :meth:`FrameDecoder.next_frame`.

Memory policy. A length prefix is a promise, not a fact: a broken or hostile
peer can announce 4 GiB and send nothing. The decoder therefore never commits
memory for a frame beyond what has actually arrived (plus Python's bounded
over-allocation of a growing ``bytearray``). Small frames are sliced out of
one shared receive buffer, which is compacted once the consumed prefix
outweighs the rest, so the cost stays O(n) however the bytes are chunked. A
frame that does not fit in what is buffered moves to its own ``bytearray``,
which then grows with the arriving bytes and is handed out without another
copy. A frame of :data:`MAPPED_FRAME_SIZE` or more gets an anonymous memory
map of its announced length instead: that reserves address space only, and the
kernel commits a page when a byte is written to it, so memory still follows
the data; but the driver can receive straight into it
(:meth:`FrameDecoder.receive_buffer`), with no chunk copied on the way, and
the payload is handed out as a ``memoryview`` over the map (unmapped when the
view is dropped). Decoding it in place keeps a large XCom at two payloads of
peak memory: the raw bytes and the decoded value.

On the way out, :class:`RequestEncoder` packs into a msgpack ``Packer``'s own
buffer and hands a large payload out as a view of that buffer, so the bytes
are never copied into a ``bytes`` object; the driver writes the prefix and
the payload separately. That view is only handed out when it owns the buffer
(msgpack 1.1 or later, or the pure-Python ``Packer``): msgpack 1.0's compiled
``Packer.getbuffer()`` is a bare view of memory the ``Packer`` frees or
overwrites, so with it a large payload is copied (see the class).

Everything the peer can get wrong raises :class:`RemoteProtocolError`; every
value *we* cannot encode raises :class:`LocalProtocolError` before any byte
exists. Those are the only two exception types that leave this module.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, NamedTuple, TypeAlias

import msgpack

from ._errors import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    import mmap

__all__ = [
    "MAPPED_FRAME_SIZE",
    "MAX_FRAME_SIZE",
    "FrameDecoder",
    "RequestEncoder",
    "RequestFrame",
    "ResponseFrame",
    "WireMap",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "frame_prefix",
]

#: Largest payload a frame can carry: the length prefix is an unsigned 32-bit int.
MAX_FRAME_SIZE: Final = 2**32 - 1

#: A decoded msgpack map with string keys, as found in frame bodies.
WireMap: TypeAlias = dict[str, object]

_PREFIX: Final = struct.Struct(">I")
_PREFIX_SIZE: Final = _PREFIX.size
# A complete frame whose payload is at most this long is copied out of the
# shared receive buffer; anything longer gets a buffer of its own.
_COMPACT_THRESHOLD: Final = 64 * 1024
#: Frames announcing at least this many bytes are assembled in an anonymous
#: memory map of their length (pages committed only as bytes arrive).
MAPPED_FRAME_SIZE: Final = 1024 * 1024
#: Encoded payloads longer than this stay in the encoder's buffer (no copy).
_OWN_BUFFER_SIZE: Final = 256 * 1024


def frame_prefix(payload_length: int) -> bytes:
    """Return the 4-byte length prefix for a payload of ``payload_length`` bytes.

    Raises:
        LocalProtocolError: the payload is empty or longer than
            :data:`MAX_FRAME_SIZE` (a zero-length frame wedges the 1.3.2
            supervisor's reader, so it is never produced).
    """
    if payload_length > MAX_FRAME_SIZE:
        raise LocalProtocolError(
            f"frame payload of {payload_length} bytes exceeds the maximum of {MAX_FRAME_SIZE} bytes"
        )
    if payload_length <= 0:
        raise LocalProtocolError("refusing to send a zero-length frame")
    return _PREFIX.pack(payload_length)


class FrameDecoder:
    """Split a byte stream into length-prefixed frame payloads.

    Feed bytes with :meth:`receive_data` (an empty ``bytes`` marks end of
    stream) and call :meth:`next_frame` until it returns ``None``. Neither
    method blocks or does I/O.

    Args:
        max_frame_size: the largest payload accepted; a longer announced
            length raises :class:`RemoteProtocolError` as soon as the prefix
            is read, before anything is allocated for it.
    """

    __slots__ = ("_body", "_buf", "_eof", "_filled", "_mapped", "_max", "_missing", "_pos")

    def __init__(self, *, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        if not 0 < max_frame_size <= MAX_FRAME_SIZE:
            raise ValueError(f"max_frame_size must be in 1..{MAX_FRAME_SIZE}, got {max_frame_size}")
        self._max = max_frame_size
        self._buf = bytearray()  # bytes not yet parsed start at _pos
        self._pos = 0
        self._body: bytearray | None = None  # a large frame being assembled
        self._mapped: mmap.mmap | None = None  # ... or a very large one, in a map
        self._filled = 0  # bytes of _mapped received so far
        self._missing = 0  # bytes _body or _mapped still lacks
        self._eof = False

    @property
    def at_eof(self) -> bool:
        """Whether end of stream was fed and every complete frame was taken."""
        return self._eof and self._body is None and self._mapped is None and self._pos == len(self._buf)

    @property
    def buffered(self) -> int:
        """How many received bytes are held and not yet returned as frames."""
        held = len(self._buf) - self._pos
        if self._body is not None:
            held += len(self._body)
        if self._mapped is not None:
            held += self._filled
        return held

    def receive_buffer(self) -> memoryview | None:
        """Where the next bytes of a mapped frame's payload go, if one is being assembled.

        Write up to ``len(view)`` received bytes into the returned view and
        report how many with :meth:`buffer_filled`; use
        :meth:`receive_data` otherwise. The view covers exactly the missing
        part of the frame, so nothing past the frame lands in it.
        """
        if self._mapped is None or not self._missing:
            return None
        return memoryview(self._mapped)[self._filled : self._filled + self._missing]

    def buffer_filled(self, count: int) -> None:
        """Record that ``count`` bytes were written into :meth:`receive_buffer`'s view.

        Raises:
            ValueError: no mapped frame is being assembled, or ``count`` is
                more than it lacks.
        """
        if self._mapped is None or not 0 <= count <= self._missing:
            raise ValueError(f"buffer_filled({count}) does not match the receive buffer")
        self._filled += count
        self._missing -= count

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes received from the peer; ``b""`` means end of stream.

        Raises:
            RuntimeError: bytes were fed after end of stream.
        """
        if not data:
            self._eof = True
            return
        if self._eof:
            raise RuntimeError("received data after end of stream")
        view = memoryview(data)
        if self._missing and (self._body is not None or self._mapped is not None):
            take = min(len(view), self._missing)
            if self._mapped is not None:
                self._mapped[self._filled : self._filled + take] = view[:take]
                self._filled += take
            else:
                assert self._body is not None
                self._body += view[:take]
            self._missing -= take
            view = view[take:]
            if not view:
                return
        if self._pos and self._pos >= len(self._buf) - self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += view

    def receive_frames(self, data: memoryview) -> list[memoryview]:
        """Add bytes like :meth:`receive_data`, returning whole frames found in them as views.

        A fast path for a driver that reads into a buffer it reuses: while
        nothing is buffered, each complete payload of up to 64 KiB at the
        start of ``data`` comes back as a slice of ``data`` (no copy; valid
        only until the driver writes into its buffer again), and only what
        follows them is buffered. Frames from there on (or any frame, when
        bytes were already buffered) come from :meth:`next_frame` as usual,
        which also reports any bad length prefix.

        Raises:
            RuntimeError: bytes were fed after end of stream.
        """
        frames: list[memoryview] = []
        if data and not self._eof and self._pos == len(self._buf) and not self._missing:
            end = len(data)
            limit = min(self._max, _COMPACT_THRESHOLD)
            pos = 0
            while end - pos >= _PREFIX_SIZE:
                (length,) = _PREFIX.unpack_from(data, pos)
                if not 0 < length <= limit or end - pos - _PREFIX_SIZE < length:
                    break
                pos += _PREFIX_SIZE
                frames.append(data[pos : pos + length])
                pos += length
            if pos == end:
                return frames
            data = data[pos:]
            if self._start_mapped(data):
                return frames
        self.receive_data(data)
        return frames

    def _start_mapped(self, data: memoryview) -> bool:
        """Move the start of a large, incomplete frame straight into its map (nothing buffered)."""
        if len(data) < _PREFIX_SIZE:
            return False
        (length,) = _PREFIX.unpack_from(data)
        have = len(data) - _PREFIX_SIZE
        if not MAPPED_FRAME_SIZE <= length <= self._max or have >= length:
            return False
        storage = _map(length)
        if storage is None:
            return False
        storage[:have] = data[_PREFIX_SIZE:]
        self._mapped, self._filled, self._missing = storage, have, length - have
        return True

    def next_frame(self) -> bytes | bytearray | memoryview | None:
        """Return the next complete payload, or ``None`` if more bytes are needed.

        The returned object is owned by the caller. A payload of
        :data:`MAPPED_FRAME_SIZE` bytes or more that was not complete when its
        prefix was parsed comes as a read-only ``memoryview`` over its memory
        map; the map is released when the view is.

        Raises:
            RemoteProtocolError: a zero-length or oversized length prefix, or
                end of stream in the middle of a frame.
        """
        if self._mapped is not None:
            if self._missing:
                if self._eof:
                    self._truncated(self._filled + self._missing, self._filled)
                return None
            mapped, self._mapped = self._mapped, None
            return memoryview(mapped).toreadonly()
        if self._body is not None:
            if self._missing:
                if self._eof:
                    self._truncated(len(self._body) + self._missing, len(self._body))
                return None
            body, self._body = self._body, None
            return body
        available = len(self._buf) - self._pos
        if available < _PREFIX_SIZE:
            if self._eof and available:
                raise RemoteProtocolError(
                    f"connection closed inside a frame's length prefix ({available} of 4 bytes received)"
                )
            return None
        (length,) = _PREFIX.unpack_from(self._buf, self._pos)
        if length == 0:
            raise RemoteProtocolError("zero-length frame (a frame must carry a msgpack payload)")
        if length > self._max:
            raise RemoteProtocolError(
                f"frame announces {length} bytes, more than the maximum of {self._max} bytes"
            )
        start = self._pos + _PREFIX_SIZE
        have = available - _PREFIX_SIZE
        if have >= length and length <= _COMPACT_THRESHOLD:
            self._pos = start + length
            return bytes(self._buf[start : self._pos])
        if have >= length:
            payload = self._buf[start : start + length]
            self._pos = start + length
            return payload
        if self._eof:
            self._truncated(length, have)
        # Not all here yet: give the frame storage holding only what arrived.
        storage = _map(length) if length >= MAPPED_FRAME_SIZE else None
        if storage is not None:
            storage[:have] = memoryview(self._buf)[start:]
            self._mapped, self._filled = storage, have
        else:
            self._body = self._buf[start:]
        self._missing = length - have
        self._buf = bytearray()
        self._pos = 0
        return None

    @staticmethod
    def _truncated(length: int, have: int) -> None:
        raise RemoteProtocolError(
            f"connection closed inside a frame ({have} of {length} payload bytes received)"
        )


def _map(length: int) -> mmap.mmap | None:
    """An anonymous private map of ``length`` bytes, or ``None`` if the system refuses one.

    Only address space is reserved: the kernel commits each page when it is
    first written, so a prefix announcing gigabytes costs nothing until the
    bytes arrive.
    """
    import mmap  # only for frames over the large-frame threshold: most runs never see one

    try:
        return mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, ValueError, OverflowError):  # no address space: grow a bytearray instead
        return None


# --------------------------------------------------------------------------
# msgpack codec for frame contents
# --------------------------------------------------------------------------


def _pack(obj: object) -> bytes:
    try:
        packed: bytes = msgpack.packb(obj, use_bin_type=True, datetime=True)
        return packed
    except (TypeError, ValueError, OverflowError) as exc:
        raise LocalProtocolError(f"cannot encode frame as msgpack: {exc}") from exc


def _unpack(payload: bytes | bytearray | memoryview) -> object:
    try:
        return msgpack.unpackb(payload, raw=False, timestamp=3, strict_map_key=True)
    except (
        ValueError,  # includes msgpack's ExtraData, FormatError, StackError
        TypeError,
        OverflowError,
        msgpack.exceptions.UnpackException,
    ) as exc:
        raise RemoteProtocolError(f"frame payload is not valid msgpack: {exc}") from exc


def _check_map(value: object, what: str, exc_type: type[Exception]) -> WireMap | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise exc_type(f"{what} must be a map or nil, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise exc_type(f"{what} has a non-string key {key!r}")
    return value


def _check_id(value: object, exc_type: type[Exception]) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise exc_type(f"frame id must be an integer, got {type(value).__name__}")
    return value


class ResponseFrame(NamedTuple):
    """A decoded supervisor→runtime frame ``[id, body, error]``."""

    id: int
    body: WireMap | None
    error: WireMap | None


# Builds a ResponseFrame from a 3-element sequence without the NamedTuple's Python-level __new__.
_new_response_frame: Final = tuple.__new__


class RequestFrame(NamedTuple):
    """A decoded runtime→supervisor frame ``[id, body]``."""

    id: int
    body: WireMap


def decode_response(payload: bytes | bytearray | memoryview) -> ResponseFrame:
    """Decode one supervisor→runtime frame payload.

    Accepts ``[id, body]`` and ``[id, body, error]``; extra trailing elements
    are ignored. Datetimes (msgpack timestamp extension) come back as aware UTC
    :class:`datetime.datetime` objects.

    Raises:
        RemoteProtocolError: not msgpack, not an array, fewer than 2
            elements, a non-integer id, or a body/error that is not a map
            with string keys.
    """
    value = _unpack(payload)
    # The common reply, [int id, map with str keys or nil, nil], is checked here without a
    # call; anything else gets the full checks (the tests hold the two to the same results).
    if type(value) is list and len(value) == 3 and value[2] is None and type(value[0]) is int:
        body = value[1]
        if body is None:
            return _new_response_frame(ResponseFrame, value)
        if type(body) is dict:
            for key in body:
                if type(key) is not str:
                    break
            else:
                return _new_response_frame(ResponseFrame, value)
    return _checked_response(value)


def _checked_response(value: object) -> ResponseFrame:
    """A decoded ``[id, body, error]`` value as a frame, every part checked."""
    if not isinstance(value, list):
        raise RemoteProtocolError(f"frame must be a msgpack array, got {type(value).__name__}")
    if len(value) < 2:
        raise RemoteProtocolError(f"frame must have at least 2 elements, got {len(value)}")
    frame_id = _check_id(value[0], RemoteProtocolError)
    body = _check_map(value[1], "frame body", RemoteProtocolError)
    error = _check_map(value[2], "frame error", RemoteProtocolError) if len(value) > 2 else None
    return ResponseFrame(frame_id, body, error)


def decode_request(payload: bytes | bytearray | memoryview) -> RequestFrame:
    """Decode one runtime→supervisor frame payload (used by the embedded supervisor).

    Raises:
        RemoteProtocolError: the payload is not ``[int id, map body, ...]``.
    """
    value = _unpack(payload)
    if not isinstance(value, list):
        raise RemoteProtocolError(f"frame must be a msgpack array, got {type(value).__name__}")
    if len(value) < 2:
        raise RemoteProtocolError(f"frame must have at least 2 elements, got {len(value)}")
    frame_id = _check_id(value[0], RemoteProtocolError)
    body = _check_map(value[1], "request body", RemoteProtocolError)
    if body is None:
        raise RemoteProtocolError("request body must be a map, got nil")
    return RequestFrame(frame_id, body)


def encode_request(frame_id: int, body: Mapping[str, object]) -> bytes:
    """Encode ``[frame_id, body]`` as a msgpack payload (without the prefix).

    Raises:
        LocalProtocolError: the id is not an int, the body has no string
            ``type``, or a value cannot be encoded (for instance a naive
            datetime or an arbitrary object).
    """
    _check_id(frame_id, LocalProtocolError)
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise LocalProtocolError("request body must carry a non-empty string 'type'")
    return _pack([frame_id, body])


def _owns_its_memory(view: memoryview) -> bool:
    """Whether ``view`` keeps the memory it shows alive: it holds the object that exported it.

    The buffer protocol obliges that exporter to keep the memory valid until
    the view is released. A view made by ``PyMemoryView_FromMemory`` (msgpack
    1.0's ``Packer.getbuffer()``) has no exporter: ``obj`` is ``None``.
    """
    exporter: object = view.obj  # typeshed leaves out the None a bare view has
    return exporter is not None


class RequestEncoder:
    """Encodes request payloads; a large one is handed out without being copied.

    Not thread-safe: give each connection its own. :meth:`encode` packs into
    a msgpack ``Packer``'s buffer. A payload of up to 256 KiB is returned as
    ``bytes`` (copied, and the buffer reused); a longer one is returned as a
    ``memoryview`` of the buffer itself, which then belongs to the caller (the
    encoder starts a new buffer), so a large XCom exists once as the value and
    once encoded, never a third time.

    The view is handed out only if it owns the buffer: its ``obj`` is the
    object that exported the memory, which the buffer protocol keeps alive
    and unchanged until the view is released. msgpack 1.1's compiled
    ``Packer`` exports itself that way (and refuses ``pack``/``reset`` while
    exported), and the pure-Python ``Packer`` hands out a view of its own
    ``BytesIO``. msgpack 1.0's compiled ``getbuffer()`` is a bare view of the
    ``Packer``'s ``malloc``-ed memory (``obj`` is ``None``): nothing keeps
    the ``Packer`` alive for it, ``reset()`` and the next ``pack`` overwrite
    it in place, and a ``pack`` that grows the buffer moves it. With such a
    view the payload is copied into ``bytes`` and the ``Packer`` replaced
    (its grown buffer freed), so msgpack 1.0 costs a third copy of a large
    payload, never a write from freed memory.
    """

    __slots__ = ("_packer",)

    def __init__(self) -> None:
        self._packer = self._new_packer()

    @staticmethod
    def _new_packer() -> msgpack.Packer:
        return msgpack.Packer(autoreset=False, use_bin_type=True, datetime=True)

    def encode(self, frame_id: int, body: Mapping[str, object]) -> bytes | memoryview:
        """Encode ``[frame_id, body]`` (see :func:`encode_request`).

        Raises:
            LocalProtocolError: as :func:`encode_request`; nothing is kept.
        """
        _check_id(frame_id, LocalProtocolError)
        kind = body.get("type")
        if not isinstance(kind, str) or not kind:
            raise LocalProtocolError("request body must carry a non-empty string 'type'")
        packer = self._packer
        try:
            packer.pack([frame_id, body])
        except (TypeError, ValueError, OverflowError) as exc:
            packer.reset()
            raise LocalProtocolError(f"cannot encode frame as msgpack: {exc}") from exc
        view: memoryview = packer.getbuffer()
        if view.nbytes <= _OWN_BUFFER_SIZE:
            data = bytes(view)
            view.release()
            packer.reset()
            return data
        self._packer = self._new_packer()  # the caller gets this buffer, or a copy of it
        if not _owns_its_memory(view):
            # msgpack 1.0: a bare view of memory ``packer`` frees once dropped (here it is
            # still referenced), so copy it; the Packer's grown buffer is freed on return.
            data = bytes(view)
            view.release()
            return data
        return view


def encode_response(
    frame_id: int,
    body: Mapping[str, object] | None,
    error: Mapping[str, object] | None = None,
) -> bytes:
    """Encode ``[frame_id, body, error]`` as a msgpack payload (supervisor side).

    Raises:
        LocalProtocolError: a value cannot be encoded.
    """
    _check_id(frame_id, LocalProtocolError)
    return _pack([frame_id, body, error])


def utc_now() -> _dt.datetime:
    """Return the current time as an aware UTC datetime."""
    return _dt.datetime.now(_dt.UTC)
