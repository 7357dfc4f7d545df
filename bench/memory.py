"""Start-up time and memory per worker, with and without the Guangdong catalogue (reported, never a timed test).

    .venv/bin/python bench/memory.py [--workers 1 2] [--turns 300] [--database-url …] [--redis-url …]

For each case a fresh data dir (and an emptied `bench_load` database and Redis db 11 for two workers): the
YAML seed is loaded and, for the catalogue rows, the 2,262 Guangdong items are imported into SQL as a deployment
does (`yichuang kb load`, `yichuang kb import items.jsonl`). Then the server is started twice: the first
start trains the NLU model into data/models ("cold"), the second loads it ("warm", a normal restart). Start-up
is from launching `yichuang serve` to every worker's ready line. RSS is each worker's resident memory at ready
and after `--turns` mixed turns (bench/load.py's scripts); the embedded Redis server is reported apart.
One worker runs on the embedded defaults; two workers need PostgreSQL + Redis.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Server, load_average, load_catalogue, machine, make_backend, rss_mb
from load import drive, load_scripts


def measure(workers: int, catalogue: bool, turns: int, database_url: str | None, redis_url: str | None) -> str:
    """One table row: cold and warm start-up, RSS per worker at the first start's ready, at a restart's ready
    and after the turns."""
    backend = make_backend("embedded" if workers == 1 else "server", database_url, redis_url)
    if catalogue:
        load_catalogue(backend)
    cold = Server(backend, workers)
    cold_seconds = cold.start()
    try:
        first = rss_mb(cold.processes())
    finally:
        cold.stop()
    server = Server(backend, workers)
    warm_seconds = server.start()
    try:
        ready = rss_mb(server.processes())
        drive(server, load_scripts(), users=32, clients=1, max_turns=turns, duration=60, rate=None)
        after = rss_mb(server.processes())
        redis = server.redis_process()
        redis_mb = f"{redis.memory_info().rss / 2**20:.0f}" if redis else "–"
    finally:
        server.stop()
    kb = "seed + 2,262 Guangdong items" if catalogue else "seed only (57 items)"
    return (f"| {backend.label} | {workers} | {kb} | {cold_seconds:.1f} | {warm_seconds:.1f} | "
            f"{_per_worker(first)} | {_per_worker(ready)} | {_per_worker(after)} | {redis_mb} |")


def _per_worker(rss: list[float]) -> str:
    return " / ".join(f"{r:.0f}" for r in rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    print(f"machine {machine()}, load average {load_average()}, date {time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| backend | workers | knowledge base | start-up cold s | start-up warm s | RSS at first ready MB | "
          f"RSS at ready MB | RSS after {args.turns} turns MB | embedded Redis MB |\n" + "|---" * 9 + "|", flush=True)
    for workers in args.workers:
        for catalogue in (False, True):
            print(measure(workers, catalogue, args.turns, args.database_url, args.redis_url), flush=True)


if __name__ == "__main__":
    main()
