"""SocketLogHandler: line format, levels, buffering, fallback, threads, masking."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading

import pytest
import trio
import trio.testing
from hypothesis import given, settings, strategies as st

from trio_coord import SocketLogHandler
from trio_coord._logging import parse_level, parse_namespace_levels
from trio_coord._redact import register_secret
from trio_coord.testing import validate_log_line


def make_logger(handler: SocketLogHandler, name: str = "test.logger") -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


class Sink:
    def __init__(self) -> None:
        self.data = b""

    def __call__(self, data: bytes) -> None:
        self.data += data

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.data.splitlines()]


def render(record_logger: logging.Logger, handler: SocketLogHandler) -> dict[str, object]:
    """Parse the one line the handler buffered."""
    (line,) = handler._chunks
    parsed = json.loads(line)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    handler._chunks.clear()
    handler._buffered = 0
    return parsed  # type: ignore[no-any-return]


def test_line_has_the_supervisor_keys() -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    log.warning("hello %s", "world", extra={"rows": 3})
    record = render(log, handler)
    assert record["event"] == "hello world"
    assert record["level"] == "warning"
    assert record["logger"] == "test.logger"
    assert record["rows"] == 3
    stamp = record["timestamp"]
    assert isinstance(stamp, str)
    assert stamp.endswith("Z")
    assert dt.datetime.fromisoformat(stamp).tzinfo is not None
    assert list(record)[:4] == ["timestamp", "level", "event", "logger"]


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (logging.CRITICAL, "critical"),
        (logging.ERROR, "error"),
        (logging.WARNING, "warning"),
        (logging.INFO, "info"),
        (logging.DEBUG, "debug"),
        (25, "info"),
        (5, "debug"),
        (60, "critical"),
    ],
)
def test_levels_are_lower_case_names_the_supervisor_knows(level: int, name: str) -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    log.setLevel(1)
    log.log(level, "x")
    assert render(log, handler)["level"] == name


def test_nested_extras_become_dotted_keys_and_standard_fields_win() -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    log.info("m", extra={"db": {"host": "h", "pool": {"size": 2}}, "level_x": 1, "logger_hint": "y"})
    record = render(log, handler)
    assert record["db.host"] == "h"
    assert record["db.pool.size"] == 2
    assert record["level"] == "info"


def test_fields_that_would_crash_the_supervisor_are_renamed() -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    log.info(
        "m",
        extra={
            "target": 1,
            "self": 2,
            "method_name": 3,
            "positional_args": [4],
            "target_": 5,
            "nested": {"target": 6},
        },
    )
    record = render(log, handler)
    assert (record["target_"], record["self_"], record["method_name_"], record["positional_args_"]) == (
        1,
        2,
        3,
        [4],
    )
    assert record["target__"] == 5  # a field really named target_ stays apart
    assert record["nested.target"] == 6  # a dotted name is harmless
    assert not {"target", "self", "method_name", "positional_args"} & set(record)


def test_values_json_cannot_encode_are_stringified() -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)

    class Odd:
        def __str__(self) -> str:
            return "odd!"

    log.info("m", extra={"obj": Odd(), "nan": float("nan"), "blob": b"\x00", "keys": {1: "a"}, "set": {1}})
    record = render(log, handler)
    assert record["obj"] == "odd!"
    assert record["nan"] == "nan"
    assert record["blob"] == "b'\\x00'"
    assert record["keys.1"] == "a"
    assert record["set"] == [1]


def test_bad_format_args_still_produce_a_line() -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    log.info("%d items", "not a number")
    record = render(log, handler)
    assert "formatting failed" in str(record["event"])


def test_exceptions_are_structured() -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    try:
        try:
            raise KeyError("inner")
        except KeyError as exc:
            raise ValueError("outer") from exc
    except ValueError:
        log.exception("failed")
    record = render(log, handler)
    assert record["level"] == "error"
    exception = record["exception"]
    assert isinstance(exception, list)
    outer, inner = exception
    assert outer["exc_type"] == "ValueError"
    assert outer["exc_value"] == "outer"
    assert outer["is_cause"] is False
    assert inner["exc_type"] == "KeyError"
    assert inner["is_cause"] is True
    assert outer["frames"][-1]["name"] == "test_exceptions_are_structured"
    assert set(outer) == {
        "exc_type",
        "exc_value",
        "exc_notes",
        "syntax_error",
        "is_cause",
        "frames",
        "is_group",
        "exceptions",
    }


def test_exception_groups_are_structured() -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    try:
        raise ExceptionGroup("several", [ValueError("a"), TypeError("b")])
    except ExceptionGroup:
        log.exception("group")
    exception = render(log, handler)["exception"]
    assert isinstance(exception, list)
    (entry,) = exception
    assert entry["is_group"] is True
    assert [sub[0]["exc_type"] for sub in entry["exceptions"]] == ["ValueError", "TypeError"]


def test_parse_level_accepts_airflow_spellings() -> None:
    assert parse_level("WARN") == logging.WARNING
    assert parse_level(" warning ") == logging.WARNING
    assert parse_level("Exception") == logging.ERROR
    assert parse_level("FATAL") == logging.CRITICAL
    assert parse_level("notset") == logging.NOTSET
    assert parse_level("15") == 15
    assert parse_level("loud") is None


def test_parse_namespace_levels() -> None:
    levels, invalid = parse_namespace_levels("a=debug, a.b=error  c=warn,bad,d=loud, a=info")
    assert levels == {"a": logging.INFO, "a.b": logging.ERROR, "c": logging.WARNING}
    assert invalid == ["bad", "d=loud"]


def test_env_levels_and_longest_namespace_prefix_win() -> None:
    env = {
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "app=debug app.noisy=error nope",
    }
    handler = SocketLogHandler.from_env(env)
    assert handler.lowest_level == logging.DEBUG
    # the invalid entry is reported as an error record
    (problem,) = (json.loads(line) for line in handler._chunks)
    assert problem["event"] == "Ignoring invalid namespace_levels entry"
    assert problem["entry"] == "nope"
    handler._chunks.clear()
    for name, level, kept in [
        ("other", logging.INFO, False),
        ("other", logging.WARNING, True),
        ("app.x", logging.DEBUG, True),
        ("apple", logging.DEBUG, False),  # not a dotted child of "app"
        ("app.noisy.y", logging.WARNING, False),
        ("app.noisy.y", logging.ERROR, True),
    ]:
        record = logging.LogRecord(name, level, __file__, 1, "m", None, None)
        assert handler.filter(record) is kept, (name, level)


def test_invalid_global_level_means_info() -> None:
    handler = SocketLogHandler.from_env({"AIRFLOW__LOGGING__LOGGING_LEVEL": "chatty"})
    assert handler.global_level == logging.INFO
    (problem,) = (json.loads(line) for line in handler._chunks)
    assert problem["event"] == "Ignoring invalid logging_level"


def test_empty_env_means_info() -> None:
    handler = SocketLogHandler.from_env({"AIRFLOW__LOGGING__NAMESPACE_LEVELS": ""})
    assert handler.global_level == logging.INFO
    assert handler._chunks == []


def test_secrets_are_masked_everywhere() -> None:
    register_secret("hunter2hunter2")
    handler = SocketLogHandler()
    log = make_logger(handler)
    try:
        raise RuntimeError("login failed with hunter2hunter2")
    except RuntimeError:
        log.exception("password is hunter2hunter2", extra={"conn": {"pw": "x hunter2hunter2 y"}})
    line = handler._chunks[0].decode()
    assert "hunter2" not in line
    record = json.loads(line)
    assert record["event"] == "password is ***"
    assert record["conn.pw"] == "x *** y"
    assert record["exception"][0]["exc_value"] == "login failed with ***"


async def test_buffered_lines_flush_in_order_on_connect(io_budget: None) -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    for i in range(5):
        log.info("early %d", i)
    send, receive = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        await nursery.start(handler.run_sender, send)
        log.info("late")
        await handler.wait_drained()
        data = b""
        while data.count(b"\n") < 6:
            data += await receive.receive_some()
        events = [json.loads(line)["event"] for line in data.splitlines()]
        assert events == ["early 0", "early 1", "early 2", "early 3", "early 4", "late"]
        stats = handler.statistics()
        assert stats.lines_sent == 6
        assert stats.batches_sent <= 2
        nursery.cancel_scope.cancel()


async def test_a_burst_is_one_write(io_budget: None) -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    send, receive = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        await nursery.start(handler.run_sender, send)
        for i in range(1000):
            log.info("line %d", i)
        await handler.wait_drained()
        assert handler.statistics().batches_sent == 1
        assert handler.statistics().lines_sent == 1000
        data = await receive.receive_some()
        assert data.count(b"\n") == 1000
        nursery.cancel_scope.cancel()


async def test_lines_from_many_threads_all_arrive(io_budget: None) -> None:
    handler = SocketLogHandler()
    log = make_logger(handler)
    send, receive = trio.testing.memory_stream_pair()
    received = b""
    async with trio.open_nursery() as nursery:
        await nursery.start(handler.run_sender, send)

        def spam(n: int) -> None:
            for i in range(200):
                log.info("thread %d line %d", n, i)

        threads = [threading.Thread(target=spam, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()

        def join_all() -> None:
            for thread in threads:
                thread.join()

        await trio.to_thread.run_sync(join_all)
        while received.count(b"\n") < 1600:
            received += await receive.receive_some()
        nursery.cancel_scope.cancel()
    lines = [json.loads(line) for line in received.splitlines()]
    assert len(lines) == 1600
    for n in range(8):
        mine = [line["event"] for line in lines if line["event"].startswith(f"thread {n} ")]
        assert mine == [f"thread {n} line {i}" for i in range(200)]  # per-thread order kept


def test_threads_rendering_across_seconds_get_their_own_timestamps() -> None:
    """Lines render outside the lock: a thread never pairs its second with another's cached head."""
    reference = SocketLogHandler()
    handler = SocketLogHandler()
    base = 1_800_000_000
    # Every thread walks through the same seconds at its own offset, so the cached second flips all the time.
    created = [[base + (i + n) % 7 + (i % 1000) / 1000 for i in range(3000)] for n in range(4)]
    results: list[list[tuple[float, bytes]]] = [[] for _ in created]

    def render_all(n: int) -> None:
        for value in created[n]:
            record = logging.LogRecord("threads", logging.INFO, __file__, 1, "tick", None, None)
            record.created = value
            results[n].append((value, handler.render(record)))

    threads = [threading.Thread(target=render_all, args=(n,)) for n in range(len(created))]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    for lines in results:
        assert len(lines) == 3000
        for value, line in lines:
            assert json.loads(line)["timestamp"] == reference._timestamp(value)


