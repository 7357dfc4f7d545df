"""Excel (xlsx) export and import of the whole KB, and CSV import of one sheet, for staff who edit the
KB in a spreadsheet. Exporting and importing back loses nothing (a test proves it).

Each column title is Chinese with the field name in brackets, e.g. "事项编码（code）"; import finds columns
by that field name, so titles may be reworded and columns reordered.
"""

from __future__ import annotations

import csv
import re
import typing
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.styles import Alignment, Font
from pydantic import BaseModel, ValidationError

from core.yamlfile import load_yaml
from policy_kb.content import KbContent, KbValidationError, locate_error
from policy_kb.schema import Bundle, Eligibility, Material, Policy, ServiceItem

LAYOUT_FILE = Path(__file__).parent.parent / "data" / "spreadsheet.yml"
_FIELD_IN_TITLE = re.compile(r"[（(]([a-z_.]+)[）)]\s*$")
Row = dict[str, Any]
Tables = dict[str, list[tuple[int, Row]]]  # sheet kind → (spreadsheet row number, field → cell value)


def _layout() -> dict[str, Any]:
    return dict(load_yaml(LAYOUT_FILE))


def _model_for(kind: str, field_path: str) -> tuple[type[BaseModel], str] | None:
    models: dict[str, type[BaseModel]] = {
        "items": ServiceItem,
        "materials": Material,
        "bundles": Bundle,
        "policies": Policy,
    }
    if field_path.startswith("eligibility."):
        return Eligibility, field_path.split(".", 1)[1]
    model = models.get(kind)
    return (model, field_path) if model is not None and field_path in model.model_fields else None


def _is_list(kind: str, field_path: str) -> bool:
    if kind == "material_aliases":
        return True
    found = _model_for(kind, field_path)
    if found is None:
        return False
    annotation = found[0].model_fields[found[1]].annotation
    return typing.get_origin(annotation) in (tuple, list)


def _is_bool(kind: str, field_path: str) -> bool:
    found = _model_for(kind, field_path)
    return found is not None and found[0].model_fields[found[1]].annotation is bool


# ---------------------------------------------------------------- export


