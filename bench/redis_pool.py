"""What a Redis connection pool costs per command (reported, never a timed test).

    .venv/bin/python bench/redis_pool.py [--redis-url redis://127.0.0.1:6379/0] [--tasks 32] [--commands 2000]
                                         [--rounds 3]

Each round times the same GETs, `--tasks` coroutines at once, through redis-py's unbounded ConnectionPool, its
BlockingConnectionPool and the app's BoundedConnectionPool (core/redis.py), all allowed 50 connections.
The per-command difference is what a bound adds to each of a turn's Redis calls. A second table gives the
process CPU per turn of a turn's own two calls (TurnState.begin, which counts the message limits, and
finish), `--tasks` users at once, each with its own messages. Both on uvloop, as the server runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import redis.asyncio as aioredis
import uvloop

from bot.session import Session
from bot.turn_state import TurnState
from core.ratelimit import Budget
from core.redis import BoundedConnectionPool

LIMIT = 50


def make_pool(kind: str, url: str) -> aioredis.ConnectionPool:
    """A pool of `kind` on `url`."""
    if kind == "unbounded":
        return aioredis.ConnectionPool.from_url(url)
    if kind == "blocking":
        return aioredis.BlockingConnectionPool.from_url(url, max_connections=LIMIT, timeout=5)
    return BoundedConnectionPool.from_url(url, limit=LIMIT, wait_seconds=5)


async def microseconds_per_get(kind: str, url: str, tasks: int, commands: int) -> float:
    """Mean wall time of one GET through a pool of `kind`, with `tasks` coroutines sending at once."""
    client = aioredis.Redis.from_pool(make_pool(kind, url))
    try:
        await client.ping()

        async def send() -> None:
            for _ in range(commands):
                await client.get("bench:redis-pool")

        started = time.perf_counter()
        await asyncio.gather(*(send() for _ in range(tasks)))
        return (time.perf_counter() - started) / (tasks * commands) * 1e6
    finally:
        await client.aclose()


async def cpu_microseconds_per_turn(kind: str, url: str, users: int, turns: int) -> float:
    """Process CPU per turn of the begin (with the message limits) and finish calls through a pool of `kind`."""
    client = aioredis.Redis.from_pool(make_pool(kind, url))
    state = TurnState(client, lock_seconds=10, session_ttl_seconds=600, dedupe_ttl_seconds=600)
    try:
        await client.ping()

        async def user(number: int) -> None:
            user_id = f"bench:redis-pool:{kind}:{number}"
            for turn in range(turns):
                budget = Budget([("bench-user", user_id, 10**9, 60), ("bench-ip", "127.0.0.1", 10**9, 60)])
                begun = await state.begin(user_id, f"m{turn}", budget)
                await state.finish(begun, begun.session or Session(user_id, "web"), '{"replies": []}', 0)

        started = time.process_time()
        await asyncio.gather(*(user(n) for n in range(users)))
        return (time.process_time() - started) / (users * turns) * 1e6
    finally:
        await client.aclose()


def main() -> None:
    """Print a table: µs per GET for each pool and round."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--commands", type=int, default=2000, help="GETs per task")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kinds = ("unbounded", "blocking", "bounded")
    print("| round | " + " | ".join(f"{k} µs/GET" for k in kinds) + " |")
    print("|---" * (len(kinds) + 1) + "|")
    for round_no in range(1, args.rounds + 1):
        cells = [uvloop.run(microseconds_per_get(k, args.redis_url, args.tasks, args.commands)) for k in kinds]
        print(f"| {round_no} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    print()
    print("| round | " + " | ".join(f"{k} CPU µs/turn" for k in kinds) + " |")
    print("|---" * (len(kinds) + 1) + "|")
    for round_no in range(1, args.rounds + 1):
        cells = [uvloop.run(cpu_microseconds_per_turn(k, args.redis_url, args.tasks, args.commands // 10))
                 for k in kinds]
        print(f"| {round_no} | " + " | ".join(f"{c:.0f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
