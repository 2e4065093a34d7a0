"""Run the trio_coord benchmarks side by side with the floors and Airflow's own client.

``nox -s bench`` runs this (``python -m tests.bench``); ``--help`` lists the
options. Every client and server is its own OS process on 127.0.0.1:

* ``server.py comm`` is the fake supervisor, ``server.py logs`` the log sink
  (raw Python, see its docstring); ``worker.py VARIANT`` are the clients,
  kept alive between trials so that imports are paid once.
* Variants of one figure run interleaved, round by round (A B C, B C A,
  C A B, ...: the starting variant rotates so no variant always runs first),
  and every target is a ratio taken per round, then summarised as the median
  with the min and max over the rounds. Each figure names its *base*, what
  trio_coord is gated against: the floor, except for T1 (``design``) and T4
  (``json_handler``), whose floor and peer stay in the table as references.
* Latency and request-rate figures (T1, T2) pin client *and* server to one
  CPU (``sched_setaffinity`` on every thread of both processes, what
  ``taskset -a -p -c CPU`` does) and are also run unpinned for reference.

Figures (targets from docs/performance.md):

T1  sequential ``GetVariable`` round trip, µs, pinned; gated against
    ``design``, a minimal client of trio_coord's design (``design.py``)
T2  ``GetVariable`` requests/s with 64 in flight, pinned (``design`` shown
    for reference)
T3  one 64 MiB str XCom, get (incl. decode) and set (incl. encode), MB/s, and
    peak memory ÷ payload (ru_maxrss growth over the RSS just before the
    payload existed; a fresh process per trial)
T4  JSON log lines/s over TCP to a sink that acknowledges the last line, with
    the stdlib ``logging`` record knobs set alike on both sides: off (what
    ``serve`` sets) for the target, on (Python's default) as ``*_details``;
    gated against ``json_handler``, the same ``logging`` calls into a stdlib
    handler that only JSON-encodes each record (no I/O)
T5  process start → first frame read and answered, ms (a fresh process per
    start, with this process as the supervisor), the process's CPU time and
    peak RSS; each round takes the fastest of ``--starts`` starts per variant.
    ``python -m trio_coord serve`` and the packed launcher against a minimal
    trio+msgpack client and Airflow's task runner
T5c 16 runtimes started at once on this machine's CPUs: time from the first
    start to the last first frame, and the CPU time of all 16
T5i the imports of a run (``from trio_coord import Bundle, TaskContext`` and
    what ``python -m trio_coord`` / the packed launcher import) against
    ``import trio, msgpack``, in a fresh interpreter: wall and CPU time

The run prints one table and writes the raw per-round numbers, the summaries
and the machine's description as JSON (``--json``, default
``bench-results/bench.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Self

import msgpack

HERE: Final = Path(__file__).resolve().parent
PREFIX_SIZE: Final = 4
MIB: Final = 1024 * 1024
XCOM_SIZE: Final = 64 * MIB
TRIAL_TIMEOUT: Final = 180.0

TRIO: Final = "trio_coord"
FLOOR: Final = "floor"
PEER: Final = "peer"
FLOOR_LINE: Final = "floor_line"
PEER_STRUCTLOG: Final = "peer_structlog"
DESIGN: Final = "design"
JSON_HANDLER: Final = "json_handler"
MINIMAL: Final = "minimal"
PACKED: Final = "packed"
TRIO_DETAILS: Final = "trio_coord_details"
PEER_DETAILS: Final = "peer_details"
#: T4 variants run by another variant's worker, with the stdlib record knobs on.
DETAILS_WORKER: Final = {TRIO_DETAILS: TRIO, PEER_DETAILS: PEER}
#: The variants that run in a long-lived ``worker.py`` of their own.
WORKER_VARIANTS: Final = frozenset({FLOOR, FLOOR_LINE, DESIGN, JSON_HANDLER, TRIO, PEER, PEER_STRUCTLOG})
#: T5c: how many runtimes start at once.
CONCURRENT_STARTS: Final = 16


class BenchError(Exception):
    """A trial failed; the run stops (a benchmark never drops a data point silently)."""


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def set_affinity(pid: int, cpus: set[int]) -> None:
    """Set the CPU affinity of every thread of process ``pid`` (``taskset -a -p``)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        raise BenchError(f"process {pid} is gone") from None
    for tid in tids:
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            os.sched_setaffinity(int(tid), cpus)


class Child:
    """A long-lived child speaking one JSON (or plain) line per answer on stdout."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, stderr: IO[bytes]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=cwd
        )
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def readline(self, timeout: float) -> str:
        """The next line the child prints; BenchError if it exits or takes longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self.name}: no answer within {timeout:g} s")
            if self._sel.select(remaining):
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    raise BenchError(f"{self.name} exited (code {self.proc.wait()}); see its stderr log")
                self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def command(self, cmd: dict[str, Any], timeout: float = TRIAL_TIMEOUT) -> dict[str, Any]:
        """Send one JSON command and return the JSON answer (BenchError if it failed)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.readline(timeout))
        if not answer.get("ok"):
            raise BenchError(
                f"{self.name} failed {cmd}: {answer.get('error')}\n{answer.get('traceback', '')}"
            )
        return answer

    def stop(self) -> None:
        """Close stdin (children exit on EOF), then make sure the process is gone."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._sel.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# ---------------------------------------------------------------------------