async def test_broken_socket_falls_back_to_stderr_without_losing_lines(io_budget: None) -> None:
    sink = Sink()
    handler = SocketLogHandler(fallback=sink)
    log = make_logger(handler)
    send, receive = trio.testing.memory_stream_pair()
    await receive.aclose()
    log.info("before")
    async with trio.open_nursery() as nursery:
        await nursery.start(handler.run_sender, send)
        await handler.wait_drained()
        await trio.testing.wait_all_tasks_blocked()
        log.info("after")
    assert [line["event"] for line in sink.lines()] == ["before", "after"]
    assert not handler.connected
    assert handler.statistics().lines_to_fallback == 2


async def test_stalled_socket_spills_to_fallback_instead_of_growing(io_budget: None) -> None:
    sink = Sink()
    handler = SocketLogHandler(fallback=sink, max_buffer_bytes=2000)
    log = make_logger(handler)
    send, _unread = trio.testing.lockstep_stream_pair()  # nobody reads
    async with trio.open_nursery() as nursery:
        await nursery.start(handler.run_sender, send)
        for i in range(100):
            log.info("line %d", i)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(100, 200):
            log.info("line %d", i)
        assert handler.statistics().buffered_bytes <= 2000
        assert handler.statistics().lines_to_fallback > 0
        nursery.cancel_scope.cancel()
    # cancelling the sender moves what it still held to the fallback too
    events = [line["event"] for line in sink.lines()]
    assert len(events) == len(set(events))


