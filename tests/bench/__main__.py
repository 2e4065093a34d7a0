"""``python -m tests.bench``: run the benchmarks (see runner.py)."""

from __future__ import annotations

import sys

from tests.bench.runner import main

sys.exit(main())
