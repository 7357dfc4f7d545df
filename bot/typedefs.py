"""Every app-state key, typed, in one module."""

from __future__ import annotations

import asyncio

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine import Engine
from bot.metrics import Metrics
from bot.outbox import Outbox
from bot.turns import TurnLog
from core.db import SessionFactory
from core.pubsub import Subscriber
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.tokens import TokenSigner
from handoff.appointments import AppointmentBook
from handoff.calendar import WorkCalendar
from handoff.cases import CaseService
from handoff.evaluations import EvaluationStore
from handoff.reports import CaseReports
from handoff.sla import SlaMonitor
from handoff.staff import StaffService
from handoff.tickets import TicketService
from intents.base import NLU
from intents.trainer import TrainingChild
from policy_kb.gaps import GapLog
from policy_kb.service import KbService

SETTINGS = web.AppKey("settings", Settings)
DB_ENGINE = web.AppKey("db_engine", AsyncEngine)
DB = web.AppKey("db", SessionFactory)
REDIS = web.AppKey("redis", aioredis.Redis)
PUBSUB = web.AppKey("pubsub", Subscriber)
METRICS = web.AppKey("metrics", Metrics)
ENGINE = web.AppKey("engine", Engine)
TURN_LOG = web.AppKey("turn_log", TurnLog)
OUTBOX = web.AppKey("outbox", Outbox)
TOKENS = web.AppKey("tokens", TokenSigner)
BACKGROUND_TASKS = web.AppKey("background_tasks", set[asyncio.Task[None]])
KB = web.AppKey("kb", KbService)
CALENDAR = web.AppKey("calendar", WorkCalendar)
NLU_BACKEND = web.AppKey("nlu", NLU)
NLU_TRAINING = web.AppKey("nlu_training", TrainingChild)  # set on a first start only (bot.app.nlu_training_ctx)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
GAPS = web.AppKey("gaps", GapLog)
STAFF = web.AppKey("staff", StaffService)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
CASES = web.AppKey("cases", CaseService)
CASE_REPORTS = web.AppKey("case_reports", CaseReports)
EVALUATIONS = web.AppKey("evaluations", EvaluationStore)
SLA = web.AppKey("sla", SlaMonitor)
TICKETS = web.AppKey("tickets", TicketService)
APPOINTMENTS = web.AppKey("appointments", AppointmentBook)
