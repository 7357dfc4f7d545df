"""Settings: wrong values stop start-up with one line naming the variable."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import load_settings
from tests.servers import YICHUANG, yichuang_env


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("YICHUANG_PORT", "eighty", "YICHUANG_PORT"),
        ("YICHUANG_PORT", "70000", "YICHUANG_PORT"),
        ("YICHUANG_DATABASE_URL", "mysql://x", "YICHUANG_DATABASE_URL"),
        ("YICHUANG_REDIS_URL", "localhost:6379", "YICHUANG_REDIS_URL"),
        ("YICHUANG_SECRET_KEY", "short", "YICHUANG_SECRET_KEY"),
        ("YICHUANG_LOG_LEVEL", "LOUD", "YICHUANG_LOG_LEVEL"),
    ],
)
def test_a_wrong_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                          expected: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert caught.value.message.startswith(expected + ":")
    assert "\n" not in caught.value.message


def test_empty_urls_mean_the_embedded_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("YICHUANG_DATABASE_URL", "")
    monkeypatch.setenv("YICHUANG_REDIS_URL", "")
    monkeypatch.setenv("YICHUANG_DATA_DIR", str(tmp_path))
    settings = load_settings(_env_file=None)
    assert settings.embedded_database and settings.embedded_redis
    assert settings.sqlalchemy_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'yichuang.db'}"


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("YICHUANG_PORT=9123\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("YICHUANG_PORT", raising=False)
    assert load_settings().port == 9123


def test_cli_prints_one_line_and_exits_2_on_bad_config(tmp_path: Path) -> None:
    env = yichuang_env(YICHUANG_PORT="eighty", YICHUANG_DATA_DIR=str(tmp_path))
    result = subprocess.run([YICHUANG, "serve"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "YICHUANG_PORT" in lines[0] and "Traceback" not in result.stderr
