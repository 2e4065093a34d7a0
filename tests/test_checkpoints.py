"""Every public async function checkpoints, even on its fast path (trio's rule).

This replaces flake8-async's ASYNC910/911, which cannot see through our helpers.
"""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing

from trio_coord import CoordinatorClient, DispatcherClosed, SocketLogHandler, open_coordinator_comm
from trio_coord._framing import encode_response, frame_prefix


async def test_fast_paths_checkpoint(io_budget: None) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with open_coordinator_comm(client_stream) as comm:
        payload = encode_response(0, {"type": "StartupDetails"})
        await server_stream.send_all((frame_prefix(len(payload)) + payload) * 2)
        await comm.read_message()  # both frames are now buffered
        with trio.testing.assert_checkpoints():
            await comm.read_message()  # served from the buffer

        client = CoordinatorClient(comm)
        os.environ["AIRFLOW_VAR_FROM_ENV"] = "x"
        os.environ["AIRFLOW_CONN_FROM_ENV"] = "http://h"
        try:
            with trio.testing.assert_checkpoints():
                assert await client.get_variable("from_env") == "x"
            with trio.testing.assert_checkpoints():
                assert (await client.get_connection("from_env")).host == "h"
        finally:
            del os.environ["AIRFLOW_VAR_FROM_ENV"]
            del os.environ["AIRFLOW_CONN_FROM_ENV"]

        await server_stream.aclose()
        comm.start_reader()
        await comm.wait_closed()
        with trio.testing.assert_checkpoints():
            await comm.wait_closed()  # already closed

    handler = SocketLogHandler()
    with trio.testing.assert_checkpoints():
        await handler.wait_drained()  # nothing connected, nothing to wait for


async def test_communicate_checkpoints_even_when_it_fails_fast(io_budget: None) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with open_coordinator_comm(client_stream) as comm:
        await server_stream.aclose()
        comm.start_reader()
        await comm.wait_closed()
        with trio.testing.assert_checkpoints(), pytest.raises(DispatcherClosed):
            await comm.communicate({"type": "Q"})