# Figures and targets
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One row of the table: a quantity measured for several variants, round by round."""

    key: str
    title: str
    unit: str
    higher_is_better: bool
    variants: tuple[str, ...]
    scale: float = 1.0  # multiply raw values by this for display
    fmt: str = "{:.1f}"
    note: str = ""
    base: str | None = None  # what trio_coord is gated against (None: the floor, variants[0])

    @property
    def base_variant(self) -> str:
        return self.base or self.variants[0]


@dataclass(frozen=True)
class Target:
    """A gate from docs/performance.md, evaluated on the median of per-round values."""

    figure: str
    label: str
    op: str  # "<=" or ">="
    threshold: float
    num: str = TRIO
    den: str | None = FLOOR  # None: an absolute value of ``num``
    metric: str = "value"

    def per_round(self, results: FigureResults) -> list[float]:
        nums = results.metric(self.metric, self.num)
        if self.den is None:
            return nums
        dens = results.metric(self.metric, self.den)
        return [n / d for n, d in zip(nums, dens, strict=True) if d]

    def passes(self, median: float) -> bool:
        return median <= self.threshold if self.op == "<=" else median >= self.threshold


@dataclass
class FigureResults:
    """Per-round values of one figure: ``metrics[metric][variant] = [round0, round1, ...]``."""

    figure: Figure
    metrics: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, metric: str, variant: str, value: float) -> None:
        self.metrics.setdefault(metric, {}).setdefault(variant, []).append(value)

    def metric(self, metric: str, variant: str) -> list[float]:
        return self.metrics.get(metric, {}).get(variant, [])


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max (empty dict for no values)."""
    if not values:
        return {}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


_DESIGN_NOTE: Final = (
    "design: a minimal client of trio_coord's design (tests/bench/design.py: a nursery-owned reader "
    "task routing replies by id through one-slot memory channels, callers writing directly); "
    "floor: one blocking thread"
)

FIGURES: Final = [
    Figure(
        "T1",
        "T1 sequential round trip, pinned",
        "µs",
        False,
        (FLOOR, DESIGN, TRIO, PEER),
        1e6,
        note=_DESIGN_NOTE,
        base=DESIGN,
    ),
    Figure(
        "T1u",
        "T1 sequential round trip, unpinned",
        "µs",
        False,
        (FLOOR, DESIGN, TRIO, PEER),
        1e6,
        base=DESIGN,
    ),
    Figure("T2", "T2 64 in flight, pinned", "k req/s", True, (FLOOR, DESIGN, TRIO, PEER), 1e-3),
    Figure("T2u", "T2 64 in flight, unpinned", "k req/s", True, (FLOOR, DESIGN, TRIO, PEER), 1e-3),
    Figure("T3get", "T3 64 MiB str XCom get", "MB/s", True, (FLOOR, TRIO, PEER), 1e-6, "{:.0f}"),
    Figure("T3set", "T3 64 MiB str XCom set", "MB/s", True, (FLOOR, TRIO, PEER), 1e-6, "{:.0f}"),
    Figure(
        "T4",
        "T4 log lines/s",
        "k lines/s",
        True,
        (FLOOR, JSON_HANDLER, FLOOR_LINE, TRIO, PEER, PEER_STRUCTLOG, TRIO_DETAILS, PEER_DETAILS),
        1e-3,
        note=(
            "floor: json.dumps + 64 KiB batches; floor_line: one send per line; "
            "json_handler: the same logging.getLogger(...).info() calls into a stdlib Handler that "
            "only json.dumps each record (no I/O; the base); trio_coord and peer: "
            "logging.getLogger(...).info() with the record knobs off on both (as serve sets them); "
            "*_details: the same with the knobs on (Python's default); "
            "peer_structlog: structlog's logger on the peer's channel"
        ),
        base=JSON_HANDLER,
    ),
    Figure(
        "T5",
        "T5 start -> first frame",
        "ms",
        False,
        (MINIMAL, TRIO, PACKED, PEER),
        1e3,
        "{:.0f}",
        note=(
            "floor: minimal trio+msgpack client; trio_coord: python -m trio_coord serve; "
            "packed: the bundle packed self-contained (pack's default), started through its launcher "
            "(sh, then python -I -S -c LOADER: the bootstrap, then trio_coord._packed from the cache entry)"
        ),
    ),
    Figure(
        "T5c",
        f"T5 {CONCURRENT_STARTS} concurrent starts -> last first frame",
        "ms",
        False,
        (MINIMAL, TRIO, PACKED),
        1e3,
        "{:.0f}",
        note=f"{CONCURRENT_STARTS} processes started at once, on every CPU this run may use",
    ),
    Figure(
        "T5i",
        "T5 imports of a run",
        "ms",
        False,
        (MINIMAL, TRIO, PACKED),
        1e3,
        "{:.1f}",
        note=(
            "floor: import trio, msgpack; trio_coord: from trio_coord import Bundle, TaskContext "
            "+ import trio_coord.__main__ (what python -m trio_coord serve imports before the task "
            "module); packed: the same + trio_coord._packed"
        ),
    ),
]

