"""`yichuang serve` with pyinstrument on call: SIGUSR1 starts sampling the main thread, SIGUSR2 stops and saves.

    .venv/bin/python bench/profiled_serve.py OUTPUT.pyisession serve --port 8080

bench/load.py uses it for `--profile`, so the profile covers the measured load only (not start-up or warm-up).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

from pyinstrument import Profiler

from bot.cli import main

INTERVAL_SECONDS = 0.0005


def install(output: Path) -> None:
    """Handlers for SIGUSR1 (start) and SIGUSR2 (stop and save)."""
    profiler = Profiler(interval=INTERVAL_SECONDS, async_mode="disabled")

    def start(_signum: int, _frame: FrameType | None) -> None:
        if not profiler.is_running:
            profiler.start()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        if profiler.is_running:
            session = profiler.stop()
            session.save(str(output))
            print(f"profile saved to {output}", flush=True)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


if __name__ == "__main__":
    install(Path(sys.argv[1]))
    main(sys.argv[2:])