def test_close_writes_unsent_lines_to_the_fallback() -> None:
    sink = Sink()
    handler = SocketLogHandler(fallback=sink)
    log = make_logger(handler)
    log.info("never connected")
    handler.close()
    assert [line["event"] for line in sink.lines()] == ["never connected"]


@settings(max_examples=300, deadline=None)
@given(
    message=st.text(),
    extras=st.dictionaries(
        st.text(min_size=1).filter(
            lambda k: k not in logging.LogRecord("", 0, "", 0, "", None, None).__dict__
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3),
            max_leaves=10,
        ),
        max_size=4,
    ),
    level=st.integers(0, 60),
)
def test_no_record_ever_produces_a_line_the_supervisor_rejects(
    message: str, extras: dict[str, object], level: int
) -> None:
    handler = SocketLogHandler()
    record = logging.LogRecord("h.y", level, __file__, 1, message, None, None)
    record.__dict__.update(extras)
    line = handler.render(record)
    parsed, problem = validate_log_line(line)
    assert problem is None, problem
    assert parsed is not None
    assert line.count(b"\n") == 1


async def test_peer_closing_the_logs_socket_replays_recent_lines_to_the_fallback(io_budget: None) -> None:
    sink = Sink()
    handler = SocketLogHandler(fallback=sink)
    log = make_logger(handler)
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        await nursery.start(handler.run_sender, client)
        log.info("sent just before the peer vanished")
        await handler.wait_drained()
        await server.aclose()  # the supervisor went away (it never writes, so EOF means gone)
        await trio.testing.wait_all_tasks_blocked()
        assert not handler.connected
        log.info("after")
    # TCP may have accepted bytes the peer never read: the recent batch is repeated on stderr
    assert [line["event"] for line in sink.lines()] == ["sent just before the peer vanished", "after"]


