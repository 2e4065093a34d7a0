"""The embedded supervisor on the wire, seen by a hand-written runtime speaking raw msgpack.

The runtime here is a small script (not trio_coord), so what is checked is the
supervisor side alone: StartupDetails as frame 0 in the 3-element shape with
msgpack timestamps, 3-element replies, not-found errors in the body slot, a
clear error (instead of silence) for an invalid request, log lines the real
supervisor would reject flagged, and the final-state rules.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from trio_coord.testing import EmbeddedSupervisor, TaskRun

RAW_RUNTIME = r"""
import json, socket, struct, sys
import msgpack

args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
def dial(flag):
    host, port = args[flag].rsplit(":", 1)
    return socket.create_connection((host, int(port)))
comm, logs = dial("comm"), dial("logs")
stream = comm.makefile("rb")

def read():
    (n,) = struct.unpack(">I", stream.read(4))
    raw = stream.read(n)
    # timestamp=0: a msgpack timestamp extension (type -1) decodes as msgpack.Timestamp
    return msgpack.unpackb(raw, timestamp=3, raw=False), msgpack.unpackb(raw, timestamp=0, raw=False)

def send(frame_id, body):
    payload = msgpack.packb([frame_id, body], datetime=True)
    comm.sendall(struct.pack(">I", len(payload)) + payload)
    reply, _ = read()
    print("REPLY " + json.dumps(reply, default=str), flush=True)

first, first_ext = read()
print("FIRST " + json.dumps({"length": len(first), "id": first[0], "type": first[1]["type"],
      "start_date": type(first_ext[1]["start_date"]).__name__, "error": first[2]}), flush=True)
logs.sendall(b'{"level": "info", "event": "fine", "timestamp": "2026-01-01T00:00:00Z"}\n')
logs.sendall(b'{"event": "no level"}\n[1, 2]\n')
send(1, {"type": "GetVariable", "key": "present"})
send(2, {"type": "GetVariable", "key": "absent"})
send(3, {"type": "GetVariable"})
send(4, {"type": "NoSuchRequest"})
"""

TERMINALS = {
    "succeed": """
import datetime
end = datetime.datetime.now(datetime.timezone.utc)
send(5, {"type": "SucceedTask", "end_date": end, "task_outlets": [], "outlet_events": []})
""",
    "null_outlets": """
import datetime
end = datetime.datetime.now(datetime.timezone.utc)
send(5, {"type": "SucceedTask", "end_date": end, "task_outlets": None, "outlet_events": None})
""",
    "no_terminal": "",
    "exit_3_after_success": """
import datetime
end = datetime.datetime.now(datetime.timezone.utc)
send(5, {"type": "SucceedTask", "end_date": end, "task_outlets": [], "outlet_events": []})
sys.exit(3)
""",
}


def lines(output: list[str], kind: str) -> list[Any]:
    prefix = f"stdout: {kind} "
    return [json.loads(line[len(prefix) :]) for line in output if line.startswith(prefix)]


async def run_raw(tmp_path: Path, terminal: str, *, max_tries: int = 0) -> TaskRun:
    script = tmp_path / "raw_runtime.py"
    script.write_text(RAW_RUNTIME + TERMINALS[terminal])
    supervisor = EmbeddedSupervisor()
    supervisor.set_variable("present", "value")
    return await supervisor.run_command([sys.executable, str(script)], "d", "t", max_tries=max_tries)


async def test_the_wire_as_the_real_supervisor_speaks_it(tmp_path: Path, io_budget: None) -> None:
    run = await run_raw(tmp_path, "succeed")
    assert run.exit_code == 0, run.output
    output = run.output
    (first,) = lines(output, "FIRST")
    assert first == {"length": 3, "id": 0, "type": "StartupDetails", "start_date": "Timestamp", "error": None}
    replies = lines(output, "REPLY")
    assert replies[0] == [1, {"key": "present", "value": "value", "type": "VariableResult"}, None]
    assert replies[1] == [
        2,
        {"error": "VARIABLE_NOT_FOUND", "detail": {"key": "absent"}, "type": "ErrorResponse"},
        None,
    ]
    # Invalid requests: the real supervisor stays silent; this one names the problem in slot 3.
    assert replies[2] == [
        3,
        None,
        {
            "error": "GENERIC_ERROR",
            "detail": {"message": "GetVariable: required field 'key' is missing"},
            "type": "ErrorResponse",
        },
    ]
    assert (
        replies[3][2]["detail"]["message"]
        == "NoSuchRequest: not a request type the embedded supervisor handles"
    )
    assert replies[4] == [5, None, None]  # the terminal message is answered too
    assert run.state == "success"
    assert run.problems == [
        "log line has no 'level' (crashes the supervisor)",
        "log line is a JSON list, not an object (crashes the supervisor)",
        "request 3 would get no reply from the real supervisor: GetVariable: required field 'key' is missing",
        "request 4 would get no reply from the real supervisor: "
        "NoSuchRequest: not a request type the embedded supervisor handles",
    ]
    assert [r.get("event") for r in run.logs] == ["fine", "no level"]


@pytest.mark.parametrize(
    ("terminal", "max_tries", "state"),
    [
        ("no_terminal", 0, None),  # exit 0 without a terminal message: the TI stays running
        ("exit_3_after_success", 0, "failed"),  # a non-zero exit overrides the terminal message
        ("exit_3_after_success", 1, "up_for_retry"),
    ],
)
async def test_final_state_rules(
    tmp_path: Path, io_budget: None, terminal: str, max_tries: int, state: str | None
) -> None:
    run = await run_raw(tmp_path, terminal, max_tries=max_tries)
    assert run.state == state


async def test_null_outlets_are_refused_as_the_api_server_does(tmp_path: Path, io_budget: None) -> None:
    run = await run_raw(tmp_path, "null_outlets")
    (*_, terminal_reply) = lines(run.output, "REPLY")
    assert terminal_reply[2]["error"] == "API_SERVER_ERROR"
    assert terminal_reply[2]["detail"]["status_code"] == 422
