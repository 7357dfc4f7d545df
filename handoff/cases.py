"""办不成事 cases: intake, lifecycle and the audit trail (DESIGN §4, seed 000 §五(五)).

受理 → 分类 → 转办 → 办结 → 反馈. Filing classifies and routes at once; staff may reclassify (the deadline
is recomputed from acceptance), pause the clock while waiting for the citizen (补正材料) and resume it,
transfer, resolve and add notes. A resolved case closes on the citizen's rating, or after
`close_after_working_days` without one. Every step is an appended CaseEvent; every change is announced to
a listener (the bot turns it into messages for the citizen and the staff console).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import LockError
from sqlalchemy import Table
from sqlalchemy import case as sql_case
from sqlmodel import col, select

from core.db import SessionFactory, read_sessions, single_statement_engine, stored, upsert_insert, utcnow
from core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from core.keys import Prefix, key
from core.listeners import Listeners
from core.logging import drop_id_numbers
from core.numbering import Dependents, insert_numbered
from core.phones import normalise_phone
from core.text import normalise
from handoff.calendar import WorkCalendar
from handoff.case_models import COMPLEXITIES, OPEN_STATUSES, Case, CaseEvent, CaseFollower, Complexity, Light
from handoff.case_rules import CaseRules, check_category
from handoff.evaluations import EvaluationStore

log = logging.getLogger("handoff.cases")

CASES: Table = Case.__table__  # type: ignore[attr-defined]
CASE_EVENTS: Table = CaseEvent.__table__  # type: ignore[attr-defined]
FOLLOWERS: Table = CaseFollower.__table__  # type: ignore[attr-defined]
SYSTEM = "system"
MAX_SUPPLEMENT_CHARS = 1000
CITIZEN = "citizen"
MAX_FIELD_CHARS = {"item_name": 200, "where_when": 500, "happened": 2000, "wants": 500, "name": 64}


# A filing takes well under a second; a worker that dies holding the lock blocks the same complaint this long.
FILING_LOCK_SECONDS = 10
# A second filing of the same complaint waits this long for the first, then gets 503 with Retry-After.
FILING_WAIT_SECONDS = 5


def complaint_fingerprint(phone: str, item_name: str, happened: str) -> str:
    """What makes two filings the same complaint: the (normalised) phone, matter and account of it."""
    return hashlib.sha256("|".join((phone, normalise(item_name), normalise(happened))).encode()).hexdigest()

@dataclass(frozen=True)
class CaseDraft:
    """A complaint as collected from the chat or a form, before it is filed."""

    channel: str
    phone: str
    happened: str
    item_name: str = ""
    item_code: str | None = None
    item_window: str | None = None
    item_department: str | None = None
    where_when: str = ""
    wants: str = ""
    name: str | None = None
    user_id: str | None = None
    request_key: str | None = None


@dataclass(frozen=True)
class CaseChange:
    """What just happened to a case, for listeners. `citizen` says whether the citizen should be told."""

    kind: str
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    citizen: bool = False
    # The other chats of the citizen's that follow the case (CaseFollower), filled in when the citizen is told.
    followers: tuple[str, ...] = ()


class CaseListener(Protocol):
    """Told about every change after it is committed (messages to the citizen, the staff console)."""

    async def case_changed(self, case: Case, change: CaseChange) -> None:
        """React to one change."""
        ...


class CaseService:
    """Files cases and carries out lifecycle actions, each in one transaction with its event."""

    def __init__(self, db: SessionFactory, redis: aioredis.Redis, calendar: WorkCalendar, rules: CaseRules,
                 evaluations: EvaluationStore, *, duplicate_minutes: int = 30,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._read = read_sessions(db)  # reads without BEGIN/ROLLBACK round trips
        self._evaluations = evaluations
        self._redis = redis
        self.calendar = calendar
        self.rules = rules
        self._duplicate_window = timedelta(minutes=duplicate_minutes)
        self._clock = clock
        self._listeners: Listeners[CaseListener] = Listeners(log)

    def add_listener(self, listener: CaseListener) -> None:
        """Register something to tell about changes."""
        self._listeners.add(listener)

    def now(self) -> datetime:
        """The service's clock (frozen in tests)."""
        return self._clock()

    # ---- intake -------------------------------------------------------------------------------------

    async def file(self, draft: CaseDraft, *, tell_citizen: bool = True) -> tuple[Case, bool]:
        """File the complaint: returns (case, created). The same request key, or the same complaint from
        the same phone within the duplicate window, returns the case already filed. `tell_citizen` False
        when the caller answers the citizen itself (the chat's own reply).
        """
        draft = _checked(draft)
        fingerprint = complaint_fingerprint(draft.phone, draft.item_name, draft.happened)
        lock = self._redis.lock(key(Prefix.CASE_FILING, fingerprint), timeout=FILING_LOCK_SECONDS,
                                blocking_timeout=FILING_WAIT_SECONDS)
        if not await lock.acquire():
            # The same complaint is being filed right now (or its filer died holding the lock): the client
            # retries, and by then it is filed or the lock has expired.
            raise ServiceUnavailable("这件反映正在登记，请稍后再试。", code="filing_in_progress")
        try:
            existing = await self._existing(draft.request_key, fingerprint)
            if existing is not None:
                if draft.user_id:  # the same complaint from another chat of the citizen's: it follows the case
                    await self.follow(existing, draft.user_id)
                return existing, False
            case = await self._insert(draft, fingerprint)
        finally:
            with contextlib.suppress(LockError):  # expired during a very slow filing: the case is filed all the same
                await lock.release()
        await self._announce(case, CaseChange("accepted", citizen=tell_citizen))
        return case, True

    async def _existing(self, request_key: str | None, fingerprint: str) -> Case | None:
        async with self._read() as db:
            if request_key:
                found = (await db.exec(select(Case).where(Case.request_key == request_key))).first()
                if found is not None:
                    return found
            since = self.now() - self._duplicate_window
            query = (select(Case).where(Case.fingerprint == fingerprint, col(Case.accepted_at) >= since)
                     .order_by(col(Case.id).desc()))
            return (await db.exec(query)).first()

    async def _insert(self, draft: CaseDraft, fingerprint: str) -> Case:
        now = self.now()
        account = " ".join((draft.item_name, draft.happened, draft.wants))
        category, complexity = self.rules.classify(account)
        if draft.item_window:
            window, department = draft.item_window, draft.item_department or self.rules.routing.default_department
        else:
            window, department = self.rules.route(account, None)
        days = self.rules.days_for(complexity)
        local_day = now.astimezone(self.calendar.tz).date()

        values = {"channel": draft.channel, "user_id": draft.user_id, "phone": draft.phone, "name": draft.name,
                  "item_code": draft.item_code, "item_name": draft.item_name or "未说明事项",
                  "where_when": draft.where_when, "happened": draft.happened, "wants": draft.wants,
                  "category": category, "complexity": complexity, "days": days, "window": window,
                  "department": department, "status": "classified", "accepted_at": now, "fingerprint": fingerprint,
                  "request_key": draft.request_key, **self._schedule(now, days, 0)}
        events = Dependents(CASE_EVENTS, "case_id", [
            {"kind": "accepted", "actor": CITIZEN, "created_at": now,
             "note": f"经{self.rules.channel_names.get(draft.channel, draft.channel)}提交", "data": {}},
            {"kind": "classified", "actor": SYSTEM, "created_at": now,
             "note": f"{category}，{self.rules.complexity_names[complexity]}，{days} 个工作日",
             "data": {"category": category, "complexity": complexity, "days": days, "window": window,
                      "department": department}},
        ])
        # Core statements (one on PostgreSQL), not the ORM: filing runs in the chat's 确认 turn (issue 9).
        row = await insert_numbered(self._db, CASES, "case_no", f"BBC{local_day:%Y%m%d}-", values, [events])
        return stored(Case, row)

    def _schedule(self, accepted_at: datetime, days: int, paused_days: int) -> dict[str, Any]:
        """The due date/moment, the warning moment (黄灯: one working day or less left) and provisional flag."""
        due = self.calendar.deadline(accepted_at, days + paused_days)
        warn = self.calendar.deadline(accepted_at, days + paused_days - 1) if days + paused_days > 1 else None
        return {"due_date": due.due_date, "due_at": due.due_at, "provisional": due.provisional,
                "warn_at": warn.due_at if warn else accepted_at}

    def light(self, case: Case, now: datetime | None = None) -> Light:
        """黄灯/红灯 as of `now`: red once overdue, yellow with one working day or less left. A paused or
        finished case keeps the light it had.
        """
        if not case.is_open or case.paused_since is not None:
            return case.light  # type: ignore[return-value]
        now = now or self.now()
        if now >= case.due_at:
            return "red"
        return "yellow" if now >= case.warn_at else "green"

    # ---- reading ------------------------------------------------------------------------------------

    async def get(self, case_no: str) -> Case:
        """The case with this number, or NotFound."""
        async with self._read() as db:
            case = (await db.exec(select(Case).where(Case.case_no == case_no.upper()))).first()
        if case is None:
            raise NotFound("没有找到这个案件编号。")
        return case

    async def for_owner(self, case_no: str, phone: str) -> Case:
        """The case if `phone` is the one it was filed with; otherwise the same NotFound as an unknown number."""
        wanted = normalise_phone(phone) or ""
        try:
            case = await self.get(case_no)
        except NotFound:
            case = None
        if case is None or not wanted or case.phone != wanted:
            raise NotFound("没有找到与该手机号对应的案件，请核对编号和手机号。")
        return case

    async def events(self, case: Case, *, public_only: bool) -> list[CaseEvent]:
        """The case's history, oldest first."""
        async with self._read() as db:
            query = select(CaseEvent).where(CaseEvent.case_id == case.id)
            if public_only:
                query = query.where(col(CaseEvent.public).is_(True))
            return list((await db.exec(query.order_by(col(CaseEvent.id)))).all())

    async def of_user(self, user_id: str, limit: int = 10) -> list[Case]:
        """A chat user's own cases and those it follows (CaseFollower), newest first."""
        async with self._read() as db:
            # Two queries, not one with OR: each uses its own index (ix_case_user_latest, the follower's user_id).
            owned = await db.exec(select(Case).where(Case.user_id == user_id).order_by(col(Case.id).desc())
                                  .limit(limit))
            cases = list(owned.all())
            followed = await db.exec(select(Case).join(CaseFollower, col(CaseFollower.case_id) == col(Case.id))
                                     .where(CaseFollower.user_id == user_id).order_by(col(Case.id).desc())
                                     .limit(limit))
            cases += followed.all()
        return sorted(cases, key=lambda case: case.id or 0, reverse=True)[:limit]

    async def follow(self, case: Case, user_id: str) -> None:
        """Let another chat of the case's citizen follow it (see CaseFollower); nothing for the chat it came from
        or one that follows it already.
        """
        if not user_id or user_id == case.user_id:
            return
        assert case.id is not None
        engine = single_statement_engine(self._db)
        statement = (upsert_insert(engine.dialect, FOLLOWERS).on_conflict_do_nothing()
                     .values(case_id=case.id, user_id=user_id, created_at=self.now()))
        async with engine.begin() as conn:
            await conn.execute(statement)

    async def belongs_to(self, case: Case, user_id: str) -> bool:
        """Whether the chat `user_id` is the case's citizen's: the one it was filed from, or one following it."""
        if case.user_id == user_id:
            return True
        async with self._read() as db:
            query = select(CaseFollower.id).where(CaseFollower.case_id == case.id, CaseFollower.user_id == user_id)
            return (await db.exec(query)).first() is not None

    async def followers(self, case: Case) -> list[str]:
        """The other chats following the case, oldest first."""
        async with self._read() as db:
            query = select(CaseFollower.user_id).where(CaseFollower.case_id == case.id).order_by(
                col(CaseFollower.id))
            return list((await db.exec(query)).all())

    async def search(self, *, windows: Sequence[str] | None = None, status: str | None = None,
                     light: str | None = None, text: str | None = None, limit: int = 100) -> list[Case]:
        """Cases for the staff list, newest first. `windows` None means every window."""
        query = select(Case)
        if windows is not None:
            query = query.where(col(Case.window).in_(list(windows)))
        if status == "open":
            query = query.where(col(Case.status).in_(OPEN_STATUSES))
        elif status:
            query = query.where(Case.status == status)
        if light:
            query = query.where(Case.light == light)
        if text:
            like = f"%{text}%"
            query = query.where(col(Case.case_no).ilike(like) | col(Case.item_name).ilike(like)
                                | col(Case.happened).ilike(like) | col(Case.department).ilike(like))
        async with self._read() as db:
            return list((await db.exec(query.order_by(col(Case.id).desc()).limit(limit))).all())

    async def lights_to_change(self, now: datetime) -> list[Case]:
        """The open, running cases whose stored light is not what `light()` says at `now`, for the SLA monitor.

        The comparison runs in SQL: the monitor asks every minute, and loading every open case to compare it
        in Python held the event loop for seconds once thousands were open (issue 9's soak).
        """
        expected = sql_case((col(Case.due_at) <= now, "red"), (col(Case.warn_at) <= now, "yellow"), else_="green")
        query = (select(Case).where(col(Case.status).in_(OPEN_STATUSES), col(Case.paused_since).is_(None),
                                    col(Case.light) != expected).order_by(col(Case.id)))
        async with self._read() as db:
            return list((await db.exec(query)).all())

    async def resolved_unrated(self) -> list[Case]:
        """Resolved cases waiting for the citizen's rating."""
        async with self._read() as db:
            return list((await db.exec(select(Case).where(Case.status == "resolved"))).all())

    # ---- staff actions ------------------------------------------------------------------------------

    async def reclassify(self, case_no: str, actor: str, *, category: str, complexity: str, reason: str) -> Case:
        """Correct category and complexity; the deadline is recomputed from acceptance. A reason is required."""
        cat = _valid(check_category, category)
        if complexity not in COMPLEXITIES:
            raise InvalidInput("complexity 只能是 simple、complex 或 impossible。", code="invalid_field")
        comp: Complexity = complexity  # type: ignore[assignment]
        reason = _required(reason, "reason")

        def change(case: Case) -> CaseChange:
            _require_open(case)
            old_due = case.due_date
            before = {"category": case.category, "complexity": case.complexity, "days": case.days}
            case.category, case.complexity, case.days = cat, comp, self.rules.days_for(comp)
            self._reschedule(case)
            data = {"from": before, "to": {"category": cat, "complexity": comp, "days": case.days},
                    "due_date": case.due_date.isoformat()}
            return CaseChange("reclassified", reason, data, citizen=case.due_date != old_due)

        return await self._act(case_no, actor, change)

    async def pause(self, case_no: str, actor: str, *, reason: str) -> Case:
        """Stop the clock while waiting for the citizen (补正材料); `reason` says what they must supply."""
        reason = _required(reason, "reason")

        def change(case: Case) -> CaseChange:
            _require_open(case)
            if case.paused_since is not None:
                raise Conflict("该案件已暂停计时。", code="already_paused")
            case.paused_since = self.now()
            return CaseChange("paused", reason, citizen=True)

        return await self._act(case_no, actor, change)

    async def resume(self, case_no: str, actor: str, *, note: str = "") -> Case:
        """Restart the clock; the deadline moves by the working days spent paused."""

        def change(case: Case) -> CaseChange:
            if case.paused_since is None:
                raise Conflict("该案件没有暂停计时。", code="not_paused")
            added = self._unpause(case)
            return CaseChange("resumed", note, {"paused_days": added, "due_date": case.due_date.isoformat()},
                              citizen=added > 0)

        return await self._act(case_no, actor, change)

    async def transfer(self, case_no: str, actor: str, *, window: str, department: str, note: str = "") -> Case:
        """转办: hand the case to the responsible department and window."""
        window, department = _required(window, "window"), _required(department, "department")

        def change(case: Case) -> CaseChange:
            _require_open(case)
            data = {"from": {"window": case.window, "department": case.department},
                    "to": {"window": window, "department": department}}
            case.window, case.department, case.status = window, department, "transferred"
            return CaseChange("transferred", note, data, citizen=True)

        return await self._act(case_no, actor, change)

    async def resolve(self, case_no: str, actor: str, *, result: str) -> Case:
        """办结 with the result the citizen will read; a paused clock is stopped first."""
        result = _required(result, "result")

        def change(case: Case) -> CaseChange:
            _require_open(case)
            if case.paused_since is not None:
                self._unpause(case)
            now = self.now()
            case.status, case.result, case.resolved_at = "resolved", result, now
            on_time = now <= case.due_at
            return CaseChange("resolved", result, {"on_time": on_time}, citizen=True)

        return await self._act(case_no, actor, change)

    async def add_note(self, case_no: str, actor: str, *, note: str) -> Case:
        """An internal note for staff; never shown to the citizen."""
        note = _required(note, "note")
        return await self._act(case_no, actor, lambda case: CaseChange("note", note), public=False)

    # ---- citizen and monitor ------------------------------------------------------------------------

    async def rate(self, case_no: str, *, rating: int, comment: str = "") -> Case:
        """反馈: the citizen's rating (1–5) closes a resolved case and is kept as its 好差评; 不满意 or
        worse opens a supervisor follow-up.
        """
        if not 1 <= rating <= 5:
            raise InvalidInput("评分须为 1–5。", code="invalid_field")

        def change(case: Case) -> CaseChange:
            if case.status not in ("resolved", "closed") or case.rating is not None:
                raise Conflict("这个案件现在不能评价。", code="not_ratable")
            case.rating = rating
            if case.status == "resolved":
                case.status, case.closed_at = "closed", self.now()
            return CaseChange("feedback", comment, {"rating": rating})

        case = await self._act(case_no, CITIZEN, change)
        await self._evaluations.add(service="case", ref=case.case_no, user_id=case.user_id, window=case.window,
                                    rating=rating, comment=comment)
        return case

    async def urge(self, case_no: str, user_id: str) -> tuple[Case, bool]:
        """催办: the citizen asks for their open case to be hurried. It goes into the case's history and to the
        staff console, once per day: returns the case and whether this call recorded the urge (False when the
        citizen urged it already today). NotFound for anyone else's case, Conflict for one no longer open.
        """
        case = await self.get(case_no)
        if not await self.belongs_to(case, user_id):
            raise NotFound("没有找到这个案件编号。")
        _require_open(case)
        today = self.now().astimezone(self.calendar.tz).date()
        async with self._read() as db:
            query = (select(CaseEvent.created_at).where(CaseEvent.case_id == case.id, CaseEvent.kind == "urged")
                     .order_by(col(CaseEvent.id).desc()).limit(1))
            last = (await db.exec(query)).first()
        if last is not None and last.astimezone(self.calendar.tz).date() == today:
            return case, False

        def change(case: Case) -> CaseChange:
            _require_open(case)
            return CaseChange("urged")

        return await self._act(case.case_no, CITIZEN, change), True

    async def supplement(self, case_no: str, user_id: str, text: str) -> Case:
        """补正 in chat: the citizen's own words for a case waiting for them, kept in its history for staff (who
        resume the timer once it is enough). NotFound for anyone else's case, Conflict for a finished one.
        """
        note = drop_id_numbers(text.strip())[:MAX_SUPPLEMENT_CHARS]
        if not note:
            raise InvalidInput("请写下要补充的内容。", code="missing_field")
        case = await self.get(case_no)
        if not await self.belongs_to(case, user_id):
            raise NotFound("没有找到这个案件编号。")

        def change(case: Case) -> CaseChange:
            _require_open(case)
            return CaseChange("supplemented", note)

        return await self._act(case.case_no, CITIZEN, change)

    async def withdraw(self, case_no: str, user_id: str) -> Case:
        """撤销反映: the citizen withdraws their open case (solved meanwhile, or filed by mistake); it is no longer
        worked nor timed. NotFound for anyone else's case, Conflict for one already finished.
        """
        case = await self.get(case_no)
        if not await self.belongs_to(case, user_id):
            raise NotFound("没有找到这个案件编号。")

        def change(case: Case) -> CaseChange:
            _require_open(case)
            case.status, case.closed_at, case.paused_since = "withdrawn", self.now(), None
            return CaseChange("withdrawn")

        return await self._act(case.case_no, CITIZEN, change)

    async def close_unrated(self, case: Case) -> Case | None:
        """Close a resolved case whose rating did not come within the allowed working days."""
        assert case.resolved_at is not None
        resolved_day = case.resolved_at.astimezone(self.calendar.tz)
        limit = self.calendar.deadline(resolved_day, self.rules.close_after_working_days).due_at
        if self.now() < limit:
            return None

        def change(case: Case) -> CaseChange:
            if case.status != "resolved":
                raise Conflict("already closed", code="not_resolved")
            case.status, case.closed_at = "closed", self.now()
            return CaseChange("closed", f"{self.rules.close_after_working_days} 个工作日内未收到评价，自动结案")

        return await self._act(case.case_no, SYSTEM, change)

    async def update_light(self, case: Case, light: Light) -> Case:
        """Record a 黄灯/红灯 change; turning red escalates (督办) to supervisors once."""

        def change(case: Case) -> CaseChange:
            previous = case.light
            case.light = light
            if light == "red" and not case.escalated:
                case.escalated = True
                return CaseChange("escalated", "已超过办理时限，转主管督办", {"from": previous, "to": light})
            return CaseChange(f"light_{light}", "", {"from": previous, "to": light})

        return await self._act(case.case_no, SYSTEM, change, public=False)

    # ---- plumbing -----------------------------------------------------------------------------------

    async def _act(self, case_no: str, actor: str, change: Callable[[Case], CaseChange], *,
                   public: bool = True) -> Case:
        async with self._db() as db:
            query = select(Case).where(Case.case_no == case_no.upper()).with_for_update()
            case = (await db.exec(query)).first()
            if case is None:
                raise NotFound("没有找到这个案件编号。")
            result = change(case)
            assert case.id is not None
            db.add(case)
            db.add(CaseEvent(case_id=case.id, kind=result.kind, actor=actor, note=result.note, data=result.data,
                             public=public and not result.kind.startswith("light_") and result.kind != "escalated",
                             created_at=self.now()))
            await db.commit()
            await db.refresh(case)
        await self._announce(case, result)
        return case

    async def _announce(self, case: Case, change: CaseChange) -> None:
        if change.citizen:
            change = replace(change, followers=tuple(await self.followers(case)))
        await self._listeners.tell(lambda listener: listener.case_changed(case, change),
                                   f"{case.case_no} {change.kind}")

    def _reschedule(self, case: Case) -> None:
        for name, value in self._schedule(case.accepted_at, case.days, case.paused_days).items():
            setattr(case, name, value)

    def _unpause(self, case: Case) -> int:
        assert case.paused_since is not None
        tz = self.calendar.tz
        added = self.calendar.working_days_between(case.paused_since.astimezone(tz).date(),
                                                   self.now().astimezone(tz).date())
        case.paused_since = None
        case.paused_days += added
        self._reschedule(case)
        return added


