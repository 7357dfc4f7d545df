"""Staff edit the KB in Excel (or a CSV of one sheet) and import it back with no loss."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from policy_kb.content import KbContent, KbValidationError
from policy_kb.importers.spreadsheet import export_xlsx, read_csv, read_xlsx, tables_to_content
from policy_kb.loader import load_yaml_dir
from policy_kb.store import KbStore
from tests.policy_kb.test_loader import FIXTURE


def snapshot(content: KbContent) -> tuple[object, ...]:
    return (
        sorted(content.items, key=lambda i: i.code),
        sorted(content.bundles, key=lambda b: b.code),
        sorted(content.policies, key=lambda p: p.id),
        sorted(content.material_aliases),
        {k: v for k, v in content.origins.items()},
    )


async def test_export_then_import_loses_nothing(tmp_path: Path, kb_store: KbStore) -> None:
    await kb_store.upsert(load_yaml_dir(FIXTURE), "yaml")
    before = await kb_store.load()
    path = tmp_path / "kb.xlsx"
    export_xlsx(before, path)
    content = tables_to_content(read_xlsx(path), KbContent(), path.name)
    await kb_store.upsert(content, f"import:{path.name}")
    after = await kb_store.load()
    assert snapshot(after) == snapshot(before)


async def test_an_edit_in_excel_reaches_the_database(tmp_path: Path, kb_store: KbStore) -> None:
    await kb_store.upsert(load_yaml_dir(FIXTURE), "yaml")
    path = tmp_path / "kb.xlsx"
    export_xlsx(await kb_store.load(), path)
    book = openpyxl.load_workbook(path)
    materials = book["申报材料"]
    header = [c.value for c in materials[1]]
    for row in materials.iter_rows(min_row=2):
        if row[header.index("材料名称（name）")].value == "公章":
            row[header.index("可容缺（deferrable）")].value = "是"
            row[header.index("备注（notes）")].value = "可先签承诺书"
    items = book["事项"]
    header = [c.value for c in items[1]]
    items.cell(row=2, column=header.index("别名（aliases）") + 1).value = "甲事项\n新别名"
    book.save(path)
    content = tables_to_content(read_xlsx(path), await kb_store.load(), path.name)
    await kb_store.upsert(content, "import")
    stored = {i.code: i for i in (await kb_store.load()).items}
    seal = next(m for m in stored["T-0002"].materials if m.name == "公章")
    assert seal.deferrable and seal.notes == "可先签承诺书"
    assert stored["T-0001"].aliases == ("甲事项", "新别名")


async def test_a_bad_cell_names_sheet_row_and_field_and_writes_nothing(tmp_path: Path, kb_store: KbStore) -> None:
    await kb_store.upsert(load_yaml_dir(FIXTURE), "yaml")
    before = await kb_store.load()
    path = tmp_path / "kb.xlsx"
    export_xlsx(before, path)
    book = openpyxl.load_workbook(path)
    items = book["事项"]
    header = [c.value for c in items[1]]
    items.cell(row=3, column=header.index("承诺时限（工作日）（promised_days）") + 1).value = "五天"
    book.save(path)
    with pytest.raises(KbValidationError) as caught:
        tables_to_content(read_xlsx(path), before, path.name)
    assert "事项" in caught.value.source and caught.value.row == 3 and caught.value.field_name == "promised_days"
    assert snapshot(await kb_store.load()) == snapshot(before)


async def test_csv_of_one_sheet_updates_only_what_it_names(tmp_path: Path, kb_store: KbStore) -> None:
    await kb_store.upsert(load_yaml_dir(FIXTURE), "yaml")
    path = tmp_path / "items.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["事项编码（code）", "事项名称（name）", "主题窗口（window）", "承诺时限（工作日）（promised_days）"]
        )
        writer.writerow(["T-0001", "测试事项甲（改名）", "综合", "2"])
    content = tables_to_content(read_csv(path), await kb_store.load(), path.name)
    await kb_store.upsert(content, "import:items.csv")
    stored = {i.code: i for i in (await kb_store.load()).items}
    assert stored["T-0001"].name == "测试事项甲（改名）" and stored["T-0001"].promised_days == 2
    assert [m.name for m in stored["T-0001"].materials] == ["营业执照副本", "法人身份证"], "materials kept"
    assert stored["T-0002"].name == "测试事项乙", "items not in the file are untouched"


def test_csv_with_unknown_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("名字,电话\n张三,1\n", encoding="utf-8")
    with pytest.raises(KbValidationError) as caught:
        read_csv(path)
    assert caught.value.field_name == "表头"
