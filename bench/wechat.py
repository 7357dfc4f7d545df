"""The WeChat endpoint in safe mode (AES) under load, with WeChat's retries (reported, never a timed test).

    .venv/bin/python bench/wechat.py [--backend embedded|server] [--workers N] [--users 32] [--messages 10000]
                                     [--duration 30] [--retry-share 0.2] [--clients 1] [--profile F.pyisession]

Virtual followers run the scripts of bench/data/conversations.yml as WeChat pushes them: each message signed,
encrypted with the EncodingAESKey (Tencent's sample keys) and posted to `POST /wechat?encrypt_type=aes`. A share
of the messages is sent again with the same MsgId, 2 or 3 more times, while the first is still running or just
after (WeChat retries when it has no answer within 5 s), so they race on the engine's de-duplication. WeChat's
API cannot be reached: the server's customer-service calls go to the fake of tests/channels/wechat_fake.py,
served here on 127.0.0.1. Afterwards the turn log is read: every distinct (follower, MsgId) must have exactly
one turn (duplicates and missing turns are counted).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import Backend, ClientPool, Server, cpu_seconds, load_average, machine, make_backend, percentile
from load import Script, load_scripts, phone

from tests.channels.wechat_fake import (
    APP_SECRET,
    SAMPLE_AES_KEY,
    SAMPLE_APP_ID,
    SAMPLE_TOKEN,
    FakeWeChat,
    signed_query,
    text_xml,
)

REQUEST_TIMEOUT = 30.0


class FakeWeChatThread:
    """The fake WeChat API served on 127.0.0.1 from a thread with its own event loop."""

    def __init__(self) -> None:
        self.port = 0
        self.state: FakeWeChat | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-wechat", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.state = FakeWeChat()
        runner = web.AppRunner(self.state.app(), access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def start(self) -> str:
        """Start; returns the base URL."""
        self._thread.start()
        self._ready.wait(10)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the loop and the thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@dataclass
class Plan:
    """What one client process does."""

    index: int
    url: str
    scripts: list[Script]
    users: int
    max_messages: int
    duration: float
    retry_share: float
    seed: int


@dataclass
class Result:
    """What one client process measured."""

    latencies_ms: list[float] = field(default_factory=list)  # every request, retries included
    errors: Counter[str] = field(default_factory=Counter)
    sent: set[tuple[str, str]] = field(default_factory=set)  # distinct (user_id, MsgId)
    requests: int = 0
    retried: int = 0
    passive: int = 0  # requests answered with a reply (not "success")
    elapsed: float = 0.0
    cpu_seconds: float = 0.0


async def run_client(plan: Plan, go: Any) -> Result:
    """Followers run conversations until the message quota or the time is used up."""
    result = Result()
    rng = random.Random(plan.seed)
    crypto = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APP_ID)
    weights = [s.weight for s in plan.scripts]
    messages = 0
    msg_ids = iter(range(plan.index * 10**12 + 1, (plan.index + 1) * 10**12))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as http:
        await asyncio.to_thread(go.wait)
        started = time.perf_counter()
        deadline = started + plan.duration

        async def send(openid: str, content: str, msg_id: int, delay: float) -> None:
            if delay:
                await asyncio.sleep(delay)
            nonce, ts = str(rng.randrange(10**9)), int(time.time())
            body = crypto.encrypt_message(text_xml(openid, content, msg_id, create_time=ts), nonce, ts)
            msg_signature = body.split("<MsgSignature><![CDATA[", 1)[1].split("]]>", 1)[0]
            query = {**signed_query(nonce=nonce, timestamp=ts, openid=openid), "encrypt_type": "aes",
                     "msg_signature": msg_signature}
            begin = time.perf_counter()
            try:
                async with http.post(f"{plan.url}/wechat", params=query, data=body.encode()) as resp:
                    status, text = resp.status, await resp.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.errors[type(exc).__name__] += 1
                return
            result.latencies_ms.append((time.perf_counter() - begin) * 1000)
            result.requests += 1
            if status != 200:
                result.errors[f"HTTP {status}"] += 1
            elif text != "success":
                result.passive += 1

        async def follower(number: int) -> None:
            nonlocal messages
            conversation = 0
            while messages < plan.max_messages and time.perf_counter() < deadline:
                conversation += 1
                script = rng.choices(plan.scripts, weights)[0]
                openid = f"o-bench-{plan.index}-{number}-{conversation}"
                mobile = phone(rng)
                for turn in script.turns:
                    if messages >= plan.max_messages or time.perf_counter() >= deadline:
                        return
                    messages += 1
                    msg_id = next(msg_ids)
                    result.sent.add((f"wechat:{openid}", str(msg_id)))
                    content = turn.text.replace("{phone}", mobile)
                    sends = [send(openid, content, msg_id, 0.0)]
                    if rng.random() < plan.retry_share:
                        result.retried += 1
                        # WeChat's retries: the same MsgId again, racing the first run or just after it.
                        retries = rng.choice((2, 3))
                        sends += [send(openid, content, msg_id, rng.uniform(0, 0.03)) for _ in range(retries)]
                    await asyncio.gather(*sends)

        await asyncio.gather(*(follower(n) for n in range(plan.users)))
        result.elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = usage.ru_utime + usage.ru_stime
    return result


async def turns_per_message(backend: Backend) -> Counter[tuple[str, str]]:
    """How many turns the log holds per WeChat (user_id, msg_id)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    url = backend.database_url or f"sqlite+aiosqlite:///{(backend.data_dir / 'yichuang.db').resolve()}"
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT user_id, msg_id, count(*) FROM turn WHERE channel = 'wechat' "
                                        "GROUP BY user_id, msg_id"))).all()
    await engine.dispose()
    return Counter({(str(u), str(m)): int(n) for u, m, n in rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "server"), default="embedded")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--messages", type=int, default=10_000, help="at most this many distinct messages")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--retry-share", type=float, default=0.2, help="share of messages WeChat retries")
    parser.add_argument("--profile", type=Path, help="run the server under pyinstrument; session saved here")
    args = parser.parse_args()
    if args.workers > 1 and args.backend == "embedded":
        parser.error("--workers > 1 needs --backend server")
    if args.profile and args.workers > 1:
        parser.error("--profile profiles one worker")
    if not 1 <= args.clients <= args.users or args.messages <= 0 or args.duration <= 0:
        parser.error("need 1 ≤ --clients ≤ --users and positive --messages and --duration")

    fake = FakeWeChatThread()
    api_base = fake.start()
    backend = make_backend(args.backend, args.database_url, args.redis_url, YICHUANG_WECHAT_TOKEN=SAMPLE_TOKEN,
                           YICHUANG_WECHAT_APP_ID=SAMPLE_APP_ID, YICHUANG_WECHAT_APP_SECRET=APP_SECRET,
                           YICHUANG_WECHAT_AES_KEY=SAMPLE_AES_KEY, YICHUANG_WECHAT_API_BASE=api_base)
    wrap = None
    if args.profile:
        args.profile.parent.mkdir(parents=True, exist_ok=True)
        wrap = [sys.executable, str(Path(__file__).parent / "profiled_serve.py"), str(args.profile.resolve())]
    server = Server(backend, args.workers, wrap=wrap)
    started = server.start()
    print(f"{backend.label}, {args.workers} worker(s), WeChat safe mode, ready in {started:.1f} s; machine "
          f"{machine()}, load average {load_average()}; date {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    scripts = load_scripts()
    plans = [Plan(i, server.url, scripts, args.users // args.clients + (i < args.users % args.clients),
                  args.messages // args.clients + (i < args.messages % args.clients), args.duration,
                  args.retry_share, 40 + i) for i in range(args.clients)]
    try:
        clients = ClientPool.start(run_client, plans, "wechat-client")
        workers = server.processes()
        time.sleep(0.5)
        cpu_before = cpu_seconds(workers)
        if args.profile:
            server.signal(signal.SIGUSR1)
        clients.go.set()
        results = clients.results(args.duration + 120)
        server_cpu = cpu_seconds(workers) - cpu_before
        if args.profile:
            server.signal(signal.SIGUSR2)
            server.wait_for_output("profile saved to", 60)
        time.sleep(1.0)  # pushes of the last turns
    finally:
        code = server.stop()
        fake.stop()
    if code not in (0, -15) or "Traceback" in server.output:
        print(f"server exited with {code}; output:\n{server.output[-3000:]}")
    elapsed = max(r.elapsed for r in results)
    latencies = sorted(x for r in results for x in r.latencies_ms)
    errors = sum((r.errors for r in results), Counter())
    sent = set().union(*(r.sent for r in results))
    requests, retried, passive = (sum(r.requests for r in results), sum(r.retried for r in results),
                                  sum(r.passive for r in results))
    logged = asyncio.run(turns_per_message(backend))
    duplicates = sum(n - 1 for n in logged.values() if n > 1)
    missing = len([m for m in sent if m not in logged])
    pushes = len(fake.state.called("/cgi-bin/message/custom/send")) if fake.state else 0
    print("\n| backend | workers | messages | + retries | requests/s | distinct msgs/s | p50 ms | p99 ms | errors | "
          "duplicate turns | missing turns | server cores | client cores |")
    print("|---" * 13 + "|")
    print(f"| {backend.label} | {args.workers} | {len(sent)} | {requests - len(sent)} ({retried} msgs) | "
          f"{requests / elapsed:.0f} | {len(sent) / elapsed:.0f} | {percentile(latencies, .5):.1f} | "
          f"{percentile(latencies, .99):.1f} | {sum(errors.values())} | {duplicates} | {missing} | "
          f"{server_cpu / elapsed:.2f} | {sum(r.cpu_seconds for r in results) / elapsed:.2f} |")
    print(f"\npassive replies: {passive} of {requests} requests; customer-service messages to the fake: {pushes}; "
          f"load average {load_average()}")
    if errors:
        print(f"errors: {dict(errors)}")


if __name__ == "__main__":
    main()
