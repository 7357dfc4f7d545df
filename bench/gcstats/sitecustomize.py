"""Garbage-collector pauses of a server process, written to /tmp/yichuang-gc.<pid>.txt when it exits.

    PYTHONPATH=bench/gcstats .venv/bin/python bench/load.py --backend server --duration 30
    cat /tmp/yichuang-gc.*.txt

Python imports `sitecustomize` at start-up from the path, so every process started with this PYTHONPATH
(`bench/load.py` passes its environment to the server it starts) times each collection with `gc.callbacks`;
only processes running `serve` write a report: per generation the count, total and longest pause, and each
full (generation 2) collection with the seconds since start, its pause in ms and the objects it freed.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import time
from collections import defaultdict
from typing import Any

if "serve" in sys.argv[1:]:
    _START = time.perf_counter()
    _totals: dict[int, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    _full: list[tuple[float, float, int]] = []
    _began = [0.0]

    def _timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _began[0] = time.perf_counter()
            return
        took = time.perf_counter() - _began[0]
        totals = _totals[info["generation"]]
        totals[0] += 1
        totals[1] += took
        totals[2] = max(totals[2], took)
        if info["generation"] == 2:
            _full.append((round(time.perf_counter() - _START, 1), round(took * 1000, 1), info["collected"]))

    def _report() -> None:
        with open(f"/tmp/yichuang-gc.{os.getpid()}.txt", "w", encoding="utf-8") as out:
            for generation, (count, total, longest) in sorted(_totals.items()):
                out.write(f"generation {generation}: {count:.0f} collections, {total * 1000:.0f} ms in all, "
                          f"longest {longest * 1000:.1f} ms\n")
            out.write(f"full collections (s since start, ms, freed): {_full}\n")
            out.write(f"frozen at start-up: {gc.get_freeze_count()} objects; threshold {gc.get_threshold()}\n")

    gc.callbacks.append(_timed)
    atexit.register(_report)
