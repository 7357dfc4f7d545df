"""Mixed conversations through `POST /api/v1/messages`: throughput, latency, errors (reported, never a timed test).

    .venv/bin/python bench/load.py [--backend embedded|server] [--workers N] [--users 32] [--turns 20000]
                                   [--duration 60] [--clients 1] [--rasa-url http://127.0.0.1:5005]
    .venv/bin/python bench/load.py --rate 300 --duration 600        # soak: fixed arrival rate, RSS and connections
    .venv/bin/python bench/load.py --check                          # each script once, flows checked
    .venv/bin/python bench/load.py --profile bench/profiles/before  # the server under pyinstrument

The server is started here as a real process (`yichuang serve`) on a fresh data dir (the server backend's
database and Redis db are emptied first), with the per-user and per-IP message limits raised for the
benchmark. Virtual users run the scripts of bench/data/conversations.yml (weighted), each conversation as
a new visitor, each turn with its own msg_id. Closed loop by default (each user sends its next turn as soon
as the reply arrives: the most the server can do); with `--rate` an open loop at a fixed arrival rate,
latency counted from the scheduled send time. An error is a non-200 answer, a failed request or a turn
without a reply. Every loop is bounded by `--turns` and `--duration`, and only 127.0.0.1 is targeted.

With `--rasa-url`, the same texts are then sent to Rasa's `/model/parse` with the same concurrency and the
ratio of full turns per second to Rasa parses per second is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    Backend,
    ClientPool,
    Server,
    backend_connections,
    cpu_seconds,
    load_average,
    load_catalogue,
    machine,
    make_backend,
    open_files,
    percentile,
    rss_mb,
)

from core.yamlfile import load_yaml

SCRIPTS = Path(__file__).parent / "data" / "conversations.yml"
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Turn:
    """One message of a script and the flow that should answer it."""

    text: str
    flow: str | None


@dataclass(frozen=True)
class Script:
    """One visitor's conversation."""

    name: str
    kind: str
    weight: float
    turns: tuple[Turn, ...]


def load_scripts(path: Path = SCRIPTS) -> list[Script]:
    """The conversation scripts of the YAML file."""
    return [Script(str(s["name"]), str(s["kind"]), float(s.get("weight", 1)),
                   tuple(Turn(str(t["text"]), t.get("flow")) for t in s["turns"]))
            for s in load_yaml(path)["scripts"]]


def phone(rng: random.Random) -> str:
    """A made-up mobile number (so each complaint is its own case)."""
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


@dataclass
class ClientPlan:
    """What one client process does."""

    index: int
    url: str
    scripts: list[Script]
    users: int
    max_turns: int
    duration: float
    rate: float | None
    seed: int


@dataclass
class ClientResult:
    """What one client process measured."""

    latencies_ms: list[float] = field(default_factory=list)
    by_turn: dict[str, list[float]] = field(default_factory=dict)  # "script #n text" → latencies
    errors: Counter[str] = field(default_factory=Counter)
    off_script: Counter[str] = field(default_factory=Counter)
    conversations: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    behind_ms: float = 0.0  # rate mode: how late the last send was against its schedule


class Pacer:
    """Hands out send times at a fixed rate (open loop); a late caller gets its slot's time anyway."""

    def __init__(self, rate: float, start: float) -> None:
        self._interval, self._start, self._next = 1.0 / rate, start, 0

    async def slot(self) -> float:
        """Wait for the next slot; returns its scheduled time (perf_counter)."""
        when = self._start + self._next * self._interval
        self._next += 1
        delay = when - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        return when


