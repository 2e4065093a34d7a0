"""The benchmarks' fake supervisor: the comm protocol's server side and a log sink, in raw Python.

Run as a script (``python tests/bench/server.py comm|logs``): it binds
127.0.0.1 port 0, prints the port on one line, and serves one connection at
a time until its standard input closes (so it never outlives the runner).

It is deliberately cheap, because in the pinned figures it shares one CPU with
the client being measured and its cost is in every variant's number:

* Requests are length-prefixed msgpack ``[id, body]``; each is decoded and
  its reply encoded, the least a real supervisor does (the 1.3.2 supervisor
  also validates with pydantic, which this one does not).
* Replies are ``[id, body, nil]``: ``GetVariable`` gets a ``VariableResult``,
  ``GetXCom`` an ``XComResult`` whose value is a str of the length named by the
  key (``"size:67108864"``), everything else ``[id, nil, nil]``.
* A frame larger than 1 MiB (a big ``SetXCom``) is read into one buffer of
  its length and answered ``[id, nil, nil]`` without being decoded: only its id
  is parsed. A big reply body is written on its own, never joined.
* Replies to everything that arrived in one read are written with one
  ``sendall``, as a real supervisor's buffered writer would.

The log sink reads a first line ``{"expect": N}``, then counts newlines; after
N more lines it checks that the first few are JSON objects with a ``level`` and
answers ``{"lines": N, "bytes": B, "ok": true}``.

This file imports nothing from the bench package (it runs as a script).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
from typing import Final

import msgpack

PREFIX: Final = struct.Struct(">I")
LARGE_FRAME: Final = 1 << 20
RECV_SIZE: Final = 256 * 1024
VARIABLE_VALUE: Final = "bench-variable-value"
_NIL: Final = b"\xc0"
# Bytes a msgpack integer takes, by its first byte (ids are ints).
_INT_SIZES: Final = {0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9, 0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9}


def int_size(first: int) -> int:
    """How many bytes the msgpack integer starting with byte ``first`` occupies."""
    if first <= 0x7F or first >= 0xE0:
        return 1
    size = _INT_SIZES.get(first)
    if size is None:
        raise ValueError(f"frame id is not a msgpack integer (first byte 0x{first:02x})")
    return size


def xcom_value(size: int) -> str:
    """The str value served for ``GetXCom(key="size:N")`` (ASCII, N characters)."""
    pattern = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
    return (pattern * (size // len(pattern) + 1))[:size]


def startup_details(dag_id: str, task_id: str) -> dict[str, object]:
    """A ``StartupDetails`` body shaped like the 1.3.2 supervisor's (for the start-up figure)."""
    import datetime as dt
    import uuid

    now = dt.datetime.now(dt.UTC)
    logical = now.replace(microsecond=0)
    run_id = "manual__bench"
    return {
        "ti": {
            "id": str(uuid.uuid4()),
            "task_id": task_id,
            "dag_id": dag_id,
            "run_id": run_id,
            "try_number": 1,
            "dag_version_id": str(uuid.uuid4()),
            "map_index": -1,
            "hostname": None,
            "context_carrier": None,
            "queue": "default",
        },
        "dag_rel_path": f"dags/{dag_id}.py",
        "bundle_info": {"name": "dags-folder", "version": None},
        "start_date": now,
        "ti_context": {
            "dag_run": {
                "dag_id": dag_id,
                "run_id": run_id,
                "logical_date": logical,
                "data_interval_start": logical,
                "data_interval_end": logical,
                "run_after": logical,
                "start_date": now,
                "end_date": None,
                "clear_number": 0,
                "run_type": "manual",
                "state": "running",
                "conf": None,
                "triggering_user_name": None,
                "consumed_asset_events": [],
                "partition_key": None,
                "partition_date": None,
                "note": None,
                "team_name": None,
            },
            "task_reschedule_count": 0,
            "max_tries": 0,
            "variables": [],
            "connections": [],
            "next_method": None,
            "next_kwargs": None,
            "xcom_keys_to_clear": [],
            "should_retry": False,
            "start_date": None,
        },
        "sentry_integration": "",
        "type": "StartupDetails",
    }


def encode_frame(obj: object) -> bytes:
    """Prefix + msgpack of ``obj`` (small frames only)."""
    payload: bytes = msgpack.packb(obj, use_bin_type=True, datetime=True)
    return PREFIX.pack(len(payload)) + payload


def recv_exactly_into(conn: socket.socket, view: memoryview) -> None:
    """Fill ``view`` from ``conn``; raise EOFError if the peer closes first."""
    while view:
        n = conn.recv_into(view)
        if not n:
            raise EOFError("connection closed inside a frame")
        view = view[n:]


