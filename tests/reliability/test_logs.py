"""The server's own log output never holds a phone number or a 身份证号 in clear (issue 9: a test greps
them), even at DEBUG, through a complaint, a rejected form and a staff login."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.servers import ServerProcess, free_port, yichuang_env

PHONE = "13912345678"
ID_NUMBER = "440106199001011234"


async def test_logs_hold_no_phone_or_id_number(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(["serve", "--port", str(port)],
                           yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_LOG_LEVEL="DEBUG"), tmp_path)
    server.start()
    try:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/api/v1/sessions") as resp:
                auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
            for text in (f"我的身份证是{ID_NUMBER}，电话{PHONE}", "我都跑了三趟了，公积金还是取不出来",
                         "说租房合同没备案", "跳过", "跳过", "跳过", PHONE, "确认"):
                async with http.post(f"{base}/api/v1/messages", json={"text": text}, headers=auth) as resp:
                    assert resp.status == 200
            form = {"phone": PHONE, "happened": f"身份证{ID_NUMBER}办不了"}
            async with http.post(f"{base}/api/v1/cases", json=form) as resp:
                assert resp.status == 201
            async with http.get(f"{base}/api/v1/cases/BBC20990101-0001", params={"phone": PHONE}) as resp:
                assert resp.status == 404
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert "DEBUG" in server.output  # the logs were really at their most talkative
    assert PHONE not in server.output and ID_NUMBER not in server.output