async def test_orderly_close_replays_nothing(io_budget: None) -> None:
    sink = Sink()
    handler = SocketLogHandler(fallback=sink)
    log = make_logger(handler)
    client, _server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        await nursery.start(handler.run_sender, client)
        log.info("delivered")
        await handler.wait_drained()
        handler.detach()
        await client.aclose()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert sink.data == b""


def test_a_namespace_level_below_the_global_one_lets_its_records_through() -> None:
    handler = SocketLogHandler.from_env(
        {"AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "task.etl=debug"}
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(handler.lowest_level)
    logging.getLogger("task.etl.extract").debug("kept")
    logging.getLogger("library").info("dropped")
    logging.getLogger("library").warning("kept too")
    events = [json.loads(line)["event"] for line in handler._chunks]
    assert events == ["kept", "kept too"]


# ----------------------------------------------------------------- masking by name, stderr, process switches


def test_extra_fields_whose_names_look_sensitive_are_masked() -> None:
    handler = SocketLogHandler()
    logger = make_logger(handler)
    logger.info(
        "connecting",
        extra={
            "password": "hunter2-password",
            "db": {"host": "db.local", "api_key": "k3y"},  # short values too: the name decides
            "tokens": ["t1", "t2"],
            "secret_count": 3,  # not a string: kept, as Airflow keeps it
            "user": "alice",
        },
    )
    line = render(logger, handler)
    assert line["password"] == "***"
    assert line["db.api_key"] == "***"
    assert line["db.host"] == "db.local"
    assert line["tokens"] == ["***", "***"]
    assert line["secret_count"] == 3
    assert line["user"] == "alice"


class SlowStderr:
    """A standard error whose reader never reads until told to."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.data = bytearray()
        self.buffer = self

    def write(self, data: bytes) -> int:
        self.release.wait(30)
        self.data += data
        return len(data)

    def flush(self) -> None:
        pass


def test_a_slow_stderr_never_blocks_a_log_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from trio_coord._logging import flush_stderr_fallback

    slow = SlowStderr()
    monkeypatch.setattr("sys.stderr", slow)
    handler = SocketLogHandler()
    handler.detach()  # fallback mode: every line goes to standard error
    logger = make_logger(handler)
    done = threading.Event()

    def log_a_lot() -> None:
        for i in range(2000):
            logger.info("line %d", i, extra={"pad": "x" * 500})
        done.set()

    thread = threading.Thread(target=log_a_lot)
    thread.start()
    # If a log call waited for the stalled reader, this would time out (a hang detector).
    assert done.wait(20)
    assert not slow.data  # nothing could be written yet, and nothing was lost either
    slow.release.set()
    assert flush_stderr_fallback(timeout=20)
    thread.join()
    events = [json.loads(line)["event"] for line in bytes(slow.data).splitlines()]
    assert events == [f"line {i}" for i in range(2000)]


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_stack_info_and_call_sites_keep_working(monkeypatch: pytest.MonkeyPatch) -> None:
    from trio_coord import install_log_handler

    for owns_process in (False, True):
        handler = install_log_handler(SocketLogHandler(), owns_process=owns_process)
        keep = Keep()
        logger = logging.getLogger("stack.test")
        logger.addHandler(keep)
        try:
            logger.warning("where am I", stack_info=True)
        finally:
            logger.removeHandler(keep)
            logging.getLogger().removeHandler(handler)
        (record,) = keep.records
        assert record.stack_info is not None
        assert "test_stack_info_and_call_sites_keep_working" in record.stack_info
        assert record.filename == "test_logging.py"
        assert record.funcName == "test_stack_info_and_call_sites_keep_working"
        line = json.loads(handler._chunks[-1])
        assert "test_stack_info_and_call_sites_keep_working" in line["stack"]


def test_process_wide_switches_only_where_trio_coord_owns_the_process() -> None:
    from trio_coord import install_log_handler

    def switches() -> tuple[bool, bool]:
        return (logging.logThreads, logging._srcfile is not None)

    logging.logThreads = True
    install_log_handler(SocketLogHandler())
    assert switches() == (True, True)  # a test run, an application: left alone
    install_log_handler(SocketLogHandler(), owns_process=True)
    assert switches() == (False, True)  # serve, a packed bundle; the call site: never switched off
