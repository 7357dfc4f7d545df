"""Supervisor statistics of 办不成事 cases: by category, department, window and status; on-time rate;
average working days to resolve; satisfaction. Exported to Excel for the county's monthly report.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, datetime, time
from typing import Any

from sqlmodel import col, select

from core.db import SessionFactory
from handoff.calendar import WorkCalendar
from handoff.case_models import Case
from handoff.case_rules import CaseRules
from handoff.evaluations import LEVELS


class CaseReports:
    """Computes the statistics over cases accepted in a date range (local dates, both ends included)."""

    def __init__(self, db: SessionFactory, calendar: WorkCalendar, rules: CaseRules) -> None:
        self._db = db
        self._calendar = calendar
        self._rules = rules

    async def cases(self, start: date | None, end: date | None) -> list[Case]:
        """Cases accepted between `start` and `end`, oldest first."""
        tz = self._calendar.tz
        query = select(Case)
        if start is not None:
            query = query.where(col(Case.accepted_at) >= datetime.combine(start, time.min, tzinfo=tz))
        if end is not None:
            query = query.where(col(Case.accepted_at) <= datetime.combine(end, time.max, tzinfo=tz))
        async with self._db() as db:
            return list((await db.exec(query.order_by(col(Case.id)))).all())

    def summary(self, cases: list[Case], now: datetime) -> dict[str, Any]:
        """The statistics of these cases as of `now`."""
        finished = [c for c in cases if c.resolved_at is not None]
        on_time = [c for c in finished if c.resolved_at is not None and c.resolved_at <= c.due_at]
        overdue_open = [c for c in cases if c.is_open and now > c.due_at]
        tz = self._calendar.tz
        spans = [self._calendar.working_days_between(c.accepted_at.astimezone(tz).date(),
                                                     c.resolved_at.astimezone(tz).date())
                 for c in finished if c.resolved_at is not None]
        ratings = [c.rating for c in cases if c.rating is not None]
        status_names = self._rules.status_names
        return {
            "total": len(cases),
            "by_category": dict(Counter(c.category for c in cases)),
            "by_department": dict(Counter(c.department for c in cases)),
            "by_window": dict(Counter(c.window for c in cases)),
            "by_status": {status_names.get(s, s): n for s, n in Counter(c.status for c in cases).items()},
            "resolved": len(finished),
            "on_time": len(on_time),
            "on_time_rate": round(len(on_time) / len(finished), 4) if finished else None,
            "overdue_open": len(overdue_open),
            "average_working_days": round(sum(spans) / len(spans), 2) if spans else None,
            "ratings": len(ratings),
            "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "satisfied_rate": round(sum(r >= 3 for r in ratings) / len(ratings), 4) if ratings else None,
        }

    def workbook(self, summary: dict[str, Any], cases: list[Case]) -> bytes:
        """An .xlsx with a summary sheet and one row per case."""
        # Imported here: openpyxl is ~25 MB a worker, and only this rarely used download needs it.
        from openpyxl import Workbook
        from openpyxl.styles import Font

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "汇总"
        bold = Font(bold=True)
        rows: list[tuple[Any, ...]] = [
            ("案件总数", summary["total"]), ("已办结", summary["resolved"]), ("按时办结", summary["on_time"]),
            ("按时办结率", _percent(summary["on_time_rate"])), ("超期未办结", summary["overdue_open"]),
            ("平均办结工作日", summary["average_working_days"]), ("评价数", summary["ratings"]),
            ("平均评分", summary["average_rating"]), ("满意率", _percent(summary["satisfied_rate"])),
        ]
        for row in rows:
            sheet.append(row)
        for title, name in (("按类别", "by_category"), ("按部门", "by_department"), ("按窗口", "by_window"),
                            ("按状态", "by_status")):
            sheet.append(())
            sheet.append((title, "件数"))
            sheet.cell(sheet.max_row, 1).font = bold
            for label, count in sorted(summary[name].items(), key=lambda kv: -kv[1]):
                sheet.append((label, count))
        sheet.column_dimensions["A"].width = 28
        detail = book.create_sheet("案件明细")
        detail.append(("编号", "受理时间", "事项", "类别", "复杂程度", "窗口", "部门", "状态", "办理时限（工作日）",
                       "截止日期", "办结时间", "是否按时", "评价"))
        for cell in detail[1]:
            cell.font = bold
        tz = self._calendar.tz
        for c in cases:
            resolved = c.resolved_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if c.resolved_at else ""
            on_time = ("是" if c.resolved_at <= c.due_at else "否") if c.resolved_at else ""
            detail.append((c.case_no, c.accepted_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), c.item_name,
                           c.category, self._rules.complexity_names.get(c.complexity, c.complexity),  # type: ignore[call-overload]
                           c.window, c.department, self._rules.status_names.get(c.status, c.status), c.days,
                           c.due_date.isoformat(), resolved, on_time, LEVELS.get(c.rating or 0, "")))
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"
