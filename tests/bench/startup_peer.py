"""Airflow's Python task runner up to its first frame: the peer in the start-up figure (T5).

``python startup_peer.py --comm=HOST:PORT --logs=HOST:PORT`` does what
``airflow.sdk.execution_time.task_runner`` does before running a task, on
TCP sockets instead of inherited file descriptors: import the task runner,
point structlog's JSON channel at the logs socket (``configure_logging`` as
the supervisor's child does), build ``CommsDecoder`` on the comm socket, read
``StartupDetails`` with ``get_startup_details()``, then send ``SucceedTask``
with ``send()`` and exit. It skips parsing a Dag file and running a task, so
it is a lower bound for the real runner.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys

from airflow.sdk.execution_time import comms, task_runner
from airflow.sdk.log import configure_logging


def _address(argv: list[str], flag: str) -> tuple[str, int]:
    for arg in argv:
        if arg.startswith(flag + "="):
            host, _, port = arg[len(flag) + 1 :].rpartition(":")
            return host, int(port)
    raise SystemExit(f"missing {flag}=HOST:PORT")


def main(argv: list[str]) -> None:
    comm_sock = socket.create_connection(_address(argv, "--comm"))
    logs_sock = socket.create_connection(_address(argv, "--logs"))
    log_io = os.fdopen(logs_sock.detach(), "wb", buffering=0)
    configure_logging(json_output=True, output=log_io, sending_to_supervisor=True)
    task_runner.SUPERVISOR_COMMS = comms.CommsDecoder[comms.ToTask, comms.ToSupervisor](
        log=task_runner.log, socket=comm_sock
    )
    details = task_runner.get_startup_details()
    task_runner.log.info("startup details read", ti_id=str(details.ti.id))
    task_runner.SUPERVISOR_COMMS.send(
        comms.SucceedTask(end_date=dt.datetime.now(dt.UTC), task_outlets=[], outlet_events=[])
    )
    comm_sock.close()
    log_io.close()


if __name__ == "__main__":
    main(sys.argv[1:])