TARGETS: Final = [
    Target("T1", "<= 1.15x design", "<=", 1.15, den=DESIGN),
    Target("T2", ">= 0.5x floor", ">=", 0.5),
    Target("T2", ">= 30x peer", ">=", 30.0, den=PEER),
    Target("T3get", ">= 0.8x floor", ">=", 0.8),
    Target("T3get", "peak <= 2.0x payload", "<=", 2.0, den=None, metric="peak"),
    Target("T3set", ">= 0.8x floor", ">=", 0.8),
    Target("T3set", "peak <= 2.0x payload", "<=", 2.0, den=None, metric="peak"),
    Target("T4", ">= 0.8x json_handler", ">=", 0.8, den=JSON_HANDLER),
    Target("T4", ">= 100 k lines/s", ">=", 100_000.0, den=None),
    Target("T4", ">= 7x peer", ">=", 7.0, den=PEER),
    Target("T4", "details on: >= 7x peer", ">=", 7.0, num=TRIO_DETAILS, den=PEER_DETAILS),
    Target("T5", "<= 1.15x minimal", "<=", 1.15, den=MINIMAL),
    Target("T5", ">= 10x faster than peer", ">=", 10.0, num=PEER, den=TRIO),
    Target("T5", "CPU <= 1.15x minimal", "<=", 1.15, den=MINIMAL, metric="cpu"),
    Target("T5", "packed <= 1.15x minimal", "<=", 1.15, num=PACKED, den=MINIMAL),
    Target("T5", "peak RSS <= 30 MiB", "<=", 30.0, den=None, metric="rss_mib"),
    Target("T5c", "<= 1.15x minimal", "<=", 1.15, den=MINIMAL),
    Target("T5c", "packed <= 1.15x minimal", "<=", 1.15, num=PACKED, den=MINIMAL),
    Target("T5i", "<= 1.1x import trio, msgpack", "<=", 1.1, den=MINIMAL),
    Target("T5i", "CPU <= 1.1x", "<=", 1.1, den=MINIMAL, metric="cpu"),
    Target("T5i", "packed <= 1.1x", "<=", 1.1, num=PACKED, den=MINIMAL),
]


# ---------------------------------------------------------------------------
# The bench
# ---------------------------------------------------------------------------


#: T5i: what each variant imports, timed in a fresh interpreter.
IMPORTS: Final = {
    MINIMAL: "import trio, msgpack",
    TRIO: "from trio_coord import Bundle, TaskContext; import trio_coord.__main__",
    PACKED: "from trio_coord import Bundle, TaskContext; import trio_coord.__main__, trio_coord._packed",
}


