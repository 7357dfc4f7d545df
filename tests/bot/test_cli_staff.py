"""`yichuang staff ...` as an administrator runs it, then the account used through the HTTP API."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pexpect
import pytest
from aiohttp.test_utils import TestClient

from core.settings import Settings
from tests.servers import YICHUANG, yichuang_env

PASSWORD = "window-4-password"


@pytest.fixture
def env(tmp_path: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of a `yichuang` process sharing the test app's database."""
    return yichuang_env(
        YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=database_url, YICHUANG_REDIS_URL=redis_url
    )


def staff(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `yichuang staff ARGS` and return the finished process."""
    return subprocess.run([YICHUANG, "staff", *args], input=stdin, capture_output=True, text=True, timeout=120, env=env)


async def test_staff_added_on_the_command_line_can_log_in(client: TestClient, env: dict[str, str]) -> None:
    added = staff(
        env,
        "add",
        "wang.fang",
        "--role",
        "agent",
        "--window",
        "公积金",
        "--window",
        "出入境",
        "--name",
        "王芳",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert "已创建工作人员 wang.fang" in added.stderr and "公积金、出入境" in added.stderr
    resp = await client.post("/api/v1/agent/login", json={"username": "wang.fang", "password": PASSWORD})
    assert resp.status == 200
    assert (await resp.json())["staff"]["windows"] == ["公积金", "出入境"]
    assert (await resp.json())["staff"]["display_name"] == "王芳"

    listed = staff(env, "list")
    assert listed.returncode == 0 and "wang.fang" in listed.stdout and "王芳" in listed.stdout

    changed = staff(env, "passwd", "wang.fang", "--password-stdin", stdin="another-long-password\n")
    assert changed.returncode == 0, changed.stderr
    old = await client.post("/api/v1/agent/login", json={"username": "wang.fang", "password": PASSWORD})
    assert old.status == 401
    me = await client.get("/api/v1/agent/me")
    assert me.status == 200, "a password change leaves current sessions alone; disable ends them"

    disabled = staff(env, "disable", "wang.fang")
    assert disabled.returncode == 0 and "已停用 wang.fang" in disabled.stderr
    assert (await client.get("/api/v1/agent/me")).status == 401
    assert "已停用" in staff(env, "list").stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "Bad Name", "--window", "公积金", "--password-stdin"], PASSWORD, "用户名只能包含"),
        (["add", "li.lei", "--role", "boss", "--window", "公积金", "--password-stdin"], PASSWORD, "角色必须是"),
        (["add", "li.lei", "--window", "火星窗口", "--password-stdin"], PASSWORD, "未知的窗口：火星窗口"),
        (["add", "li.lei", "--password-stdin"], PASSWORD, "至少需要指定一个窗口"),
        (["add", "li.lei", "--window", "公积金", "--password-stdin"], "short", "密码至少需要 10 个字符"),
        (["add", "li.lei", "--window", "公积金"], "", "请使用 --password-stdin"),
        (["passwd", "ghost", "--password-stdin"], PASSWORD, "没有用户名为 ghost 的工作人员"),
        (["disable", "ghost"], "", "没有用户名为 ghost 的工作人员"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    env: dict[str, str], args: list[str], stdin: str, message: str
) -> None:
    result = staff(env, *args, stdin=stdin + "\n")
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("错误")]) == 1


def test_duplicate_username_is_refused(env: dict[str, str], settings: Settings) -> None:
    first = staff(env, "add", "zhao", "--role", "supervisor", "--password-stdin", stdin=PASSWORD + "\n")
    assert first.returncode == 0, first.stderr
    again = staff(env, "add", "ZHAO", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "用户名 zhao 已存在" in again.stderr


def test_password_is_asked_twice_on_a_terminal(env: dict[str, str], settings: Settings) -> None:
    shell = pexpect.spawn(
        YICHUANG, ["staff", "add", "chen", "--window", "企业开办"], env=env, encoding="utf-8", timeout=60
    )
    try:
        shell.expect("密码")
        shell.sendline(PASSWORD)
        shell.expect("再输入一次")
        shell.sendline(PASSWORD + "typo")
        shell.expect("两次输入的密码不一致")
        shell.expect(pexpect.EOF)
    finally:
        shell.close()
    assert shell.exitstatus == 1