class CommServer:
    """Answers requests on one connection at a time (see the module docstring)."""

    def __init__(self) -> None:
        self._xcom_bodies: dict[int, bytes] = {}
        self.requests = 0

    def _reply_body(self, body: object) -> dict[str, object] | bytes | None:
        """The reply's body: a map, the encoded bytes of a big one, or ``None`` (nil)."""
        if not isinstance(body, dict):
            return None
        kind = body.get("type")
        key = body.get("key")
        if kind == "GetVariable" and isinstance(key, str):
            return {"key": key, "value": VARIABLE_VALUE, "type": "VariableResult"}
        if kind == "GetXCom" and isinstance(key, str) and key.startswith("size:"):
            size = int(key[5:])
            cached = self._xcom_bodies.get(size)
            if cached is None:
                cached = msgpack.packb({"key": key, "value": xcom_value(size), "type": "XComResult"})
                self._xcom_bodies = {size: cached}  # keep one big body at most
            return cached
        return None

    def reply(self, payload: bytes | bytearray | memoryview, out: list[bytes]) -> None:
        """Append the reply frame's bytes for one request payload to ``out``.

        Every request is decoded and every small reply encoded, as a real
        supervisor must; only a big XCom body is encoded once and reused.
        """
        self.requests += 1
        frame = msgpack.unpackb(payload, timestamp=3)
        if not isinstance(frame, list) or len(frame) < 2 or not isinstance(frame[0], int):
            raise ValueError(f"not a request frame: {frame!r:.200}")
        reply_body = self._reply_body(frame[1])
        if not isinstance(reply_body, bytes):
            reply: bytes = msgpack.packb([frame[0], reply_body, None])
            out.append(PREFIX.pack(len(reply)) + reply)
            return
        id_bytes: bytes = msgpack.packb(frame[0])
        out.append(PREFIX.pack(2 + len(id_bytes) + len(reply_body)) + b"\x93" + id_bytes)
        out.append(reply_body)
        out.append(_NIL)

    def large_frame_reply(self, head: bytes | bytearray | memoryview, out: list[bytes]) -> None:
        """Answer a large frame ``[id, ...]`` with ``[id, nil, nil]`` from its first bytes."""
        self.requests += 1
        view = memoryview(head)
        if view[0] not in (0x92, 0x93):
            raise ValueError("large frame is not a 2- or 3-element msgpack array")
        id_bytes = bytes(view[1 : 1 + int_size(view[1])])
        out.append(PREFIX.pack(3 + len(id_bytes)) + b"\x93" + id_bytes + _NIL + _NIL)

    def serve_connection(self, conn: socket.socket) -> None:
        """Serve ``conn`` until it closes."""
        buf = bytearray()
        while True:
            chunk = conn.recv(RECV_SIZE)
            if not chunk:
                return
            buf += chunk
            out: list[bytes] = []
            pos = 0
            while len(buf) - pos >= 4:
                (length,) = PREFIX.unpack_from(buf, pos)
                start = pos + 4
                if length > LARGE_FRAME:
                    have = min(len(buf) - start, length)
                    frame = bytearray(length)
                    frame[:have] = buf[start : start + have]
                    recv_exactly_into(conn, memoryview(frame)[have:])
                    self.large_frame_reply(memoryview(frame)[:16], out)
                    del frame
                    pos = start + have
                    continue
                if len(buf) - start < length:
                    break
                self.reply(memoryview(buf)[start : start + length], out)
                pos = start + length
            if pos:
                del buf[:pos]
            send_replies(conn, out)


def send_replies(conn: socket.socket, out: list[bytes]) -> None:
    """Write ``out``: small pieces joined, large ones on their own."""
    small: list[bytes] = []
    for piece in out:
        if len(piece) > LARGE_FRAME:
            if small:
                conn.sendall(b"".join(small))
                small = []
            conn.sendall(piece)
        else:
            small.append(piece)
    if small:
        conn.sendall(b"".join(small) if len(small) > 1 else small[0])


class LogSink:
    """Counts JSON lines and acknowledges the expected number (see the module docstring)."""

    def serve_connection(self, conn: socket.socket) -> None:
        """Serve one log connection until it closes."""
        buf = bytearray()
        expect = -1
        lines = 0
        nbytes = 0
        samples: list[bytes] = []
        while True:
            chunk = conn.recv(RECV_SIZE)
            if not chunk:
                return
            if expect < 0:
                buf += chunk
                end = buf.find(b"\n")
                if end < 0:
                    continue
                expect = int(json.loads(bytes(buf[:end]))["expect"])
                chunk = bytes(buf[end + 1 :])
                buf.clear()
            if len(samples) < 10:
                samples.extend(chunk.split(b"\n")[: 10 - len(samples)])
            lines += chunk.count(b"\n")
            nbytes += len(chunk)
            if lines >= expect:
                ok = lines == expect and all(_is_log_line(s) for s in samples if s)
                reply = {"lines": lines, "bytes": nbytes, "ok": ok}
                conn.sendall(json.dumps(reply).encode() + b"\n")
                expect, lines, nbytes, samples = -1, 0, 0, []


def _is_log_line(line: bytes) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return isinstance(obj, dict) and isinstance(obj.get("level"), str)


def _exit_when_stdin_closes() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def main(argv: list[str]) -> int:
    """``server.py comm|logs``: print the port, serve until standard input closes."""
    if len(argv) != 1 or argv[0] not in ("comm", "logs"):
        print("usage: server.py comm|logs", file=sys.stderr)
        return 2
    handler = CommServer() if argv[0] == "comm" else LogSink()
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            handler.serve_connection(conn)
        except (OSError, EOFError, ValueError) as exc:
            print(f"bench server: connection failed: {exc!r}", file=sys.stderr, flush=True)
        finally:
            conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
