"""Start-up of packed bundles: ``python -m tests.bench.packed [--rounds N] [--concurrent N]``.

Packs ``startup_bundle.py`` twice, ``--installed`` and self-contained (the
default), and times each start as the supervisor sees it, process start to
the first frame (the T5 trial of runner.py), interleaving the variants round
by round:

* ``installed``: the launcher ``exec``\\ s this venv's Python with ``-m trio_coord._packed``;
* ``self-contained, warm``: the bundle's cache entry exists;
* ``self-contained, cold``: a fresh, empty cache directory every time (the
  first start on a worker: unzip every wheel, then run);
* N concurrent cold starts on one empty cache directory: the wall time until
  all N printed their manifest, and whether all succeeded.

Prints a table and the packed sizes; the target is warm <= 1.1x installed.
Results go to bench-results/packed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.bench.runner import HERE, Bench
from trio_coord._pack import pack

INSTALLED = "installed"
WARM = "self-contained, warm"
COLD = "self-contained, cold"
TARGET = 1.1


class PackedStarts:
    """Just enough of :class:`Bench` for its ``trial_start`` to launch packed files."""

    def __init__(self, work: Path, files: dict[str, Path]) -> None:
        self.cwd = work
        self.files = files
        self.caches = work / "caches"
        self.caches.mkdir(mode=0o700)
        self.warm_cache = self.caches / "warm"
        self.env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
        self.stderr_path = work / "stderr.log"
        self.stderr_log = self.stderr_path.open("wb")
        self.cold_runs = 0

    def trial_start(self, variant: str) -> dict[str, float]:
        """T5's trial (runner.py) on a packed file: process start to the first frame."""
        (start,) = Bench.run_starts(self, variant, 1)  # type: ignore[arg-type]  # duck-typed: env, cwd, stderr_*
        return start

    def stderr_tail(self, lines: int = 30) -> str:
        self.stderr_log.flush()
        return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])

    def _start_argv(self, variant: str, comm: int, logs: int) -> list[str]:
        flags = [f"--comm=127.0.0.1:{comm}", f"--logs=127.0.0.1:{logs}"]
        if variant == INSTALLED:
            self.env.pop("TRIO_COORD_CACHE_DIR", None)
            return [str(self.files[INSTALLED]), *flags]
        if variant == WARM:
            self.env["TRIO_COORD_CACHE_DIR"] = str(self.warm_cache)
        else:
            self.cold_runs += 1
            self.env["TRIO_COORD_CACHE_DIR"] = str(self.caches / f"cold-{self.cold_runs}")
        return [str(self.files[COLD]), *flags]

    def concurrent_cold(self, count: int) -> tuple[float, list[int]]:
        """Start ``count`` copies at once on one empty cache directory; (wall seconds, exit codes)."""
        env = {**os.environ, "TRIO_COORD_CACHE_DIR": str(self.caches / f"concurrent-{count}")}
        command = [str(self.files[COLD]), "--airflow-metadata", "--format", "json"]
        start = time.perf_counter()
        children = [
            subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr_log, env=env
            )
            for _ in range(count)
        ]
        try:
            codes = [child.wait(timeout=600) for child in children]
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        return time.perf_counter() - start, codes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.packed", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="starts per variant (default 15)")
    parser.add_argument("--concurrent", type=int, default=16, help="concurrent cold starts (default 16)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-packed-") as tmp:
        work = Path(tmp)
        bundle = f"{HERE / 'startup_bundle.py'}:bundle"
        installed = pack(bundle, work / "installed.bin", installed=True)
        contained = pack(bundle, work / "contained.bin")
        starts = PackedStarts(work, {INSTALLED: installed.path, COLD: contained.path})
        # Fill the warm cache once.
        subprocess.run(
            [str(contained.path), "--airflow-metadata"],
            env={**os.environ, "TRIO_COORD_CACHE_DIR": str(starts.warm_cache)},
            stdout=subprocess.DEVNULL,
            check=True,
            timeout=300,
        )
        results: dict[str, list[float]] = {INSTALLED: [], WARM: [], COLD: []}
        for variant in results:  # one warm-up start each (page cache, bytecode)
            starts.trial_start(variant)
        for round_ in range(args.rounds):
            for variant in results:
                results[variant].append(starts.trial_start(variant)["value"])
            print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)
        wall, codes = starts.concurrent_cold(args.concurrent)
        entry_size = sum(f.stat().st_size for f in starts.warm_cache.rglob("*") if f.is_file())
        starts.stderr_log.close()
        shutil.rmtree(starts.caches, ignore_errors=True)
    medians = {variant: statistics.median(values) for variant, values in results.items()}
    ratio = medians[WARM] / medians[INSTALLED]
    rows = [
        f"packed sizes: --installed {installed.size} bytes; self-contained {contained.size} bytes "
        f"({len(contained.embedded)} wheels); its cache entry {entry_size} bytes",
        f"start -> first frame, median of {args.rounds} (min-max), ms:",
    ]
    for variant, values in results.items():
        rows.append(
            f"  {variant:22} {medians[variant] * 1e3:7.1f}  ({min(values) * 1e3:.1f}-{max(values) * 1e3:.1f})"
        )
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    rows.append(f"warm / installed: {ratio:.2f}x (target <= {TARGET}x): {verdict}")
    ok = sum(code == 0 for code in codes)
    rows.append(
        f"{args.concurrent} concurrent cold starts on one empty cache: {ok}/{len(codes)} succeeded "
        f"in {wall:.2f} s"
    )
    print("\n".join(rows))
    out: dict[str, Any] = {
        "sizes": {"installed": installed.size, "self_contained": contained.size, "cache_entry": entry_size},
        "starts_s": results,
        "medians_s": medians,
        "warm_over_installed": ratio,
        "concurrent": {"count": args.concurrent, "succeeded": ok, "wall_s": wall},
    }
    Path("bench-results").mkdir(exist_ok=True)
    Path("bench-results/packed.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0 if ratio <= TARGET and ok == len(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