class _Start:
    """One runtime being started by :meth:`Bench.run_starts`: its sockets, process and timings."""

    def __init__(
        self, variant: str, startup: bytes, stack: contextlib.ExitStack, sel: selectors.BaseSelector
    ) -> None:
        self.variant = variant
        self.startup = startup
        self.sel = sel
        self.listeners: dict[str, socket.socket] = {}
        self.conns: dict[str, socket.socket] = {}
        self.stack = stack
        for name in ("comm", "logs"):
            lsock = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
            lsock.setblocking(False)
            self.listeners[name] = lsock
            sel.register(lsock, selectors.EVENT_READ, self)
        self.proc: subprocess.Popen[bytes] | None = None
        self.buf = bytearray()
        self.first_frame_at: float | None = None
        self.frame: Any = None
        self.exit: tuple[int, float, float] | None = None  # code, CPU seconds, peak RSS bytes

    def port(self, name: str) -> int:
        return int(self.listeners[name].getsockname()[1])

    @property
    def done(self) -> bool:
        return self.exit is not None

    def on_ready(self, sock: Any) -> None:
        """A listener or connection of this start is readable."""
        for name, lsock in self.listeners.items():
            if sock is lsock:
                conn, _ = lsock.accept()
                self.conns[name] = self.stack.enter_context(conn)
                self.sel.unregister(lsock)
                self.sel.register(conn, selectors.EVENT_READ, self)
                if len(self.conns) == 2:
                    self.conns["comm"].sendall(self.startup)
                return
        data = sock.recv(65536)
        if not data:
            self.sel.unregister(sock)
            if sock is self.conns.get("comm") and self.first_frame_at is None:
                raise BenchError(f"{self.variant}: comm closed before the first frame")
            return
        if sock is not self.conns.get("comm") or self.first_frame_at is not None:
            return  # logs, or the comm after the first frame: drained
        self.buf += data
        if len(self.buf) >= 4 and len(self.buf) >= 4 + int.from_bytes(self.buf[:4], "big"):
            self.first_frame_at = time.perf_counter()
            self.frame = msgpack.unpackb(
                bytes(self.buf[4 : 4 + int.from_bytes(self.buf[:4], "big")]), timestamp=3
            )
            reply = msgpack.packb([self.frame[0], None, None])
            self.conns["comm"].setblocking(True)
            self.conns["comm"].sendall(len(reply).to_bytes(4, "big") + reply)

    def poll(self, stderr_tail: Callable[[], str]) -> None:
        """Reap the process if it exited (BenchError if it did before its first frame)."""
        if self.exit is not None or self.proc is None:
            return
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = code
        self.exit = (code, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)
        if self.first_frame_at is None or code != 0:
            got = "after" if self.first_frame_at is not None else "before"
            raise BenchError(f"{self.variant} exited with {code}, {got} its first frame:\n{stderr_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            with contextlib.suppress(ChildProcessError):
                os.wait4(self.proc.pid, 0)
            self.proc.returncode = -9

    def result(self, t0: float) -> dict[str, float]:
        assert self.exit is not None
        assert self.first_frame_at is not None
        if self.frame[1] is None or self.frame[1].get("type") not in ("SucceedTask", "TaskState"):
            raise BenchError(f"{self.variant}: unexpected first frame {self.frame!r}")
        _, cpu, maxrss = self.exit
        return {"value": self.first_frame_at - t0, "cpu": cpu, "rss_mib": maxrss / MIB}


@dataclass(frozen=True)
class Counts:
    """How much work one trial does, per figure and variant."""

    rt: int
    rt_warmup: int
    inflight: int
    inflight_peer: int
    inflight_warmup: int
    logs: int
    logs_peer: int


FULL_COUNTS: Final = Counts(4000, 300, 40_000, 2_000, 2_000, 100_000, 15_000)
QUICK_COUNTS: Final = Counts(1000, 100, 10_000, 600, 500, 30_000, 5_000)


class Bench:
    """Owns the servers, the workers, a temporary directory, and the results."""

    def __init__(
        self, rounds: int, counts: Counts, figures: list[Figure], pin_cpu: int, starts: int = 3
    ) -> None:
        self.rounds = rounds
        self.starts = starts
        self.counts = counts
        self.figures = figures
        self.all_cpus = os.sched_getaffinity(0)
        self.pin_cpus = {pin_cpu}
        self.results = {f.key: FigureResults(f) for f in figures}
        self.load: list[tuple[str, tuple[float, float, float]]] = []
        self._stack = contextlib.ExitStack()
        self.tmp = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="trio-coord-bench-")))
        self.cwd = self.tmp / "cwd"  # children start here, so '' on sys.path is not the repository
        self.cwd.mkdir()
        (self.tmp / "airflow").mkdir()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AIRFLOW") and k != "PYTHONDONTWRITEBYTECODE"
        }
        self.env["AIRFLOW_HOME"] = str(self.tmp / "airflow")
        self.stderr_log = self._stack.enter_context(open(self.tmp / "children.stderr", "w+b"))  # noqa: SIM115
        self.children: dict[str, Child] = {}
        self.ports: dict[str, int] = {}

    # --------------------------------------------------------------- lifecycle

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        for child in self.children.values():
            child.stop()
        self.children.clear()
        self._stack.close()

    def stderr_tail(self, lines: int = 30) -> str:
        self.stderr_log.flush()
        self.stderr_log.seek(0)
        return "\n".join(self.stderr_log.read().decode(errors="replace").splitlines()[-lines:])

    def _spawn(self, name: str, argv: list[str]) -> Child:
        child = Child(name, [sys.executable, *argv], self.env, self.cwd, self.stderr_log)
        self.children[name] = child
        return child

    def start(self, variants: set[str]) -> None:
        """Start the servers and one worker per variant, in parallel; wait until all are ready."""
        needs_comm = any(f.key.startswith(("T1", "T2", "T3")) for f in self.figures)
        needs_logs = any(f.key == "T4" for f in self.figures)
        if needs_comm:
            self._spawn("comm", [str(HERE / "server.py"), "comm"])
        if needs_logs:
            self._spawn("logs", [str(HERE / "server.py"), "logs"])
        for variant in sorted(variants & WORKER_VARIANTS):
            self._spawn(variant, [str(HERE / "worker.py"), variant])
        for name, child in self.children.items():
            line = child.readline(120)
            if name in ("comm", "logs"):
                self.ports[name] = int(line)
            elif not json.loads(line).get("ok"):
                raise BenchError(f"worker {name} did not start: {line}")

    # --------------------------------------------------------------- trials

    def _worker_trial(self, variant: str, cmd: dict[str, Any], server: str, pinned: bool) -> dict[str, Any]:
        cpus = self.pin_cpus if pinned else self.all_cpus
        worker = self.children[variant]
        set_affinity(worker.pid, cpus)
        set_affinity(self.children[server].pid, cpus)
        return worker.command({**cmd, "port": self.ports[server]})

    def trial_rt(self, variant: str, pinned: bool) -> dict[str, float]:
        c = self.counts
        res = self._worker_trial(
            variant, {"figure": "rt", "count": c.rt, "warmup": c.rt_warmup}, "comm", pinned
        )
        return {"value": res["seconds"] / c.rt}

    def trial_inflight(self, variant: str, pinned: bool) -> dict[str, float]:
        c = self.counts
        count = c.inflight_peer if variant == PEER else c.inflight
        warmup = min(c.inflight_warmup, count // 5)
        cmd = {"figure": "inflight", "count": count, "warmup": warmup, "concurrency": 64}
        res = self._worker_trial(variant, cmd, "comm", pinned)
        return {"value": count / res["seconds"]}

    def trial_xcom(self, variant: str, figure: str) -> dict[str, float]:
        """One XCom get or set in a fresh worker process (peak RSS is per process)."""
        cmd = {"figure": figure, "size": XCOM_SIZE, "port": self.ports["comm"]}
        set_affinity(self.children["comm"].pid, self.all_cpus)
        proc = subprocess.run(
            [sys.executable, str(HERE / "worker.py"), variant, json.dumps(cmd)],
            capture_output=True,
            env=self.env,
            cwd=self.cwd,
            timeout=TRIAL_TIMEOUT,
            check=False,
        )
        try:
            res = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"ok": False, "error": f"exit code {proc.returncode}"}
        if not res.get("ok"):
            raise BenchError(
                f"{variant} {figure} failed: {res.get('error')}\n"
                f"{res.get('traceback', '')}{proc.stderr.decode()}"
            )
        return {
            "value": XCOM_SIZE / res["seconds"],
            "peak": (res["maxrss"] - res["rss_before"]) / XCOM_SIZE,
        }

    def trial_logs(self, variant: str) -> dict[str, float]:
        c = self.counts
        worker = DETAILS_WORKER.get(variant, variant)
        count = c.logs_peer if worker in (PEER, PEER_STRUCTLOG) else c.logs
        cmd = {"figure": "logs", "count": count, "details": variant in DETAILS_WORKER}
        res = self._worker_trial(worker, cmd, "logs", pinned=False)
        return {"value": count / res["seconds"], "line_bytes": res["line_bytes"]}

    def _start_argv(self, variant: str, comm: int, logs: int) -> list[str]:
        flags = [f"--comm=127.0.0.1:{comm}", f"--logs=127.0.0.1:{logs}"]
        if variant == TRIO:
            bundle = f"{HERE / 'startup_bundle.py'}:bundle"
            return [sys.executable, "-m", "trio_coord", "serve", bundle, *flags]
        if variant == PACKED:
            return [str(self.packed_bundle()), *flags]
        script = "startup_minimal.py" if variant == MINIMAL else "startup_peer.py"
        return [sys.executable, str(HERE / script), *flags]

    def packed_bundle(self) -> Path:
        """startup_bundle.py packed once per run (``python -m trio_coord pack``, checked)."""
        path = self.tmp / "packed-bench-bundle"
        if not path.exists():
            bundle = f"{HERE / 'startup_bundle.py'}:bundle"
            proc = subprocess.run(
                [sys.executable, "-m", "trio_coord", "pack", bundle, "--output", str(path)],
                capture_output=True, env=self.env, cwd=self.cwd, timeout=TRIAL_TIMEOUT, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise BenchError(f"packing the start-up bundle failed:\n{proc.stderr.decode()}")
        return path

    def trial_start(self, variant: str) -> dict[str, float]:
        """Launch a runtime as the supervisor does; time process start to its first frame."""
        (start,) = self.run_starts(variant, 1)
        return start

    def trial_concurrent(self, variant: str) -> dict[str, float]:
        """Launch CONCURRENT_STARTS runtimes at once; time the first start to the last first frame."""
        starts = self.run_starts(variant, CONCURRENT_STARTS)
        return {
            "value": max(start["value"] for start in starts),
            "cpu": sum(start["cpu"] for start in starts),
            "rss_mib": max(start["rss_mib"] for start in starts),
        }

    def run_starts(self, variant: str, count: int) -> list[dict[str, float]]:
        """Start ``count`` runtimes at once, each with its own pair of sockets; serve them all.

        Each gets ``StartupDetails`` once it has dialled both sockets; its first
        frame is answered ``[id, nil, nil]`` and its logs are drained until it
        exits. Times are from the first ``Popen``; CPU time and peak RSS are the
        process's own (``wait4``), from start to exit.
        """
        from tests.bench.server import encode_frame, startup_details

        with contextlib.ExitStack() as stack:
            sel = stack.enter_context(selectors.DefaultSelector())
            starts = [
                _Start(variant, encode_frame([0, startup_details("bench", "bench_task"), None]), stack, sel)
                for _ in range(count)
            ]
            argvs = [self._start_argv(variant, start.port("comm"), start.port("logs")) for start in starts]
            self.stderr_log.flush()
            t0 = time.perf_counter()
            try:
                for start, argv in zip(starts, argvs, strict=True):
                    start.proc = subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr_log,
                        env=self.env, cwd=self.cwd,
                    )  # fmt: skip
                deadline = time.monotonic() + 60 + 5 * count
                while not all(start.done for start in starts):
                    if time.monotonic() > deadline:
                        raise BenchError(f"{variant}: not every start finished within {60 + 5 * count} s")
                    for key, _ in sel.select(0.01):
                        key.data.on_ready(key.fileobj)
                    for start in starts:
                        start.poll(self.stderr_tail)
            finally:
                for start in starts:
                    start.kill()
            return [start.result(t0) for start in starts]

    def trial_import(self, variant: str) -> dict[str, float]:
        """Time the imports in a fresh interpreter (started in an empty directory): wall and CPU."""
        statement = IMPORTS[variant]
        code = (
            "import time; t = time.perf_counter(); c = time.process_time(); "
            f"{statement}; print(time.perf_counter() - t, time.process_time() - c)"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            env=self.env,
            cwd=self.cwd,
            timeout=TRIAL_TIMEOUT,
            check=False,
        )
        if proc.returncode != 0:
            raise BenchError(f"{statement} failed:\n{proc.stderr.decode()}")
        wall, cpu = proc.stdout.decode().split()[-2:]
        return {"value": float(wall), "cpu": float(cpu)}

    def trial(self, figure: Figure, variant: str) -> dict[str, float]:
        key = figure.key
        if key in ("T1", "T1u"):
            return self.trial_rt(variant, pinned=key == "T1")
        if key in ("T2", "T2u"):
            return self.trial_inflight(variant, pinned=key == "T2")
        if key == "T3get":
            return self.trial_xcom(variant, "xcom_get")
        if key == "T3set":
            return self.trial_xcom(variant, "xcom_set")
        if key == "T4":
            return self.trial_logs(variant)
        if key == "T5c":
            return self.trial_concurrent(variant)
        if key in ("T5", "T5i"):
            # Start-up is fixed work plus whatever else the machine is doing at that moment:
            # the fastest of a few starts estimates the work (as timeit does), for time and CPU
            # time alike; peak RSS is the largest seen.
            samples = [
                self.trial_start(variant) if key == "T5" else self.trial_import(variant)
                for _ in range(self.starts)
            ]
            best = {metric: min(sample[metric] for sample in samples) for metric in samples[0]}
            if key == "T5":
                best["rss_mib"] = max(sample["rss_mib"] for sample in samples)
            return best
        raise AssertionError(key)

    # --------------------------------------------------------------- rounds

    def warm_up(self, progress: Callable[[str], None]) -> None:
        """One unrecorded trial per figure and variant: bytecode caches, thread pools, page cache."""
        starts, self.starts = self.starts, 1
        try:
            for figure in self.figures:
                for variant in figure.variants:
                    progress(f"warm-up {figure.key} {variant}")
                    self.trial(figure, variant)
        finally:
            self.starts = starts

    def run_rounds(self, progress: Callable[[str], None]) -> None:
        self.load.append(("start", os.getloadavg()))
        for r in range(self.rounds):
            for figure in self.figures:
                order = list(figure.variants)
                shift = r % len(order)
                for variant in order[shift:] + order[:shift]:
                    progress(f"round {r + 1}/{self.rounds} {figure.key} {variant}")
                    for metric, value in self.trial(figure, variant).items():
                        self.results[figure.key].add(metric, variant, value)
            self.load.append((f"after round {r + 1}", os.getloadavg()))


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def _fmt(figure: Figure, value: float | None) -> str:
    return "-" if value is None else figure.fmt.format(value * figure.scale)


