"""The aiohttp app factory: every resource with a lifetime is made here, through cleanup_ctx."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bot import console, streams
from bot.api_agent_appointments import routes as agent_appointment_routes
from bot.api_agent_cases import routes as agent_case_routes
from bot.api_agent_kb import routes as agent_kb_routes
from bot.api_agent_tickets import routes as agent_ticket_routes
from bot.api_calendar import routes as calendar_routes
from bot.api_cases import routes as case_routes
from bot.api_kb import routes as kb_routes
from bot.api_nlu import routes as nlu_routes
from bot.api_staff import routes as staff_routes
from bot.api_staff import staff_audit_middleware
from bot.case_notices import CaseNotices
from bot.engine import Engine
from bot.flows.base import Services
from bot.flows.complaint import ComplaintFlow
from bot.flows.fallback import FallbackFlow
from bot.flows.feedback import FeedbackFlow
from bot.flows.glossary import GlossaryFlow
from bot.flows.guide import GuideFlow
from bot.flows.handoff import HandoffFlow
from bot.flows.policy import PolicyFlow
from bot.flows.progress import ProgressFlow
from bot.flows.smalltalk import SmalltalkFlow
from bot.http import error_middleware
from bot.meta import metrics_middleware
from bot.meta import routes as meta_routes
from bot.metrics import Metrics
from bot.migrate import migrate
from bot.outbox import Outbox
from bot.texts import Texts
from bot.ticket_notices import TicketNotices
from bot.turn_state import TurnState
from bot.turns import TurnLog
from bot.typedefs import (
    APPOINTMENTS,
    BACKGROUND_TASKS,
    CALENDAR,
    CASE_REPORTS,
    CASES,
    DB,
    DB_ENGINE,
    ENGINE,
    EVALUATIONS,
    GAPS,
    HTTP_CLIENT,
    KB,
    METRICS,
    NLU_BACKEND,
    NLU_TRAINING,
    OUTBOX,
    PUBSUB,
    RATE_LIMITER,
    REDIS,
    SETTINGS,
    SLA,
    STAFF,
    TICKETS,
    TOKENS,
    TURN_LOG,
)
from channels import miniprogram
from channels import web as web_channel
from channels import wechat as wechat_channel
from core.db import open_engine, session_factory
from core.pubsub import Subscriber
from core.ratelimit import RateLimiter
from core.redis import open_redis
from core.secrets import resolve_secret
from core.settings import Settings
from core.tokens import TokenSigner
from handoff.appointments import AppointmentBook, AppointmentRules
from handoff.calendar import OfficeHours, WorkCalendar
from handoff.case_rules import CaseRules
from handoff.cases import CaseService
from handoff.evaluations import EvaluationStore
from handoff.reports import CaseReports
from handoff.sla import SlaMonitor
from handoff.staff import StaffService
from handoff.tickets import TicketRules, TicketService
from intents.service import build_nlu
from intents.trainer import TrainingChild
from policy_kb.gaps import GapLog
from policy_kb.prechecks import PrecheckStore
from policy_kb.service import KbService

log = logging.getLogger("bot.app")

# How long shutdown waits for an SLA sweep in progress to finish.
SLA_STOP_SECONDS = 10.0


async def nlu_training_ctx(app: web.Application) -> AsyncIterator[None]:
    """On a first start (no NLU model cached), the child that will train it, forked before anything else so that
    it imports scikit-learn while the rest starts (intents.trainer); ended on shutdown if never used.
    """
    child = TrainingChild.early(app[SETTINGS].model_cache)
    if child is not None:
        app[NLU_TRAINING] = child
    try:
        yield
    finally:
        if child is not None:
            child.close()


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """The SQL engine (migrated first when auto_migrate is on), disposed on shutdown."""
    settings = app[SETTINGS]
    async with open_engine(settings) as engine:
        if settings.auto_migrate:
            await migrate(engine)
        app[DB_ENGINE] = engine
        app[DB] = session_factory(engine)
        yield


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """The Redis client (and the embedded server when no URL is set)."""
    async with open_redis(app[SETTINGS]) as client:
        app[REDIS] = client
        yield


async def pubsub_ctx(app: web.Application) -> AsyncIterator[None]:
    """The worker's one Redis pub/sub connection, shared by its event streams and the KB reload listener."""
    subscriber = Subscriber(app[REDIS], subscribe_timeout=app[SETTINGS].redis_timeout_seconds)
    async with subscriber.running():
        app[PUBSUB] = subscriber
        yield


async def staff_ctx(app: web.Application) -> AsyncIterator[None]:
    """Staff accounts (SQL) and the rate limiter (Redis) the agent API's login uses."""
    app[STAFF] = StaffService(app[DB])
    app[RATE_LIMITER] = RateLimiter(app[REDIS])
    yield


async def cases_ctx(app: web.Application) -> AsyncIterator[None]:
    """办不成事 cases, their ratings and reports (the SLA monitor runs from sla_ctx)."""
    settings = app[SETTINGS]
    rules = CaseRules.load()
    app[EVALUATIONS] = EvaluationStore(app[DB])
    app[CASES] = CaseService(app[DB], app[REDIS], app[CALENDAR], rules, app[EVALUATIONS],
                             duplicate_minutes=settings.case_duplicate_minutes)
    app[CASE_REPORTS] = CaseReports(app[DB], app[CALENDAR], rules)
    app[TICKETS] = TicketService(app[DB], app[REDIS], TicketRules.load(),
                                 auto_assign_capacity=settings.ticket_auto_assign)
    yield


