"""`yichuang kb ...` as an administrator runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import openpyxl

from policy_kb.loader import load_yaml_dir
from tests.servers import YICHUANG, yichuang_env


def run(tmp_path: Path, *args: str, database_url: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = yichuang_env(
        YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=database_url, YICHUANG_REDIS_URL=redis_url
    )
    return subprocess.run([YICHUANG, "kb", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


async def test_load_export_edit_import(tmp_path: Path, database_url: str, redis_url: str, settings: object) -> None:
    seed = load_yaml_dir()  # the counts the administrator is told are the seed's own
    loaded = run(tmp_path, "load", database_url=database_url, redis_url=redis_url)
    assert loaded.returncode == 0, loaded.stderr
    assert f"已载入：事项 {len(seed.items)} 项" in loaded.stderr
    path = tmp_path / "kb.xlsx"
    exported = run(tmp_path, "export", str(path), database_url=database_url, redis_url=redis_url)
    assert exported.returncode == 0 and path.exists(), exported.stderr
    counts = f"事项{len(seed.items)}项，一件事{len(seed.bundles)}项，政策{len(seed.policies)}条"
    assert counts in "".join(exported.stderr.split())  # rich wraps long lines
    book = openpyxl.load_workbook(path)
    sheet = book["事项"]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "BDC-0001")
    row[header.index("承诺时限（工作日）（promised_days）")].value = 3
    book.save(path)
    imported = run(tmp_path, "import", str(path), database_url=database_url, redis_url=redis_url)
    assert imported.returncode == 0, imported.stderr
    assert f"已导入：事项 {len(seed.items)} 项" in imported.stderr


async def test_a_bad_file_is_refused_with_its_place(
    tmp_path: Path, database_url: str, redis_url: str, settings: object
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("事项编码（code）,事项名称（name）,主题窗口（window）\nX-1,某事项,月球窗口\n", encoding="utf-8")
    result = run(tmp_path, "import", str(bad), database_url=database_url, redis_url=redis_url)
    assert result.returncode == 1
    assert "bad.csv" in result.stderr and "第 2 条" in result.stderr and "window" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run(tmp_path, "import", str(tmp_path / "nope.xlsx"), database_url=database_url, redis_url=redis_url)
    assert missing.returncode == 1 and "文件不存在" in missing.stderr