def _cell(value: Any, separator: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        return separator.join(str(v) for v in value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _flat(record: BaseModel, fields: Iterable[str], origin: str) -> list[Any]:
    data = record.model_dump(mode="python")
    values = []
    for path in fields:
        if path == "origin":
            values.append(origin)
        elif "." in path:
            outer, inner = path.split(".", 1)
            values.append(data[outer][inner])
        else:
            values.append(data[path])
    return values


def export_xlsx(content: KbContent, path: Path) -> None:
    """Write every record to a workbook with one sheet per kind."""
    layout = _layout()
    separator = layout["list_separator"]
    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    rows: dict[str, list[list[Any]]] = defaultdict(list)
    sheets = layout["sheets"]
    for item in content.items:
        origin = content.origins.get(f"item:{item.code}", "")
        rows["items"].append(_flat(item, sheets["items"]["columns"], origin))
        for position, material in enumerate(item.materials, 1):
            rows["materials"].append(
                [item.code, position, *_flat(material, list(sheets["materials"]["columns"])[2:], "")]
            )
    for bundle in content.bundles:
        rows["bundles"].append(
            _flat(bundle, sheets["bundles"]["columns"], content.origins.get(f"bundle:{bundle.code}", ""))
        )
    for policy in content.policies:
        rows["policies"].append(
            _flat(policy, sheets["policies"]["columns"], content.origins.get(f"policy:{policy.id}", ""))
        )
    for group in content.material_aliases:
        rows["material_aliases"].append([list(group)])
    for kind, sheet_layout in sheets.items():
        sheet = book.create_sheet(sheet_layout["title"])
        sheet.append([f"{title}（{name}）" for name, title in sheet_layout["columns"].items()])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows[kind]:
            sheet.append([_cell(v, separator) for v in row])
        sheet.freeze_panes = "A2"
        for column in sheet.columns:
            width = max(len(str(c.value or "").split("\n")[0]) for c in column)
            sheet.column_dimensions[column[0].column_letter].width = min(max(10, width * 1.6), 60)
            for cell in column[1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    book.save(path)


# ---------------------------------------------------------------- import


def _fields_of(header: Iterable[Any], source: str) -> list[str | None]:
    fields: list[str | None] = []
    for title in header:
        match = _FIELD_IN_TITLE.search(str(title or ""))
        fields.append(match.group(1) if match else None)
    if not any(fields):
        raise KbValidationError(source, 1, "表头", "no column title names a field, e.g. 事项编码（code）")
    return fields


def _rows(header: list[Any], body: Iterable[Iterable[Any]], source: str) -> list[tuple[int, Row]]:
    fields = _fields_of(header, source)
    rows = []
    for number, values in enumerate(body, 2):
        values = list(values)
        if all(v in (None, "") for v in values):
            continue
        rows.append((number, {f: v for f, v in zip(fields, values, strict=False) if f is not None}))
    return rows


def read_xlsx(path: Path) -> Tables:
    """Every known sheet of the workbook as rows of field → value."""
    layout = _layout()
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    tables: Tables = {}
    try:
        for kind, sheet_layout in layout["sheets"].items():
            if sheet_layout["title"] not in book.sheetnames:
                continue
            rows = list(book[sheet_layout["title"]].iter_rows(values_only=True))
            if rows:
                tables[kind] = _rows(list(rows[0]), rows[1:], f"{path.name}「{sheet_layout['title']}」")
    finally:
        book.close()
    return tables


def read_csv(path: Path) -> Tables:
    """A CSV holding one sheet; which one is told by its columns (a materials sheet has item_code...)."""
    layout = _layout()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise KbValidationError(path.name, 1, "表头", "the file is empty")
    fields = {f for f in _fields_of(rows[0], path.name) if f}
    for kind, sheet_layout in layout["sheets"].items():
        if fields <= set(sheet_layout["columns"]) and (
            {"item_code", "name"} <= fields
            if kind == "materials"
            else {"code", "items"} <= fields
            if kind == "bundles"
            else {"code", "name"} <= fields
            if kind == "items"
            else {"id", "title"} <= fields
            if kind == "policies"
            else fields == {"names"}
        ):
            return {kind: _rows(rows[0], rows[1:], path.name)}
    raise KbValidationError(
        path.name, 1, "表头", "the columns match no sheet (事项, 申报材料, 一件事, 惠企政策, 材料别名)"
    )


def _convert(kind: str, row: Row, source: str, number: int) -> dict[str, Any]:
    layout = _layout()
    separator, truthy, falsy = layout["list_separator"], layout["true_words"], layout["false_words"]
    out: dict[str, Any] = {}
    for path, value in row.items():
        if path == "origin":
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, datetime):
            value = value.date()
        if _is_bool(kind, path):
            text = str(value if value is not None else "").strip()
            if text in map(str, truthy):
                value = True
            elif text in map(str, falsy):
                value = False
            else:
                raise KbValidationError(source, number, path, f"{text!r} is not 是 or 否")
        elif _is_list(kind, path):
            value = [v.strip() for v in str(value or "").split(separator) if v.strip()]
        elif value in (None, ""):
            continue  # empty cell: the field's default
        if "." in path:
            outer, inner = path.split(".", 1)
            out.setdefault(outer, {})[inner] = value
        else:
            out[path] = value
    return out


def tables_to_content(tables: Tables, base: KbContent, source: str) -> KbContent:
    """The records the tables describe. Items keep their stored materials unless a materials sheet is given;
    a materials sheet alone replaces the materials of the items it names.
    """
    content = KbContent()
    base_items = {i.code: i for i in base.items}
    materials: dict[str, list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
    sheet_title = {k: v["title"] for k, v in _layout()["sheets"].items()}
    for number, row in tables.get("materials", []):
        where = f"{source}「{sheet_title['materials']}」"
        data = _convert("materials", row, where, number)
        code = str(data.pop("item_code", "") or "")
        position = int(data.pop("position", 0) or 0)
        if not code:
            raise KbValidationError(where, number, "item_code", "is empty")
        materials[code].append((position, number, data))
    item_rows: dict[str, tuple[int, dict[str, Any], str]] = {}
    for number, row in tables.get("items", []):
        data = _convert("items", row, f"{source}「{sheet_title['items']}」", number)
        code = str(data.get("code", ""))
        item_rows[code] = (number, data, str(row.get("origin") or ""))
    for code in materials:
        if code not in item_rows:
            if code not in base_items:
                number = materials[code][0][1]
                raise KbValidationError(
                    f"{source}「{sheet_title['materials']}」",
                    number,
                    "item_code",
                    f"no item {code} in this file or in the knowledge base",
                )
            item_rows[code] = (0, base_items[code].model_dump(mode="python", exclude={"materials"}), "")
    for code, (number, data, origin) in item_rows.items():
        if "materials" in tables:
            data["materials"] = [m for _, _, m in sorted(materials.get(code, []), key=lambda m: (m[0], m[1]))]
        elif code in base_items:
            data["materials"] = [m.model_dump() for m in base_items[code].materials]
        item = _checked(ServiceItem, data, f"{source}「{sheet_title['items']}」", number)
        content.items.append(item)
        if origin:
            content.origins[f"item:{item.code}"] = origin
        elif number == 0 and f"item:{code}" in base.origins:
            content.origins[f"item:{code}"] = base.origins[f"item:{code}"]
    for kind, model, records, prefix, key in (("bundles", Bundle, content.bundles, "bundle", "code"),
                                              ("policies", Policy, content.policies, "policy", "id")):
        for number, row in tables.get(kind, []):
            record = _checked(model, _convert(kind, row, source, number), f"{source}「{sheet_title[kind]}」", number)
            records.append(record)
            if row.get("origin"):
                content.origins[f"{prefix}:{getattr(record, key)}"] = str(row["origin"])
    for number, row in tables.get("material_aliases", []):
        names = _convert("material_aliases", row, source, number).get("names", [])
        if len(names) < 2:
            raise KbValidationError(
                f"{source}「{sheet_title['material_aliases']}」", number, "names", "a group needs at least two names"
            )
        content.material_aliases.append(tuple(names))
    # Bundles may name items that exist only in the database.
    known = {i.code for i in content.items} | set(base_items)
    for bundle in content.bundles:
        missing = [c for c in bundle.items if c not in known]
        if missing:
            raise KbValidationError(source, bundle.code, "items", f"unknown item codes {', '.join(missing)}")
    return content


def _checked(model: type[Any], data: dict[str, Any], source: str, number: int) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field_name, problem = locate_error(exc)
        raise KbValidationError(source, number, field_name, problem) from None