async def kb_ctx(app: web.Application) -> AsyncIterator[None]:
    """The knowledge base (seeded from YAML on first start) and its hot-reload listener."""
    service = KbService(app[DB], app[REDIS], cache_dir=app[SETTINGS].model_cache)
    await service.start()
    app[KB] = service
    app[GAPS] = GapLog(app[DB])
    async with service.reload_listener(app[PUBSUB]):
        yield


async def http_client_ctx(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client for calls out (Rasa, later WeChat's API)."""
    async with aiohttp.ClientSession(headers={"User-Agent": "yichuang"}) as session:
        app[HTTP_CLIENT] = session
        yield


async def nlu_ctx(app: web.Application) -> AsyncIterator[None]:
    """The NLU backend: the built-in model (trained or loaded from data/models) or Rasa with fallback."""
    app[NLU_BACKEND] = await build_nlu(app[SETTINGS], lambda: app[KB].current, app[HTTP_CLIENT],
                                       training_child=app.get(NLU_TRAINING))
    yield


async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """The conversation engine with its NLU and flows."""
    settings = app[SETTINGS]
    texts = Texts.from_yaml()
    app[TURN_LOG] = TurnLog(app[DB])
    app[OUTBOX] = Outbox(app[DB], app[REDIS], app[PUBSUB], menu_ttl_seconds=settings.session_ttl_seconds)
    app[APPOINTMENTS] = AppointmentBook(app[DB], app[REDIS], app[CALENDAR], AppointmentRules.load())
    state = TurnState(app[REDIS], lock_seconds=settings.user_lock_seconds,
                      session_ttl_seconds=settings.session_ttl_seconds, dedupe_ttl_seconds=settings.dedupe_ttl_seconds)
    engine = Engine(settings=settings, state=state, nlu=app[NLU_BACKEND], texts=texts,
                    turn_log=app[TURN_LOG], metrics=app[METRICS], fallback=FallbackFlow(),
                    services=Services(kb=app[KB], gaps=app[GAPS], prechecks=PrecheckStore(app[DB]),
                                      calendar=app[CALENDAR], deferred_supply_days=settings.deferred_supply_days,
                                      cases=app[CASES], tickets=app[TICKETS], evaluations=app[EVALUATIONS],
                                      turns=app[TURN_LOG], appointments=app[APPOINTMENTS],
                                      centre_address=settings.centre_address, centre_phone=settings.centre_phone))
    app[CASES].add_listener(CaseNotices(app[OUTBOX], app[REDIS], texts))
    app[TICKETS].add_listener(TicketNotices(app[OUTBOX], app[REDIS], texts, app[TICKETS], app[STAFF]))
    engine.add_flow(SmalltalkFlow())
    engine.add_flow(GlossaryFlow())
    engine.add_flow(GuideFlow())
    engine.add_flow(PolicyFlow())
    engine.add_flow(ComplaintFlow())
    engine.add_flow(ProgressFlow())
    engine.add_flow(FeedbackFlow())
    engine.add_flow(HandoffFlow(engine.window_hint))
    app[ENGINE] = engine
    yield
    await app[TURN_LOG].close()


async def background_tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Holds strong references to background tasks; cancels and awaits them on shutdown."""
    tasks: set[asyncio.Task[None]] = set()
    app[BACKGROUND_TASKS] = tasks
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def sla_ctx(app: web.Application) -> AsyncIterator[None]:
    """The SLA monitor: every worker runs one, only the Redis lock's holder sweeps."""
    settings = app[SETTINGS]
    monitor = SlaMonitor(app[CASES], app[REDIS], interval=settings.sla_interval_seconds,
                         lock_seconds=max(3 * settings.sla_interval_seconds, 30),
                         also=[app[TICKETS].requeue_abandoned,  # staff gone quiet: tickets back to the queue
                               app[OUTBOX].redeliver])  # pushed WeChat / mini-program messages not delivered yet
    app[SLA] = monitor
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop), name="sla-monitor") if settings.sla_enabled else None
    yield
    stop.set()
    if task is not None:
        try:
            await asyncio.wait_for(task, SLA_STOP_SECONDS)
        except TimeoutError:
            log.warning("SLA monitor did not stop within %s s; cancelled", SLA_STOP_SECONDS)


def create_app(settings: Settings) -> web.Application:
    """Build the whole service for `settings`. Tests use this same factory."""
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[metrics_middleware, staff_audit_middleware, error_middleware])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[TOKENS] = TokenSigner(resolve_secret(settings), settings.token_ttl_seconds)
    hours = OfficeHours(settings.office_opens, settings.office_lunch_starts, settings.office_lunch_ends,
                        settings.office_closes)
    app[CALENDAR] = WorkCalendar.from_file(settings.holiday_overrides, hours)
    app.cleanup_ctx.extend([nlu_training_ctx, database_ctx, redis_ctx, pubsub_ctx, staff_ctx, cases_ctx,
                            http_client_ctx, kb_ctx, nlu_ctx, engine_ctx, sla_ctx, background_tasks_ctx])
    app.router.add_routes(meta_routes)
    app.router.add_routes(kb_routes)
    app.router.add_routes(nlu_routes)
    app.router.add_routes(calendar_routes)
    app.router.add_routes(staff_routes)
    app.router.add_routes(case_routes)
    app.router.add_routes(agent_case_routes)
    app.router.add_routes(agent_ticket_routes)
    app.router.add_routes(agent_appointment_routes)
    app.router.add_routes(agent_kb_routes)
    streams.setup(app)
    web_channel.setup(app)
    wechat_channel.setup(app)
    miniprogram.setup(app)
    console.setup(app)
    return app
