"""Every operation of the published OpenAPI document, driven by schemathesis against a live server (issue 9):
no 5xx, every 4xx is the one JSON error shape with a Chinese message, and responses match their schemas.

The server is the real app (same factory as production) on 127.0.0.1 in a background thread, on this pass's
database and Redis. Schemathesis gets a valid visitor token and a logged-in admin's cookie and CSRF token, so
generated requests reach past 401. Generation is seeded and bounded, so every run sends the same requests.
"""

from __future__ import annotations

import asyncio
import gc
import re
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from bot.api_staff import COOKIE, CSRF_HEADER
from bot.app import create_app
from bot.meta import openapi_document
from bot.typedefs import STAFF, TICKETS
from core.settings import Settings
from tests.conftest import TEST_SECRET, clean_storage

T = TypeVar("T")

ADMIN, PASSWORD = "schema-admin", "correct horse battery staple"
MAX_EXAMPLES = 8  # per operation and generation mode: the whole module stays well under a minute
STREAMS = frozenset({"GET /api/v1/events", "GET /api/v1/agent/events"})  # server-sent events never end
CJK = re.compile(r"[\u4e00-\u9fff]")
TIMEOUT = 10  # seconds per request: a hung handler fails the test instead of stalling CI
COMPLAINT = {"phone": "13912345678", "happened": "窗口说租房合同没备案，跑了三趟取不出来",
             "item_name": "公积金租房提取"}

# Seeded, examples + coverage + fuzzing (positive and negative data); the stateful phase would chain calls
# across operations, which the bounded per-operation run does not need.
CONFIG = SchemathesisConfig.from_dict({
    "seed": 20240917,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
})
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)


@dataclass
class LiveServer:
    """The app listening on 127.0.0.1, and the credentials a client of it holds."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    user_id: str = ""
    case_no: str = ""
    ticket_id: int = 0
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.http.trust_env = False  # no proxy from the environment: requests go to 127.0.0.1 only

    def sign_in(self) -> None:
        """A visitor token and a fresh admin session (again after a generated logout ended it)."""
        visitor = self.http.post(f"{self.url}/api/v1/sessions", timeout=TIMEOUT).json()
        self.user_id = visitor["user_id"]
        login = self.http.post(f"{self.url}/api/v1/agent/login", json={"username": ADMIN, "password": PASSWORD},
                               timeout=TIMEOUT)
        assert login.status_code == 200, login.text
        self.headers = {"Authorization": f"Bearer {visitor['token']}", CSRF_HEADER: login.json()["csrf_token"]}
        self.cookies = {COOKIE: login.cookies[COOKIE]}


class _AppThread:
    """Runs the app's event loop in a thread, so schemathesis' blocking client can talk to it."""

    def __init__(self, app: web.Application) -> None:
        self.runner = web.AppRunner(app, shutdown_timeout=2)  # streams the test closed need not end by themselves
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="schema-app", daemon=True)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        """Run `coro` on the app's loop and wait (bounded) for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> str:
        """Start listening on a free port of 127.0.0.1; return the base URL."""
        self.thread.start()
        self.run(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.run(site.start())
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Shut the app down (cleanup contexts run), let what is still running on the loop end, end the thread."""
        try:
            self.run(self.runner.cleanup(), timeout=60)
        finally:
            self.run(_finish_remaining_tasks(), timeout=60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()


async def _finish_remaining_tasks(grace_seconds: float = 10) -> None:
    """Wait for the loop's other tasks to end, cancel those still running after `grace_seconds`, and close
    its async generators, so no task is destroyed pending with the closed loop.

    Not asyncio.run's way of cancelling every task at once: a handler that aiohttp's shutdown has just cancelled
    returns its database connection in a task of SQLAlchemy's own, and cancelling that one too leaves the
    connection checked out, for the garbage collector to find in some later test ("non-checked-in connection").
    """
    current = asyncio.current_task()
    remaining = [task for task in asyncio.all_tasks() if task is not current]
    if remaining:
        _, pending = await asyncio.wait(remaining, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_url: str, models_dir: Path
         ) -> Iterator[LiveServer]:
    """The app on clean storage with a visitor token and an admin session."""
    asyncio.run(clean_storage(database_url, redis_url))
    config = Settings(data_dir=tmp_path_factory.mktemp("schema") / "data", database_url=database_url,
                      redis_url=redis_url, secret_key=TEST_SECRET, auto_migrate=False, models_dir=models_dir,
                      sla_enabled=False, messages_per_user_minute=100_000, messages_per_ip_minute=100_000,
                      # The WeChat routes check signatures; nothing may leave this machine if one passed.
                      wechat_token="schematoken", wechat_app_id="wx-schema", wechat_app_secret="s" * 32,
                      wechat_api_base="http://127.0.0.1:9",
                      _env_file=None)  # type: ignore[call-arg]
    app = create_app(config)
    server = _AppThread(app)
    url = server.start()
    try:
        server.run(app[STAFF].add(ADMIN, PASSWORD, role="admin", windows=()))
        live = LiveServer(url)
        live.sign_in()
        # A case and a ticket, so generated staff actions on them get past 404 (their bodies are generated).
        filed = live.http.post(f"{url}/api/v1/cases", json=COMPLAINT, headers=live.headers, timeout=TIMEOUT)
        assert filed.status_code == 201, filed.text
        live.case_no = filed.json()["case_no"]
        ticket, _ = server.run(app[TICKETS].open(user_id=live.user_id, channel="web", window="公积金", reason="request",
                                                 summary="公积金提取", context={}, history=[("citizen", "转人工")]))
        live.ticket_id = ticket.id or 0
        yield live
        live.http.close()
    finally:
        server.stop()
        # A connection this server left checked out would be found by the garbage collector in whichever later
        # test it happened to run; collected here, the warning fails this module instead.
        gc.collect()


def assert_error_shape(content_type: str, body: Any) -> None:
    """A 4xx is JSON `{"error": {"code", "message"}}`, the message in Chinese."""
    assert content_type.startswith("application/json"), (content_type, body)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and CJK.search(error["message"]), body


def call_stream(case: schemathesis.Case, live: LiveServer) -> None:
    """An event stream is only opened: its status and headers are what a client sees at once."""
    kwargs = case.as_transport_kwargs(base_url=live.url, headers=live.headers)
    kwargs["cookies"] = {**(kwargs.get("cookies") or {}), **live.cookies}
    with live.http.request(**kwargs, stream=True, timeout=TIMEOUT) as response:
        assert response.status_code < 500, response.status_code
        if response.status_code >= 400:
            assert_error_shape(response.headers.get("Content-Type", ""), response.json())
        elif response.status_code == 200:
            assert response.headers["Content-Type"].startswith("text/event-stream")


@schema.parametrize()
@settings(deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_every_operation_answers_within_its_contract(case: schemathesis.Case, live: LiveServer) -> None:
    if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
        # Valid requests act on the seeded case and ticket rather than on numbers that do not exist.
        if "case_no" in (case.path_parameters or {}):
            case.path_parameters["case_no"] = live.case_no
        if "ticket_id" in (case.path_parameters or {}):
            case.path_parameters["ticket_id"] = live.ticket_id
    if case.operation.label in STREAMS:
        call_stream(case, live)
        return
    response = case.call(base_url=live.url, session=live.http, headers=live.headers, cookies=live.cookies,
                         timeout=TIMEOUT)
    case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                             response_schema_conformance])
    if 400 <= response.status_code < 500:
        assert_error_shape(response.headers.get("content-type", [""])[0], response.json())
    if case.operation.label == "POST /api/v1/agent/logout" and response.status_code == 204:
        live.sign_in()
