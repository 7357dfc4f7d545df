"""The case API: filing from a form, the owner's lookup by phone, and the staff side (actions, visibility,
reports, follow-ups), all over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook

import handoff.cases
from bot.app import create_app
from bot.typedefs import CASES, KB, REDIS, STAFF
from core.keys import Prefix, key
from core.settings import Settings
from handoff.cases import complaint_fingerprint
from tests.conftest import new_visitor, served, tasks_left_running
from tests.handoff.test_staff import PASSWORD, add_staff, logged_in

FORM = {"phone": "13912345678", "happened": "窗口说我租房合同没备案，跑了三趟取不出来",
        "item_name": "公积金租房提取", "wants": "希望尽快提取", "name": "王先生"}


async def file_form(client: TestClient, body: dict[str, Any] | None = None, **headers: str) -> Any:
    """POST the complaint form and return the response."""
    return await client.post("/api/v1/cases", json=body or FORM, headers=headers)


async def test_form_files_a_case_once(client: TestClient) -> None:
    resp = await file_form(client, None, **{"Idempotency-Key": "form-submit-0001"})
    assert resp.status == 201
    filed = await resp.json()
    assert filed["case_no"].startswith("BBC") and filed["status"] == "classified"
    assert filed["window"] == "公积金" and filed["days"] == 3 and "（周" in filed["due_in_words"]
    retry = await file_form(client, None, **{"Idempotency-Key": "form-submit-0001"})
    assert retry.status == 200 and (await retry.json())["case_no"] == filed["case_no"]
    resubmitted = await file_form(client)  # same phone, same account, minutes later, no key
    assert resubmitted.status == 200 and (await resubmitted.json())["case_no"] == filed["case_no"]


async def test_the_same_complaint_being_filed_elsewhere_gets_503_then_files_once(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff.cases, "FILING_WAIT_SECONDS", 0.2)  # the test need not wait the real 5 s
    # Another worker is filing this very complaint (or died doing so, holding the lock).
    matter = client.app[KB].current.best(FORM["item_name"], kinds=["item"])  # the form's matter, as the KB names it
    assert matter is not None
    fingerprint = complaint_fingerprint(FORM["phone"], matter.title, FORM["happened"])
    held = client.app[REDIS].lock(key(Prefix.CASE_FILING, fingerprint), timeout=30)
    assert await held.acquire()
    busy = await file_form(client, None, **{"Idempotency-Key": "form-submit-busy"})
    body = await busy.json()
    assert busy.status == 503 and body["error"]["code"] == "filing_in_progress", body
    assert busy.headers["Retry-After"].isdigit() and "稍后再试" in body["error"]["message"]
    assert await client.app[CASES].search() == []
    await held.release()
    retry = await file_form(client, None, **{"Idempotency-Key": "form-submit-busy"})
    assert retry.status == 201
    assert len(await client.app[CASES].search()) == 1


async def test_bad_forms_get_clear_errors_and_file_nothing(client: TestClient) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**FORM, "phone": "12345"}, 400, "invalid_phone"),
        ({k: v for k, v in FORM.items() if k != "phone"}, 400, "missing_field"),
        ({**FORM, "happened": ""}, 400, "missing_field"),
        ({**FORM, "happened": 42}, 400, "invalid_field"),
        ({**FORM, "item_code": "NO-SUCH"}, 400, "unknown_item"),
        ({**FORM, "wants": "很" * 501}, 413, "field_too_long"),
    ]
    for body, status, code in cases:
        resp = await file_form(client, body)
        assert resp.status == status, body
        assert (await resp.json())["error"]["code"] == code
    bad_key = await file_form(client, None, **{"Idempotency-Key": "x"})
    assert bad_key.status == 400
    assert await client.app[CASES].search() == []


async def test_owner_reads_the_case_by_phone_and_guessing_is_limited(client: TestClient) -> None:
    case_no = (await (await file_form(client)).json())["case_no"]
    mine = await client.get(f"/api/v1/cases/{case_no}", params={"phone": "139-1234-5678"})
    body = await mine.json()
    assert mine.status == 200
    assert body["phone_masked"] == "139****5678" and "phone" not in body
    assert [e["kind"] for e in body["events"]] == ["accepted", "classified"]
    wrong = await client.get(f"/api/v1/cases/{case_no}", params={"phone": "13800000000"})
    unknown = await client.get("/api/v1/cases/BBC20991231-0009", params={"phone": "13912345678"})
    assert wrong.status == unknown.status == 404
    assert await wrong.json() == await unknown.json()
    statuses = [(await client.get(f"/api/v1/cases/{case_no}", params={"phone": f"1380000000{i}"})).status
                for i in range(5)]
    assert statuses[:4] == [404] * 4 and statuses[4] == 429
    limited = await client.get(f"/api/v1/cases/{case_no}", params={"phone": "13912345678"})
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0


async def test_a_signed_in_visitor_is_told_of_acceptance_in_their_chat(client: TestClient) -> None:
    visitor = await new_visitor(client)
    resp = await client.post("/api/v1/cases", json=FORM, headers=visitor.headers)
    case_no = (await resp.json())["case_no"]
    pushed = await (await client.get("/api/v1/messages", headers=visitor.headers)).json()
    assert f"已受理，编号 {case_no}" in pushed["messages"][0]["text"]


async def test_staff_work_a_case_through_its_lifecycle(client: TestClient) -> None:
    case_no = (await (await file_form(client)).json())["case_no"]
    await add_staff(client, "zhao", windows=("出入境",))
    await add_staff(client, "liwei", windows=("公积金",))
    await add_staff(client, "chief", role="supervisor", windows=())
    await logged_in(client, "zhao")
    hidden = await client.get(f"/api/v1/agent/cases/{case_no}")
    assert hidden.status == 404  # another window's case
    assert (await (await client.get("/api/v1/agent/cases")).json())["cases"] == []

    csrf = await logged_in(client, "liwei")
    headers = {"X-CSRF-Token": csrf}
    listed = await (await client.get("/api/v1/agent/cases", params={"status": "open"})).json()
    assert [c["case_no"] for c in listed["cases"]] == [case_no]
    assert listed["cases"][0]["phone"] == "13912345678"  # authorised staff see the full number
    no_csrf = await client.post(f"/api/v1/agent/cases/{case_no}/note", json={"note": "x"})
    assert no_csrf.status == 403
    steps: list[tuple[str, dict[str, str]]] = [
        ("classify", {"category": "不给办", "complexity": "complex", "reason": "涉及两个部门"}),
        ("pause", {"reason": "请补交租房合同备案证明"}),
        ("resume", {"note": "已补交"}),
        ("transfer", {"window": "公积金", "department": "县住房公积金管理中心", "note": "请核实"}),
        ("note", {"note": "已电话联系"}),
        ("resolve", {"result": "已协调，可以提取"}),
    ]
    for action, body in steps:
        resp = await client.post(f"/api/v1/agent/cases/{case_no}/{action}", json=body, headers=headers)
        assert resp.status == 200, (action, await resp.text())
    detail = await (await client.get(f"/api/v1/agent/cases/{case_no}")).json()
    assert detail["status"] == "resolved" and detail["days"] == 7
    assert [e["kind"] for e in detail["events"]] == ["accepted", "classified", "reclassified", "paused", "resumed",
                                                     "transferred", "note", "resolved"]
    assert {e["actor"] for e in detail["events"][2:]} == {"staff:liwei"}
    again = await client.post(f"/api/v1/agent/cases/{case_no}/resolve", json={"result": "x"}, headers=headers)
    assert again.status == 409
    missing = await client.post(f"/api/v1/agent/cases/{case_no}/note", json={}, headers=headers)
    assert missing.status == 400
    public = await (await client.get(f"/api/v1/cases/{case_no}", params={"phone": "13912345678"})).json()
    assert "note" not in [e["kind"] for e in public["events"]]  # internal notes stay internal
    assert (await client.get("/api/v1/agent/reports/cases")).status == 403  # agents: no reports

    await logged_in(client, "chief")
    report = await (await client.get("/api/v1/agent/reports/cases")).json()
    assert report["total"] == 1 and report["resolved"] == 1 and report["on_time"] == 1
    assert report["by_category"] == {"不给办": 1} and report["by_window"] == {"公积金": 1}
    xlsx = await client.get("/api/v1/agent/reports/cases.xlsx", params={"from": "2020-01-01"})
    assert xlsx.status == 200
    book = load_workbook(io.BytesIO(await xlsx.read()))
    assert book.sheetnames == ["汇总", "案件明细"]
    assert book["案件明细"]["A2"].value == case_no and book["案件明细"]["L2"].value == "是"
    bad_date = await client.get("/api/v1/agent/reports/cases", params={"from": "yesterday"})
    assert bad_date.status == 400


async def test_bad_reviews_reach_supervisors(client: TestClient) -> None:
    case_no = (await (await file_form(client)).json())["case_no"]
    service = client.app[CASES]
    await service.resolve(case_no, "staff:li", result="已办结")
    await service.rate(case_no, rating=1, comment="态度很差")
    await add_staff(client, "chief", role="supervisor", windows=())
    csrf = await logged_in(client, "chief")
    pending = (await (await client.get("/api/v1/agent/evaluations")).json())["evaluations"]
    assert [(e["ref"], e["level"], e["comment"]) for e in pending] == [(case_no, "非常不满意", "态度很差")]
    done = await client.post(f"/api/v1/agent/evaluations/{pending[0]['id']}/follow-up",
                             json={"note": "已致电道歉并说明"}, headers={"X-CSRF-Token": csrf})
    assert done.status == 200 and (await done.json())["followed_up_by"] == "staff:chief"
    assert (await (await client.get("/api/v1/agent/evaluations")).json())["evaluations"] == []


async def test_the_console_stream_carries_case_changes_of_the_staff_members_windows(client: TestClient) -> None:
    case_no = (await (await file_form(client)).json())["case_no"]
    await add_staff(client, "liwei", windows=("公积金",))
    csrf = await logged_in(client, "liwei")
    stream = await client.get("/api/v1/agent/events")
    assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    resp = await client.post(f"/api/v1/agent/cases/{case_no}/transfer", headers={"X-CSRF-Token": csrf},
                             json={"window": "公积金", "department": "县住房公积金管理中心"})
    assert resp.status == 200
    data = ""
    async with asyncio.timeout(10):  # the whole wait, however many pings come first
        while not data:
            raw = await stream.content.readline()
            assert raw, "the event stream ended before the event"
            line = raw.decode()
            data = line.removeprefix("data: ").strip() if line.startswith("data: ") else ""
    event = json.loads(data)
    assert (event["case_no"], event["kind"], event["status"]) == (case_no, "transferred", "transferred")
    stream.close()


@contextlib.asynccontextmanager
async def console_browser(app: web.Application, url: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser logged in to the console of an app `served` at `url`, as liwei of the 公积金 window."""
    await app[STAFF].add("liwei", PASSWORD, windows=("公积金",))
    async with aiohttp.ClientSession(url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post("/api/v1/agent/login", json={"username": "liwei", "password": PASSWORD}) as resp:
            assert resp.status == 200
        yield http


async def test_a_closed_console_stream_ends_without_an_error_log(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Regression (schemathesis): the ping after a console tab closed raised ConnectionResetError, which the
    error middleware logged at ERROR as "backing service unavailable". Served as `yichuang serve` serves
    (web.run_app: a handler is not cancelled when its client goes away; aiohttp's test server would cancel it).
    """
    monkeypatch.setattr("bot.api_agent_cases.SSE_WAIT_SECONDS", 0.01)  # ping at once instead of after 15 s
    finished = asyncio.Event()

    @web.middleware
    async def note_the_end(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            if request.path == "/api/v1/agent/events":
                finished.set()

    app = create_app(settings)
    app.middlewares.insert(0, note_the_end)
    async with served(app) as url:
        async with console_browser(app, url) as http:
            stream = await http.get("/api/v1/agent/events")
            assert stream.status == 200
            stream.close()
        await asyncio.wait_for(finished.wait(), 10)  # a bound, not a measurement: the loop ends at its next ping
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_shutdown_ends_a_console_stream_whose_tab_was_closed(settings: Settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The server notices a closed tab only at its next ping; shutdown must neither wait for that nor leave the
    stream running on after the database and Redis are closed."""
    monkeypatch.setattr("bot.api_agent_cases.SSE_WAIT_SECONDS", 60.0)  # its next ping: a minute away
    loop = asyncio.get_running_loop()
    app = create_app(settings)
    async with served(app) as url:
        async with console_browser(app, url) as http, http.get("/api/v1/agent/events") as stream:
            assert stream.status == 200
        tab_closed = loop.time()

    assert loop.time() - tab_closed < 30  # a bound, not a measurement: it took the minute before
    assert tasks_left_running() == []
