"""Where a log line's time goes: trio_coord's log path beside a minimal JSON handler.

A profiling tool, not a gate (``nox -s bench`` has the gated T4 figure)::

    python -m tests.bench.log_profile [--rounds N] [--count N] [--profile]

In one process, with the stdlib's record knobs off (``logging._srcfile = None``,
``logThreads``/``logProcesses``/``logMultiprocessing`` false), interleaved
rounds time

``json``        a ``logging.Handler`` whose ``emit`` only JSON-encodes the
                record (no I/O): T4's base, the bench's own handler
                (``worker._JsonEncodingHandler``);
``trio_coord``  :class:`trio_coord.SocketLogHandler` end to end: the same
                ``logger.info`` calls inside ``trio.run``, the handler's sender
                writing to a loopback log sink (``tests/bench/server.py logs``,
                its own process) until the sink acknowledges the last line
                (``worker.log_to_sink``, what T4's trio_coord row runs).

Each round reports CPU seconds of this process (``time.process_time``: the
sink's process is not counted, and other agents' load on the shared machine
mostly is not either) and wall seconds; the ratio is taken per round and the
median, min and max are printed with the load average. ``--profile`` runs
cProfile over one trio_coord round instead.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import trio

from tests.bench.worker import LOG_MESSAGE, LOGGER_NAME, _JsonEncodingHandler, log_to_sink

HERE = Path(__file__).resolve().parent


def knobs_off() -> None:
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def run_json(count: int) -> tuple[float, float]:
    root = logging.getLogger()
    handler = _JsonEncodingHandler()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    log = logging.getLogger(LOGGER_NAME)
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        for i in range(count):
            log.info(LOG_MESSAGE, i)
        return time.process_time() - c0, time.perf_counter() - t0
    finally:
        root.removeHandler(handler)


def run_trio_coord(count: int, port: int) -> tuple[float, float]:
    result = trio.run(log_to_sink, port, count)
    return result["cpu_seconds"], result["seconds"]


def summary(name: str, count: int, samples: list[float]) -> str:
    rates = sorted(count / s / 1000 for s in samples)
    return f"{name:>11}: {statistics.median(rates):7.1f} k lines/s (min {rates[0]:.1f}, max {rates[-1]:.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    knobs_off()
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "logs"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        run_json(args.count // 10)  # warm up both
        run_trio_coord(args.count // 10, port)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            run_trio_coord(args.count, port)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return 0
        runs: dict[str, list[tuple[float, float]]] = {"json": [], "trio_coord": []}
        variants: dict[str, Callable[[], tuple[float, float]]] = {
            "json": lambda: run_json(args.count),
            "trio_coord": lambda: run_trio_coord(args.count, port),
        }
        for n in range(args.rounds):
            order = list(variants) if n % 2 == 0 else list(reversed(variants))
            for name in order:
                runs[name].append(variants[name]())
        for kind, index in (("CPU", 0), ("wall", 1)):
            print(f"{kind} time, {args.rounds} interleaved rounds of {args.count} lines:")
            for name, samples in runs.items():
                print(summary(name, args.count, [s[index] for s in samples]))
            pairs = zip(runs["json"], runs["trio_coord"], strict=True)
            ratios = sorted(j[index] / t[index] for j, t in pairs)
            median = statistics.median(ratios)
            print(f"      ratio: {median:.2f}x the JSON handler (min {ratios[0]:.2f}, max {ratios[-1]:.2f})")
        print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
        return 0
    finally:
        if sink.stdin is not None:
            sink.stdin.close()
        try:
            sink.wait(timeout=5)
        except subprocess.TimeoutExpired:
            sink.kill()
            sink.wait()


if __name__ == "__main__":
    sys.exit(main())