def _ratio_text(values: list[float], digits: int = 2) -> str:
    s = summary(values)
    if not s:
        return "-"
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def _ratio(results: FigureResults, num: str, den: str) -> list[float]:
    """``num`` ÷ ``den``, per round."""
    nums = results.metric("value", num)
    dens = results.metric("value", den)
    return [n / d for n, d in zip(nums, dens, strict=True) if d]


def _vs_floor(figure: Figure, results: FigureResults) -> list[float]:
    """trio_coord ÷ the figure's floor, per round (first variant is the floor)."""
    return _ratio(results, TRIO, figure.variants[0])


def _vs_base(figure: Figure, results: FigureResults) -> list[float]:
    """trio_coord ÷ what the figure gates it against (its floor unless named), per round."""
    return _ratio(results, TRIO, figure.base_variant)


def _vs_peer(figure: Figure, results: FigureResults) -> list[float]:
    """How many times better trio_coord is than the peer, per round."""
    if PEER not in figure.variants:
        return []
    trio = results.metric("value", TRIO)
    peer = results.metric("value", PEER)
    if figure.higher_is_better:
        return [t / p for t, p in zip(trio, peer, strict=True) if p]
    return [p / t for t, p in zip(trio, peer, strict=True) if t]


def evaluate(bench: Bench) -> list[dict[str, Any]]:
    """Every target with its per-round ratios, summary and verdict."""
    out = []
    for target in TARGETS:
        results = bench.results.get(target.figure)
        if results is None:
            continue
        values = target.per_round(results)
        s = summary(values)
        out.append(
            {
                "figure": target.figure,
                "target": target.label,
                "per_round": values,
                "summary": s,
                "pass": bool(s) and target.passes(s["median"]),
            }
        )
    return out