async def run_client(plan: ClientPlan, go: Any) -> ClientResult:
    """Run the plan's virtual users until the turn quota or the time is used up."""
    result = ClientResult()
    rng = random.Random(plan.seed)
    weights = [s.weight for s in plan.scripts]
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    sent = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:
        await asyncio.to_thread(go.wait)
        started = time.perf_counter()
        deadline = started + plan.duration
        pacer = Pacer(plan.rate, started) if plan.rate else None

        def more() -> bool:
            return sent < plan.max_turns and time.perf_counter() < deadline

        async def user(number: int) -> None:
            nonlocal sent
            seq = 0
            while more():
                script = rng.choices(plan.scripts, weights)[0]
                try:
                    async with http.post(f"{plan.url}/api/v1/sessions") as resp:
                        token = (await resp.json())["token"]
                        result.sessions += 1
                except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
                    result.errors[f"session: {type(exc).__name__}"] += 1
                    await asyncio.sleep(0.1)
                    continue
                headers = {"Authorization": f"Bearer {token}"}
                mobile = phone(rng)
                result.conversations[script.kind] += 1
                for position, turn in enumerate(script.turns, 1):
                    if not more():
                        return
                    sent += 1
                    seq += 1
                    body = {"text": turn.text.replace("{phone}", mobile), "msg_id": f"b{plan.index}-{number}-{seq}"}
                    begin = await pacer.slot() if pacer else time.perf_counter()
                    if pacer:
                        result.behind_ms = max(0.0, (time.perf_counter() - begin) * 1000)
                    try:
                        async with http.post(f"{plan.url}/api/v1/messages", json=body, headers=headers) as resp:
                            status = resp.status
                            data = await resp.json(content_type=None) if status == 200 else None
                    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                        result.errors[type(exc).__name__] += 1
                        break
                    took = (time.perf_counter() - begin) * 1000
                    result.latencies_ms.append(took)
                    result.by_turn.setdefault(f"{script.name} #{position} «{turn.text}»", []).append(took)
                    if status != 200:
                        result.errors[f"HTTP {status}"] += 1
                        break
                    if not isinstance(data, dict) or not data.get("replies"):
                        result.errors["no reply"] += 1
                        continue
                    if turn.flow and data.get("flow") != turn.flow:
                        result.off_script[f"{script.name} «{turn.text}» → {data.get('flow')}"] += 1

        await asyncio.gather(*(user(n) for n in range(plan.users)))
        result.elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = usage.ru_utime + usage.ru_stime
    return result


@dataclass
class LoadResult:
    """The merged results of all clients, with what the server used meanwhile."""

    turns: int
    elapsed: float
    latencies_ms: list[float]
    by_turn: dict[str, list[float]]
    errors: Counter[str]
    off_script: Counter[str]
    conversations: Counter[str]
    client_cpu: float
    server_cpu: float
    redis_cpu: float
    behind_ms: float

    @property
    def rate(self) -> float:
        """Turns per second."""
        return self.turns / self.elapsed if self.elapsed else 0.0


def drive(server: Server, scripts: list[Script], *, users: int, clients: int, max_turns: int, duration: float,
          rate: float | None, seed: int = 9) -> LoadResult:
    """Run the virtual users in `clients` processes against the server; returns the merged measurements."""
    plans = [ClientPlan(i, server.url, scripts, users // clients + (i < users % clients),
                        max_turns // clients + (i < max_turns % clients), duration,
                        rate / clients if rate else None, seed + i) for i in range(clients)]
    clients_pool = ClientPool.start(run_client, plans, "load-client")
    workers = server.processes()
    redis = server.redis_process()
    time.sleep(0.5)  # the clients have made their HTTP sessions
    cpu_before, redis_before = cpu_seconds(workers), cpu_seconds([redis] if redis else [])
    clients_pool.go.set()
    results = clients_pool.results(duration + 120)
    server_cpu = cpu_seconds(workers) - cpu_before
    redis_cpu = cpu_seconds([redis] if redis else []) - redis_before
    merged = LoadResult(0, max(r.elapsed for r in results), [], {}, Counter(), Counter(), Counter(),
                        sum(r.cpu_seconds for r in results), server_cpu, redis_cpu, max(r.behind_ms for r in results))
    for r in results:
        merged.latencies_ms += r.latencies_ms
        for name, values in r.by_turn.items():
            merged.by_turn.setdefault(name, []).extend(values)
        merged.errors += r.errors
        merged.off_script += r.off_script
        merged.conversations += r.conversations
    merged.turns = len(merged.latencies_ms)
    merged.latencies_ms.sort()
    return merged


def row(label: str, workers: int, users: int, result: LoadResult) -> str:
    """One Markdown table row."""
    lat = result.latencies_ms
    errors = sum(result.errors.values())
    cores = f"{result.server_cpu / result.elapsed:.2f}"
    if result.redis_cpu:
        cores += f" (+{result.redis_cpu / result.elapsed:.2f} redis)"
    return (f"| {label} | {workers} | {users} | {result.turns} | {result.rate:.0f} | {percentile(lat, .5):.1f} | "
            f"{percentile(lat, .95):.1f} | {percentile(lat, .99):.1f} | {errors} | {sum(result.off_script.values())} | "
            f"{cores} | {result.client_cpu / result.elapsed:.2f} |")


