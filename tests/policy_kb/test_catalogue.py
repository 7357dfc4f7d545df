"""The real Guangdong catalogue (national-standard format) imports completely, with a skip report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from policy_kb.importers.catalogue import read_catalogue
from policy_kb.store import KbStore

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "gdzwfw" / "items.jsonl"


def shared_catalogue() -> Path:
    if not SHARED.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {SHARED} is missing", pytrace=False)
        pytest.skip(f"the Guangdong catalogue is not beside this clone ({SHARED}); it lives in ../shared")
    return SHARED


async def test_the_guangdong_catalogue_imports_completely(kb_store: KbStore) -> None:
    path = shared_catalogue()
    raw_lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = len(raw_lines)
    content, report = read_catalogue(path)
    assert report.read == lines == 2262
    assert report.imported + len(report.skipped) == report.read
    assert report.imported == 2262, report.skipped[:5]
    written = await kb_store.upsert(content, "catalogue:items.jsonl")
    assert written.items == 2262
    stored = {i.code: i for i in (await kb_store.load()).items}
    first = json.loads(raw_lines[0])
    item = stored[first["TASK_CODE"]]
    assert item.name == first["TASK_NAME"] and item.department == first["DEPT_NAME"]
    assert item.legal_days == 30 and item.promised_days == 7
    assert item.location == "广州市越秀区东风中路305号5号楼808房"
    assert [m.name for m in item.materials] == ["提价申报申请报告"]
    with_materials = sum(1 for i in stored.values() if i.materials)
    assert with_materials >= 800  # every line with a material list keeps it
    windows = {i.window for i in stored.values()}
    assert {"出入境", "社保医保", "综合"} <= windows


def test_bad_lines_are_skipped_with_their_reason(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    good = {
        "TASK_CODE": "X1",
        "TASK_NAME": "好事项",
        "handle_time": "20(工作日)",
        "handle_time_limit": "无",
        "material_intro": "无",
        "TASK_TYPE_TEXT": "公共服务",
    }
    lines = [
        json.dumps(good, ensure_ascii=False),
        "{not json",
        json.dumps({**good, "TASK_CODE": ""}),
        json.dumps(good, ensure_ascii=False),
        json.dumps({**good, "TASK_CODE": "X2", "TASK_TYPE_TEXT": "怪类型"}),
        "[1, 2]",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    content, report = read_catalogue(path)
    assert [i.code for i in content.items] == ["X1"]
    assert content.items[0].legal_days == 20 and content.items[0].promised_days is None
    reasons = dict(report.skipped)
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "not JSON" in reasons[2] and "TASK_CODE" in reasons[3] and "repeats" in reasons[4]
    assert "item_type" in reasons[5] and "not a JSON object" in reasons[6]