def render_table(bench: Bench, verdicts: list[dict[str, Any]]) -> str:
    """The one table: values (medians), paired ratios, targets and verdicts."""
    header = (
        "figure",
        "unit",
        "trio_coord",
        "base",
        "floor",
        "peer",
        "trio_coord/base, med [min-max]",
        "trio_coord/floor",
        "x better than peer",
        "target",
        "result",
    )
    rows: list[tuple[str, ...]] = []
    for figure in bench.figures:
        res = bench.results[figure.key]

        def med(variant: str, metric: str = "value", res: FigureResults = res) -> float | None:
            s = summary(res.metric(metric, variant))
            return s["median"] if s else None

        targets = [v for v in verdicts if v["figure"] == figure.key and "peak" not in v["target"]]
        targets = [v for v in targets if "RSS" not in v["target"]]
        target_text = "; ".join(v["target"] for v in targets) or "(reference)"
        result_text = " ".join("PASS" if v["pass"] else "FAIL" for v in targets) or ""
        rows.append(
            (
                figure.title,
                figure.unit,
                _fmt(figure, med(TRIO)),
                f"{figure.base_variant} {_fmt(figure, med(figure.base_variant))}",
                _fmt(figure, med(figure.variants[0])),
                _fmt(figure, med(PEER)),
                _ratio_text(_vs_base(figure, res)),
                "(= base)" if figure.base is None else _ratio_text(_vs_floor(figure, res)),
                _ratio_text(_vs_peer(figure, res), 1),
                target_text,
                result_text,
            )
        )
        for metric, title, unit, fmt in (
            ("peak", "  peak memory", "x payload", "{:.2f}"),
            ("rss_mib", "  peak RSS", "MiB", "{:.1f}"),
        ):
            if not res.metrics.get(metric):
                continue
            mfig = Figure(figure.key, title, unit, False, figure.variants, 1.0, fmt)
            mtargets = [
                v
                for v in verdicts
                if v["figure"] == figure.key
                and (("peak" in v["target"]) if metric == "peak" else ("RSS" in v["target"]))
            ]
            rows.append(
                (
                    title,
                    unit,
                    _fmt(mfig, med(TRIO, metric)),
                    "",
                    _fmt(mfig, med(figure.variants[0], metric)),
                    _fmt(mfig, med(PEER, metric)),
                    "value " + _ratio_text(res.metric(metric, TRIO)),
                    "",
                    "",
                    "; ".join(v["target"] for v in mtargets),
                    " ".join("PASS" if v["pass"] else "FAIL" for v in mtargets),
                )
            )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f.readline().split(":", 1)[1].strip()
    versions: dict[str, str | None] = {}
    for dist in (
        "trio_coord",
        "trio",
        "msgpack",
        "apache-airflow-task-sdk",
        "msgspec",
        "pydantic",
        "structlog",
    ):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus_online": os.cpu_count(),
        "cpus_allowed": sorted(os.sched_getaffinity(0)),
        "memory": mem,
        "versions": versions,
    }