HEADER = ("| backend | workers | users | turns | turns/s | p50 ms | p95 ms | p99 ms | errors | off script | "
          "server cores | client cores |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


async def rasa_parse_rate(url: str, texts: list[str], users: int, duration: float) -> tuple[int, float, list[float]]:
    """Send `texts` to Rasa's /model/parse with `users` concurrent callers; (parses, seconds, sorted latencies)."""
    latencies: list[float] = []
    queue = list(reversed(texts))
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:
        for text in texts[:min(20, len(texts))]:  # warm up
            async with http.post(f"{url}/model/parse", json={"text": text}) as resp:
                await resp.read()
        started = time.perf_counter()
        deadline = started + duration

        async def caller() -> None:
            while queue and time.perf_counter() < deadline:
                text = queue.pop()
                begin = time.perf_counter()
                async with http.post(f"{url}/model/parse", json={"text": text}) as resp:
                    resp.raise_for_status()
                    await resp.json()
                latencies.append((time.perf_counter() - begin) * 1000)

        await asyncio.gather(*(caller() for _ in range(users)))
        elapsed = time.perf_counter() - started
    return len(latencies), elapsed, sorted(latencies)


def sample_texts(scripts: list[Script], count: int, seed: int = 9) -> list[str]:
    """`count` turn texts in the proportions the virtual users send them."""
    rng = random.Random(seed)
    weights = [s.weight for s in scripts]
    texts: list[str] = []
    while len(texts) < count:
        script = rng.choices(scripts, weights)[0]
        mobile = phone(rng)
        texts += [t.text.replace("{phone}", mobile) for t in script.turns]
    return texts[:count]


async def rasa_reachable(url: str) -> str | None:
    """None when Rasa answers with a loaded model, else why not."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, \
                http.get(f"{url}/status") as resp:
            if resp.status != 200:
                return f"{url}/status answered HTTP {resp.status}"
            if not (await resp.json()).get("model_file"):
                return f"{url} has no model loaded"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"{url} unreachable ({type(exc).__name__})"
    return None


def check(server: Server, scripts: list[Script]) -> None:
    """Run every script once, in order, and print each turn's flow against the expected one."""
    async def run() -> None:
        async with aiohttp.ClientSession() as http:
            for n, script in enumerate(scripts):
                async with http.post(f"{server.url}/api/v1/sessions") as resp:
                    headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
                for i, turn in enumerate(script.turns):
                    body = {"text": turn.text.replace("{phone}", "13912345678"), "msg_id": f"check-{n}-{i}"}
                    async with http.post(f"{server.url}/api/v1/messages", json=body, headers=headers) as resp:
                        data = await resp.json()
                    ok = "ok " if data.get("flow") == turn.flow else "OFF"
                    first = (data["replies"] or [{"text": "(no reply)"}])[0]["text"].split("\n")[0][:60]
                    print(f"{ok} {script.name:<26} {turn.text:<24} → {data.get('flow')}: {first}")
    asyncio.run(run())


def redis_commands(backend: Backend) -> dict[str, int]:
    """Calls per command so far on the embedded Redis (INFO commandstats); empty for a shared server."""
    if backend.kind != "embedded":
        return {}
    import redis

    client = redis.Redis(unix_socket_path=str(backend.data_dir / "redis.socket"))
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def soak_probe(server: Server, backend: Backend) -> dict[str, float]:
    """RSS (MiB, sum over workers), fds, TCP sockets (HTTP clients, PostgreSQL, Redis server) and unix sockets
    (embedded Redis) of the workers, and the connections PostgreSQL and Redis see, right now.
    """
    workers = server.processes()
    fds, tcp, unix = open_files(workers)
    pg, redis = asyncio.run(backend_connections(backend))
    probe = {"rss": round(sum(rss_mb(workers)), 1), "fds": fds, "tcp": tcp, "unix": unix}
    if pg is not None and redis is not None:
        probe |= {"pg": pg, "redis": redis}
    return probe


def print_slowest_turns(by_turn: dict[str, list[float]], count: int) -> None:
    """The `count` script turns with the highest p95 latency, as a table."""
    print("\n| turn | count | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
    ranked = sorted(by_turn.items(), key=lambda kv: -percentile(sorted(kv[1]), .95))
    for name, values in ranked[:count]:
        values = sorted(values)
        print(f"| {name} | {len(values)} | {percentile(values, .5):.1f} | {percentile(values, .95):.1f} | "
              f"{percentile(values, .99):.1f} |")


def soak(server: Server, backend: Backend, scripts: list[Script], args: argparse.Namespace) -> None:
    """Fixed arrival rate for the duration, in slices; resources probed after a warm-up slice and at the end."""
    warmup = min(30.0, args.duration / 10)
    first = drive(server, scripts, users=args.users, clients=args.clients, max_turns=int(args.rate * warmup * 2),
                  duration=warmup, rate=args.rate)
    start = soak_probe(server, backend)
    print(f"after {warmup:.0f} s warm-up: {first.rate:.0f} turns/s, {start}")
    results: list[LoadResult] = []
    left, slice_seconds = args.duration - warmup, min(120.0, args.duration)
    while left > 0:
        length = min(slice_seconds, left)
        result = drive(server, scripts, users=args.users, clients=args.clients,
                       max_turns=int(args.rate * length * 2), duration=length, rate=args.rate, seed=len(results) + 20)
        results.append(result)
        left -= length
        probe = soak_probe(server, backend)
        p99 = percentile(result.latencies_ms, .99)
        print(f"  +{args.duration - left:.0f} s: {result.rate:.0f} turns/s, p99 {p99:.1f} ms, errors "
              f"{sum(result.errors.values())}, late by {result.behind_ms:.0f} ms, {probe}", flush=True)
    end = soak_probe(server, backend)
    turns = sum(r.turns for r in results)
    elapsed = sum(r.elapsed for r in results)
    errors = sum((r.errors for r in results), Counter())
    latencies = sorted(x for r in results for x in r.latencies_ms)
    p50, p99 = percentile(latencies, .5), percentile(latencies, .99)
    # At a fixed rate below saturation the workers' CPU time per turn is the steadier measure of a change's
    # cost: throughput at saturation moves ±10% between runs on a shared machine.
    cpu_ms = sum(r.server_cpu for r in results) / max(turns, 1) * 1000
    print(f"\nsoak: {turns} turns in {elapsed:.0f} s = {turns / elapsed:.0f} turns/s (target rate {args.rate:.0f}); "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; errors {sum(errors.values())} {dict(errors) or ''}; "
          f"server CPU {cpu_ms:.2f} ms per turn")
    print("\n| resource | after warm-up | end | growth |\n|---|---|---|---|")
    for name, before in start.items():
        after = end[name]
        growth = f"{(after - before) / before:+.1%}" if before else f"{after - before:+.0f}"
        print(f"| {name} | {before:.0f} | {after:.0f} | {growth} |")
    if args.by_turn:
        by_turn: dict[str, list[float]] = {}
        for result in results:
            for name, values in result.by_turn.items():
                by_turn.setdefault(name, []).extend(values)
        print_slowest_turns(by_turn, args.by_turn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "server"), default="embedded")
    parser.add_argument("--database-url", help="server backend (default: bench_load on 127.0.0.1)")
    parser.add_argument("--redis-url", help="server backend (default: redis://127.0.0.1:6379/11)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--users", type=int, default=32, help="concurrent virtual users")
    parser.add_argument("--clients", type=int, default=1, help="load client processes")
    parser.add_argument("--turns", type=int, default=20_000, help="at most this many turns")
    parser.add_argument("--duration", type=float, default=30.0, help="at most this many seconds of load")
    parser.add_argument("--warmup", type=int, default=500, help="turns sent first and not counted")
    parser.add_argument("--rate", type=float, help="soak: fixed arrival rate (turns/s) for --duration seconds")
    parser.add_argument("--catalogue", action="store_true", help="load the Guangdong catalogue first")
    parser.add_argument("--rasa-url", help="also time Rasa's /model/parse on the same texts")
    parser.add_argument("--rasa-parses", type=int, default=3000)
    parser.add_argument("--by-turn", type=int, default=0, metavar="N", help="show the N slowest script turns (p95)")
    parser.add_argument("--server-env", action="append", default=[], metavar="YICHUANG_X=value",
                        help="a setting for the server (the bench's own environment passes no YICHUANG_*)")
    parser.add_argument("--check", action="store_true", help="run each script once and show the flows")
    parser.add_argument("--profile", type=Path, help="run the server under pyinstrument; session saved here")
    parser.add_argument("--code", type=Path, help="run the server from this checkout of the app (e.g. an older "
                        "commit exported with git archive) for before/after comparisons")
    args = parser.parse_args()
    if args.turns <= 0 or args.duration <= 0 or args.users <= 0 or not 1 <= args.clients <= args.users:
        parser.error("--turns, --duration and --users must be positive, 1 ≤ --clients ≤ --users")
    if args.workers > 1 and args.backend == "embedded":
        parser.error("--workers > 1 needs --backend server (the embedded SQLite and Redis serve one process)")
    if args.profile and args.workers > 1:
        parser.error("--profile profiles one worker")

    scripts = load_scripts()
    settings = dict(item.partition("=")[::2] for item in args.server_env)
    if any(not name.startswith("YICHUANG_") for name in settings):
        parser.error("--server-env takes YICHUANG_NAME=value")
    backend = make_backend(args.backend, args.database_url, args.redis_url, **settings)
    if args.catalogue:
        load_catalogue(backend)
    wrap = None
    if args.profile:
        args.profile.parent.mkdir(parents=True, exist_ok=True)
        wrap = [sys.executable, str(Path(__file__).parent / "profiled_serve.py"), str(args.profile.resolve())]
    code_env = {"PYTHONPATH": str(args.code.resolve())} if args.code else None
    server = Server(backend, args.workers, wrap=wrap, extra_env=code_env)
    started = server.start()
    print(f"{backend.label}, {args.workers} worker(s), app from {args.code or 'this checkout'}, ready in "
          f"{started:.1f} s; machine {machine()}, "
          f"load average {load_average()}; date {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    try:
        if args.check:
            check(server, scripts)
            return
        if args.rate:
            soak(server, backend, scripts, args)
            return
        if args.warmup:
            drive(server, scripts, users=args.users, clients=1, max_turns=args.warmup, duration=60, rate=None)
        if args.profile:
            server.signal(signal.SIGUSR1)
        before = redis_commands(backend)
        result = drive(server, scripts, users=args.users, clients=args.clients, max_turns=args.turns,
                       duration=args.duration, rate=None)
        after = redis_commands(backend)
        if args.profile:
            server.signal(signal.SIGUSR2)
            server.wait_for_output("profile saved to", 60)
        rss = rss_mb(server.processes())
        print(f"\n{HEADER}\n{row(backend.label, args.workers, args.users, result)}")
        print(f"\nconversations: {dict(result.conversations)}; worker RSS after: "
              f"{', '.join(f'{r:.0f}' for r in rss)} MB; load average {load_average()}")
        if args.by_turn:
            print_slowest_turns(result.by_turn, args.by_turn)
        if after:
            calls = {name: (count - before.get(name, 0)) / result.turns for name, count in after.items()}
            busiest = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
            print(f"embedded Redis commands per turn: {sum(calls.values()):.1f} "
                  f"({', '.join(f'{name} {n:.1f}' for name, n in busiest)})")
        if result.errors:
            print(f"errors: {dict(result.errors)}")
        if result.off_script:
            print("off script (a different flow answered):")
            for what, count in result.off_script.most_common(8):
                print(f"  {count:>5}  {what}")
    finally:
        code = server.stop()
        if code not in (0, -15):
            print(f"server exited with {code}:\n{server.output[-2000:]}")
        if "Traceback" in server.output:
            print("server output has a Traceback:\n" + server.output[server.output.index("Traceback"):][:3000])
    if args.rasa_url:
        reason = asyncio.run(rasa_reachable(args.rasa_url))
        if reason:
            print(f"\nRasa skipped: {reason}")
            return
        texts = sample_texts(scripts, args.rasa_parses)
        parses, elapsed, lat = asyncio.run(rasa_parse_rate(args.rasa_url, texts, args.users, args.duration))
        rasa_rate = parses / elapsed
        print(f"\n| Rasa /model/parse | {args.users} callers | {parses} parses | {rasa_rate:.0f} parses/s | "
              f"p50 {percentile(lat, .5):.1f} ms | p99 {percentile(lat, .99):.1f} ms |")
        print(f"\nfull turns/s ÷ Rasa parses/s = {result.rate:.0f} ÷ {rasa_rate:.0f} = {result.rate / rasa_rate:.1f}×")
    elif not args.check and not args.rate:
        print("\nRasa comparison skipped: no --rasa-url (serve it with `make rasa`)")


if __name__ == "__main__":
    main()
