"""Loading YAML: good files load completely, a bad record is named by file, row and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from policy_kb.content import KbValidationError
from policy_kb.loader import load_yaml_dir

FIXTURE = Path(__file__).parent / "fixture_kb"


def copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(FIXTURE, target)
    return target


def test_fixture_loads_completely() -> None:
    content = load_yaml_dir(FIXTURE)
    assert [i.code for i in content.items] == ["T-0001", "T-0002"]
    assert content.items[1].materials[2].deferrable is True
    assert content.bundles[0].items == ("T-0001", "T-0002")
    assert {p.id for p in content.policies} == {"test-small", "test-old"}
    assert content.material_aliases == [("营业执照", "营业执照副本")]
    assert content.origins["item:T-0002"] == "yaml:items/sample.yml"


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (
            "window: 企业开办\n    materials:\n      - {name: 营业执照, required: true}",
            "window: 不存在的窗口\n    materials:\n      - {name: 营业执照, required: true}",
            ("yaml:items/sample.yml", "2", "window"),
        ),
        ("copies: 2", "copies: 两份", ("yaml:items/sample.yml", "2", "materials.2.copies")),
        ("promised_days: 1", "promised_days: 1\n    colour: red", ("yaml:items/sample.yml", "1", "colour")),
        ("items: [T-0001, T-0002]", "items: [T-0001, T-9999]", ("yaml:items/sample.yml", "TB-0001", "items")),
        ("code: T-0002", "code: T-0001", ("yaml:items/sample.yml", "T-0001", "code")),
    ],
)
def test_a_bad_record_is_named_by_file_row_and_field(
    tmp_path: Path, old: str, new: str, where: tuple[str, str, str]
) -> None:
    kb = copy_fixture(tmp_path)
    path = kb / "items" / "sample.yml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(KbValidationError) as caught:
        load_yaml_dir(kb)
    error = caught.value
    assert (error.source, str(error.row).split("（")[0], error.field_name) == where
    assert where[0] in error.message and where[2] in error.message


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    kb = copy_fixture(tmp_path)
    (kb / "policies" / "sample.yml").write_text("policies:\n  - id: a\n    title: [unclosed\n", encoding="utf-8")
    with pytest.raises(KbValidationError) as caught:
        load_yaml_dir(kb)
    assert caught.value.source == "yaml:policies/sample.yml" and caught.value.field_name == "yaml"
    assert str(caught.value.row).startswith("行")