def _checked(draft: CaseDraft) -> CaseDraft:
    phone = normalise_phone(draft.phone or "")
    if phone is None:
        raise InvalidInput("请提供有效的手机号或带区号的固定电话。", code="invalid_phone")
    # 身份证号 in free text is dropped: staff and the citizen see these fields again, and the phone identifies.
    happened = drop_id_numbers((draft.happened or "").strip())
    if not happened:
        raise InvalidInput("请说明遇到的情况（happened）。", code="missing_field")
    for name, limit in MAX_FIELD_CHARS.items():
        value = getattr(draft, name) or ""
        if len(value) > limit:
            raise InvalidInput(f"字段 {name} 不能超过 {limit} 个字符。", code="field_too_long")
    return CaseDraft(**{**draft.__dict__, "phone": phone, "happened": happened,
                        "where_when": drop_id_numbers(draft.where_when or ""),
                        "wants": drop_id_numbers(draft.wants or ""),
                        "item_name": (draft.item_name or "").strip(), "name": (draft.name or "").strip() or None})


def _required(value: str | None, name: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"缺少字段 {name}。", code="missing_field")
    if len(value) > 2000:
        raise InvalidInput(f"字段 {name} 不能超过 2000 个字符。", code="field_too_long")
    return value


def _valid(check: Callable[[str], Any], value: str) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_field") from None


def _require_open(case: Case) -> None:
    if not case.is_open:
        raise Conflict("该案件已办结，不能再做这个操作。", code="case_finished")