def to_json(bench: Bench, verdicts: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    figures = {}
    for figure in bench.figures:
        res = bench.results[figure.key]
        figures[figure.key] = {
            "title": figure.title,
            "unit": figure.unit,
            "scale_to_unit": figure.scale,
            "note": figure.note,
            "variants": list(figure.variants),
            "per_round": res.metrics,
            "summary": {
                m: {v: summary(vals) for v, vals in per_variant.items()}
                for m, per_variant in res.metrics.items()
            },
            "base": figure.base_variant,
            "trio_coord_vs_base": summary(_vs_base(figure, res)),
            "base_vs_floor": summary(_ratio(res, figure.base_variant, figure.variants[0])),
            "trio_coord_vs_floor": summary(_vs_floor(figure, res)),
            "trio_coord_better_than_peer": summary(_vs_peer(figure, res)),
        }
    return {
        "machine": machine_info(),
        "settings": {
            "rounds": bench.rounds,
            "quick": args.quick,
            "counts": bench.counts.__dict__,
            "pinned_cpu": sorted(bench.pin_cpus),
            "t5_starts_per_round": bench.starts,
            "xcom_size": XCOM_SIZE,
        },
        "load_average": bench.load,
        "figures": figures,
        "targets": verdicts,
    }


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

FIGURE_GROUPS: Final = {
    "T1": ("T1", "T1u"),
    "T2": ("T2", "T2u"),
    "T3": ("T3get", "T3set"),
    "T4": ("T4",),
    "T5": ("T5", "T5c", "T5i"),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help="rounds per figure (default 7, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="3 rounds and smaller counts (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated groups: T1,T2,T3,T4,T5 (default all)")
    parser.add_argument("--json", default="bench-results/bench.json", help="where to write the results")
    parser.add_argument(
        "--cpu", type=int, default=None, help="CPU for pinned figures (default the lowest allowed)"
    )
    parser.add_argument(
        "--starts",
        type=int,
        default=3,
        help="T5: starts per variant per round, the fastest counts (default 3)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target fails")
    parser.add_argument("--verbose", action="store_true", help="print each trial as it starts")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.starts < 1:
        parser.error("--starts must be at least 1")
    groups = [g.strip().upper() for g in args.only.split(",") if g.strip()] or list(FIGURE_GROUPS)
    unknown = [g for g in groups if g not in FIGURE_GROUPS]
    if unknown:
        parser.error(f"unknown figure group(s) {unknown}; choose from {', '.join(FIGURE_GROUPS)}")
    args.figure_keys = {k for g in groups for k in FIGURE_GROUPS[g]}
    allowed = os.sched_getaffinity(0)
    if args.cpu is None:
        args.cpu = min(allowed)
    elif args.cpu not in allowed:
        parser.error(f"--cpu {args.cpu} is not among the CPUs this process may use ({sorted(allowed)})")
    return args


@contextlib.contextmanager
def _timer(label: str) -> Iterator[None]:
    t0 = time.monotonic()
    yield
    print(f"{label} in {time.monotonic() - t0:.0f} s", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; print the table; write the JSON. Returns the exit code."""
    args = parse_args(argv)
    figures = [f for f in FIGURES if f.key in args.figure_keys]
    counts = QUICK_COUNTS if args.quick else FULL_COUNTS
    variants = {v for f in figures for v in f.variants}

    def progress(text: str) -> None:
        if args.verbose:
            print(f"  {text}", file=sys.stderr, flush=True)

    with Bench(args.rounds, counts, figures, args.cpu, args.starts) as bench:
        try:
            with _timer("started servers and workers"):
                bench.start(variants)
            with _timer("warmed up"):
                bench.warm_up(progress)
            with _timer(f"ran {args.rounds} rounds"):
                bench.run_rounds(progress)
        except BenchError as exc:
            print(f"bench: {exc}\n--- children's stderr (tail) ---\n{bench.stderr_tail()}", file=sys.stderr)
            return 2
        verdicts = evaluate(bench)
        report = to_json(bench, verdicts, args)
    machine = report["machine"]
    print()
    print(
        f"trio_coord {machine['versions']['trio_coord']} on {machine['cpu']} "
        f"({machine['cpus_online']} CPUs), "
        f"Python {machine['python']}, task-sdk {machine['versions']['apache-airflow-task-sdk']}; "
        f"{args.rounds} rounds{' (quick)' if args.quick else ''}; "
        f"pinned figures: client and server on CPU {args.cpu}"
    )
    loads = [f"{load[0]:.2f}" for _, load in bench.load]
    print(f"load average (1 min) during the run: {', '.join(loads)}")
    print()
    print(render_table(bench, verdicts))
    print()
    for figure in figures:
        if figure.note:
            print(f"{figure.key}: {figure.note}")
        extra = [v for v in figure.variants[1:] if v not in (TRIO, PEER)]
        res = bench.results[figure.key]
        medians = [
            f"{v} {_fmt(figure, summary(res.metric('value', v))['median'])} {figure.unit}"
            for v in extra
            if res.metric("value", v)
        ]
        if medians:
            print(f"{figure.key} other variants (medians): {', '.join(medians)}")
        if figure.base is not None:
            base_vs_floor = _ratio(res, figure.base, figure.variants[0])
            print(f"{figure.key} {figure.base}/{figure.variants[0]} per round: {_ratio_text(base_vs_floor)}")
    print()
    print("every target, per round (median [min-max]):")
    for v in verdicts:
        print(
            f"  {v['figure']:5} {v['target']:32} {_ratio_text(v['per_round'])}  "
            f"{'PASS' if v['pass'] else 'FAIL'}"
        )
    print(
        "ratios are per round (median [min-max]); "
        "x better than peer = peer time / trio_coord time, or trio_coord rate / peer rate"
    )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {out}")
    failed = [v for v in verdicts if not v["pass"]]
    if failed:
        print(
            f"{len(failed)} of {len(verdicts)} targets missed: "
            + "; ".join(f"{v['figure']} {v['target']}" for v in failed)
        )
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
